"""request times and card versions

A reopened request keeps the mentorship row (one per mentor-mentee pair), so it gets its
own ``requested_at`` instead of overwriting ``created_at``; ``request_version`` and
``mentors.application_version`` are carried by decision buttons so that a card left over
from an earlier request or application is refused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models.base

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('mentors', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('application_version', sa.Integer(), server_default='1', nullable=False)
        )
    with op.batch_alter_table('mentorships', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('requested_at', core.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column('request_version', sa.Integer(), server_default='1', nullable=False)
        )
    op.execute('UPDATE mentorships SET requested_at = created_at')
    with op.batch_alter_table('mentorships', schema=None) as batch_op:
        batch_op.alter_column(
            'requested_at',
            existing_type=core.models.base.UTCDateTime(timezone=True),
            nullable=False,
        )
        batch_op.create_index(
            batch_op.f('ix_mentorships_status_requested_at'), ['status', 'requested_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('mentorships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mentorships_status_requested_at'))
        batch_op.drop_column('request_version')
        batch_op.drop_column('requested_at')
    with op.batch_alter_table('mentors', schema=None) as batch_op:
        batch_op.drop_column('application_version')
