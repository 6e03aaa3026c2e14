"""The one entry point adapters call: run a command, press a button, submit a form.

Each call is one unit of work: resolve who acted (creating the member on first use),
authorise, validate, run the use case, commit. A ``UserError`` rolls everything back
and reaches the adapter unchanged, to be shown privately. An optional ``dedupe_key``
(a platform event or interaction id) is recorded in the same transaction, so a
platform's retry of the same event is recognised and does nothing. A ``Planned`` command
(the matching round) reads and computes first and writes in a unit of work of its own;
only that one records the dedupe key.

Commands marked ``read_only`` in the catalog (and autocomplete) run in a read-only unit
of work on a reader connection instead, so they never wait for the writer; only a member
seen for the first time (or whose name changed) goes through the write path once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import db
from core.actions import BUTTONS, FORMS, PREFIX, ButtonHandler, FormHandler, parse_action_id
from core.catalog import Access, Autocomplete, Catalog, Command, Planned
from core.clock import Clock, SystemClock
from core.commands import CATALOG
from core.context import (
    Actor,
    Invocation,
    community_of,
    existing_actor,
    find_member,
    get_or_create_community,
    resolve_actor,
)
from core.errors import Busy, NotAllowed, UserError
from core.logcontext import annotate
from core.messages import Message, Reply
from core.models import (
    Community,
    Member,
    ProcessedEvent,
    SupportGroupPost,
)
from core.observe import NULL_OBSERVER, UNKNOWN, InteractionKind, Observer, timed_outcome
from core.settings import CoreSettings
from core.state import first_time
from core.uow import ReadOnlyUnitOfWork, UnitOfWork
from core.upkeep import Upkeep
from core.usecases import autocomplete, threads
from core.usecases.group_posts import thread_reply
from core.usecases.home import dashboard
from core.usecases.installation import install, uninstall
from core.usecases.privacy.deletion import member_left, member_returned
from core.usecases.sessions.agenda import feed_for
from core.usecases.threads import Attachment

log = logging.getLogger(__name__)
T = TypeVar("T")


class Mentorbot(Upkeep):
    """The core's one entry point (see the module); its recurring jobs are Upkeep's."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        clock: Clock | None = None,
        *,
        catalog: Catalog = CATALOG,
        on_effects: Callable[[], None] | None = None,
        settings: CoreSettings | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.factory = factory
        # Told how each command, press and form ended (operator metrics; see core.observe).
        self.observer: Observer = observer or NULL_OBSERVER
        self.readers = db.read_session_factory(factory)
        self.clock = clock or SystemClock()
        self.settings = settings or CoreSettings()
        self._cache: dict[object, Any] = {}
        self.catalog = catalog
        self._on_effects = on_effects

    def uow(self) -> UnitOfWork:
        return UnitOfWork(
            self.factory,
            self.clock,
            after_commit=self._after_commit,
            settings=self.settings,
            cache=self._cache,
        )

    def read_uow(self) -> ReadOnlyUnitOfWork:
        return ReadOnlyUnitOfWork(
            self.readers, self.clock, settings=self.settings, cache=self._cache
        )

    def _after_commit(self, _uow: UnitOfWork) -> None:
        if self._on_effects is not None:
            self._on_effects()

    async def _run(
        self,
        inv: Invocation,
        dedupe_key: str | None,
        body: Callable[[UnitOfWork, Actor], Awaitable[T]],
        *,
        commit: bool = True,
    ) -> T | None:
        for attempt in range(2):
            try:
                async with _busy_is_a_user_error(), self.uow() as uow:
                    if dedupe_key is not None and not await first_time(uow, dedupe_key):
                        log.info("ignoring repeated event %s", dedupe_key)
                        return None
                    actor = await resolve_actor(uow, inv)
                    result = await body(uow, actor)
                    if commit:
                        await uow.commit()
                    return result
            except IntegrityError:
                # Two first-time actions raced to create the same row (a member, a
                # mentor-mentee pair). Everything rolled back; the retry sees the winner's
                # row and answers as usual.
                if attempt:
                    raise
                log.info("retrying after a unique-constraint race")
        raise AssertionError("unreachable")

    async def _read(self, inv: Invocation, body: Callable[[UnitOfWork, Actor], Awaitable[T]]) -> T:
        """Run a read-only ``body`` without the writer, unless the actor must be written.

        No dedupe key is recorded: answering a platform's redelivery of a read again is
        harmless, and recording it would be a write.
        """
        async with _busy_is_a_user_error(), self.read_uow() as uow:
            actor = await existing_actor(uow, inv)
            if actor is not None:
                return await body(uow, actor)
        # First contact (or a new name): resolve_actor writes the member, then answers.
        result = await self._run(inv, None, body)
        assert result is not None  # no dedupe key, so the body always ran
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

        Returns None only when ``dedupe_key`` was seen before; a read-only command
        ignores ``dedupe_key`` (see :meth:`_read`).
        """
        with self._observed(inv, "command", self._command_name(path)):
            return await self._execute(inv, path, options, dedupe_key)

    async def _execute(
        self,
        inv: Invocation,
        path: str,
        options: Mapping[str, object],
        dedupe_key: str | None,
    ) -> Reply | None:
        command = self.catalog.find(path)
        handler = command.handler
        if isinstance(handler, Planned):
            return await self._plan_then_write(inv, command, handler, options, dedupe_key)

        async def body(uow: UnitOfWork, actor: Actor) -> Reply:
            return await handler(uow, actor, self._params(command, actor, options))

        if command.read_only:
            return await self._read(inv, body)
        return await self._run(inv, dedupe_key, body)

    def _command_name(self, path: str) -> str:
        try:
            return self.catalog.find(path).path
        except UserError:
            return UNKNOWN

    @contextmanager
    def _observed(self, inv: Invocation, kind: InteractionKind, name: str) -> Iterator[None]:
        """Report how the call ended and give its log lines the command and community."""
        annotate(
            command=name if kind == "command" else f"{kind}:{name}",
            community=inv.community_platform_id,
            platform=inv.platform,
        )

        def report(outcome: Any, seconds: float) -> None:
            self.observer.interaction_finished(inv.platform, kind, name, outcome, seconds)

        with timed_outcome(report):
            yield

    def _params(self, command: Command, actor: Actor, options: Mapping[str, object]) -> Any:
        """Authorise the actor for ``command`` and build its params from raw options."""
        _authorise(command, actor)
        return self.catalog.build(command, options, community=actor.community.platform_id)

    async def _plan_then_write(
        self,
        inv: Invocation,
        command: Command,
        steps: Planned,
        options: Mapping[str, object],
        dedupe_key: str | None,
    ) -> Reply | None:
        """Read (rolled back), compute (no transaction open), then write in one transaction.

        Only the write records a dedupe key, derived from the event's: a failure or crash
        before its commit leaves nothing behind, so a redelivery runs the command anew; a
        redelivery after it is answered with nothing, before anything is read or computed.
        """
        write_key = None if dedupe_key is None else f"{dedupe_key}:write"
        if write_key is not None and await self._seen(write_key):
            log.info("ignoring repeated event %s", dedupe_key)
            return None

        async def read(uow: UnitOfWork, actor: Actor) -> tuple[Any, Any]:
            params = self._params(command, actor, options)
            return params, await steps.read(uow, actor, params)

        read_back = await self._run(inv, None, read, commit=False)
        assert read_back is not None  # no dedupe key, so the body always ran
        params, pool = read_back
        plan = await steps.compute(pool)

        async def write(uow: UnitOfWork, actor: Actor) -> Reply:
            _authorise(command, actor)  # again: rights may have changed meanwhile
            return await steps.write(uow, actor, params, plan)

        return await self._run(inv, write_key, write)

    async def _seen(self, key: str) -> bool:
        async with self.uow() as uow:
            stmt = select(ProcessedEvent.key).where(ProcessedEvent.key == key[:200])
            return (await uow.session.execute(stmt)).first() is not None

    async def press(
        self, inv: Invocation, custom_id: str, *, dedupe_key: str | None = None
    ) -> Reply | None:
        with self._observed(inv, "button", _action_name(custom_id, BUTTONS)):
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
        with self._observed(inv, "form", _action_name(custom_id, FORMS)):
            entry, args = parse_action_id(custom_id, FORMS)
            handler: FormHandler = entry.handler  # type: ignore[assignment]

            async def body(uow: UnitOfWork, actor: Actor) -> Reply:
                return await handler(uow, actor, args, values)

            return await self._run(inv, dedupe_key, body)

    async def incoming_dm(
        self,
        inv: Invocation,
        content: str,
        *,
        attachments: Sequence[Attachment] = (),
        reply_to: str | None = None,
        dedupe_key: str | None = None,
    ) -> Reply | None:
        """A DM a member sent to the bot (F6): passed on within the right mentorship, and,
        when it answers a relayed message (``reply_to``, that message's platform id), the
        answered side's messages marked read, all in one transaction. A refused DM writes
        nothing, not even the read receipt. Returns None only for a repeated ``dedupe_key``.
        """

        async def body(uow: UnitOfWork, actor: Actor) -> Reply:
            return await threads.receive(uow, actor, content, list(attachments), reply_to)

        return await self._run(inv, dedupe_key, body)

    # The console adapter's name for it.
    relay_dm = incoming_dm

    async def conversation_communities(self, platform: str, user_id: str) -> list[str]:
        """Where a DM from ``user_id`` that names no community may belong (see
        ``threads.conversation_communities``): read from stored mentorships, one query."""
        async with _busy_is_a_user_error(), self.read_uow() as uow:
            return await threads.conversation_communities(uow, platform, user_id)

    async def mark_read(self, inv: Invocation, platform_message_id: str) -> bool:
        """The member reacted to a relayed message (no DM sent, so nothing relayed)."""

        async def body(uow: UnitOfWork, actor: Actor) -> bool:
            return await threads.mark_read(uow, actor, platform_message_id)

        return bool(await self._run(inv, None, body))

    async def member_left(self, platform: str, community_platform_id: str, user_id: str) -> bool:
        """A member left the guild or workspace (F15): their data is deleted after the
        grace period unless they come back. False if the bot knows nothing of them."""
        async with self.uow() as uow:
            community = await community_of(uow, platform, community_platform_id)
            member = None if community is None else await find_member(uow, community.id, user_id)
            if community is None or member is None:
                return False
            changed = await member_left(uow, community, member)
            await uow.commit()
            return changed

    async def member_returned(
        self, platform: str, community_platform_id: str, user_id: str
    ) -> bool:
        """A member joined (again): a deletion their leaving started is cancelled. Read
        first, so the many joins of people the bot never knew write nothing."""
        async with _busy_is_a_user_error(), self.read_uow() as uow:
            found = await uow.session.execute(
                select(Member.id)
                .join(Community, Community.id == Member.community_id)
                .where(
                    Community.platform == platform,
                    Community.platform_id == community_platform_id,
                    Member.platform_user_id == user_id,
                    or_(Member.left_at.is_not(None), Member.deletion_reason == "left"),
                )
            )
            if found.first() is None:
                return False
        async with self.uow() as uow:
            community = await community_of(uow, platform, community_platform_id)
            member = None if community is None else await find_member(uow, community.id, user_id)
            if member is None:
                return False
            changed = await member_returned(uow, member)
            await uow.commit()
            return changed

    async def calendar_feed(self, token: str) -> bytes | None:
        """A member's live calendar (.ics) for the token in their private feed URL, or
        None when no feed has that token (unknown, or reset since)."""
        async with _busy_is_a_user_error(), self.read_uow() as uow:
            return await feed_for(uow, token)

    async def group_thread_reply(
        self, inv: Invocation, thread_id: str, content: str, *, dedupe_key: str | None = None
    ) -> bool:
        """A message in a thread of a support group's space (F8). Stored, as a reply, only
        when the thread is a group post's and the author is in the group; anything else
        is dropped without writing (not even the author), so chatter costs one read."""
        async with _busy_is_a_user_error(), self.read_uow() as uow:
            known = await uow.session.execute(
                select(SupportGroupPost.id)
                .join(Community, Community.id == SupportGroupPost.community_id)
                .where(
                    Community.platform == inv.platform,
                    Community.platform_id == inv.community_platform_id,
                    SupportGroupPost.platform_thread_id == thread_id,
                )
                .limit(1)
            )
            if known.first() is None:
                return False

        async def body(uow: UnitOfWork, actor: Actor) -> bool:
            return await thread_reply(uow, actor, thread_id, content) is not None

        return bool(await self._run(inv, dedupe_key, body))

    async def home(self, inv: Invocation) -> Message:
        """The member's dashboard (Slack App Home; any adapter may show it)."""

        async def body(uow: UnitOfWork, actor: Actor) -> Message:
            return await dashboard(uow, actor)

        result = await self._run(inv, None, body)
        assert result is not None  # no dedupe key, so the body always ran
        return result

    async def first_time(self, key: str) -> bool:
        """Record a platform event id; False if it was recorded before (a redelivery).

        For events that are not a command, press or submission (e.g. Slack's App Home
        being opened), so adapters can ignore a platform's retries as ``dedupe_key`` does.
        """
        async with self.uow() as uow:
            first = await first_time(uow, key)
            await uow.commit()
            return first

    async def join_community(self, platform: str, platform_id: str, name: str = "") -> Community:
        """Make sure a guild/workspace has its Community (on join or first event)."""
        async with self.uow() as uow:
            community = await get_or_create_community(uow, platform, platform_id, name)
            await uow.commit()
            return community

    async def install_community(self, platform: str, platform_id: str, name: str = "") -> Community:
        """The app was installed in a workspace (again): its community, active."""
        async with self.uow() as uow:
            community = await install(uow, platform, platform_id, name)
            await uow.commit()
            return community

    async def uninstall_community(self, platform: str, platform_id: str, why: str) -> int | None:
        """The app was removed from a workspace: stop its deliveries (returns how many
        were cancelled; None if the workspace had no community); erased after the grace
        period unless installed again."""
        async with self.uow() as uow:
            cancelled = await uninstall(uow, platform, platform_id, why)
            await uow.commit()
        if cancelled is not None:
            log.info(
                "%s %s uninstalled (%s): %d deliveries cancelled",
                platform,
                platform_id,
                why,
                cancelled,
            )
        return cancelled

    async def community(self, platform: str, platform_id: str) -> Community | None:
        async with _busy_is_a_user_error(), self.read_uow() as uow:
            found = await community_of(uow, platform, platform_id)
            if found is not None:
                # Detached before the read-only unit of work rolls back, which would
                # otherwise expire it and make every attribute access fail.
                uow.session.expunge(found)
            return found

    async def autocomplete(
        self,
        platform: str,
        platform_id: str,
        source: Autocomplete,
        typed: str,
        *,
        user_id: str | None = None,
        person: str | None = None,
    ) -> list[tuple[str, str]]:
        """Suggestions as (label, value) for what the member has typed so far (see
        core.usecases.autocomplete). Free times need who is typing (``user_id``) and the
        ``person`` option so far."""
        found = autocomplete.offline(source, typed, user_id, person)
        if found is not None:
            return found
        inv = Invocation(platform, platform_id, user_id or "")
        async with _busy_is_a_user_error(), self.read_uow() as uow:
            return await autocomplete.from_database(uow, inv, source, typed, person)


def _action_name(custom_id: str, registry: Mapping[str, object]) -> str:
    """A button's or form's registered name (a metric label), never a forged one."""
    parts = custom_id.split(":", 2)
    known = len(parts) >= 2 and parts[0] == PREFIX and parts[1] in registry
    return parts[1] if known else UNKNOWN


def _authorise(command: Command, actor: Actor) -> None:
    if command.access is Access.ADMIN and not actor.is_admin:
        raise NotAllowed(f"use /{command.path}", "only community admins can do that")


@asynccontextmanager
async def _busy_is_a_user_error() -> AsyncIterator[None]:
    """A pool that stays exhausted past its timeout reaches the member as "busy, try
    again", never as an apology for an internal error."""
    try:
        yield
    except PoolTimeout:
        log.warning("no database connection became free in time; told the member to retry")
        raise Busy() from None
