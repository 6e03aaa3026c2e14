"""CSV exports for admins: the period's figures, and one row per mentor.

The mentor table is read a page of mentors at a time (keyset on the mentor id), with its
counts aggregated by SQL for that page only, and written as it is read: ten thousand
mentors never become ten thousand objects. Files over the platform's upload limit are
compressed or split by the adapter sending them (``core.files``), never cut.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select

from core.messages import File
from core.models import Member, Mentor, MentorReview, MentorSession, Mentorship
from core.uow import UnitOfWork
from core.usecases.metrics.cards import value_text
from core.usecases.metrics.figures import ACCEPTED, Figures
from core.usecases.metrics.periods import Window
from core.usecases.metrics.sql import count_in, within

METRICS_COLUMNS = (
    "section",
    "figure",
    "key",
    "unit",
    "now",
    "value",
    "previous",
    "shown",
    "previous_shown",
    "period",
    "from",
    "to",
)
MENTOR_COLUMNS = (
    "mentor",
    "user_id",
    "status",
    "listed_on_boards",
    "mentees",
    "completed",
    "sessions",
    "no_shows",
    "rating",
    "reviews",
    "rating_all_time",
)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"


def _stamp(window: Window) -> str:
    return f"{window.label}-{window.end:%Y-%m-%d}"


def metrics_csv(figures: Figures) -> File:
    w = figures.window
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(METRICS_COLUMNS)
    for f in figures:
        out.writerow(
            (
                f.section,
                f.label,
                f.key,
                f.unit,
                "yes" if f.now else "no",
                _number(f.current),
                _number(f.previous),
                value_text(f.current, f.unit),
                "" if f.previous is None else value_text(f.previous, f.unit),
                w.label,
                "" if w.start is None else w.start.isoformat(),
                w.end.isoformat(),
            )
        )
    return File(f"metrics-{_stamp(w)}.csv", buffer.getvalue().encode(), "text/csv")


async def _mentor_pages(
    uow: UnitOfWork, cid: str, window: Window, page_size: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The mentor table, a page at a time, in mentor id order."""
    s, after = uow.session, ""
    while True:
        page = (
            await s.execute(
                select(
                    Mentor.id,
                    Member.display_name,
                    Member.platform_user_id,
                    Mentor.status,
                    Mentor.listed_on_boards,
                    Mentor.avg_rating,
                )
                .join(Member, Member.id == Mentor.user_id)
                .where(Mentor.community_id == cid, Mentor.id > after)
                .order_by(Mentor.id)
                .limit(page_size)
            )
        ).all()
        if not page:
            return
        ids = [row[0] for row in page]
        counts = await _page_counts(uow, ids, window)
        yield [(*row[1:5], *counts.get(row[0], ()), row[5]) for row in page]
        if len(page) < page_size:
            return
        after = ids[-1]


async def _page_counts(
    uow: UnitOfWork, ids: Sequence[str], w: Window
) -> dict[str, tuple[Any, ...]]:
    """mentor id -> (mentees, completed, sessions, no-shows, rating, reviews) in the period."""
    s = uow.session
    overlaps = and_(
        Mentorship.start_date < w.end,
        or_(Mentorship.end_date.is_(None), Mentorship.end_date >= w.start)
        if w.start is not None
        else Mentorship.id.is_not(None),
    )
    completed = and_(Mentorship.status == "completed", within(Mentorship.end_date, w.start, w.end))
    ships = {
        mid: (int(n), int(done))
        for mid, n, done in await s.execute(
            select(
                Mentorship.mentor_id,
                func.count(func.distinct(Mentorship.mentee_id)),
                count_in(completed),
            )
            .where(Mentorship.mentor_id.in_(ids), Mentorship.status.in_(ACCEPTED), overlaps)
            .group_by(Mentorship.mentor_id)
        )
    }
    sessions = {
        mid: (int(held), int(missed))
        for mid, held, missed in await s.execute(
            select(
                MentorSession.mentor_id,
                count_in(MentorSession.status == "completed"),
                count_in(MentorSession.status == "no_show"),
            )
            .where(
                MentorSession.mentor_id.in_(ids),
                within(MentorSession.scheduled_at, w.start, w.end),
                MentorSession.status.in_(("completed", "no_show")),
            )
            .group_by(MentorSession.mentor_id)
        )
    }
    ratings = {
        mid: (float(avg), int(n))
        for mid, avg, n in await s.execute(
            select(MentorReview.mentor_id, func.avg(MentorReview.rating), func.count())
            .where(
                MentorReview.mentor_id.in_(ids),
                within(MentorReview.created_at, w.start, w.end),
            )
            .group_by(MentorReview.mentor_id)
        )
    }
    return {
        mid: (
            *ships.get(mid, (0, 0)),
            *sessions.get(mid, (0, 0)),
            ratings[mid][0] if mid in ratings else None,
            ratings.get(mid, (None, 0))[1],
        )
        for mid in ids
    }


async def mentors_csv(uow: UnitOfWork, cid: str, window: Window) -> tuple[File, int]:
    """The per-mentor table as CSV, and how many mentors it holds."""
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(MENTOR_COLUMNS)
    rows = 0
    async for page in _mentor_pages(uow, cid, window, uow.settings.export_page_size):
        for name, user, status, listed, *counts, rating, reviews, overall in page:
            out.writerow(
                (
                    name,
                    user,
                    status,
                    "yes" if listed else "no",
                    *counts,
                    "" if rating is None else f"{rating:.2f}",
                    reviews,
                    "" if overall is None else f"{overall:.2f}",
                )
            )
        rows += len(page)
    name = f"mentors-{_stamp(window)}.csv"
    return File(name, buffer.getvalue().encode(), "text/csv"), rows
