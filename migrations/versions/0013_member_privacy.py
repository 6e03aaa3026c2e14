"""member privacy: a pending deletion and the version its confirm button carries

A member's deletion (asked for with /privacy delete, or started by leaving the
community) is due at ``deletion_due_at``; ``deletion_reason`` says why ("request",
"left") and is "forgotten" while the last platform effects of a done deletion are still
on their way. Housekeeping finds due ones through the index. ``privacy_version`` is raised
on every request and cancel, so an old confirm button can never start a deletion again.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.models.base import UTCDateTime

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deletion_due_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deletion_reason', sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column('privacy_version', sa.Integer(), server_default='0', nullable=False)
        )
        batch_op.create_index(
            batch_op.f('ix_members_deletion_due_at'), ['deletion_due_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_members_deletion_due_at'))
        batch_op.drop_column('privacy_version')
        batch_op.drop_column('deletion_reason')
        batch_op.drop_column('deletion_due_at')
