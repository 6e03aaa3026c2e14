"""aiosqlite connections that cost one trip to their thread per statement, or none.

aiosqlite runs each sqlite3 call on the connection's own thread, and SQLAlchemy's adapter
makes four such calls per statement: create a cursor, execute, fetch the rows, close the
cursor. Each trip is a hand-off to another thread and back through the event loop, which
costs more than the few microseconds SQLite needs to answer a short read, and on a busy
machine each hand-off also waits for the other thread to be scheduled (a read-only
command made about 25 of them). So:

* the statement and its first rows travel together (``OneTripCursor.execute``), and
  creating and closing a cursor (no I/O, no lock) happen on the caller's thread;
* a reader connection runs its statements on the caller's thread outright, then lets
  the event loop run whatever else is ready (``asyncio.sleep(0)``) before going on, as a
  hand-off would have: one member's command costs no hand-off at all, and in a burst the
  loop still switches between commands at every statement, so first responses are not
  held up behind whole commands. Reads in WAL mode take no lock that a writer holds, and
  the reads on command paths are short (a page, an index look-up; the mentor listing
  streams in batches). A reader never waits for a lock on the loop: its busy timeout is
  zero, and a statement that finds the database busy (e.g. a file not yet in WAL mode
  while another process writes) is run again on the connection's thread, allowed to wait
  the usual busy timeout.

The sqlite3 connection is opened with ``check_same_thread=False`` for this; SQLAlchemy
never uses one connection from two places at once (each statement runs under the
adapter's per-connection mutex), so it is still used by one thread at a time. The writer
keeps everything that can wait on the database (execute, commit) on aiosqlite's thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite
from aiosqlite.context import contextmanager

# Rows fetched together with the statement; more (a streamed read) follow in batches.
ROWS_WITH_STATEMENT = 500
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
T = TypeVar("T")


class OneTripCursor(aiosqlite.Cursor):
    def __init__(self, conn: aiosqlite.Connection, cursor: sqlite3.Cursor) -> None:
        super().__init__(conn, cursor)
        self._ahead: list[Any] = []
        self._more = False

    def _execute_and_fetch(
        self, sql: str, parameters: Any, begin: str | None = None
    ) -> tuple[list[Any], bool]:
        """On the connection's thread: begin the transaction if one is waiting to begin,
        run the statement and fetch its first rows."""
        if begin is not None and not self._cursor.connection.in_transaction:
            self._cursor.execute(begin)
        self._cursor.execute(sql, parameters)
        if self._cursor.description is None:
            return [], False
        rows = self._cursor.fetchmany(ROWS_WITH_STATEMENT)
        return rows, len(rows) == ROWS_WITH_STATEMENT

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> OneTripCursor:
        begin = self._conn.take_begin() if isinstance(self._conn, OneTripConnection) else None
        self._ahead, self._more = await self._execute(  # type: ignore[no-untyped-call]
            self._execute_and_fetch, sql, [] if parameters is None else parameters, begin
        )
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> OneTripCursor:
        self._ahead, self._more = [], False
        if isinstance(self._conn, OneTripConnection):
            await self._conn.begin_now()
        await super().executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        if self._ahead:
            return self._ahead.pop(0)
        return await super().fetchone() if self._more else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        # ``size`` rows whenever that many remain: a short batch from a cursor that has
        # more rows made SQLAlchemy's partitioned reads lose rows.
        size = self.arraysize if size is None else size
        taken, self._ahead = self._ahead[:size], self._ahead[size:]
        if len(taken) < size and self._more:
            taken += list(await super().fetchmany(size - len(taken)))
        return taken

    async def fetchall(self) -> Sequence[Any]:
        taken, self._ahead = self._ahead, []
        if self._more:
            self._more = False
            taken += list(await super().fetchall())
        return taken

    async def close(self) -> None:
        self._ahead, self._more = [], False
        self._cursor.close()


class OneTripConnection(aiosqlite.Connection):
    def __init__(
        self,
        connector: Callable[[], sqlite3.Connection],
        *,
        inline: bool,
        busy_timeout_ms: int,
        reads_only: bool = False,
    ) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self.inline = inline
        self.busy_timeout_ms = busy_timeout_ms
        self.reads_only = reads_only
        self._begin: str | None = None  # a BEGIN to send with the next statement

    def begin_with_next_statement(self, begin: str) -> None:
        """Begin a (deferred, read) transaction with the next statement, in its trip to
        the connection's thread, rather than in a trip of its own. Until then nothing has
        begun: a rollback or commit before any statement has nothing to end."""
        self._begin = begin

    def take_begin(self) -> str | None:
        begin, self._begin = self._begin, None
        return begin

    async def begin_now(self) -> None:
        begin = self.take_begin()
        if begin is not None and not self._conn.in_transaction:
            await self._execute(self._conn.execute, begin)

    @property
    def in_transaction(self) -> bool:
        return self._begin is not None or self._conn.in_transaction

    async def commit(self) -> None:
        if self.take_begin() is not None and not self._conn.in_transaction:
            return
        await super().commit()

    async def rollback(self) -> None:
        """Ends a transaction. A read transaction (a reader's: ``query_only``) is rolled
        back on the caller's thread: that only lets go of its snapshot, which never waits
        for anything, so a hand-off to the connection's thread would cost more."""
        if self.take_begin() is not None and not self._conn.in_transaction:
            return
        if self.reads_only and self._conn.in_transaction:
            self._conn.rollback()
            return
        await super().rollback()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` given the sqlite3 connection, on the connection's thread: several
        statements in one trip (see core.queue's gathering connection)."""
        result: T = await self._execute(fn, self._conn)
        return result

    @contextmanager
    async def cursor(self) -> aiosqlite.Cursor:
        return OneTripCursor(self, self._conn.cursor())

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not (self.inline and self._running and self._connection is not None):
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        try:
            result = fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in _BUSY:
                raise
            return await super()._execute(self._patiently, fn, args, kwargs)  # type: ignore[no-untyped-call]
        await asyncio.sleep(0)  # let the loop switch here, as a hand-off would
        return result

    def _patiently(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        """On the connection's thread: ``fn``, allowed to wait for a lock if it must."""
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in _BUSY:
                raise
        self._conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        try:
            return fn(*args, **kwargs)
        finally:
            self._conn.execute("PRAGMA busy_timeout=0")


def connector(
    path: str, *, busy_timeout_ms: int, inline: bool = False, reads_only: bool = False
) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``: connections to a database file.
    ``inline``: running statements on the caller's thread (see above); ``reads_only``: a
    reader's (``query_only``), whose transactions end on the caller's thread."""

    async def connect() -> OneTripConnection:
        timeout = 0 if inline else busy_timeout_ms / 1000

        def open_file() -> sqlite3.Connection:
            return sqlite3.connect(path, timeout=timeout, check_same_thread=False)

        connection = OneTripConnection(
            open_file, inline=inline, busy_timeout_ms=busy_timeout_ms, reads_only=reads_only
        )
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
        await connection
        return connection

    return connect
