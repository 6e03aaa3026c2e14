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

from sqlalchemy import ColumnElement, and_, false, func, literal_column, or_, select

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
    counts,
    in_either,
    is_postgres,
    percentiles,
    period_of,
    seconds,
    within,
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
        *,
        unit: Unit = "count",
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


def _periods(column: Any, w: Window) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """(in this period, in the previous one); the latter never holds for "all"."""
    if w.start is None or w.previous_start is None:
        return within(column, None, w.end), false()
    return within(column, w.start, w.end), within(column, w.previous_start, w.start)


def _pair(model: Any, column: Any, w: Window, *where: Any) -> list[Any]:
    """Two counts (this period, the previous one) of ``model`` rows by ``column``: each an
    index range count when an index leads with the ``where`` columns and ``column``."""
    return [
        select(func.count()).select_from(model).where(*where, period).scalar_subquery()
        for period in _periods(column, w)
    ]


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
    # A few thousand rows at most, read once for both moments.
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
    s, pg = uow.session, is_postgres(uow.session)
    # Waiting since their profile, or since their latest mentorship closed.
    last_closed = (
        select(func.max(Mentorship.end_date))
        .where(
            Mentorship.community_id == cid,
            Mentorship.mentee_id == Mentee.id,
            Mentorship.end_date.is_not(None),
        )
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
    joined = await counts(s, _pair(Mentee, Mentee.created_at, w, Mentee.community_id == cid))
    out.add("mentees.joined", "new mentee profiles", *joined)


async def _mentorships(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    mine = Mentorship.community_id == cid

    def live(status: str) -> Any:
        return (
            select(func.count())
            .select_from(Mentorship)
            .where(mine, Mentorship.status == status)
            .scalar_subquery()
        )

    found = await counts(
        uow.session,
        [
            live("active"),
            live("paused"),
            *_pair(Mentorship, Mentorship.start_date, w, mine, Mentorship.status.in_(ACCEPTED)),
            *_pair(Mentorship, Mentorship.end_date, w, mine, Mentorship.status == "completed"),
            *_pair(Mentorship, Mentorship.end_date, w, mine, Mentorship.status == "ended"),
        ],
    )
    out.add("mentorships.active", "active", found[0], now=True)
    out.add("mentorships.paused", "paused", found[1], now=True)
    out.add("mentorships.started", "started", *found[2:4])
    out.add("mentorships.completed", "completed", *found[4:6])
    out.add("mentorships.ended", "ended early", *found[6:8])


def _per_mentee(cid: str, w: Window) -> Any:
    """Per mentee with an accepted mentorship: their first start ever, and their latest
    start in this period and in the previous one (one grouped pass over an index)."""
    current, previous = _periods(Mentorship.start_date, w)
    return (
        select(
            Mentorship.mentee_id.label("mentee_id"),
            func.min(Mentorship.start_date).label("first"),
            func.max(case_value(current, Mentorship.start_date)).label("last_current"),
            func.max(case_value(previous, Mentorship.start_date)).label("last_previous"),
        )
        .where(Mentorship.community_id == cid, Mentorship.status.in_(ACCEPTED))
        .group_by(Mentorship.mentee_id)
        .subquery()
    )


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
    firsts = _per_mentee(cid, w)
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
        out.add(f"matching.{name}_median", f"{label}, median", now[0], before[0], unit="duration")
        out.add(
            f"matching.{name}_p90", f"{label}, 90th percentile", now[1], before[1], unit="duration"
        )


async def _sessions(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    mine = MentorSession.community_id == cid
    at_ = MentorSession.scheduled_at
    held, missed = (
        _pair(MentorSession, at_, w, mine, MentorSession.status == status)
        for status in ("completed", "no_show")
    )
    found = await counts(uow.session, [*held, *missed])
    out.add("sessions.held", "held", *found[0:2])
    out.add("sessions.no_shows", "no-shows", *found[2:4])
    out.add(
        "sessions.no_show_rate",
        "no-show rate",
        _rate(found[2], found[0] + found[2]),
        _rate(found[3], found[1] + found[3]),
        unit="rate",
    )


async def _goals(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    mine = GoalProgress.community_id == cid
    done, dropped = (
        _pair(GoalProgress, GoalProgress.at, w, mine, GoalProgress.change == change)
        for change in ("completed", "abandoned")
    )
    found = await counts(uow.session, [*done, *dropped])
    out.add("goals.completed", "completed", *found[0:2])
    out.add("goals.abandoned", "abandoned", *found[2:4])
    out.add(
        "goals.completion_rate",
        "completion rate",
        _rate(found[0], found[0] + found[2]),
        _rate(found[1], found[1] + found[3]),
        unit="rate",
    )


async def _ratings(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    row: Any
    current, previous = _periods(MentorReview.created_at, w)
    row = (
        await uow.session.execute(
            select(
                count_in(current),
                count_in(previous),
                func.avg(case_value(current, MentorReview.rating)),
                func.avg(case_value(previous, MentorReview.rating)),
            ).where(MentorReview.community_id == cid, in_either(MentorReview.created_at, w))
        )
    ).one()
    out.add("ratings.count", "reviews", row[0], row[1])
    out.add(
        "ratings.average",
        "average rating",
        None if row[2] is None else float(row[2]),
        None if row[3] is None else float(row[3]),
        unit="rating",
    )


async def _retention(uow: UnitOfWork, cid: str, w: Window, out: Figures) -> None:
    row: Any
    s, pg = uow.session, is_postgres(uow.session)
    for days in RETENTION_DAYS:
        # Mentorships whose day ``days`` fell in the period started ``days`` earlier.
        cohort = w.shifted(days)
        current, previous = _periods(Mentorship.start_date, cohort)
        kept = or_(
            Mentorship.end_date.is_(None),
            seconds(pg, Mentorship.end_date, Mentorship.start_date) >= days * DAY,
        )
        row = (
            await s.execute(
                select(
                    count_in(current),
                    count_in(previous),
                    count_in(and_(kept, current)),
                    count_in(and_(kept, previous)),
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
            unit="rate",
        )
    # A mentee returns in a period when a start there follows an earlier one: when their
    # first start ever is before their latest start in the period.
    per = _per_mentee(cid, w)
    row = (
        await s.execute(
            select(
                func.count(per.c.last_current),
                func.count(per.c.last_previous),
                count_in(per.c.first < per.c.last_current),
                count_in(per.c.first < per.c.last_previous),
            )
        )
    ).one()
    out.add("retention.returning", "returning mentees", row[2], row[3])
    out.add(
        "retention.returning_rate",
        "of mentees who started, returning",
        _rate(row[2], row[0]),
        _rate(row[3], row[1]),
        unit="rate",
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
    joined = await counts(
        s,
        _pair(
            SupportGroupMember,
            SupportGroupMember.joined_at,
            w,
            SupportGroupMember.community_id == cid,
            SupportGroupMember.status.in_(("active", "left", "removed")),
        ),
    )
    out.add("groups.joined", "joined a group", *joined)
    current, previous = _periods(SupportGroupMeeting.scheduled_at, w)
    attended = SupportGroupMeeting.attendee_count
    row = (
        await s.execute(
            select(
                count_in(current),
                count_in(previous),
                func.avg(case_value(current, attended)),
                func.avg(case_value(previous, attended)),
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
        unit="number",
    )
