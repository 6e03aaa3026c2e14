"""Autocomplete: suggestions as (label, value) for what a member has typed so far.

For list options the last comma-separated item is completed and the rest kept. Time
zones and languages are known without the database; the rest is read in a read-only
unit of work (a reader connection: autocomplete never waits for the writer)."""

from __future__ import annotations

from sqlalchemy import func, select

from core import validation
from core.catalog import Autocomplete
from core.context import Invocation, community_of, existing_actor
from core.models import SupportGroup
from core.uow import ReadOnlyUnitOfWork
from core.usecases.sessions.planning import slot_choices

LIMIT = 25  # what Discord shows at most

Suggestions = list[tuple[str, str]]


def _last_item(typed: str) -> tuple[str, str]:
    """(the items before the last, kept as typed; the last one, to be completed)."""
    head, _, last = typed.rpartition(",")
    return (head + ",") if head else "", last.strip().lower()


def offline(
    source: Autocomplete, typed: str, user_id: str | None, person: str | None
) -> Suggestions | None:
    """The suggestions that need no database, or None if the source needs it."""
    prefix, needle = _last_item(typed)
    if source is Autocomplete.TIMEZONES:
        names = [n for n in validation.timezone_names() if needle.replace(" ", "_") in n.lower()]
        return [(n, n) for n in names[:LIMIT]]
    if source is Autocomplete.LANGUAGES:
        found = [
            (f"{validation.language_name(c)} ({c})", prefix + c)
            for c in validation.language_codes()
            if c.startswith(needle) or needle in validation.language_name(c).lower()
        ]
        return found[:LIMIT]
    if source is Autocomplete.FREE_SLOTS and (not user_id or not person):
        return []  # free times need who is typing and the person chosen so far
    return None


async def from_database(
    uow: ReadOnlyUnitOfWork,
    inv: Invocation,
    source: Autocomplete,
    typed: str,
    person: str | None,
) -> Suggestions:
    """The suggestions read from the community's data (see :func:`offline` first)."""
    if source is Autocomplete.FREE_SLOTS:
        actor = await existing_actor(uow, inv)
        if actor is None or person is None:
            return []
        return await slot_choices(uow, actor, person, typed, LIMIT)
    prefix, needle = _last_item(typed)
    community = await community_of(uow, inv.platform, inv.community_platform_id)
    if community is None:
        return []
    if source is Autocomplete.GROUPS:
        return await _group_names(uow, community.id, needle)
    if source is Autocomplete.EXPERTISE:
        options = list(community.expertise_options)
    else:
        options = list(community.goal_options)
    return [(o, prefix + o) for o in options if needle in o][:LIMIT]


async def _group_names(uow: ReadOnlyUnitOfWork, community_id: str, needle: str) -> Suggestions:
    """Open, listed groups whose name contains what was typed (private ones are never
    suggested: autocomplete does not know who is asking)."""
    rows = await uow.session.execute(
        select(SupportGroup.name)
        .where(
            SupportGroup.community_id == community_id,
            SupportGroup.status != "archived",
            SupportGroup.is_private.is_(False),
            func.lower(SupportGroup.name).contains(needle, autoescape=True),
        )
        .order_by(SupportGroup.name)
        .limit(LIMIT)
    )
    return [(name, name) for name in rows.scalars()]
