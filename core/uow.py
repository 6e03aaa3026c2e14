"""The unit of work: one transaction, with the delivery queue and audit log inside it.

``async with uow:`` rolls back unless ``await uow.commit()`` ran, so a use case that
raises half-way leaves nothing behind: no rows, no queued effects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import queue
from core.clock import Clock
from core.effects import Effect, dump_json
from core.errors import NotFound
from core.models import AuditEntry, Base, Delivery
from core.settings import CoreSettings

M = TypeVar("M", bound=Base)

# Why a community's deliveries stopped: the app was removed from it.
UNINSTALLED = "uninstalled"


# Rows per multi-row insert in Outbox.add_many: 8 parameters each, well under both
# databases' limit on parameters per statement.
ADD_MANY_ROWS = 500
_INSERT_MANY: dict[tuple[str, int], str] = {}


def _insert_many(q: queue.QueueConnection, count: int) -> str:
    """The queue's insert for ``count`` rows at once, returning the due time of each row
    that was queued (not one whose key was queued before)."""
    place = "$" if q.statements is queue.POSTGRESQL else "?"
    key = (place, count)
    text = _INSERT_MANY.get(key)
    if text is None:
        values = ", ".join(
            "(" + ", ".join(f"{place}{8 * r + c}" for c in range(1, 9)) + ", 'pending', 0)"
            for r in range(count)
        )
        text = (
            "INSERT INTO deliveries (community_id, kind, payload, idempotency_key, "
            "group_key, destination, due_at, created_at, status, attempts) "
            f"VALUES {values} ON CONFLICT (idempotency_key) DO NOTHING RETURNING due_at"
        )
        if len(_INSERT_MANY) < 64:
            _INSERT_MANY[key] = text
    return text


@dataclass(frozen=True)
class Queued:
    """One effect for :meth:`Outbox.add_many`, with its key and, if not now, its moment."""

    effect: Effect
    key: str
    due_at: datetime | None = None
    group_key: str | None = None


# From this many effects, Outbox.add_many dumps their payloads on a thread.
DUMP_ON_THREAD = 50


def _dump_all(items: Sequence[Queued]) -> list[str]:
    return [dump_json(item.effect) for item in items]


class Outbox:
    """Queues effects in the current transaction. Same idempotency key twice = queued once."""

    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self._session = session
        self._clock = clock
        self.queued = 0
        # The earliest due time queued (or made due again) in this transaction, so the
        # dispatcher's wake-up can be moved earlier after the commit.
        self.earliest_due: datetime | None = None
        self._queue: tuple[object, queue.QueueConnection] | None = None

    async def _connection(self) -> queue.QueueConnection:
        """The queue's driver connection, looked up once per transaction."""
        transaction = self._session.sync_session.get_transaction()
        if self._queue is not None and self._queue[0] is transaction and transaction is not None:
            return self._queue[1]
        found = await queue.connect(self._session)
        self._queue = (self._session.sync_session.get_transaction(), found)
        return found

    def note_due(self, due_at: datetime, count: int = 1) -> None:
        """``count`` rows in this transaction became due at ``due_at`` (e.g. a retried row)."""
        self.queued += count
        if self.earliest_due is None or due_at < self.earliest_due:
            self.earliest_due = due_at

    async def add(
        self,
        community_id: str,
        effect: Effect,
        *,
        key: str,
        due_at: datetime | None = None,
        group_key: str | None = None,
    ) -> bool:
        """Queue ``effect``; return False if an effect with ``key`` was queued before."""
        now = self._clock.now()
        due = due_at or now
        q = await self._connection()
        created = q.time(now)
        params = (
            community_id,
            effect.kind,
            dump_json(effect),
            key,
            group_key,
            effect.destination(),
            created if due is now else q.time(due),
            created,
        )
        added = await q.execute(q.statements.insert, params) > 0
        if added:
            self.note_due(due)
        return added

    async def add_many(
        self,
        community_id: str,
        effects: Sequence[tuple[Effect, str] | tuple[Effect, str, datetime] | Queued],
        *,
        group_key: str | None = None,
    ) -> int:
        """Queue many ``(effect, key)`` pairs (due now), ``(effect, key, due_at)`` triples
        or :class:`Queued` items; keys queued before are skipped. ``group_key`` applies to
        the items that do not name their own.

        Multi-row inserts of the queue's own text (``core.queue``), ``ADD_MANY_ROWS`` rows
        a statement, straight on the driver connection of this transaction: payloads
        dumped to JSON once, by pydantic, and no per-parameter processing in SQLAlchemy
        (a matching round queues tens of thousands at once). Returns how many were
        queued.
        """
        if not effects:
            return 0
        now = self._clock.now()
        q = await self._connection()
        created = q.time(now)
        items = [e if isinstance(e, Queued) else Queued(*e) for e in effects]
        # Dumping is ~0.1 ms an effect: a matching round's step would hold the event loop
        # for tens of milliseconds, so a large batch is dumped on a thread.
        payloads = (
            await asyncio.to_thread(_dump_all, items)
            if len(items) >= DUMP_ON_THREAD
            else _dump_all(items)
        )
        rows = []
        for item, payload in zip(items, payloads, strict=True):
            due = item.due_at
            rows.append(
                (
                    community_id,
                    item.effect.kind,
                    payload,
                    item.key,
                    item.group_key or group_key,
                    item.effect.destination(),
                    created if due is None else q.time(due),
                    created,
                )
            )
        added: list[Any] = []
        for lo in range(0, len(rows), ADD_MANY_ROWS):
            part = rows[lo : lo + ADD_MANY_ROWS]
            params = [value for row in part for value in row]
            added += await q.fetch(_insert_many(q, len(part)), params)
        if added:
            self.note_due(min(q.time_of(due) for (due,) in added), len(added))
        return len(added)

    async def cancel(
        self,
        community_id: str,
        group_keys: str | Sequence[str],
        reason: str = "cancelled: no longer needed",
        *,
        destination: str | None = None,
    ) -> int:
        """Cancel what is still queued under ``group_keys`` (only for ``destination``, if
        given), in this transaction: a session's reminders once it moved or ended, a
        meeting's once it was moved or cancelled. Sent ones stay sent; returns how many.

        A row a dispatcher holds right now is let go too (its claim is cleared, so the
        dispatcher's record of it changes nothing); the dispatcher re-checks a session
        reminder's version before sending it, so neither ever reaches the platform.
        """
        stmt = (
            update(Delivery)
            .where(
                Delivery.community_id == community_id,
                Delivery.group_key.in_([group_keys] if isinstance(group_keys, str) else group_keys),
                Delivery.status == "pending",
            )
            .values(status="cancelled", last_error=reason, claimed_by=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        if destination is not None:
            stmt = stmt.where(Delivery.destination == destination)
        result = await self._session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def cancel_community(self, community_id: str, reason: str) -> int:
        """Cancel everything still queued for a community (the app was removed from it),
        claimed rows included (as :meth:`cancel`); returns how many."""
        stmt = (
            update(Delivery)
            .where(Delivery.community_id == community_id, Delivery.status == "pending")
            .values(status="cancelled", last_error=reason, claimed_by=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        result = await self._session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)


class UnitOfWork:
    read_only = False

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        after_commit: Callable[[UnitOfWork], None] | None = None,
        settings: CoreSettings | None = None,
        cache: dict[object, Any] | None = None,
    ) -> None:
        self._factory = factory
        self.clock = clock
        self.settings = settings or CoreSettings()
        # Process-wide derived data (e.g. the mentor index); always validated against the
        # database before use, so several processes never disagree for long.
        self.cache = cache if cache is not None else {}
        self._after_commit = after_commit
        self._committed = False

    async def __aenter__(self) -> Self:
        self.session = self._factory()
        self.outbox = Outbox(self.session, self.clock)
        self._committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True
        if self._after_commit is not None and self.outbox.queued:
            self._after_commit(self)

    def now(self) -> datetime:
        return self.clock.now()

    async def get_scoped(
        self, model: type[M], id_: str, community_id: str, what: str, *, lock: bool = False
    ) -> M:
        """Load a row by id only if it belongs to ``community_id``; otherwise NotFound.

        Ids from another community are reported exactly like unknown ids. ``lock`` takes a
        row lock (PostgreSQL ``FOR UPDATE``; SQLite transactions are serial already) for a
        decision that must not race another process's (two admins approving at once).
        """
        column = model.__table__.c
        stmt = select(model).where(column.id == id_, column.community_id == community_id)
        if lock:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise NotFound(what)
        return row

    def audit(
        self,
        community_id: str,
        actor_id: str | None,
        action: str,
        *,
        target_type: str = "",
        target_id: str | None = None,
        summary: str = "",
        **details: Any,
    ) -> None:
        """Record an admin action in the audit log, in this transaction."""
        self.session.add(
            AuditEntry(
                community_id=community_id,
                actor_id=actor_id,
                action=action,
                target_type=target_type,
                target_id=target_id,
                summary=summary,
                details=details,
                created_at=self.clock.now(),
            )
        )


class ReadOnlyUnitOfWork(UnitOfWork):
    """A unit of work that only reads: give it a reader session factory
    (``core.db.read_session_factory``).

    On SQLite its transaction is deferred on one of the reader connections, so it never
    takes (or waits for) the write lock; on PostgreSQL it is a READ ONLY transaction. The
    connection refuses any write, and ``commit`` is refused too, so a use case marked
    read-only that starts writing fails loudly in its tests instead of losing the write.
    """

    read_only = True

    async def commit(self) -> None:
        raise RuntimeError("a read-only unit of work cannot commit; use the write path")


UnitOfWorkFactory = Callable[[], UnitOfWork]
