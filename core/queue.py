"""The delivery queue's three hot statements, run on the database driver itself.

Queuing an effect, claiming a batch and recording a batch's results run thousands of
times a minute. Through SQLAlchemy each costs several times what the driver does: on
SQLite its aiosqlite adapter makes three trips to the driver's thread per statement
(open a cursor, execute, close it) where one does, and every parameter and column goes
through Python type processing. So these three go straight to the driver connection of
the session's own transaction: they commit or roll back with everything else in it.
The dispatcher's batches, which need nothing else, run them on a pooled connection's
driver in a transaction of their own (:func:`on_driver`, core.delivery.transaction).
``bench/delivery.py`` runs these same texts on the bare driver as its baseline.

Values cross in the driver's own types: datetimes as SQLAlchemy stores them (on SQLite
the UTC wall time as text with microseconds always shown, so text order is time order;
aware datetimes on PostgreSQL), JSON as text, flags as 0/1 on SQLite.
"""

from __future__ import annotations

import json
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.sqlite_driver import OneTripConnection

T = TypeVar("T")

# Placeholders are numbered ({0} is the first parameter) so that one text serves
# SQLite (?1) and PostgreSQL ($1) and a parameter can appear twice.
_INSERT = (
    "INSERT INTO deliveries (community_id, kind, payload, idempotency_key, group_key, "
    "destination, status, due_at, attempts, created_at) "
    "VALUES ({0}, {1}, {2}, {3}, {4}, {5}, 'pending', {6}, 0, {7}) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)
"""Parameters: community id, kind, payload (JSON text), idempotency key, group key,
destination, due at, created at."""

_CLAIM = (
    "UPDATE deliveries SET claimed_by = {0}, lease_until = {1}, "
    # Taken over from a claim that lapsed: that dispatcher may have sent it.
    "uncertain = CASE WHEN claimed_by IS NULL THEN uncertain ELSE {true} END "
    "WHERE id IN (SELECT d.id FROM deliveries d WHERE d.status = 'pending' "
    "AND d.due_at <= {2} AND (d.lease_until IS NULL OR d.lease_until < {2}){scope} "
    # Order per destination: not while an earlier effect for it is being retried, or is
    # claimed by another dispatcher.
    "AND NOT EXISTS (SELECT 1 FROM deliveries a WHERE a.community_id = d.community_id "
    "AND a.destination = d.destination AND a.status = 'pending' AND a.id < d.id "
    "AND (a.last_error IS NOT NULL OR a.lease_until >= {2})) "
    "ORDER BY d.due_at, d.id LIMIT {3}{lock}) "
    "RETURNING id, kind, payload, community_id, attempts, idempotency_key, uncertain, "
    "due_at, destination, last_error"
)
"""Parameters: dispatcher id, lease until, now, batch size. Returns the claimed rows.
``{scope}`` is empty, or a ``ClaimScope``'s condition."""

_CLAIMED_COMMUNITY = 3  # the community id's place in a claimed row

# Discord's shard of a server: (server id >> 22) % shard count.
_DISCORD_SHARD = "(CAST(c.platform_id AS BIGINT) / 4194304) % {count}"


@dataclass(frozen=True)
class ClaimScope:
    """Which communities' effects a dispatcher claims, when several processes share the
    queue but not the same platforms: only communities of ``platforms`` (those it has a
    port for) and, of Discord servers, only those on its own shards (``discord_shards``:
    shard count and the shard ids this process connects), whose cached state (roles,
    channels) only that process has. Names and numbers are inlined: they come from the
    configuration, never from a member."""

    platforms: tuple[str, ...]
    discord_shards: tuple[int, tuple[int, ...]] | None = None

    def __post_init__(self) -> None:
        if not all(re.fullmatch(r"[a-z_]+", p) for p in self.platforms):
            raise ValueError(f"not platform names: {self.platforms!r}")

    def condition(self) -> str:
        platforms = ", ".join(f"'{p}'" for p in self.platforms) or "NULL"
        inner = f"c.platform IN ({platforms})"
        if self.discord_shards is not None and "discord" in self.platforms:
            count, ids = self.discord_shards
            if set(ids) != set(range(count)):
                shard = _DISCORD_SHARD.format(count=int(count))
                listed = ", ".join(str(int(i)) for i in sorted(ids))
                inner += f" AND (c.platform <> 'discord' OR {shard} IN ({listed}))"
        return f" AND d.community_id IN (SELECT c.id FROM communities c WHERE {inner})"


_MARK = (
    "UPDATE deliveries SET status = {2}, attempts = {3}, due_at = {4}, last_error = {5}, "
    "uncertain = {6}, sent_at = {7}, result = {8}, claimed_by = NULL, lease_until = NULL "
    "WHERE id = {0} AND claimed_by = {1}"
)
"""Parameters: row id, dispatcher id (a row another dispatcher took over is left alone),
status, attempts, due at, last error, uncertain, sent at, result (JSON text)."""


_COMMUNITIES = (
    "SELECT id, platform, platform_id, group_category_id, admin_channel_id, roles, "
    "uninstalled_at IS NOT NULL FROM communities WHERE id IN ({ids})"
)
"""What delivery needs of the claimed rows' communities (see core.delivery.perform)."""


class Statements:
    """The texts for one dialect."""

    def __init__(self, dialect: str) -> None:
        postgres = dialect == "postgresql"
        self._place = "$" if postgres else "?"
        places = [f"{self._place}{n}" for n in range(1, 10)]
        self._places = places
        self._postgres = postgres
        self.insert = _INSERT.format(*places)
        self.claim = self._claim("")
        self.mark = _MARK.format(*places)
        self._scoped: dict[ClaimScope, str] = {}

    def _claim(self, scope: str) -> str:
        return _CLAIM.format(
            *self._places,
            true="true" if self._postgres else "1",
            lock=" FOR UPDATE SKIP LOCKED" if self._postgres else "",
            scope=scope,
        )

    def scoped_claim(self, scope: ClaimScope) -> str:
        """The claim of only ``scope``'s communities' effects."""
        if scope not in self._scoped:
            self._scoped[scope] = self._claim(scope.condition())
        return self._scoped[scope]

    def communities(self, count: int) -> str:
        """The communities look-up for ``count`` ids."""
        return _COMMUNITIES.format(ids=", ".join(f"{self._place}{n + 1}" for n in range(count)))

    def communities_of(self, claimed: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """The communities look-up of the ``claimed`` rows, and its parameters."""
        ids = sorted({row[_CLAIMED_COMMUNITY] for row in claimed})
        return self.communities(len(ids)), ids


SQLITE = Statements("sqlite")
POSTGRESQL = Statements("postgresql")


def _utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the delivery queue")
    return value.astimezone(UTC)


# The last second written by sqlite_time and its text up to the microseconds.
_second: tuple[datetime, str] = (datetime.min.replace(tzinfo=UTC), "")
_ONE_MICROSECOND = timedelta(microseconds=1)


def sqlite_time(value: datetime) -> str:
    """A datetime as SQLAlchemy's SQLite dialect stores it (see core.models.UTCDateTime):
    ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, microseconds always written."""
    # Written for every row the dispatcher marks, mostly many within one second: the
    # text up to the second is kept (one tuple, replaced whole, so any thread reads a
    # matching pair), and only the microseconds are formatted, at a third of the cost of
    # isoformat().
    global _second
    if value.tzinfo is not UTC:
        value = _utc(value)
    start, text = _second
    since = value - start
    if not since.days and not since.seconds:
        return text + str(since.microseconds).zfill(6)  # (half an f-string's cost)
    micro = value.microsecond
    text = value.isoformat(" ", "seconds")[:-6] + "."
    _second = (value - micro * _ONE_MICROSECOND, text)
    return text + str(micro).zfill(6)


def json_text(value: Any) -> str | None:
    """JSON as the queue's JSON columns store it; None stays SQL NULL."""
    return None if value is None else json.dumps(value)


class QueueConnection(ABC):
    """The driver connection under a session's transaction, speaking its own types."""

    statements: Statements

    @abstractmethod
    def time(self, value: datetime) -> Any:
        """A datetime as the driver takes it for a timestamp column."""

    @abstractmethod
    def time_of(self, value: Any) -> datetime:
        """A timestamp column's value as read, as an aware UTC datetime."""

    def flag(self, value: bool) -> Any:
        return value

    @property
    def false(self) -> Any:
        """``flag(False)``, read for every row marked sent."""
        return False

    def json_of(self, value: Any) -> Any:
        """A JSON column's value as read (text on SQLite; decoded already on PostgreSQL)."""
        return json.loads(value) if isinstance(value, str) else value

    @abstractmethod
    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        """Run one statement; return its rows."""

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        """Run one statement; return how many rows it changed."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once for each of ``rows``."""

    async def claim(
        self, sql: str, params: Sequence[Any], *, last: bool = False
    ) -> tuple[list[Sequence[Any]], list[Sequence[Any]]]:
        """Run a claim statement (``statements.claim`` or a scoped one); return the rows
        it claimed and, read in the same transaction, their communities' rows (the
        communities statement). ``last``: nothing follows in this transaction, so a
        connection that can commits it with the claim (see _SQLite)."""
        rows = await self.fetch(sql, params)
        if not rows:
            return rows, []
        return rows, await self.fetch(*self.statements.communities_of(rows))

    # A connection from :func:`on_driver` is in no SQLAlchemy transaction: its user
    # begins and ends one with these (a write transaction: SQLite's lock taken up front).
    _BEGIN = "BEGIN"

    async def begin(self) -> None:
        await self.execute(self._BEGIN, ())

    async def commit(self) -> None:
        await self.execute("COMMIT", ())

    async def rollback(self) -> None:
        await self.execute("ROLLBACK", ())


async def sqlite_call(sql: str, params: Any, call: Awaitable[T]) -> T:
    """``call`` on aiosqlite, its errors raised as SQLAlchemy raises them (e.g.
    ``OperationalError`` for a lock still held after the busy timeout)."""
    try:
        return await call
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc


async def _postgres_call(sql: str, params: Any, call: Awaitable[T]) -> T:
    import asyncpg

    try:
        return await call
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(sql, params, exc) from exc
    except asyncpg.PostgresError as exc:
        raise DBAPIError(sql, params, exc) from exc


# What a step of a gathered trip does (see _SQLite and _run_steps).
_STEP_RUN, _STEP_MANY, _STEP_FETCH, _STEP_CLAIM, _STEP_END, _STEP_ROLLBACK = range(6)
_Step = tuple[int, str, Any]


def _run_steps(steps: list[_Step], conn: sqlite3.Connection) -> Any:
    """On the driver's thread: each step in turn; returns the last result (a fetch's
    rows, a claim's rows and communities, or how many rows a statement changed). A
    failing statement is raised as SQLAlchemy raises it, naming that statement."""
    result: Any = None
    for kind, sql, params in steps:
        try:
            if kind == _STEP_MANY:
                conn.executemany(sql, params)
            elif kind == _STEP_FETCH:
                result = conn.execute(sql, params).fetchall()
            elif kind == _STEP_CLAIM:
                rows = conn.execute(sql, params).fetchall()
                communities: list[Any] = []
                if rows:
                    sql, params = SQLITE.communities_of(rows)
                    communities = conn.execute(sql, params).fetchall()
                result = rows, communities
            elif kind == _STEP_END:
                conn.execute(sql)
            elif kind == _STEP_ROLLBACK:
                # Whatever the last trip did: it may have committed (a trip goes on when
                # the coroutine awaiting it was cancelled), or failed before it began.
                if conn.in_transaction:
                    conn.execute(sql)
            else:
                result = conn.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc
    return result


class _SQLite(QueueConnection):
    """The statements on aiosqlite. A gathering connection (``on_driver``'s, which only
    this class uses) sends statements whose results nobody reads (the begin, a batch's
    marks) to the driver's thread together with the next one whose result is read, and
    a claim that is its transaction's last statement together with the commit: a batch's
    transaction (begin, marks, claim, its communities, commit) is one trip to that thread
    instead of five. Each trip is a hand-off to another thread and back through the
    event loop, which on a busy machine costs more than SQLite's work on a short
    statement (about 0.1 ms a trip on the shared 2-core CI machine)."""

    statements = SQLITE
    _BEGIN = "BEGIN IMMEDIATE"

    def __init__(self, driver: Any, *, gathering: bool = False) -> None:
        self._driver = driver  # an aiosqlite.Connection (a OneTripConnection if gathering)
        # Gathering: the steps waiting for the next trip; whether a trip of this
        # transaction went to the thread; whether it was committed with its last
        # statement.
        self._waiting: list[_Step] | None = [] if gathering else None
        self._sent = False
        self._ended = False

    async def _trip(self, *steps: _Step) -> Any:
        """The waiting steps and ``steps``, in one trip to the driver's thread."""
        waiting = self._waiting
        assert waiting is not None
        if self._ended:
            raise RuntimeError("a statement after the transaction was committed")
        gathered = [*waiting, *steps]
        waiting.clear()
        self._sent = True
        return await self._driver.run(partial(_run_steps, gathered))

    # The function itself, not a method calling it: written for every row marked.
    time = staticmethod(sqlite_time)

    def time_of(self, value: Any) -> datetime:
        # Read for every claimed row; parsing the offset is cheaper than replace().
        return datetime.fromisoformat(value + "+00:00")

    def flag(self, value: bool) -> int:
        return int(value)

    false = 0

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        if self._waiting is not None:
            return list(await self._trip((_STEP_FETCH, sql, params)))
        # One trip to the driver's thread: execute and fetch together.
        return list(await sqlite_call(sql, params, self._driver.execute_fetchall(sql, params)))

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        if self._waiting is not None:
            return int(await self._trip((_STEP_RUN, sql, params)))
        cursor = await sqlite_call(sql, params, self._driver.execute(sql, params))
        return int(cursor.rowcount)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self._waiting is not None:
            if self._ended:
                raise RuntimeError("a statement after the transaction was committed")
            self._waiting.append((_STEP_MANY, sql, rows))  # sent with the next trip
            return
        await sqlite_call(sql, rows, self._driver.executemany(sql, rows))

    async def claim(
        self, sql: str, params: Sequence[Any], *, last: bool = False
    ) -> tuple[list[Sequence[Any]], list[Sequence[Any]]]:
        if self._waiting is None:
            return await super().claim(sql, params, last=last)
        if not last:
            rows, communities = await self._trip((_STEP_CLAIM, sql, params))
            return rows, communities
        rows, communities = await self._trip((_STEP_CLAIM, sql, params), (_STEP_END, "COMMIT", ()))
        self._ended = True
        return rows, communities

    async def begin(self) -> None:
        if self._waiting is None:
            await super().begin()
        else:
            self._sent = self._ended = False
            self._waiting.append((_STEP_RUN, self._BEGIN, ()))  # sent with the first statement

    async def commit(self) -> None:
        if self._waiting is None:
            await super().commit()
        elif self._ended:
            self._sent = self._ended = False  # committed with its last statement
        else:
            await self._trip((_STEP_END, "COMMIT", ()))
            self._sent = False

    async def rollback(self) -> None:
        if self._waiting is None:
            await super().rollback()
            return
        self._waiting.clear()  # never sent
        sent, self._sent, self._ended = self._sent, False, False
        if sent:
            await self._trip((_STEP_ROLLBACK, "ROLLBACK", ()))


_STATUS_COUNT = re.compile(r"(\d+)$")


class _PostgreSQL(QueueConnection):
    statements = POSTGRESQL

    def __init__(self, connection: AsyncConnection | None, driver: Any) -> None:
        self._connection = connection  # None: on the driver alone (see on_driver)
        self._driver = driver  # an asyncpg.Connection

    def time(self, value: datetime) -> datetime:
        return _utc(value)

    def time_of(self, value: Any) -> datetime:
        return value if value.tzinfo is UTC else value.astimezone(UTC)  # type: ignore[no-any-return]

    def _started(self) -> bool:
        # SQLAlchemy begins the transaction with the first statement it runs; until then
        # statements go through it, so none runs outside the transaction.
        return self._connection is None or bool(self._driver.is_in_transaction())

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        if self._started():
            return list(await _postgres_call(sql, params, self._driver.fetch(sql, *params)))
        assert self._connection is not None
        return list(await self._connection.exec_driver_sql(sql, tuple(params)))

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        if self._started():
            status = await _postgres_call(sql, params, self._driver.execute(sql, *params))
            found = _STATUS_COUNT.search(status)
            return int(found.group(1)) if found else 0
        assert self._connection is not None
        return (await self._connection.exec_driver_sql(sql, tuple(params))).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self._started():
            await _postgres_call(sql, rows, self._driver.executemany(sql, rows))
        else:
            assert self._connection is not None
            await self._connection.exec_driver_sql(sql, [tuple(r) for r in rows])


async def connect(session: AsyncSession | AsyncConnection) -> QueueConnection:
    """The queue's statements on ``session``'s connection (or on a connection), in its
    transaction (begun here, for a session, if none is)."""
    connection = await session.connection() if isinstance(session, AsyncSession) else session
    driver = (await connection.get_raw_connection()).driver_connection
    if connection.dialect.name == "postgresql":
        return _PostgreSQL(connection, driver)
    return _SQLite(driver)


def on_driver(dialect: str, driver: Any) -> QueueConnection:
    """The queue's statements on a pooled connection's driver (aiosqlite / asyncpg), with
    no SQLAlchemy connection above it: the caller begins and ends the transaction."""
    if dialect == "postgresql":
        return _PostgreSQL(None, driver)
    # Gathering needs the driver's one-trip call: the project's engines always have it.
    return _SQLite(driver, gathering=isinstance(driver, OneTripConnection))
