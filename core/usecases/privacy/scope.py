"""What is one member's, table by table: the rows an export holds (F15).

:class:`Scope` gathers the ids everything else hangs from (the member, their mentor and
mentee profiles, their mentorships, goals, sessions, groups); :data:`SECTIONS` says, for
every table that holds something about a member, which of its rows are theirs (a Core
``select`` of the table, never ORM objects, so a large table is streamed). Tables that
reach a member only through something that is not theirs (a group's meetings) are in
:data:`NOT_PERSONAL`, with the reason. A test walks the schema's foreign keys and fails
when a table that can reach ``members`` is in neither, so a new table cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, or_, select
from sqlalchemy.sql.elements import ColumnElement

from core.models import (
    AuditEntry,
    BadgeAward,
    CalendarFeed,
    Delivery,
    DiscussionPrompt,
    GoalProgress,
    Member,
    Mentee,
    MenteeGoal,
    MenteeMilestone,
    Mentor,
    MentorMessage,
    MentorReview,
    MentorSession,
    Mentorship,
    MentorshipThread,
    MessageRoute,
    PendingRelay,
    SessionAttendee,
    SupportGroup,
    SupportGroupMember,
    SupportGroupPost,
    SupportGroupReply,
)
from core.uow import UnitOfWork


@dataclass(frozen=True)
class Scope:
    """One member of one community and the ids their rows hang from."""

    community_id: str
    member_id: str
    platform_user_id: str
    mentor_ids: tuple[str, ...]
    mentee_ids: tuple[str, ...]
    mentorship_ids: tuple[str, ...]
    goal_ids: tuple[str, ...]
    session_ids: tuple[str, ...]
    group_ids: tuple[str, ...]


async def scope_of(uow: UnitOfWork, member: Member) -> Scope:
    """The member's scope: a handful of small id queries (profiles, mentorships, ...)."""

    async def ids(stmt: Any) -> tuple[str, ...]:
        return tuple(dict.fromkeys((await uow.session.execute(stmt)).scalars()))

    community = member.community_id
    mentor_ids = await ids(select(Mentor.id).where(Mentor.user_id == member.id))
    mentee_ids = await ids(select(Mentee.id).where(Mentee.user_id == member.id))
    mentorship_ids = await ids(
        select(Mentorship.id).where(
            Mentorship.community_id == community,
            or_(Mentorship.mentor_id.in_(mentor_ids), Mentorship.mentee_id.in_(mentee_ids)),
        )
    )
    goal_ids = await ids(select(MenteeGoal.id).where(MenteeGoal.mentorship_id.in_(mentorship_ids)))
    session_ids = await ids(
        select(SessionAttendee.session_id)
        .where(SessionAttendee.member_id == member.id)
        .union(
            select(MentorSession.id).where(
                MentorSession.community_id == community,
                or_(
                    MentorSession.mentorship_id.in_(mentorship_ids),
                    MentorSession.mentor_id.in_(mentor_ids),
                    MentorSession.host_id == member.id,
                ),
            )
        )
    )
    group_ids = await ids(
        select(SupportGroupMember.group_id)
        .where(SupportGroupMember.user_id == member.id)
        .union(select(SupportGroup.id).where(SupportGroup.facilitator_id == member.id))
    )
    return Scope(
        community,
        member.id,
        member.platform_user_id,
        mentor_ids,
        mentee_ids,
        mentorship_ids,
        goal_ids,
        session_ids,
        group_ids,
    )


def _rows(table: Any, *where: ColumnElement[bool], order: Any = None) -> Select[Any]:
    t: Table = table.__table__
    stmt = select(t).where(*where)
    if order is None:
        order = (t.c.id,)
    return stmt.order_by(*(order if isinstance(order, tuple) else (order,)))


def member_rows(s: Scope) -> Select[Any]:
    return _rows(Member, Member.id == s.member_id)


Section = Callable[[Scope], Select[Any]]

# Table name -> the member's rows in it. Every export has one entry per table, in this order.
SECTIONS: dict[str, Section] = {
    "members": member_rows,
    "mentors": lambda s: _rows(Mentor, Mentor.user_id == s.member_id),
    "mentees": lambda s: _rows(Mentee, Mentee.user_id == s.member_id),
    "mentorships": lambda s: _rows(Mentorship, Mentorship.id.in_(s.mentorship_ids)),
    # Both people's messages: a mentorship has exactly two, so each is theirs or to them.
    "mentor_messages": lambda s: _rows(
        MentorMessage,
        MentorMessage.mentorship_id.in_(s.mentorship_ids),
        order=(MentorMessage.mentorship_id, MentorMessage.created_at, MentorMessage.id),
    ),
    "mentorship_threads": lambda s: _rows(
        MentorshipThread, MentorshipThread.member_id == s.member_id
    ),
    "message_routes": lambda s: _rows(MessageRoute, MessageRoute.recipient_id == s.member_id),
    "pending_relays": lambda s: _rows(PendingRelay, PendingRelay.member_id == s.member_id),
    "mentor_sessions": lambda s: _rows(
        MentorSession, MentorSession.id.in_(s.session_ids), order=MentorSession.scheduled_at
    ),
    "session_attendees": lambda s: _rows(SessionAttendee, SessionAttendee.member_id == s.member_id),
    "calendar_feeds": lambda s: _rows(CalendarFeed, CalendarFeed.member_id == s.member_id),
    "mentee_goals": lambda s: _rows(MenteeGoal, MenteeGoal.id.in_(s.goal_ids)),
    "mentee_milestones": lambda s: _rows(
        MenteeMilestone,
        MenteeMilestone.goal_id.in_(s.goal_ids),
        order=(MenteeMilestone.goal_id, MenteeMilestone.position, MenteeMilestone.id),
    ),
    "goal_progress": lambda s: _rows(
        GoalProgress,
        or_(GoalProgress.goal_id.in_(s.goal_ids), GoalProgress.actor_id == s.member_id),
        order=(GoalProgress.at, GoalProgress.id),
    ),
    # Reviews they wrote (private ones too: they are the author), and the public ones
    # about them as a mentor; others' private reviews stay with their authors.
    "mentor_reviews": lambda s: _rows(
        MentorReview,
        or_(
            MentorReview.reviewer_id == s.member_id,
            MentorReview.mentor_id.in_(s.mentor_ids) & MentorReview.is_public.is_(True),
        ),
    ),
    "support_groups": lambda s: _rows(SupportGroup, SupportGroup.id.in_(s.group_ids)),
    "support_group_members": lambda s: _rows(
        SupportGroupMember, SupportGroupMember.user_id == s.member_id
    ),
    "support_group_posts": lambda s: _rows(
        SupportGroupPost, SupportGroupPost.author_id == s.member_id
    ),
    "support_group_replies": lambda s: _rows(
        SupportGroupReply, SupportGroupReply.author_id == s.member_id
    ),
    "discussion_prompts": lambda s: _rows(
        DiscussionPrompt, DiscussionPrompt.created_by == s.member_id
    ),
    "badge_awards": lambda s: _rows(BadgeAward, BadgeAward.member_id == s.member_id),
    "audit_log": lambda s: _rows(AuditEntry, AuditEntry.actor_id == s.member_id),
    # What is still waiting to be sent to them (reminders ahead, DMs not yet delivered).
    "deliveries": lambda s: _rows(
        Delivery,
        Delivery.community_id == s.community_id,
        Delivery.destination == f"user:{s.platform_user_id}",
        Delivery.status == "pending",
        order=(Delivery.due_at, Delivery.id),
    ),
}

# Tables that reach ``members`` only through rows that are not the member's own.
NOT_PERSONAL: dict[str, str] = {
    "support_group_meetings": "a group's meetings belong to the group (its schedule and "
    "the facilitator's notes); a member's part in a group is their membership, posts "
    "and replies",
    "group_prompt_uses": "which library prompts a group has seen",
}

# The sections an export always has besides the tables: counterpart names, counts.
EXTRA_SECTIONS = ("people", "private_reviews_about_you")
