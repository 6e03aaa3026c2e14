"""Engines, the schema version check and migrations.

Statements' parameters are hidden from errors and SQL logging (``hide_parameters``): they
hold what members wrote (DMs, bios), which must never reach a log.

SQLite (default): one writer connection per process, so there is exactly one writer and
write transactions never interleave; ``BEGIN IMMEDIATE`` so a write transaction takes
the write lock up front and a second process waits (busy_timeout) instead of failing on
a lock upgrade. Beside it, a small pool of reader connections for read-only units of
work: deferred transactions (plain ``BEGIN``) with ``query_only`` on, which WAL lets run
alongside the writer, so a read never queues behind a write. Both talk to SQLite through
``core.sqlite_driver``: one trip to aiosqlite's thread per statement, not four.
PostgreSQL: an ordinary asyncpg pool; several bot processes may share it. Reads use the
same pool in ``READ ONLY`` transactions.

Alembic is imported only to migrate; checking the schema version reads the revision
files and the ``alembic_version`` table directly, so start-up does not load it.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, PoolResetState
from sqlalchemy.util import await_only

from core import sqlite_driver
from core.queue import sqlite_call

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Reads are short (one page, one index check); a few connections keep both cores busy.
SQLITE_READERS = 4
# How long a unit of work waits for a pooled connection before the member is told the
# bot is busy (core.errors.Busy) instead of waiting on past the platform's patience.
POOL_TIMEOUT_SECONDS = 10
PG_POOL_SIZE = 10
PG_MAX_OVERFLOW = 10
# Tables the migrations create for a platform library's own store (slack_sdk's
# installation and OAuth state stores), read and written by that library, not by models.
LIBRARY_TABLES = frozenset({"slack_installations", "slack_bots", "slack_oauth_states"})

# Told how long a unit of work waited for a connection: (pool name, seconds).
PoolWaitHook = Callable[[str, float], None]

# SQLite writer engine (its sync engine) -> its reader engine
_READERS: weakref.WeakKeyDictionary[Any, AsyncEngine] = weakref.WeakKeyDictionary()


class SchemaOutOfDate(RuntimeError):
    """The database is not at the newest migration; ``mentorbot migrate`` fixes it."""


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def is_postgres(session: AsyncSession) -> bool:
    """Whether ``session`` is bound to PostgreSQL (else SQLite)."""
    return session.get_bind().dialect.name == "postgresql"


def dialect_insert(session: AsyncSession) -> Callable[..., Any]:
    """``insert`` of ``session``'s dialect: the one with ``on_conflict_do_nothing`` /
    ``on_conflict_do_update`` (PostgreSQL's and SQLite's are spelled alike)."""
    return pg_insert if is_postgres(session) else sqlite_insert


def normalise_url(url: str) -> str:
    """Accept plain ``sqlite:///`` / ``postgresql://`` URLs and pick the async drivers."""
    parsed = make_url(url)
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite" and driver != "aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql" and driver != "asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def create_engine(
    url: str, *, echo: bool = False, on_pool_wait: PoolWaitHook | None = None
) -> AsyncEngine:
    """The writer engine. Its readers (:func:`reader_engine`) are made with it and are
    disposed with it. ``on_pool_wait`` hears of every checkout that found no idle
    connection (pools "writer" and "reader" on SQLite, "pool" on PostgreSQL)."""
    url = normalise_url(url)

    def pool(name: str) -> dict[str, Any]:
        return {} if on_pool_wait is None else {"poolclass": _observed_pool(name, on_pool_wait)}

    if is_sqlite(url):
        if make_url(url).database in (None, "", ":memory:"):
            raise ValueError(
                "an in-memory SQLite database cannot be migrated or shared; give a file path "
                "such as sqlite:///mentorbot.db"
            )
        database = str(make_url(url).database)
        engine = create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            async_creator=sqlite_driver.connector(database, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS),
            pool_reset_on_return=None,  # see _configure_sqlite's _on_reset
            **pool("writer"),
        )
        _configure_sqlite(engine, writer=True)
        readers = create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            pool_size=SQLITE_READERS,
            max_overflow=0,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            # On their own threads, not inline on the loop: with hundreds of interactions at
            # once, reads run inline would each hold the loop between its iterations, and
            # the deferrals that keep first responses inside the platform's deadline would
            # wait behind them (bench/ack.py).
            async_creator=sqlite_driver.connector(
                database, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, reads_only=True
            ),
            pool_reset_on_return=None,
            **pool("reader"),
        )
        _configure_sqlite(readers, writer=False)

        @event.listens_for(engine.sync_engine, "engine_disposed")
        def _dispose_readers(_engine: Any) -> None:
            # Runs inside AsyncEngine.dispose()'s greenlet, so the async pool can close.
            readers.sync_engine.dispose()

        _READERS[engine.sync_engine] = readers
        return engine
    return create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=PG_POOL_SIZE,
        max_overflow=PG_MAX_OVERFLOW,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        pool_pre_ping=True,
        **pool("pool"),
    )


def _observed_pool(name: str, on_wait: PoolWaitHook) -> type[AsyncAdaptedQueuePool]:
    """The usual async pool, timing each checkout that finds no idle connection (it
    waits for one to come back, or for a new one to open). A pool recreated by
    ``dispose()`` is of the same class, so it keeps reporting."""

    class ObservedPool(AsyncAdaptedQueuePool):
        # SQLAlchemy names a pool's logger after its class's module: keep it under
        # "sqlalchemy" (held at WARNING), not "core.db", which would log every dispose.
        __module__ = AsyncAdaptedQueuePool.__module__

        def _do_get(self) -> ConnectionPoolEntry:
            if self.checkedin() > 0:
                return super()._do_get()
            started = time.perf_counter()
            try:
                return super()._do_get()
            finally:
                on_wait(name, time.perf_counter() - started)

    return ObservedPool


def reader_engine(engine: AsyncEngine) -> AsyncEngine:
    """The engine read-only units of work use.

    SQLite: the reader pool made with the writer. PostgreSQL: the same pool, each read a
    READ ONLY transaction. Anything else: the engine itself.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(postgresql_readonly=True)
    return _READERS.get(engine.sync_engine, engine)


def _configure_sqlite(engine: AsyncEngine, *, writer: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        pragmas = [
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
            "PRAGMA foreign_keys=ON",
            "PRAGMA synchronous=NORMAL",
        ]
        # journal_mode is a property of the file: the writer sets it; a reader must not
        # write at all (query_only turns a stray write into an error, not a lock wait).
        pragmas.insert(0, "PRAGMA journal_mode=WAL" if writer else "PRAGMA query_only=ON")
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    # Each aiosqlite call is a trip to the driver's thread, and SQLAlchemy's adapter
    # makes three of them per statement (cursor, execute, close): the writer's BEGIN
    # IMMEDIATE goes to the driver directly, in one; a reader's deferred BEGIN travels
    # with its first statement, in that statement's trip.
    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        driver = conn.connection.driver_connection
        assert driver is not None  # an open connection
        if not writer and isinstance(driver, sqlite_driver.OneTripConnection):
            driver.begin_with_next_statement(begin)
            return
        await_only(sqlite_call(begin, (), driver.execute(begin)))

    # A connection goes back to the pool after its transaction was committed or rolled
    # back; the pool's unconditional rollback-on-return would be one more trip for
    # nothing, so it rolls back only what is still open.
    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
        if state.asyncio_safe and dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def read_session_factory(
    factory: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """Sessions on the reader connections of ``factory``'s engine.

    A factory not bound to an engine from :func:`create_engine` reads through itself.
    """
    bind = getattr(factory, "kw", {}).get("bind")
    readers = reader_engine(bind) if isinstance(bind, AsyncEngine) else None
    if readers is None or readers is bind:
        return factory
    return session_factory(readers)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


_REVISION = re.compile(r"^revision(?:\s*:\s*str)?\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision(?:\s*:[^=]+)?\s*=\s*(?:None|['\"]([^'\"]+)['\"])", re.M)


def head_revision() -> str | None:
    """The newest revision in migrations/versions (the one no other revision follows)."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN.search(source)
        if revision is None:
            continue
        revisions.add(revision.group(1))
        if down is not None and down.group(1):
            followed.add(down.group(1))
    heads = sorted(revisions - followed)
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have several heads: {', '.join(heads)}")
    return heads[0] if heads else None


async def current_revision(engine: AsyncEngine) -> str | None:
    def _read(conn: Connection) -> str | None:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
        return ",".join(sorted(rows)) or None

    async with engine.connect() as conn:
        return await conn.run_sync(_read)


async def ensure_schema_current(engine: AsyncEngine) -> None:
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"The database schema is at {current or 'nothing (empty database)'}, "
            f"but this version of Mentorbot needs {head}. Run `mentorbot migrate` first."
        )


def upgrade(url: str, revision: str = "head") -> None:
    """Run Alembic's upgrade (blocking; call it from a thread when a loop is running)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)
