"""The one entry point adapters call: run a command, press a button, submit a form.

Each call is one unit of work: resolve who acted (creating the member on first use),
authorise, validate, run the use case, commit. A ``UserError`` rolls everything back
and reaches the adapter unchanged, to be shown privately. An optional ``dedupe_key``
(a platform event or interaction id) is recorded in the same transaction, so a
platform's retry of the same event is recognised and does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import validation
from core.actions import BUTTONS, FORMS, ButtonHandler, FormHandler, parse_action_id
from core.catalog import Access, Autocomplete, Catalog
from core.clock import Clock, SystemClock
from core.commands import CATALOG
from core.context import Actor, Invocation, get_or_create_community, resolve_actor
from core.errors import NotAllowed
from core.messages import Message, Reply
from core.models import BotState, Community, ProcessedEvent
from core.uow import UnitOfWork
from core.usecases.home import dashboard

log = logging.getLogger(__name__)
T = TypeVar("T")

AUTOCOMPLETE_LIMIT = 25


class Mentorbot:
    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        clock: Clock | None = None,
        *,
        catalog: Catalog = CATALOG,
        on_effects: Callable[[], None] | None = None,
    ) -> None:
        self.factory = factory
        self.clock = clock or SystemClock()
        self.catalog = catalog
        self._on_effects = on_effects

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.factory, self.clock, after_commit=self._after_commit)

    def _after_commit(self, _uow: UnitOfWork) -> None:
        if self._on_effects is not None:
            self._on_effects()

    async def _run(
        self,
        inv: Invocation,
        dedupe_key: str | None,
        body: Callable[[UnitOfWork, Actor], Awaitable[T]],
    ) -> T | None:
        async with self.uow() as uow:
            if dedupe_key is not None and not await _first_time(uow, dedupe_key):
                log.info("ignoring repeated event %s", dedupe_key)
                return None
            actor = await resolve_actor(uow, inv)
            result = await body(uow, actor)
            await uow.commit()
            return result

    async def execute(
        self,
        inv: Invocation,
        path: str,
        options: Mapping[str, object],
        *,
        dedupe_key: str | None = None,
    ) -> Reply | None:
        """Run the catalog command at ``path`` (e.g. "mentor apply") with raw option values.

        Returns None only when ``dedupe_key`` was seen before.
        """
        command = self.catalog.find(path)

        async def body(uow: UnitOfWork, actor: Actor) -> Reply:
            if command.access is Access.ADMIN and not actor.is_admin:
                raise NotAllowed(f"use /{command.path}", "only community admins can do that")
            params = self.catalog.build(command, options)
            return await command.handler(uow, actor, params)

        return await self._run(inv, dedupe_key, body)

    async def press(
        self, inv: Invocation, custom_id: str, *, dedupe_key: str | None = None
    ) -> Reply | None:
        entry, args = parse_action_id(custom_id, BUTTONS)
        handler: ButtonHandler = entry.handler  # type: ignore[assignment]

        async def body(uow: UnitOfWork, actor: Actor) -> Reply:
            return await handler(uow, actor, args)

        return await self._run(inv, dedupe_key, body)

    async def submit(
        self,
        inv: Invocation,
        custom_id: str,
        values: Mapping[str, str],
        *,
        dedupe_key: str | None = None,
    ) -> Reply | None:
        entry, args = parse_action_id(custom_id, FORMS)
        handler: FormHandler = entry.handler  # type: ignore[assignment]

        async def body(uow: UnitOfWork, actor: Actor) -> Reply:
            return await handler(uow, actor, args, values)

        return await self._run(inv, dedupe_key, body)

    async def home(self, inv: Invocation) -> Message:
        """The member's dashboard (Slack App Home; any adapter may show it)."""

        async def body(uow: UnitOfWork, actor: Actor) -> Message:
            return await dashboard(uow, actor)

        result = await self._run(inv, None, body)
        assert result is not None  # no dedupe key, so the body always ran
        return result

    async def join_community(self, platform: str, platform_id: str, name: str = "") -> Community:
        """Make sure a guild/workspace has its Community (on join or first event)."""
        async with self.uow() as uow:
            community = await get_or_create_community(uow, platform, platform_id, name)
            await uow.commit()
            return community

    async def community(self, platform: str, platform_id: str) -> Community | None:
        async with self.uow() as uow:
            stmt = select(Community).where(
                Community.platform == platform, Community.platform_id == platform_id
            )
            return (await uow.session.execute(stmt)).scalar_one_or_none()

    async def autocomplete(
        self, platform: str, platform_id: str, source: Autocomplete, typed: str
    ) -> list[tuple[str, str]]:
        """Suggestions as (label, value) for what the member has typed so far.

        For list options the last comma-separated item is completed and the rest kept.
        """
        head, _, last = typed.rpartition(",")
        prefix = (head + ",") if head else ""
        needle = last.strip().lower()
        if source is Autocomplete.TIMEZONES:
            names = [
                n for n in validation.timezone_names() if needle.replace(" ", "_") in n.lower()
            ]
            return [(n, n) for n in names[:AUTOCOMPLETE_LIMIT]]
        if source is Autocomplete.LANGUAGES:
            found = [
                (f"{validation.language_name(c)} ({c})", prefix + c)
                for c in validation.language_codes()
                if c.startswith(needle) or needle in validation.language_name(c).lower()
            ]
            return found[:AUTOCOMPLETE_LIMIT]
        community = await self.community(platform, platform_id)
        if source is Autocomplete.EXPERTISE:
            options = list(community.expertise_options) if community else []
        else:
            options = list(community.goal_options) if community else []
        return [(o, prefix + o) for o in options if needle in o][:AUTOCOMPLETE_LIMIT]


async def _first_time(uow: UnitOfWork, key: str) -> bool:
    insert = pg_insert if uow.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(ProcessedEvent)
        .values(key=key[:200], created_at=uow.now())
        .on_conflict_do_nothing(index_elements=["key"])
    )
    result = await uow.session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def read_state(factory: async_sessionmaker[AsyncSession], key: str) -> dict[str, Any] | None:
    """A value from the bot's own key-value state (shared by all its processes)."""
    async with factory() as session:
        row = await session.get(BotState, key)
        return None if row is None else dict(row.value)


async def write_state(
    factory: async_sessionmaker[AsyncSession], key: str, value: dict[str, Any]
) -> None:
    async with factory() as session, session.begin():
        row = await session.get(BotState, key)
        if row is None:
            session.add(BotState(key=key, value=value))
        else:
            row.value = value
