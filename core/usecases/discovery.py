"""F3 and F4: browsing mentors and personal suggestions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from core import matching, validation
from core.actions import action_id, button
from core.cards import STYLE_LABELS, languages_text, local_time
from core.context import Actor
from core.errors import InvalidValue, NotConfigured, StaleAction
from core.messages import Button, Field, Message, Reply
from core.models import BadgeAward, Member, Mentee, Mentor, MentorReview
from core.uow import UnitOfWork
from core.usecases.mentees import find_mentee

MIN_PUBLIC_REVIEWS_FOR_RATING = 3
NONE = "-"  # "no filter" inside a button id


@dataclass(frozen=True)
class MentorRow:
    mentor: Mentor
    member: Member

    def facts(self) -> matching.MentorFacts:
        return mentor_facts(self.mentor)


def mentor_facts(m: Mentor) -> matching.MentorFacts:
    return matching.MentorFacts(
        id=m.id,
        expertise=tuple(m.expertise),
        languages=tuple(m.languages),
        timezone=m.timezone,
        style=m.preferred_style,
        capacity_left=max(m.max_mentees - m.current_mentees, 0),
        max_mentees=m.max_mentees,
        availability=m.availability,
    )


async def accepting_mentors(uow: UnitOfWork, community_id: str) -> list[MentorRow]:
    """Active mentors who take mentees (full ones included; callers filter capacity)."""
    rows = await uow.session.execute(
        select(Mentor, Member)
        .join(Member, Member.id == Mentor.user_id)
        .where(
            Mentor.community_id == community_id,
            Mentor.status == "active",
            Mentor.is_accepting.is_(True),
            Member.left_at.is_(None),
        )
        .order_by(Mentor.id)
    )
    return [MentorRow(mentor, member) for mentor, member in rows]


# Writers in other processes may commit a slightly older updated_at after a newer one;
# re-reading this far back, and at least every INDEX_MAX_AGE, bounds how stale it gets.
INDEX_LOOKBACK = timedelta(seconds=60)
INDEX_MAX_AGE = 30.0  # seconds


@dataclass
class _CachedIndex:
    count: int
    newest: datetime | None
    checked: float  # time.monotonic() of the last reload
    facts: dict[str, tuple[matching.MentorFacts, str]]  # mentor id -> (facts, member id)
    index: matching.MentorIndex


async def mentor_index(uow: UnitOfWork, community_id: str) -> matching.MentorIndex:
    """The community's accepting mentors as a scoring index, cached per process.

    The cache is keyed on the number of mentor rows and their newest ``updated_at``
    (every change stamps it with wall-clock time), checked with one query per use; when it
    moved (or every INDEX_MAX_AGE seconds), the rows changed since shortly before are
    reloaded. Fewer rows than before (a deletion) reloads everything. A suggestion built
    on a slightly stale index is still safe: capacity is checked again, atomically, when a
    request is made and when it is accepted.
    """
    count, newest = (
        await uow.session.execute(
            select(func.count(Mentor.id), func.max(Mentor.updated_at)).where(
                Mentor.community_id == community_id
            )
        )
    ).one()
    if isinstance(newest, str):  # SQLite returns max() of a datetime column as text
        newest = datetime.fromisoformat(newest).replace(tzinfo=UTC)
    key = ("mentor-index", community_id)
    cached: _CachedIndex | None = uow.cache.get(key)
    fresh = cached is not None and time.monotonic() - cached.checked < INDEX_MAX_AGE
    if cached is not None and fresh and (cached.count, cached.newest) == (count, newest):
        return cached.index
    query = (
        select(Mentor, Member)
        .join(Member, Member.id == Mentor.user_id)
        .where(Mentor.community_id == community_id)
    )
    incremental = cached is not None and cached.newest is not None and count >= cached.count
    facts = dict(cached.facts) if cached is not None and incremental else {}
    if incremental and cached is not None and cached.newest is not None:
        query = query.where(Mentor.updated_at >= cached.newest - INDEX_LOOKBACK)
    for mentor, member in await uow.session.execute(query):
        if mentor.status == "active" and mentor.is_accepting and member.left_at is None:
            facts[mentor.id] = (mentor_facts(mentor), member.id)
        else:
            facts.pop(mentor.id, None)
    ordered = [facts[k] for k in sorted(facts)]
    index = matching.MentorIndex.build(
        [f for f, _ in ordered],
        [owner for _, owner in ordered],
        full_availability_hours=uow.settings.matching.full_availability_hours,
    )
    uow.cache[key] = _CachedIndex(int(count), newest, time.monotonic(), facts, index)
    return index


def mentee_facts(mentee: Mentee) -> matching.MenteeFacts:
    return matching.MenteeFacts(
        id=mentee.id,
        goals=tuple(mentee.goals),
        languages=tuple(mentee.languages),
        timezone=mentee.timezone,
        style=mentee.preferred_style,
    )


async def public_ratings(uow: UnitOfWork, mentor_ids: list[str]) -> dict[str, tuple[float, int]]:
    """Average public rating and count, only for mentors with enough public reviews."""
    if not mentor_ids:
        return {}
    rows = await uow.session.execute(
        select(MentorReview.mentor_id, func.avg(MentorReview.rating), func.count())
        .where(MentorReview.mentor_id.in_(mentor_ids), MentorReview.is_public.is_(True))
        .group_by(MentorReview.mentor_id)
    )
    return {
        mentor_id: (float(avg), int(count))
        for mentor_id, avg, count in rows
        if count >= MIN_PUBLIC_REVIEWS_FOR_RATING
    }


async def badges_of(uow: UnitOfWork, member_ids: list[str]) -> dict[str, list[str]]:
    if not member_ids:
        return {}
    rows = await uow.session.execute(
        select(BadgeAward.member_id, BadgeAward.badge)
        .where(BadgeAward.member_id.in_(member_ids))
        .order_by(BadgeAward.awarded_at)
    )
    found: dict[str, list[str]] = {}
    for member_id, badge in rows:
        found.setdefault(member_id, []).append(badge.replace("_", " ").title())
    return found


def mentor_card_field(
    row: MentorRow,
    now: datetime,
    rating: tuple[float, int] | None,
    badges: list[str],
    extra: str = "",
) -> Field:
    m = row.mentor
    left = max(m.max_mentees - m.current_mentees, 0)
    bio = m.bio if len(m.bio) <= 180 else m.bio[:177].rstrip() + "…"
    lines = [
        bio,
        f"Languages: {languages_text(m.languages)} · Style: {STYLE_LABELS.get(m.preferred_style)}",
        f"Local time: {local_time(m.timezone, now)} · "
        f"{left} of {m.max_mentees} place{'s' if m.max_mentees != 1 else ''} free",
    ]
    if rating is not None:
        lines.append(f"Rating: {rating[0]:.1f} ★ from {rating[1]} public reviews")
    if badges:
        lines.append("Badges: " + ", ".join(badges))
    if extra:
        lines.append(extra)
    return Field(f"{row.member.display_name} · {', '.join(m.expertise)}", "\n".join(lines))


def _utc_offset_hours(zone: str | None, now: datetime) -> float | None:
    if not zone:
        return None
    offset = now.astimezone(ZoneInfo(zone)).utcoffset()
    return None if offset is None else offset.total_seconds() / 3600


def timezone_distance(a: str | None, b: str | None, now: datetime) -> float | None:
    """Hours between two zones' clocks right now, the short way round (0-12)."""
    oa, ob = _utc_offset_hours(a, now), _utc_offset_hours(b, now)
    if oa is None or ob is None:
        return None
    d = abs(oa - ob) % 24
    return min(d, 24 - d)


# ----- F3 browse ------------------------------------------------------------------------


@dataclass(frozen=True)
class BrowseMentors:
    expertise: str | None = None
    language: str | None = None
    style: str | None = None
    max_tz_distance: int | None = None
    has_capacity: bool | None = None
    page: int | None = None


async def browse(uow: UnitOfWork, actor: Actor, cmd: BrowseMentors) -> Reply:
    community = actor.community
    if cmd.expertise is not None:
        validation.choice("expertise", cmd.expertise, community.expertise_options)
    if cmd.language is not None:
        validation.languages("language", [cmd.language])
    only_free = cmd.has_capacity is not False
    mentee = await find_mentee(uow, actor.member)
    my_zone = (mentee.timezone if mentee else None) or actor.member.timezone
    if cmd.max_tz_distance is not None and my_zone is None:
        raise InvalidValue(
            "max_tz_distance", "needs your timezone: set it with /mentee profile timezone:…"
        )
    now = uow.now()
    rows = [
        r
        for r in await accepting_mentors(uow, community.id)
        if r.mentor.user_id != actor.member.id
        and (not only_free or r.mentor.current_mentees < r.mentor.max_mentees)
        and (cmd.expertise is None or cmd.expertise.lower() in r.mentor.expertise)
        and (cmd.language is None or cmd.language.lower() in r.mentor.languages)
        and (cmd.style is None or r.mentor.preferred_style == cmd.style)
        and (
            cmd.max_tz_distance is None
            or (
                (d := timezone_distance(my_zone, r.mentor.timezone, now)) is not None
                and d <= cmd.max_tz_distance
            )
        )
    ]
    # Most free places first, then by name: a stable order for paging.
    rows.sort(
        key=lambda r: (
            -(r.mentor.max_mentees - r.mentor.current_mentees),
            r.member.display_name.lower(),
            r.mentor.id,
        )
    )
    size = uow.settings.browse_page_size
    pages = max((len(rows) + size - 1) // size, 1)
    page = min(max(cmd.page or 1, 1), pages)
    shown = rows[(page - 1) * size : page * size]
    filters = _describe_filters(cmd, only_free)
    if not shown:
        return Reply(
            message=Message(
                title="No mentors match",
                text=f"No accepting mentor matches {filters}. Try fewer filters.",
            )
        )
    ratings = await public_ratings(uow, [r.mentor.id for r in shown])
    badges = await badges_of(uow, [r.member.id for r in shown])
    buttons = [
        Button(
            f"Request {r.member.display_name}"[:80], action_id("request", r.mentor.id), "primary"
        )
        for r in shown
    ]
    state = _browse_state(cmd, only_free)
    if page > 1:
        buttons.append(Button("◀ Previous", action_id("browse", str(page - 1), *state)))
    if page < pages:
        buttons.append(Button("Next ▶", action_id("browse", str(page + 1), *state)))
    return Reply(
        message=Message(
            title=f"Mentors ({len(rows)} found, page {page} of {pages})",
            text=f"Accepting mentors matching {filters}.",
            fields=tuple(
                mentor_card_field(r, now, ratings.get(r.mentor.id), badges.get(r.member.id, []))
                for r in shown
            ),
            buttons=tuple(buttons),
        )
    )


def _browse_state(cmd: BrowseMentors, only_free: bool) -> tuple[str, ...]:
    return (
        cmd.expertise or NONE,
        cmd.language or NONE,
        cmd.style or NONE,
        str(cmd.max_tz_distance) if cmd.max_tz_distance is not None else NONE,
        "1" if only_free else "0",
    )


def _describe_filters(cmd: BrowseMentors, only_free: bool) -> str:
    parts = []
    if cmd.expertise:
        parts.append(f"expertise {cmd.expertise}")
    if cmd.language:
        parts.append(f"language {cmd.language}")
    if cmd.style:
        parts.append(f"style {cmd.style}")
    if cmd.max_tz_distance is not None:
        parts.append(f"within {cmd.max_tz_distance} h of your time")
    if only_free:
        parts.append("with free places")
    return ", ".join(parts) or "any filter"


@button("browse", arity=6)
async def browse_page(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    page, expertise, language, style, distance, free = args
    if not page.isdigit() or free not in ("0", "1") or not (distance == NONE or distance.isdigit()):
        raise StaleAction()
    reply = await browse(
        uow,
        actor,
        BrowseMentors(
            expertise=None if expertise == NONE else expertise,
            language=None if language == NONE else language,
            style=None if style == NONE else style,
            max_tz_distance=None if distance == NONE else int(distance),
            has_capacity=free == "1",
            page=int(page),
        ),
    )
    return Reply(update_origin=reply.message)


# ----- F4 suggest -----------------------------------------------------------------------


@dataclass(frozen=True)
class SuggestMentors:
    count: int | None = None


async def suggest(uow: UnitOfWork, actor: Actor, cmd: SuggestMentors) -> Reply:
    mentee = await find_mentee(uow, actor.member)
    if mentee is None:
        raise NotConfigured(
            "Suggestions need your mentee profile first: `/mentee profile goals:…`."
        )
    return Reply(message=await suggestion_message(uow, actor, mentee, cmd.count))


async def suggestion_message(
    uow: UnitOfWork,
    actor: Actor,
    mentee: Mentee,
    count: int | None,
    *,
    exclude: frozenset[str] = frozenset(),
    title: str = "Your best matches",
) -> Message:
    index = await mentor_index(uow, actor.community.id)
    me = mentee_facts(mentee)
    limit = count or uow.settings.matching.suggestions
    excluded = {mentee.user_id} | {
        owner for f, owner in zip(index.facts, index.owners, strict=True) if f.id in exclude
    }
    ranked = matching.rank(
        me,
        index,
        uow.settings.matching,
        matching.horizon_start(uow.now()),
        limit,
        exclude_owners=frozenset(excluded),
    )
    if not ranked:
        return Message(
            title=title,
            text="No mentor with free places right now. Try `/mentor browse has_capacity:no`, "
            "or check back soon.",
        )
    now = uow.now()
    by_id = {
        mentor.id: MentorRow(mentor, member)
        for mentor, member in await uow.session.execute(
            select(Mentor, Member)
            .join(Member, Member.id == Mentor.user_id)
            .where(Mentor.id.in_([f.id for f, _ in ranked]))
        )
    }
    ratings = await public_ratings(uow, [f.id for f, _ in ranked])
    fields = []
    for facts, breakdown in ranked:
        row = by_id[facts.id]
        why = "\n".join("· " + line for line in breakdown.reasons(me, facts))
        field = mentor_card_field(
            row, now, ratings.get(facts.id), [], extra=f"Why this match:\n{why}"
        )
        fields.append(Field(f"{breakdown.score:.0f}/100 · {field.name}", field.value))
    return Message(
        title=title,
        text="Mentors ranked by how well they fit your goals, time, language and style.",
        fields=tuple(fields),
        buttons=tuple(
            Button(
                f"Request {by_id[f.id].member.display_name}"[:80],
                action_id("request", f.id),
                "primary",
            )
            for f, _ in ranked
        ),
    )
