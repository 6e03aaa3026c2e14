"""The unit of work: one transaction, with the delivery queue and audit log inside it.

``async with uow:`` rolls back unless ``await uow.commit()`` ran, so a use case that
raises half-way leaves nothing behind: no rows, no queued effects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.effects import Effect, dump
from core.errors import NotFound
from core.models import AuditEntry, Base, Delivery
from core.settings import CoreSettings

M = TypeVar("M", bound=Base)


@cache
def _queue_statement(dialect: str) -> Any:
    """One prepared insert (built once), ignoring a key queued before."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = cast(Table, Delivery.__table__)
    return insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"])


@dataclass(frozen=True)
class Queued:
    """One effect for :meth:`Outbox.add_many`, with its key and, if not now, its moment."""

    effect: Effect
    key: str
    due_at: datetime | None = None
    group_key: str | None = None


class Outbox:
    """Queues effects in the current transaction. Same idempotency key twice = queued once."""

    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self._session = session
        self._clock = clock
        self.queued = 0
        # The earliest due time queued (or made due again) in this transaction, so the
        # dispatcher's wake-up can be moved earlier after the commit.
        self.earliest_due: datetime | None = None

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
        due = due_at or self._clock.now()
        values = {
            "community_id": community_id,
            "kind": effect.kind,
            "payload": dump(effect),
            "idempotency_key": key,
            "group_key": group_key,
            "destination": effect.destination(),
            "status": "pending",
            "due_at": due,
            "attempts": 0,
            "created_at": self._clock.now(),
        }
        stmt = _queue_statement(self._session.get_bind().dialect.name)
        result = await self._session.execute(stmt, values)
        added = bool(getattr(result, "rowcount", 0))
        if added:
            self.note_due(due)
        return added

    async def add_many(
        self, community_id: str, effects: Sequence[tuple[Effect, str] | Queued]
    ) -> int:
        """Queue many ``(effect, key)`` pairs (due now) or :class:`Queued` items; keys
        queued before are skipped.

        One statement, sent as multi-row inserts (SQLAlchemy's "insertmanyvalues"
        batches); returns how many were queued.
        """
        if not effects:
            return 0
        now = self._clock.now()
        bind = self._session.get_bind()
        insert = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
        items = [e if isinstance(e, Queued) else Queued(*e) for e in effects]
        rows = [
            {
                "community_id": community_id,
                "kind": item.effect.kind,
                "payload": dump(item.effect),
                "idempotency_key": item.key,
                "group_key": item.group_key,
                "destination": item.effect.destination(),
                "status": "pending",
                "due_at": item.due_at or now,
                "attempts": 0,
                "created_at": now,
            }
            for item in items
        ]
        stmt = (
            insert(Delivery)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(Delivery.id, Delivery.due_at)
        )
        added = (await self._session.execute(stmt, rows)).all()
        for _, due in added:
            self.note_due(due)
        return len(added)

    async def cancel(self, community_id: str, group_keys: Sequence[str]) -> int:
        """Cancel the effects still waiting under these group keys (a meeting's reminders);
        return how many. Sent ones stay sent."""
        if not group_keys:
            return 0
        result = await self._session.execute(
            update(Delivery)
            .where(
                Delivery.community_id == community_id,
                Delivery.group_key.in_(list(group_keys)),
                Delivery.status == "pending",
            )
            .values(status="cancelled", last_error="cancelled: no longer needed")
            .execution_options(synchronize_session=False)
        )
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
