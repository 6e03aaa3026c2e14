"""The period's figures, each beside the previous period's, computed by SQL aggregates.

Nothing here loads rows into objects: every figure is a count, sum, average or percentile
the database computes over an indexed range (per community, by the moment the figure
counts from). Figures about the present ("now") have no previous value.

What the figures mean (README "Impact metrics" says the same for admins):

* mentorships *started* when accepted (``start_date``), *completed* / *ended* when closed;
* time to match: request to acceptance of each mentorship started in the period; and a
  mentee's profile (their application) to their first mentorship, for first mentorships
  started in the period;
* sessions held are completed sessions; the no-show rate is no-shows over held + no-shows;
* goal completion: goals completed over goals completed or abandoned in the period;
* retention: mentorships whose 30th (90th) day fell in the period, and the share of them
  not ended before it; returning mentees started a mentorship in the period after an
  earlier one;
* groups: members in groups now, joins, meetings held, average attendance where recorded.

A member who asked to be forgotten keeps an anonymised member row, so counts keep them;
their reviews are deleted, so ratings are recomputed without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import and_, exists, func, literal_column, or_, select
from sqlalchemy.orm import aliased

from core.models import (
    GoalProgress,
    Member,
    Mentee,
    Mentor,
    MentorReview,
    MentorSession,
    Mentorship,
    SupportGroup,
    SupportGroupMeeting,
    SupportGroupMember,
)
from core.models.mentoring import MENTOR_STATUSES
from core.uow import UnitOfWork
from core.usecases.metrics.periods import Window
from core.usecases.metrics.sql import (
    CURRENT,
    PREVIOUS,
    at,
    case_value,
    count_in,
    in_either,
    is_postgres,
    percentiles,
    period_of,
    seconds,
)

Unit = Literal["count", "rate", "duration", "rating", "number"]
# A mentorship that was accepted (whatever became of it since).
ACCEPTED = ("active", "paused", "completed", "ended")
RETENTION_DAYS = (30, 90)
DAY = 86400.0


@dataclass(frozen=True)
class Figure:
    key: str  # "sessions.held"
    section: str  # "Sessions"
    label: str  # "held"
    current: float | None
    previous: float | None = None
    unit: Unit = "count"
    now: bool = False  # about the present, not the period


@dataclass
class Figures:
    window: Window
    items: list[Figure] = field(default_factory=list)

    def add(
        self,
        key: str,
        label: str,
        current: float | None,
        previous: float | None = None,
        unit: Unit = "count",
        *,
        now: bool = False,
    ) -> None:
        section = SECTIONS[key.split(".")[0]]
        if self.window.start is None:
            previous = None
        self.items.append(Figure(key, section, label, current, previous, unit, now))

    def __getitem__(self, key: str) -> Figure:
        for item in self.items:
            if item.key == key:
                return item
        raise KeyError(key)

    def __iter__(self) -> Iterator[Figure]:
        return iter(self.items)

    def sections(self) -> dict[str, list[Figure]]:
        grouped: dict[str, list[Figure]] = {}
        for item in self.items:
            grouped.setdefault(item.section, []).append(item)
        return grouped


SECTIONS = {
    "mentors": "Mentors",
    "mentees": "Mentees",
    "mentorships": "Mentorships",
    "matching": "Time to match",
    "sessions": "Sessions",
    "goals": "Goals",
    "ratings": "Ratings",
    "retention": "Retention",
    "groups": "Support groups",
}


def _rate(part: float, whole: float) -> float | None:
    return part / whole if whole else None


async def compute(uow: UnitOfWork, community_id: str, window: Window) -> Figures:
    figures = Figures(window)
    for step in (
        _mentors,
        _mentees,
        _mentorships,
        _matching,
        _sessions,
        _goals,
        _ratings,
        _retention,
        _groups,
    ):
        await step(uow, community_id, window, figures)
    return figures


async def _mentors(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    row: Any
    s = uow.session
    by_status = dict(
        (
            await s.execute(
                select(Mentor.status, func.count())
                .where(Mentor.community_id == cid)
                .group_by(Mentor.status)
            )
        ).all()
    )
    for status in MENTOR_STATUSES:
        out.add(f"mentors.{status}", status, by_status.get(status, 0), now=True)
    applied = period_of(Mentor.application_date, w)
    approved = period_of(Mentor.approved_date, w)
    row = (
        await s.execute(
            select(
                count_in(applied == CURRENT),
                count_in(applied == PREVIOUS),
                count_in(approved == CURRENT),
                count_in(approved == PREVIOUS),
            ).where(
                Mentor.community_id == cid,
                or_(in_either(Mentor.application_date, w), in_either(Mentor.approved_date, w)),
            )
        )
    ).one()
    out.add("mentors.applied", "applied", row[0], row[1])
    out.add("mentors.approved", "approved", row[2], row[3])


async def _mentees(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    row: Any
    s, pg = uow.session, is_postgres(uow.session)
    # Waiting since their profile, or since their latest mentorship closed.
    last_closed = (
        select(func.max(Mentorship.end_date))
        .where(Mentorship.mentee_id == Mentee.id, Mentorship.end_date.is_not(None))
        .correlate(Mentee)
        .scalar_subquery()
    )
    since = func.coalesce(last_closed, Mentee.created_at)
    waits: Any = (
        select(literal_column("'now'").label("bucket"), seconds(pg, at(w.end), since))
        .join(Member, Member.id == Mentee.user_id)
        .where(Mentee.community_id == cid, Mentee.status == "seeking", Member.left_at.is_(None))
    )
    found = await percentiles(s, waits, (0.5, 1.0))
    count, (median, longest) = found.get("now", (0, [0.0, 0.0]))
    out.add("mentees.waiting", "waiting", count, now=True)
    out.add(
        "mentees.wait_median", "median wait", median if count else None, unit="duration", now=True
    )
    out.add(
        "mentees.wait_longest",
        "longest wait",
        longest if count else None,
        unit="duration",
        now=True,
    )
    joined = period_of(Mentee.created_at, w)
    row = (
        await s.execute(
            select(count_in(joined == CURRENT), count_in(joined == PREVIOUS)).where(
                Mentee.community_id == cid, in_either(Mentee.created_at, w)
            )
        )
    ).one()
    out.add("mentees.joined", "new mentee profiles", row[0], row[1])


async def _mentorships(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    row: Any
    s = uow.session
    live = dict(
        (
            await s.execute(
                select(Mentorship.status, func.count())
                .where(Mentorship.community_id == cid, Mentorship.status.in_(("active", "paused")))
                .group_by(Mentorship.status)
            )
        ).all()
    )
    out.add("mentorships.active", "active", live.get("active", 0), now=True)
    out.add("mentorships.paused", "paused", live.get("paused", 0), now=True)
    started = period_of(Mentorship.start_date, w)
    row = (
        await s.execute(
            select(count_in(started == CURRENT), count_in(started == PREVIOUS)).where(
                Mentorship.community_id == cid,
                Mentorship.status.in_(ACCEPTED),
                in_either(Mentorship.start_date, w),
            )
        )
    ).one()
    out.add("mentorships.started", "started", row[0], row[1])
    ended = period_of(Mentorship.end_date, w)
    row = (
        await s.execute(
            select(
                count_in(and_(Mentorship.status == "completed", ended == CURRENT)),
                count_in(and_(Mentorship.status == "completed", ended == PREVIOUS)),
                count_in(and_(Mentorship.status == "ended", ended == CURRENT)),
                count_in(and_(Mentorship.status == "ended", ended == PREVIOUS)),
            ).where(
                Mentorship.community_id == cid,
                Mentorship.status.in_(("completed", "ended")),
                in_either(Mentorship.end_date, w),
            )
        )
    ).one()
    out.add("mentorships.completed", "completed", row[0], row[1])
    out.add("mentorships.ended", "ended early", row[2], row[3])


async def _matching(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    s, pg = uow.session, is_postgres(uow.session)
    request = await percentiles(
        s,
        select(
            period_of(Mentorship.start_date, w),
            seconds(pg, Mentorship.start_date, Mentorship.requested_at),
        ).where(
            Mentorship.community_id == cid,
            Mentorship.status.in_(ACCEPTED),
            in_either(Mentorship.start_date, w),
        ),
        (0.5, 0.9),
    )
    firsts = (
        select(
            Mentorship.mentee_id.label("mentee_id"), func.min(Mentorship.start_date).label("first")
        )
        .where(Mentorship.community_id == cid, Mentorship.status.in_(ACCEPTED))
        .group_by(Mentorship.mentee_id)
        .subquery()
    )
    first = await percentiles(
        s,
        select(period_of(firsts.c.first, w), seconds(pg, firsts.c.first, Mentee.created_at))
        .join(Mentee, Mentee.id == firsts.c.mentee_id)
        .where(in_either(firsts.c.first, w)),
        (0.5, 0.9),
    )
    for name, found, label in (
        ("request", request, "request to acceptance"),
        ("first", first, "mentee profile to first mentorship"),
    ):
        now = found.get(CURRENT, (0, [None, None]))[1]
        before = found.get(PREVIOUS, (0, [None, None]))[1]
        out.add(f"matching.{name}_median", f"{label}, median", now[0], before[0], "duration")
        out.add(f"matching.{name}_p90", f"{label}, 90th percentile", now[1], before[1], "duration")


async def _sessions(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    row: Any
    period = period_of(MentorSession.scheduled_at, w)
    held, missed = MentorSession.status == "completed", MentorSession.status == "no_show"
    row = (
        await uow.session.execute(
            select(
                count_in(and_(held, period == CURRENT)),
                count_in(and_(held, period == PREVIOUS)),
                count_in(and_(missed, period == CURRENT)),
                count_in(and_(missed, period == PREVIOUS)),
            ).where(
                MentorSession.community_id == cid,
                in_either(MentorSession.scheduled_at, w),
                MentorSession.status.in_(("completed", "no_show")),
            )
        )
    ).one()
    out.add("sessions.held", "held", row[0], row[1])
    out.add("sessions.no_shows", "no-shows", row[2], row[3])
    out.add(
        "sessions.no_show_rate",
        "no-show rate",
        _rate(row[2], row[0] + row[2]),
        _rate(row[3], row[1] + row[3]),
        "rate",
    )


async def _goals(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    row: Any
    period = period_of(GoalProgress.at, w)
    done, dropped = GoalProgress.change == "completed", GoalProgress.change == "abandoned"
    row = (
        await uow.session.execute(
            select(
                count_in(and_(done, period == CURRENT)),
                count_in(and_(done, period == PREVIOUS)),
                count_in(and_(dropped, period == CURRENT)),
                count_in(and_(dropped, period == PREVIOUS)),
            ).where(
                GoalProgress.community_id == cid,
                GoalProgress.change.in_(("completed", "abandoned")),
                in_either(GoalProgress.at, w),
            )
        )
    ).one()
    out.add("goals.completed", "completed", row[0], row[1])
    out.add("goals.abandoned", "abandoned", row[2], row[3])
    out.add(
        "goals.completion_rate",
        "completion rate",
        _rate(row[0], row[0] + row[2]),
        _rate(row[1], row[1] + row[3]),
        "rate",
    )


async def _ratings(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    row: Any
    period = period_of(MentorReview.created_at, w)
    row = (
        await uow.session.execute(
            select(
                count_in(period == CURRENT),
                count_in(period == PREVIOUS),
                func.avg(case_value(period == CURRENT, MentorReview.rating)),
                func.avg(case_value(period == PREVIOUS, MentorReview.rating)),
            ).where(MentorReview.community_id == cid, in_either(MentorReview.created_at, w))
        )
    ).one()
    out.add("ratings.count", "reviews", row[0], row[1])
    out.add(
        "ratings.average",
        "average rating",
        None if row[2] is None else float(row[2]),
        None if row[3] is None else float(row[3]),
        "rating",
    )


async def _retention(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    row: Any
    s, pg = uow.session, is_postgres(uow.session)
    for days in RETENTION_DAYS:
        # Mentorships whose day ``days`` fell in the period started ``days`` earlier.
        cohort = w.shifted(days)
        period = period_of(Mentorship.start_date, cohort)
        kept = or_(
            Mentorship.end_date.is_(None),
            seconds(pg, Mentorship.end_date, Mentorship.start_date) >= days * DAY,
        )
        row = (
            await s.execute(
                select(
                    count_in(period == CURRENT),
                    count_in(period == PREVIOUS),
                    count_in(and_(kept, period == CURRENT)),
                    count_in(and_(kept, period == PREVIOUS)),
                ).where(
                    Mentorship.community_id == cid,
                    Mentorship.status.in_(ACCEPTED),
                    in_either(Mentorship.start_date, cohort),
                )
            )
        ).one()
        out.add(
            f"retention.day{days}",
            f"still going after {days} days",
            _rate(row[2], row[0]),
            _rate(row[3], row[1]),
            "rate",
        )
    earlier = aliased(Mentorship)
    returning = exists().where(
        earlier.mentee_id == Mentorship.mentee_id,
        earlier.status.in_(ACCEPTED),
        earlier.start_date < Mentorship.start_date,
    )
    period = period_of(Mentorship.start_date, w)
    mentee = Mentorship.mentee_id
    row = (
        await s.execute(
            select(
                func.count(func.distinct(case_value(period == CURRENT, mentee))),
                func.count(func.distinct(case_value(period == PREVIOUS, mentee))),
                func.count(func.distinct(case_value(and_(returning, period == CURRENT), mentee))),
                func.count(func.distinct(case_value(and_(returning, period == PREVIOUS), mentee))),
            ).where(
                Mentorship.community_id == cid,
                Mentorship.status.in_(ACCEPTED),
                in_either(Mentorship.start_date, w),
            )
        )
    ).one()
    out.add("retention.returning", "returning mentees", row[2], row[3])
    out.add(
        "retention.returning_rate",
        "of mentees who started, returning",
        _rate(row[2], row[0]),
        _rate(row[3], row[1]),
        "rate",
    )


async def _groups(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    row: Any
    s = uow.session
    members = await s.scalar(
        select(func.count())
        .select_from(SupportGroupMember)
        .join(SupportGroup, SupportGroup.id == SupportGroupMember.group_id)
        .where(
            SupportGroupMember.community_id == cid,
            SupportGroupMember.status == "active",
            SupportGroup.status != "archived",
        )
    )
    out.add("groups.members", "members in groups", members or 0, now=True)
    joined = period_of(SupportGroupMember.joined_at, w)
    row = (
        await s.execute(
            select(count_in(joined == CURRENT), count_in(joined == PREVIOUS)).where(
                SupportGroupMember.community_id == cid,
                SupportGroupMember.status.in_(("active", "left", "removed")),
                in_either(SupportGroupMember.joined_at, w),
            )
        )
    ).one()
    out.add("groups.joined", "joined a group", row[0], row[1])
    held = period_of(SupportGroupMeeting.scheduled_at, w)
    attended = SupportGroupMeeting.attendee_count
    row = (
        await s.execute(
            select(
                count_in(held == CURRENT),
                count_in(held == PREVIOUS),
                func.avg(case_value(held == CURRENT, attended)),
                func.avg(case_value(held == PREVIOUS, attended)),
            ).where(
                SupportGroupMeeting.community_id == cid,
                SupportGroupMeeting.status == "scheduled",
                in_either(SupportGroupMeeting.scheduled_at, w),
            )
        )
    ).one()
    out.add("groups.meetings", "meetings held", row[0], row[1])
    out.add(
        "groups.attendance",
        "average attendance",
        None if row[2] is None else float(row[2]),
        None if row[3] is None else float(row[3]),
        "number",
    )
