"""impact metrics

Recurring reports a community turned on (the weekly digest, the monthly leaderboard) and
when each is next due; a mentor's choice to stay off public leaderboards; the indexes the
period aggregates read (per community, by the moment each figure counts from).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.models.base import UTCDateTime

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, index name, columns)
INDEXES = (
    ('mentors', 'ix_mentors_community_id_status', ['community_id', 'status']),
    ('mentees', 'ix_mentees_community_id_status', ['community_id', 'status']),
    ('mentees', 'ix_mentees_community_id_created_at', ['community_id', 'created_at']),
    ('mentorships', 'ix_mentorships_metrics_started',
     ['community_id', 'status', 'start_date', 'requested_at', 'end_date', 'mentee_id']),
    ('mentorships', 'ix_mentorships_metrics_mentees',
     ['community_id', 'mentee_id', 'start_date', 'status', 'end_date']),
    ('mentorships', 'ix_mentorships_community_id_status_end_date', ['community_id', 'status', 'end_date']),
    ('mentor_sessions', 'ix_mentor_sessions_community_id_status_scheduled_at', ['community_id', 'status', 'scheduled_at']),
    ('mentor_sessions', 'ix_mentor_sessions_mentor_id_status_scheduled_at', ['mentor_id', 'status', 'scheduled_at']),
    ('mentor_reviews', 'ix_mentor_reviews_community_id_created_at_rating', ['community_id', 'created_at', 'rating']),
    ('goal_progress', 'ix_goal_progress_community_id_change_at', ['community_id', 'change', 'at']),
    ('support_group_meetings', 'ix_support_group_meetings_metrics',
     ['community_id', 'status', 'scheduled_at', 'attendee_count']),
)


def upgrade() -> None:
    op.create_table('report_schedules',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('community_id', sa.String(length=24), nullable=False),
    sa.Column('report', sa.String(length=16), nullable=False),
    sa.Column('next_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_report_schedules_community_id_communities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_schedules')),
    sa.UniqueConstraint('community_id', 'report', name=op.f('uq_report_schedules_community_id_report'))
    )
    with op.batch_alter_table('report_schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_schedules_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_schedules_next_at'), ['next_at'], unique=False)

    with op.batch_alter_table('mentors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('listed_on_boards', sa.Boolean(), server_default=sa.true(), nullable=False))

    for table, name, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    for table, name, _columns in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)

    with op.batch_alter_table('mentors', schema=None) as batch_op:
        batch_op.drop_column('listed_on_boards')

    with op.batch_alter_table('report_schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_schedules_next_at'))
        batch_op.drop_index(batch_op.f('ix_report_schedules_community_id'))

    op.drop_table('report_schedules')
