"""The badges (F12), declared once: name, audience, rule and the role they become.

A rule is a counter and a threshold: "First Mentor Session" holds once the member's
count of completed sessions as a mentor reaches 1. Each counter is one grouped query
over the members asked about (never a whole table). Adding a badge is one
:class:`Badge` in :data:`BADGES` and, when it counts something new, one counter.

The role a badge becomes is named by ``role_name`` unless the community renamed it
(``Community.roles[key]["name"]``); its key is the badge's ``key``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import is_postgres
from core.models import (
    Mentee,
    MenteeGoal,
    Mentor,
    MentorSession,
    Mentorship,
    SupportGroup,
    SupportGroupReply,
)
from core.settings import CoreSettings

Counts = dict[str, int]  # member id -> count
CounterQuery = Callable[[AsyncSession, Sequence[str], CoreSettings], Awaitable[Counts]]


@dataclass(frozen=True)
class Counter:
    """Something a member has done, counted for many members in one query."""

    key: str
    unit: str  # "sessions": shown in progress ("7 of 10 sessions")
    query: CounterQuery


@dataclass(frozen=True)
class Badge:
    key: str
    name: str
    audience: Literal["mentor", "mentee"]
    counter: Counter
    # At least this many; a callable reads it from the settings (Peer Supporter).
    threshold: int | Callable[[CoreSettings], int]
    description: str

    @property
    def role_name(self) -> str:
        return self.name

    def needs(self, settings: CoreSettings) -> int:
        return self.threshold if isinstance(self.threshold, int) else self.threshold(settings)


async def _grouped(session: AsyncSession, stmt: object) -> Counts:
    return {member: int(n) for member, n in await session.execute(stmt)}  # type: ignore[call-overload]


async def _completed_sessions(
    session: AsyncSession, member_ids: Sequence[str], settings: CoreSettings
) -> Counts:
    return await _grouped(
        session,
        select(Mentor.user_id, func.count(MentorSession.id))
        .join(MentorSession, MentorSession.mentor_id == Mentor.id)
        .where(Mentor.user_id.in_(member_ids), MentorSession.status == "completed")
        .group_by(Mentor.user_id),
    )


async def _groups_facilitated(
    session: AsyncSession, member_ids: Sequence[str], settings: CoreSettings
) -> Counts:
    return await _grouped(
        session,
        select(SupportGroup.facilitator_id, func.count(SupportGroup.id))
        .where(SupportGroup.facilitator_id.in_(member_ids))
        .group_by(SupportGroup.facilitator_id),
    )


def _mentorships(side: Literal["mentor", "mentee"], statuses: tuple[str, ...]) -> CounterQuery:
    profile = Mentor if side == "mentor" else Mentee
    link = Mentorship.mentor_id if side == "mentor" else Mentorship.mentee_id

    async def count(
        session: AsyncSession, member_ids: Sequence[str], settings: CoreSettings
    ) -> Counts:
        return await _grouped(
            session,
            select(profile.user_id, func.count(Mentorship.id))
            .join(Mentorship, link == profile.id)
            .where(profile.user_id.in_(member_ids), Mentorship.status.in_(statuses))
            .group_by(profile.user_id),
        )

    return count


async def _goals_achieved(
    session: AsyncSession, member_ids: Sequence[str], settings: CoreSettings
) -> Counts:
    return await _grouped(
        session,
        select(Mentee.user_id, func.count(MenteeGoal.id))
        .join(Mentorship, Mentorship.mentee_id == Mentee.id)
        .join(MenteeGoal, MenteeGoal.mentorship_id == Mentorship.id)
        .where(Mentee.user_id.in_(member_ids), MenteeGoal.status == "completed")
        .group_by(Mentee.user_id),
    )


async def _peer_replies(
    session: AsyncSession, member_ids: Sequence[str], settings: CoreSettings
) -> Counts:
    """Support-group replies, at most ``peer_supporter_daily_cap`` counted per day."""
    day = func.date(SupportGroupReply.created_at)
    per_day = (
        select(SupportGroupReply.author_id.label("member"), func.count().label("n"))
        .where(SupportGroupReply.author_id.in_(member_ids))
        .group_by(SupportGroupReply.author_id, day)
        .subquery()
    )
    capped: Any = func.min(per_day.c.n, settings.peer_supporter_daily_cap)
    if is_postgres(session):
        capped = func.least(per_day.c.n, settings.peer_supporter_daily_cap)
    return await _grouped(
        session, select(per_day.c.member, func.sum(capped)).group_by(per_day.c.member)
    )


COMPLETED_SESSIONS = Counter("completed_sessions", "completed sessions", _completed_sessions)
GROUPS_FACILITATED = Counter("groups_facilitated", "groups facilitated", _groups_facilitated)
MENTEES_COMPLETED = Counter(
    "mentees_completed", "mentorships completed", _mentorships("mentor", ("completed",))
)
MENTORSHIPS_STARTED = Counter(
    "mentorships_started",
    "mentorships started",
    _mentorships("mentee", ("active", "paused", "completed", "ended")),
)
GOALS_ACHIEVED = Counter("goals_achieved", "goals achieved", _goals_achieved)
MENTORSHIPS_GRADUATED = Counter(
    "mentorships_graduated", "mentorships completed", _mentorships("mentee", ("completed",))
)
PEER_REPLIES = Counter("peer_replies", "support-group replies", _peer_replies)


BADGES: tuple[Badge, ...] = (
    Badge(
        "first_mentor_session",
        "First Mentor Session",
        "mentor",
        COMPLETED_SESSIONS,
        1,
        "completed a first session as a mentor",
    ),
    Badge(
        "dedicated_mentor",
        "Dedicated Mentor",
        "mentor",
        COMPLETED_SESSIONS,
        10,
        "completed 10 sessions as a mentor",
    ),
    Badge(
        "mentor_master",
        "Mentor Master",
        "mentor",
        COMPLETED_SESSIONS,
        50,
        "completed 50 sessions as a mentor",
    ),
    Badge(
        "group_facilitator",
        "Group Facilitator",
        "mentor",
        GROUPS_FACILITATED,
        1,
        "facilitates a support group",
    ),
    Badge(
        "mentee_success",
        "Mentee Success",
        "mentor",
        MENTEES_COMPLETED,
        3,
        "saw 3 mentorships through to completion",
    ),
    Badge(
        "mentorship_started",
        "Mentorship Started",
        "mentee",
        MENTORSHIPS_STARTED,
        1,
        "started a mentorship",
    ),
    Badge("goal_achieved", "Goal Achieved", "mentee", GOALS_ACHIEVED, 1, "achieved a goal"),
    Badge(
        "mentorship_graduate",
        "Mentorship Graduate",
        "mentee",
        MENTORSHIPS_GRADUATED,
        1,
        "completed a mentorship",
    ),
    Badge(
        "peer_supporter",
        "Peer Supporter",
        "mentee",
        PEER_REPLIES,
        lambda s: s.peer_supporter_replies,
        "keeps replying in support groups",
    ),
)

BY_KEY: dict[str, Badge] = {b.key: b for b in BADGES}
COUNTERS: dict[str, Counter] = {b.counter.key: b.counter for b in BADGES}
# Role key -> the name the bot gives the role when it creates it.
BADGE_ROLE_NAMES: dict[str, str] = {b.key: b.role_name for b in BADGES}


def badges_counting(reasons: Sequence[str] | None) -> tuple[Badge, ...]:
    """The badges whose rule may have changed for ``reasons`` (counter keys; None = all)."""
    if reasons is None:
        return BADGES
    unknown = set(reasons) - COUNTERS.keys()
    if unknown:
        raise ValueError(f"unknown badge counters: {sorted(unknown)}")
    return tuple(b for b in BADGES if b.counter.key in reasons)


def badge_name(key: str) -> str:
    badge = BY_KEY.get(key)
    return badge.name if badge else key.replace("_", " ").title()
