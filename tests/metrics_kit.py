"""A seeded community for the impact-metrics tests, and the figures recomputed from the
seeded rows in plain Python (never through the SQL under test)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.ids import new_id
from core.models import (
    GoalProgress,
    Member,
    Mentee,
    MenteeGoal,
    Mentor,
    MentorReview,
    MentorSession,
    Mentorship,
    SupportGroup,
    SupportGroupMeeting,
    SupportGroupMember,
)

Row = dict[str, Any]
ACCEPTED = ("active", "paused", "completed", "ended")
DAY = 86400
SESSION_STATES = ("scheduled", "completed", "completed", "cancelled", "no_show")


@dataclass
class Seeded:
    community_id: str
    now: datetime
    members: list[Row] = field(default_factory=list)
    mentors: list[Row] = field(default_factory=list)
    mentees: list[Row] = field(default_factory=list)
    mentorships: list[Row] = field(default_factory=list)
    sessions: list[Row] = field(default_factory=list)
    reviews: list[Row] = field(default_factory=list)
    goals: list[Row] = field(default_factory=list)
    progress: list[Row] = field(default_factory=list)
    groups: list[Row] = field(default_factory=list)
    group_members: list[Row] = field(default_factory=list)
    meetings: list[Row] = field(default_factory=list)

    def member(self, member_id: str) -> Row:
        return next(m for m in self.members if m["id"] == member_id)

    def mentor_member(self, mentor: Row) -> Row:
        return self.member(mentor["user_id"])


def _ago(rng: random.Random, now: datetime, days: float = 400) -> datetime:
    return now - timedelta(seconds=rng.randint(0, int(days * DAY)))


async def seed(
    factory: async_sessionmaker[AsyncSession],
    community_id: str,
    now: datetime,
    *,
    seed: int = 7,
    mentors: int = 14,
    mentees: int = 40,
) -> Seeded:
    rng = random.Random(seed)
    out = Seeded(community_id, now)
    for i in range(mentors + mentees + 10):
        created = _ago(rng, now, 500)
        out.members.append(
            {
                "id": new_id(),
                "community_id": community_id,
                "platform_user_id": f"seed{i:03d}",
                "display_name": f"seed{i:03d}",
                "languages": [],
                "left_at": now - timedelta(days=2) if rng.random() < 0.08 else None,
                "created_at": created,
                "updated_at": created,
            }
        )
    statuses = ("pending", "active", "active", "active", "paused", "retired", "rejected")
    for member in out.members[:mentors]:
        status = rng.choice(statuses)
        applied = _ago(rng, now, 420)
        approved = (
            applied + timedelta(hours=rng.randint(1, 200))
            if status in ("active", "paused", "retired")
            else None
        )
        out.mentors.append(
            {
                "id": new_id(),
                "community_id": community_id,
                "user_id": member["id"],
                "bio": "Seeded mentor bio, long enough.",
                "expertise": ["giving"],
                "availability": 10,
                "max_mentees": 5,
                "current_mentees": 0,
                "preferred_style": "async",
                "languages": ["en"],
                "is_accepting": True,
                "application_date": applied,
                "approved_date": min(approved, now) if approved else None,
                "status": status,
                "listed_on_boards": rng.random() > 0.2,
                "total_mentees": 0,
                "created_at": applied,
                "updated_at": applied,
            }
        )
    for member in out.members[mentors : mentors + mentees]:
        created = _ago(rng, now, 420)
        out.mentees.append(
            {
                "id": new_id(),
                "community_id": community_id,
                "user_id": member["id"],
                "goals": ["learn_giving"],
                "preferred_style": "any",
                "languages": ["en"],
                "status": rng.choice(("seeking", "seeking", "matched", "completed")),
                "created_at": created,
                "updated_at": created,
            }
        )
    pairs = set()
    ship_statuses = ("pending", "active", "paused", "completed", "completed", "ended")
    ship_statuses += ("declined", "expired")
    while len(out.mentorships) < 90:
        mentor, mentee = rng.choice(out.mentors), rng.choice(out.mentees)
        if (mentor["id"], mentee["id"]) in pairs:
            continue
        pairs.add((mentor["id"], mentee["id"]))
        status = rng.choice(ship_statuses)
        requested = max(_ago(rng, now, 400), mentee["created_at"] + timedelta(hours=1))
        if requested > now:
            requested = now - timedelta(hours=1)
        start = requested
        if status in ACCEPTED:
            start = min(requested + timedelta(seconds=rng.randint(60, 12 * DAY)), now)
        end = None
        if status in ("completed", "ended", "declined", "expired"):
            end = min(start + timedelta(seconds=rng.randint(3600, 200 * DAY)), now)
        out.mentorships.append(
            {
                "id": new_id(),
                "community_id": community_id,
                "mentor_id": mentor["id"],
                "mentee_id": mentee["id"],
                "status": status,
                "origin": "request",
                "mentee_accepted": True,
                "mentor_accepted": status in ACCEPTED,
                "requested_at": requested,
                "request_version": 1,
                "goals": [],
                "start_date": start,
                "end_date": end,
                "created_at": requested,
                "updated_at": requested,
            }
        )
    for _ in range(160):
        mentor = rng.choice(out.mentors)
        when = now + timedelta(days=10) - timedelta(seconds=rng.randint(0, 410 * DAY))
        out.sessions.append(
            {
                "id": new_id(),
                "community_id": community_id,
                "mentor_id": mentor["id"],
                "title": "Seeded session",
                "scheduled_at": when,
                "duration": 60,
                "type": "one_on_one",
                "status": rng.choice(
                    ("scheduled", "completed", "completed", "cancelled", "no_show")
                ),
                "version": 1,
                "created_at": when,
            }
        )
    reviewers = out.members[mentors : mentors + mentees]
    for _ in range(70):
        created = _ago(rng, now, 400)
        out.reviews.append(
            {
                "id": new_id(),
                "community_id": community_id,
                "mentor_id": rng.choice(out.mentors)["id"],
                "mentorship_id": None,
                "reviewer_id": rng.choice(reviewers)["id"],
                "rating": float(rng.randint(1, 5)),
                "is_public": rng.random() < 0.5,
                "created_at": created,
            }
        )
    accepted = [m for m in out.mentorships if m["status"] in ACCEPTED]
    for _ in range(20):
        ship = rng.choice(accepted)
        created = _ago(rng, now, 400)
        out.goals.append(
            {
                "id": new_id(),
                "community_id": community_id,
                "mentorship_id": ship["id"],
                "title": "Seeded goal",
                "status": "active",
                "progress": 0.0,
                "progress_manual": False,
                "created_at": created,
                "updated_at": created,
            }
        )
    changes = ("created", "milestone", "manual", "completed", "completed", "abandoned")
    for _ in range(90):
        out.progress.append(
            {
                "id": new_id(),
                "community_id": community_id,
                "goal_id": rng.choice(out.goals)["id"],
                "progress": 50.0,
                "change": rng.choice(changes),
                "at": _ago(rng, now, 400),
            }
        )
    for name, status in (("Givers", "active"), ("Funders", "active"), ("Old", "archived")):
        created = _ago(rng, now, 400)
        out.groups.append(
            {
                "id": new_id(),
                "community_id": community_id,
                "name": name,
                "description": "Seeded group",
                "type": "new_givers",
                "max_members": 12,
                "is_private": False,
                "status": status,
                "created_at": created,
                "updated_at": created,
            }
        )
    joined_pairs = set()
    member_states = ("active", "active", "waitlisted", "left", "removed", "requested")
    while len(out.group_members) < 30:
        group, member = rng.choice(out.groups), rng.choice(out.members)
        if (group["id"], member["id"]) in joined_pairs:
            continue
        joined_pairs.add((group["id"], member["id"]))
        out.group_members.append(
            {
                "id": new_id(),
                "community_id": community_id,
                "group_id": group["id"],
                "user_id": member["id"],
                "role": "member",
                "joined_at": _ago(rng, now, 400),
                "status": rng.choice(member_states),
                "offer_version": 0,
            }
        )
    for _ in range(40):
        group = rng.choice(out.groups)
        when = now + timedelta(days=20) - timedelta(seconds=rng.randint(0, 420 * DAY))
        out.meetings.append(
            {
                "id": new_id(),
                "community_id": community_id,
                "group_id": group["id"],
                "scheduled_at": when,
                "duration": 60,
                "attendee_count": rng.choice((None, 2, 3, 5, 8)),
                "occurrence_at": when,
                "status": rng.choice(("scheduled", "scheduled", "cancelled")),
                "created_at": when,
            }
        )
    async with factory() as session, session.begin():
        for model, rows in (
            (Member, out.members),
            (Mentor, out.mentors),
            (Mentee, out.mentees),
            (Mentorship, out.mentorships),
            (MentorSession, out.sessions),
            (MentorReview, out.reviews),
            (MenteeGoal, out.goals),
            (GoalProgress, out.progress),
            (SupportGroup, out.groups),
            (SupportGroupMember, out.group_members),
            (SupportGroupMeeting, out.meetings),
        ):
            await session.execute(insert(model), rows)
    return out


# ----- the same figures, in plain Python -------------------------------------------------


def _in(moment: datetime | None, start: datetime | None, end: datetime) -> bool:
    return moment is not None and moment < end and (start is None or moment >= start)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _pct(values: list[float], p: float) -> float | None:
    return float(np.percentile(values, p)) if values else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _one(data: Seeded, start: datetime | None, end: datetime) -> dict[str, float | None]:
    """The period figures for ``[start, end)``."""
    f: dict[str, float | None] = {}
    f["mentors.applied"] = sum(_in(m["application_date"], start, end) for m in data.mentors)
    f["mentors.approved"] = sum(_in(m["approved_date"], start, end) for m in data.mentors)
    f["mentees.joined"] = sum(_in(m["created_at"], start, end) for m in data.mentees)
    accepted = [m for m in data.mentorships if m["status"] in ACCEPTED]
    started = [m for m in accepted if _in(m["start_date"], start, end)]
    f["mentorships.started"] = len(started)
    for status, key in (("completed", "completed"), ("ended", "ended")):
        f[f"mentorships.{key}"] = sum(
            m["status"] == status and _in(m["end_date"], start, end) for m in data.mentorships
        )
    waits = [(m["start_date"] - m["requested_at"]).total_seconds() for m in started]
    f["matching.request_median"], f["matching.request_p90"] = _pct(waits, 50), _pct(waits, 90)
    firsts: dict[str, datetime] = {}
    for m in accepted:
        if m["mentee_id"] not in firsts or m["start_date"] < firsts[m["mentee_id"]]:
            firsts[m["mentee_id"]] = m["start_date"]
    mentee_created = {m["id"]: m["created_at"] for m in data.mentees}
    to_first = [
        (first - mentee_created[mid]).total_seconds()
        for mid, first in firsts.items()
        if _in(first, start, end)
    ]
    f["matching.first_median"], f["matching.first_p90"] = _pct(to_first, 50), _pct(to_first, 90)
    held = sum(
        s["status"] == "completed" and _in(s["scheduled_at"], start, end) for s in data.sessions
    )
    missed = sum(
        s["status"] == "no_show" and _in(s["scheduled_at"], start, end) for s in data.sessions
    )
    f["sessions.held"], f["sessions.no_shows"] = held, missed
    f["sessions.no_show_rate"] = _rate(missed, held + missed)
    done = sum(p["change"] == "completed" and _in(p["at"], start, end) for p in data.progress)
    dropped = sum(p["change"] == "abandoned" and _in(p["at"], start, end) for p in data.progress)
    f["goals.completed"], f["goals.abandoned"] = done, dropped
    f["goals.completion_rate"] = _rate(done, done + dropped)
    ratings = [r["rating"] for r in data.reviews if _in(r["created_at"], start, end)]
    f["ratings.count"], f["ratings.average"] = len(ratings), _mean(ratings)
    for days in (30, 90):
        shift = timedelta(days=days)
        cohort = [
            m
            for m in accepted
            if _in(m["start_date"], None if start is None else start - shift, end - shift)
        ]
        kept = [
            m
            for m in cohort
            if m["end_date"] is None
            or (m["end_date"] - m["start_date"]).total_seconds() >= days * DAY
        ]
        f[f"retention.day{days}"] = _rate(len(kept), len(cohort))
    starters = {m["mentee_id"] for m in started}
    returning = {
        m["mentee_id"]
        for m in started
        if any(
            o["mentee_id"] == m["mentee_id"] and o["start_date"] < m["start_date"] for o in accepted
        )
    }
    f["retention.returning"] = len(returning)
    f["retention.returning_rate"] = _rate(len(returning), len(starters))
    f["groups.joined"] = sum(
        g["status"] in ("active", "left", "removed") and _in(g["joined_at"], start, end)
        for g in data.group_members
    )
    meetings = [
        m
        for m in data.meetings
        if m["status"] == "scheduled" and _in(m["scheduled_at"], start, end)
    ]
    f["groups.meetings"] = len(meetings)
    f["groups.attendance"] = _mean(
        [m["attendee_count"] for m in meetings if m["attendee_count"] is not None]
    )
    return f


def expected(data: Seeded, days: int | None) -> dict[str, tuple[float | None, float | None]]:
    """key -> (this period, previous period) for the period of ``days`` (None: all time)."""
    # The period includes this very moment: it ends a second after now (half-open windows).
    now = data.now + timedelta(seconds=1)
    start = None if days is None else now - timedelta(days=days)
    current = _one(data, start, now)
    previous = (
        _one(data, start - timedelta(days=days), start)
        if start is not None and days is not None
        else {}
    )
    out: dict[str, tuple[float | None, float | None]] = {
        key: (value, previous.get(key)) for key, value in current.items()
    }
    for status in ("pending", "active", "paused", "retired", "rejected"):
        out[f"mentors.{status}"] = (sum(m["status"] == status for m in data.mentors), None)
    for status in ("active", "paused"):
        out[f"mentorships.{status}"] = (
            sum(m["status"] == status for m in data.mentorships),
            None,
        )
    left = {m["id"] for m in data.members if m["left_at"] is not None}
    waiting = []
    for mentee in data.mentees:
        if mentee["status"] != "seeking" or mentee["user_id"] in left:
            continue
        closed = [
            m["end_date"]
            for m in data.mentorships
            if m["mentee_id"] == mentee["id"] and m["end_date"] is not None
        ]
        since = max(closed) if closed else mentee["created_at"]
        waiting.append((now - since).total_seconds())
    out["mentees.waiting"] = (len(waiting), None)
    out["mentees.wait_median"] = (_pct(waiting, 50), None)
    out["mentees.wait_longest"] = (max(waiting) if waiting else None, None)
    live_groups = {g["id"] for g in data.groups if g["status"] != "archived"}
    out["groups.members"] = (
        sum(g["status"] == "active" and g["group_id"] in live_groups for g in data.group_members),
        None,
    )
    return out


# Figures whose shown line every adapter test checks: (key, label, unit).
SHOWN = (
    ("mentorships.started", "started", "count"),
    ("mentorships.completed", "completed", "count"),
    ("sessions.held", "held", "count"),
    ("sessions.no_show_rate", "no-show rate", "rate"),
    ("ratings.average", "average rating", "rating"),
    ("matching.request_median", "request to acceptance, median", "duration"),
    ("mentees.waiting", "waiting", "count"),
)


def expected_lines(data: Seeded, days: int | None) -> list[str]:
    """How the ``SHOWN`` figures read in the reply, from the plain-Python values."""
    from core.usecases.metrics.cards import figure_line
    from core.usecases.metrics.figures import Figure

    want = expected(data, days)
    now = {"mentees.waiting"}
    return [
        figure_line(Figure(key, "", label, *want[key], unit, key in now))  # type: ignore[arg-type]
        for key, label, unit in SHOWN
    ]


def is_png(data: bytes) -> bool:
    """A PNG signature, and an image matplotlib decodes to the charts' size."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.image as mpimg

    from core.charts import HEIGHT_PX, WIDTH_PX

    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    pixels = mpimg.imread(io.BytesIO(data), format="png")
    return tuple(pixels.shape[:2]) == (HEIGHT_PX, WIDTH_PX)


def mentor_rows_expected(data: Seeded) -> dict[str, dict[str, int]]:
    """user id -> sessions held and reviews, all time (for the CSV checks)."""
    out = {}
    for mentor in data.mentors:
        user = data.mentor_member(mentor)["platform_user_id"]
        out[user] = {
            "sessions": sum(
                s["mentor_id"] == mentor["id"]
                and s["status"] == "completed"
                and s["scheduled_at"] < data.now
                for s in data.sessions
            ),
            "reviews": sum(
                r["mentor_id"] == mentor["id"] and r["created_at"] < data.now for r in data.reviews
            ),
        }
    return out
