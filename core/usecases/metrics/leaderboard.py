"""The leaderboard: mentors ranked by sessions held, mentees helped and rating.

Only mentors who are listed (``/mentor leaderboard listed:no`` opts out of every public
board), whose member has not left, and who are not rejected appear. Ratings count from
:data:`MIN_REVIEWS` reviews in the period, as a mentor's card shows a rating only from
three public reviews.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal_column, or_, select

from core.messages import Field, Message, mention
from core.models import Member, Mentor, MentorReview, MentorSession, Mentorship
from core.uow import UnitOfWork
from core.usecases.metrics.figures import ACCEPTED
from core.usecases.metrics.periods import Window
from core.usecases.metrics.sql import within

TOP = 10
MIN_REVIEWS = 3
MEDALS = ("🥇", "🥈", "🥉")


@dataclass(frozen=True)
class Entry:
    user_id: str
    name: str
    value: float
    extra: int = 0  # reviews behind a rating


def _listed(cid: str) -> list[ColumnElement[bool]]:
    return [
        Mentor.community_id == cid,
        Mentor.listed_on_boards.is_(True),
        Mentor.status.in_(("active", "paused", "retired")),
        Member.left_at.is_(None),
    ]


async def _ranked(uow: UnitOfWork, stmt: Any) -> list[Entry]:
    return [Entry(u, n, float(v), int(x)) for u, n, v, x in await uow.session.execute(stmt)]


async def most_sessions(uow: UnitOfWork, cid: str, w: Window, top: int = TOP) -> list[Entry]:
    held = func.count(MentorSession.id)
    return await _ranked(
        uow,
        select(Member.platform_user_id, Member.display_name, held, literal_column("0"))
        .join(Mentor, Mentor.id == MentorSession.mentor_id)
        .join(Member, Member.id == Mentor.user_id)
        .where(
            MentorSession.community_id == cid,
            MentorSession.status == "completed",
            within(MentorSession.scheduled_at, w.start, w.end),
            *_listed(cid),
        )
        .group_by(Mentor.id, Member.platform_user_id, Member.display_name)
        .order_by(held.desc(), Member.display_name)
        .limit(top),
    )


async def most_mentees(uow: UnitOfWork, cid: str, w: Window, top: int = TOP) -> list[Entry]:
    helped = func.count(func.distinct(Mentorship.mentee_id))
    overlaps = [Mentorship.start_date < w.end]
    if w.start is not None:
        overlaps.append(or_(Mentorship.end_date.is_(None), Mentorship.end_date >= w.start))
    return await _ranked(
        uow,
        select(Member.platform_user_id, Member.display_name, helped, literal_column("0"))
        .join(Mentor, Mentor.id == Mentorship.mentor_id)
        .join(Member, Member.id == Mentor.user_id)
        .where(
            Mentorship.community_id == cid,
            Mentorship.status.in_(ACCEPTED),
            and_(*overlaps),
            *_listed(cid),
        )
        .group_by(Mentor.id, Member.platform_user_id, Member.display_name)
        .order_by(helped.desc(), Member.display_name)
        .limit(top),
    )


async def best_rated(uow: UnitOfWork, cid: str, w: Window, top: int = TOP) -> list[Entry]:
    average, reviews = func.avg(MentorReview.rating), func.count(MentorReview.id)
    return await _ranked(
        uow,
        select(Member.platform_user_id, Member.display_name, average, reviews)
        .join(Mentor, Mentor.id == MentorReview.mentor_id)
        .join(Member, Member.id == Mentor.user_id)
        .where(
            MentorReview.community_id == cid,
            within(MentorReview.created_at, w.start, w.end),
            *_listed(cid),
        )
        .group_by(Mentor.id, Member.platform_user_id, Member.display_name)
        .having(reviews >= MIN_REVIEWS)
        .order_by(average.desc(), reviews.desc(), Member.display_name)
        .limit(top),
    )


def _lines(entries: Sequence[Entry], shown: Any) -> str:
    if not entries:
        return "Nobody yet."
    return "\n".join(
        f"{MEDALS[i] if i < len(MEDALS) else f'{i + 1}.'} {mention(e.user_id)} · {shown(e)}"
        for i, e in enumerate(entries)
    )


async def unlisted_count(uow: UnitOfWork, cid: str) -> int:
    found = await uow.session.scalar(
        select(func.count()).where(
            Mentor.community_id == cid,
            Mentor.listed_on_boards.is_(False),
            Mentor.status.in_(("active", "paused")),
        )
    )
    return int(found or 0)


async def board(uow: UnitOfWork, cid: str, w: Window) -> Message:
    sessions = await most_sessions(uow, cid, w)
    mentees = await most_mentees(uow, cid, w)
    rated = await best_rated(uow, cid, w)
    hidden = await unlisted_count(uow, cid)
    footer = "Mentors can leave public boards with /mentor leaderboard listed:no."
    if hidden:
        footer = f"{hidden} mentor(s) chose not to be listed. " + footer
    return Message(
        title=f"Mentor leaderboard · {w.describe()}",
        text="Thank you to every mentor who gave their time.",
        fields=(
            Field("Sessions held", _lines(sessions, lambda e: f"{e.value:.0f} sessions")),
            Field("Mentees helped", _lines(mentees, lambda e: f"{e.value:.0f} mentees")),
            Field(
                f"Highest rated (from {MIN_REVIEWS} reviews)",
                _lines(rated, lambda e: f"{e.value:.2f} ★ ({e.extra} reviews)"),
            ),
        ),
        footer=footer,
    )
