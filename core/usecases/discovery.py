"""F3 and F4: browsing mentors and personal suggestions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, Select, bindparam, func, select

from core import cards, matching, validation
from core.actions import action_id, button
from core.badges import badge_name
from core.cards import STYLE_LABELS, languages_text, local_time
from core.context import Actor
from core.errors import InvalidValue, NotConfigured, StaleAction
from core.messages import Button, Field, Message, Reply
from core.models import BadgeAward, Member, Mentee, Mentor, MentorReview
from core.uow import UnitOfWork
from core.usecases.mentees import find_mentee
from core.usecases.mentor_index import MentorListing, mentor_listing

MIN_PUBLIC_REVIEWS_FOR_RATING = 3
NONE = "-"  # "no filter" inside a button id


@dataclass(frozen=True)
class MentorRow:
    mentor: Mentor
    member: Member

    def facts(self) -> matching.MentorFacts:
        return mentor_facts(self.mentor)


def mentor_facts(m: cards.ShownMentor) -> matching.MentorFacts:
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


def mentee_facts(mentee: cards.ShownMentee) -> matching.MenteeFacts:
    return matching.MenteeFacts(
        id=mentee.id,
        goals=tuple(mentee.goals),
        languages=tuple(mentee.languages),
        timezone=mentee.timezone,
        style=mentee.preferred_style,
    )


@dataclass(frozen=True)
class ShownMentor:
    row: MentorRow
    rating: tuple[float, int] | None  # shown only from enough public reviews


def _shown_mentors() -> Select[Mentor, Member, float, int]:
    ids: BindParameter[list[str]] = bindparam("ids", expanding=True)
    ratings = (
        select(
            MentorReview.mentor_id,
            func.avg(MentorReview.rating).label("average"),
            func.count().label("reviews"),
        )
        .where(MentorReview.mentor_id.in_(ids), MentorReview.is_public.is_(True))
        .group_by(MentorReview.mentor_id)
        .subquery()
    )
    return (
        select(Mentor, Member, ratings.c.average, ratings.c.reviews)
        .join(Member, Member.id == Mentor.user_id)
        .outerjoin(ratings, ratings.c.mentor_id == Mentor.id)
        .where(Mentor.id.in_(ids))
    )


_SHOWN_MENTORS = _shown_mentors()  # built once: every suggest and browse page runs it


async def shown_mentors(uow: UnitOfWork, mentor_ids: list[str]) -> dict[str, ShownMentor]:
    """The cards' rows of these mentors with their public rating, in one statement (a row
    deleted since the listing was read is simply missing)."""
    if not mentor_ids:
        return {}
    rows = await uow.session.execute(_SHOWN_MENTORS, {"ids": mentor_ids})
    return {
        mentor.id: ShownMentor(
            MentorRow(mentor, member),
            (float(average), int(reviews))
            if reviews is not None and reviews >= MIN_PUBLIC_REVIEWS_FOR_RATING
            else None,
        )
        for mentor, member, average, reviews in rows
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
        found.setdefault(member_id, []).append(badge_name(badge))
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


def listing_zones_within(listing: MentorListing, zone: str, hours: int, now: datetime) -> set[str]:
    """The listed mentors' zones whose clocks are at most ``hours`` from ``zone``'s now."""
    return {
        z
        for z in listing.index.zones
        if (d := timezone_distance(zone, z or None, now)) is not None and d <= hours
    }


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
    now = uow.now()
    # Filtered, counted, ordered and paged on the in-memory listing; only the page's
    # rows are loaded from the database.
    listing = await mentor_listing(uow, community.id)
    zones: set[str] | None = None
    if cmd.max_tz_distance is not None:
        mentee = await find_mentee(uow, actor.member)
        my_zone = (mentee.timezone if mentee else None) or actor.member.timezone
        if my_zone is None:
            raise InvalidValue(
                "max_tz_distance", "needs your timezone: set it with /mentee profile timezone:…"
            )
        zones = listing_zones_within(listing, my_zone, cmd.max_tz_distance, now)
    matches = listing.browse(
        only_free=only_free,
        expertise=cmd.expertise.lower() if cmd.expertise else None,
        language=cmd.language.lower() if cmd.language else None,
        style=cmd.style,
        zones=zones,
        exclude_owner=actor.member.id,
    )
    found = len(matches)
    size = uow.settings.browse_page_size
    pages = max((found + size - 1) // size, 1)
    page = min(max(cmd.page or 1, 1), pages)
    filters = _describe_filters(cmd, only_free)
    page_ids = [listing.index.facts[int(k)].id for k in matches[(page - 1) * size : page * size]]
    found_rows = await shown_mentors(uow, page_ids)
    cards = [found_rows[i] for i in page_ids if i in found_rows]
    shown = [card.row for card in cards]
    if not shown:
        return Reply(
            message=Message(
                title="No mentors match",
                text=f"No accepting mentor matches {filters}. Try fewer filters.",
            )
        )
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
            title=f"Mentors ({found} found, page {page} of {pages})",
            text=f"Accepting mentors matching {filters}.",
            fields=tuple(
                mentor_card_field(card.row, now, card.rating, badges.get(card.row.member.id, []))
                for card in cards
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
    listing = await mentor_listing(uow, actor.community.id)
    index = listing.index
    me = mentee_facts(mentee)
    limit = count or uow.settings.matching.suggestions
    # Only the excluded mentors are looked up: nothing here walks every mentor.
    excluded = {mentee.user_id} | {
        index.owners[listing.position[mentor_id]]
        for mentor_id in exclude
        if mentor_id in listing.position
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
    by_id = await shown_mentors(uow, [f.id for f, _ in ranked])
    # A row deleted since the listing was checked (PostgreSQL reads per statement) is left out.
    ranked = [(facts, breakdown) for facts, breakdown in ranked if facts.id in by_id]
    fields = []
    for facts, breakdown in ranked:
        card = by_id[facts.id]
        why = "\n".join("· " + line for line in breakdown.reasons(me, facts))
        field = mentor_card_field(card.row, now, card.rating, [], extra=f"Why this match:\n{why}")
        fields.append(Field(f"{breakdown.score:.0f}/100 · {field.name}", field.value))
    return Message(
        title=title,
        text="Mentors ranked by how well they fit your goals, time, language and style.",
        fields=tuple(fields),
        buttons=tuple(
            Button(
                f"Request {by_id[f.id].row.member.display_name}"[:80],
                action_id("request", f.id),
                "primary",
            )
            for f, _ in ranked
        ),
    )
