"""sessions

Sessions (F7) gain who scheduled them and in which zone, a version (the calendar file's
SEQUENCE; reminders made for an older one are dropped), a no-show, a workshop capacity
and the platform event's id. ``session_attendees`` lists whom a session is for (indexed
by member, so a member's agenda never scans sessions); ``calendar_feeds`` keeps each
member's private feed token; members get their own reminder offsets; check-ins
read mentorships by ``next_check_in``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import core.models.base

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('mentor_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('host_id', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('no_show_id', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('capacity', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('version', sa.Integer(), server_default='1', nullable=False)
        )
        batch_op.add_column(sa.Column('event_id', sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column('updated_at', core.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_mentor_sessions_host_id_members'), 'members', ['host_id'], ['id'],
            ondelete='SET NULL',
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_mentor_sessions_no_show_id_members'), 'members', ['no_show_id'],
            ['id'], ondelete='SET NULL',
        )
        batch_op.drop_index(batch_op.f('ix_mentor_sessions_mentorship_id'))
        batch_op.create_index(
            batch_op.f('ix_mentor_sessions_mentorship_id_scheduled_at'),
            ['mentorship_id', 'scheduled_at'], unique=False,
        )
        batch_op.create_index(
            batch_op.f('ix_mentor_sessions_community_id_type_status_scheduled_at'),
            ['community_id', 'type', 'status', 'scheduled_at'], unique=False,
        )
    op.create_table('session_attendees',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('community_id', sa.String(length=24), nullable=False),
    sa.Column('session_id', sa.String(length=24), nullable=False),
    sa.Column('member_id', sa.String(length=24), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_session_attendees_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_session_attendees_member_id_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['mentor_sessions.id'], name=op.f('fk_session_attendees_session_id_mentor_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_attendees')),
    sa.UniqueConstraint('session_id', 'member_id', name=op.f('uq_session_attendees_session_id_member_id'))
    )
    with op.batch_alter_table('session_attendees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_attendees_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_session_attendees_member_id_session_id'), ['member_id', 'session_id'], unique=False)
    op.create_table('calendar_feeds',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('community_id', sa.String(length=24), nullable=False),
    sa.Column('member_id', sa.String(length=24), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('created_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_calendar_feeds_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_calendar_feeds_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_feeds')),
    sa.UniqueConstraint('member_id', name=op.f('uq_calendar_feeds_member_id')),
    sa.UniqueConstraint('token', name=op.f('uq_calendar_feeds_token'))
    )
    with op.batch_alter_table('calendar_feeds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_feeds_community_id'), ['community_id'], unique=False)
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_reminders', JSON, nullable=True))
    with op.batch_alter_table('mentorships', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_mentorships_status_next_check_in'), ['status', 'next_check_in'],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table('mentorships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mentorships_status_next_check_in'))
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('session_reminders')
    with op.batch_alter_table('calendar_feeds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_feeds_community_id'))
    op.drop_table('calendar_feeds')
    with op.batch_alter_table('session_attendees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_attendees_member_id_session_id'))
        batch_op.drop_index(batch_op.f('ix_session_attendees_community_id'))
    op.drop_table('session_attendees')
    with op.batch_alter_table('mentor_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mentor_sessions_community_id_type_status_scheduled_at'))
        batch_op.drop_index(batch_op.f('ix_mentor_sessions_mentorship_id_scheduled_at'))
        batch_op.create_index(batch_op.f('ix_mentor_sessions_mentorship_id'), ['mentorship_id'], unique=False)
        batch_op.drop_constraint(batch_op.f('fk_mentor_sessions_no_show_id_members'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_mentor_sessions_host_id_members'), type_='foreignkey')
        for column in ('updated_at', 'event_id', 'version', 'capacity', 'no_show_id', 'timezone', 'host_id'):
            batch_op.drop_column(column)
