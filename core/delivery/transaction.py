"""The dispatcher's batch transactions: the queue's statements on the driver, the ORM
only when a batch needs it.

A batch's transaction records the last batch's results and claims the next: a handful
of core.queue's statements. Most batches need nothing else, and for them the whole
transaction runs on a pooled connection's driver (begin, statements, commit; on SQLite
all in one trip to the driver's thread, see core.queue's gathering connection), as the
bare driver would: SQLAlchemy's connection and transaction objects cost several times
the statements themselves (on SQLite, ~0.2 ms a batch of CPU against the bare ~0.06 ms).
A batch that writes through the ORM (a created role or channel written back, a health
notice) gets an SQLAlchemy connection instead, and a session joined to its transaction.

On PostgreSQL a drain keeps one pooled connection for its driver-only batches
(:func:`batch_connection`): each checkout pings the server first (three round trips with
asyncpg), more than half again of what a batch's own five cost. On SQLite the one writer
connection is never held between transactions: every command that changes something
needs it while the platform calls run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.util import greenlet_spawn

from core import queue
from core.clock import Clock
from core.uow import Outbox


class Transaction:
    """One batch transaction: ``db`` for the queue's statements; ``session`` and
    ``outbox`` (made on first use, in the same transaction) only where the ORM was asked
    for."""

    def __init__(
        self,
        db: queue.QueueConnection,
        factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        connection: AsyncConnection | None = None,
        session: AsyncSession | None = None,
    ) -> None:
        self.db = db
        self._factory = factory
        self._clock = clock
        self._connection = connection
        self._session = session
        self._outbox: Outbox | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._connection is None:
                raise RuntimeError("a driver-only batch transaction has no ORM session")
            # Joined to the connection's transaction: it neither begins nor commits one.
            self._session = self._factory(bind=self._connection)
        return self._session

    @property
    def outbox(self) -> Outbox:
        if self._outbox is None:
            self._outbox = Outbox(self.session, self._clock)
        return self._outbox

    @property
    def earliest_due(self) -> datetime | None:
        """The earliest due time queued in this transaction (see Outbox.earliest_due)."""
        return None if self._outbox is None else self._outbox.earliest_due


def _engine(factory: async_sessionmaker[AsyncSession]) -> AsyncEngine | None:
    bind = factory.kw.get("bind")
    return bind if isinstance(bind, AsyncEngine) else None


@asynccontextmanager
async def batch_connection(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[Any]:
    """A pooled connection for a drain's driver-only batches (PostgreSQL), else None."""
    engine = _engine(factory)
    if engine is None or engine.dialect.name != "postgresql":
        yield None
        return
    pooled = await engine.raw_connection()
    try:
        yield pooled
    finally:
        pooled.close()


@asynccontextmanager
async def transaction(
    factory: async_sessionmaker[AsyncSession],
    clock: Clock,
    pooled: Any = None,
    *,
    orm: bool = False,
) -> AsyncIterator[Transaction]:
    """One transaction, committed when the block ends, rolled back if it raises.

    Driver-only unless ``orm``: on ``pooled`` (from :func:`batch_connection`) if given,
    else on a connection checked out for it.
    """
    engine = _engine(factory)
    if engine is None:  # a factory bound to no engine: everything through a session
        async with factory() as session, session.begin():
            yield Transaction(await queue.connect(session), factory, clock, session=session)
        return
    if orm:
        async with engine.connect() as connection, _on_connection(factory, clock, connection) as tx:
            yield tx
        return
    if pooled is not None:
        async with _on_driver(engine, factory, clock, pooled) as tx:
            yield tx
        return
    pooled = await engine.raw_connection()
    try:
        async with _on_driver(engine, factory, clock, pooled) as tx:
            yield tx
    finally:
        pooled.close()


@asynccontextmanager
async def _on_driver(
    engine: AsyncEngine, factory: async_sessionmaker[AsyncSession], clock: Clock, pooled: Any
) -> AsyncIterator[Transaction]:
    db = queue.on_driver(engine.dialect.name, pooled.driver_connection)
    await db.begin()
    try:
        yield Transaction(db, factory, clock)
        await db.commit()
    except BaseException:
        try:
            await db.rollback()
        except Exception:
            # In an unknown state: closed rather than given to anyone else.
            await greenlet_spawn(pooled.invalidate)
        raise


@asynccontextmanager
async def _on_connection(
    factory: async_sessionmaker[AsyncSession], clock: Clock, connection: AsyncConnection
) -> AsyncIterator[Transaction]:
    tx: Transaction | None = None
    try:
        async with connection.begin():
            tx = Transaction(await queue.connect(connection), factory, clock, connection=connection)
            yield tx
            if tx._session is not None:
                await tx._session.flush()
    finally:
        if tx is not None and tx._session is not None:
            await tx._session.close()
