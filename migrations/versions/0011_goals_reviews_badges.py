"""goals, reviews and badges

Goals keep who made them, their nudges and the history of their progress (the chart);
milestones keep their order; a review records when it was edited; the badge counters
get the indexes they read (groups by facilitator, replies by author and day).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.models.base import UTCDateTime

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('mentee_goals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('reminded_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('overdue_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_mentee_goals_created_by_members'), 'members', ['created_by'], ['id'],
            ondelete='SET NULL',
        )
        batch_op.create_index(batch_op.f('ix_mentee_goals_status_target_date'), ['status', 'target_date'], unique=False)

    with op.batch_alter_table('mentee_milestones', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('mentor_reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('edited_at', UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('support_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_groups_facilitator_id'), ['facilitator_id'], unique=False)

    with op.batch_alter_table('support_group_replies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_group_replies_author_id_created_at'), ['author_id', 'created_at'], unique=False)

    op.create_table('goal_progress',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('community_id', sa.String(length=24), nullable=False),
    sa.Column('goal_id', sa.String(length=24), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('change', sa.String(length=16), nullable=False),
    sa.Column('milestone_id', sa.String(length=24), nullable=True),
    sa.Column('actor_id', sa.String(length=24), nullable=True),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['members.id'], name=op.f('fk_goal_progress_actor_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_goal_progress_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['goal_id'], ['mentee_goals.id'], name=op.f('fk_goal_progress_goal_id_mentee_goals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['milestone_id'], ['mentee_milestones.id'], name=op.f('fk_goal_progress_milestone_id_mentee_milestones'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_goal_progress'))
    )
    with op.batch_alter_table('goal_progress', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_goal_progress_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_goal_progress_goal_id_at'), ['goal_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('goal_progress', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_goal_progress_goal_id_at'))
        batch_op.drop_index(batch_op.f('ix_goal_progress_community_id'))
    op.drop_table('goal_progress')

    with op.batch_alter_table('support_group_replies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_group_replies_author_id_created_at'))

    with op.batch_alter_table('support_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_groups_facilitator_id'))

    with op.batch_alter_table('mentor_reviews', schema=None) as batch_op:
        batch_op.drop_column('edited_at')

    with op.batch_alter_table('mentee_milestones', schema=None) as batch_op:
        batch_op.drop_column('position')

    with op.batch_alter_table('mentee_goals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mentee_goals_status_target_date'))
        batch_op.drop_constraint(batch_op.f('fk_mentee_goals_created_by_members'), type_='foreignkey')
        batch_op.drop_column('overdue_at')
        batch_op.drop_column('reminded_at')
        batch_op.drop_column('created_by')
