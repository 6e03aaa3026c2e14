"""dispatcher heartbeats

Dispatchers record a heartbeat; a claim on a delivery lasts only while its dispatcher
beats, so a dead one's rows are taken over in seconds. Deliveries gain ``destination``
(order is kept per destination) and ``uncertain`` (an earlier attempt's outcome is
unknown); ``result`` stores SQL NULL rather than JSON 'null'.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models.base

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dispatchers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('started_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatchers'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('destination', sa.String(length=160), nullable=True))
        batch_op.add_column(
            sa.Column('uncertain', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            batch_op.f('ix_deliveries_community_id_destination_status'),
            ['community_id', 'destination', 'status'],
            unique=False,
        )
        batch_op.create_index(batch_op.f('ix_deliveries_lease_until'), ['lease_until'], unique=False)
    # A row retried after an unknown outcome (attempts > 0) may have reached the platform.
    op.execute("UPDATE deliveries SET uncertain = attempts > 0 WHERE status = 'pending'")
    op.execute("UPDATE deliveries SET result = NULL WHERE result IS NOT NULL AND "
               + ("result = 'null'::jsonb" if op.get_bind().dialect.name == 'postgresql'
                  else "result = 'null'"))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_lease_until'))
        batch_op.drop_index(batch_op.f('ix_deliveries_community_id_destination_status'))
        batch_op.drop_column('uncertain')
        batch_op.drop_column('destination')
    op.drop_table('dispatchers')
