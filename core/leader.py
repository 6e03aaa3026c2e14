"""Which process runs the recurring jobs: exactly one per database at a time.

Every process delivers effects (the queue's claims keep them apart), but housekeeping
(nudges, expiry, meeting windows, prompts), badge sync and the like must run once, not
once per process. ``Leadership`` says whether this process is the one:

* **PostgreSQL** (``AdvisoryLockLeadership``): the process holding a session-level
  advisory lock (``pg_try_advisory_lock``) on a connection of its own, kept open for as
  long as it leads, is the leader. When it dies, however it dies, its connection closes
  and PostgreSQL releases the lock; the others try every ``retry_seconds`` and one of
  them takes over within seconds. The connection asks the server for short TCP
  keepalives, so a leader whose host vanished (no FIN ever sent) loses the lock within
  about ten seconds too. The leader re-checks before each job run (and every
  ``retry_seconds``) that its session still holds the lock; a connection that silently
  died or a check that does not answer in time ends its leadership at once.
* **SQLite** (``SoleProcess``): one process per database file, full stop; SQLite has one
  writer and nothing to elect. An exclusive ``flock`` on ``<file>.lock``, released by the
  operating system when the process exits (kill -9 included), refuses a second process at
  start with a message saying which process holds the file.

Listeners registered with ``on_change`` hear ``True`` when this process becomes the
leader and ``False`` when it stops being it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from core.db import normalise_url

log = logging.getLogger(__name__)

# The advisory lock's key: "MENTOR" in ASCII. Advisory locks are per database, so every
# Mentorbot process on one database competes for the same key.
LOCK_KEY = 0x4D454E544F52
RETRY_SECONDS = 2.0
CHECK_TIMEOUT_SECONDS = 5.0
# Server-side TCP keepalives of the leader's connection (seconds, count): a leader whose
# host vanished is noticed after idle + interval * count, and its lock released.
KEEPALIVE = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}

Listener = Callable[[bool], Awaitable[None]]


class AnotherProcess(RuntimeError):
    """Another Mentorbot process already uses this SQLite database; the message says so."""


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership(ABC):
    """Whether this process leads; listeners hear every change."""

    def __init__(self) -> None:
        self.leading = False
        self._listeners: list[Listener] = []

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def _become(self, leading: bool) -> None:
        if leading == self.leading:
            return
        self.leading = leading
        for listener in self._listeners:
            try:
                await listener(leading)
            except Exception:
                log.exception("a leadership listener failed")

    @abstractmethod
    async def start(self) -> None:
        """Take part: lead at once if possible (``AnotherProcess`` on a shared SQLite file)."""

    @abstractmethod
    async def confirm(self) -> bool:
        """Whether this process still leads, checked against the database where that can
        change; a lost leadership is given up (listeners hear ``False``) before it returns."""

    @abstractmethod
    async def stop(self) -> None:
        """Give up leadership (to another process at once) and stop taking part."""


class AlwaysLeading(Leadership):
    """A process that needs no election (the console's tests, a bench): it always leads."""

    def __init__(self) -> None:
        super().__init__()
        self.leading = True

    async def start(self) -> None:
        await self._become(True)

    async def confirm(self) -> bool:
        return self.leading

    async def stop(self) -> None:
        await self._become(False)


def sqlite_lock_path(url: str) -> Path | None:
    """``<database file>.lock`` for a SQLite file URL; None for anything else."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(str(parsed.database))
    return path.with_name(path.name + ".lock")


class SoleProcess(Leadership):
    """SQLite: this process holds the database file alone, so it leads."""

    def __init__(self, lock_path: Path) -> None:
        super().__init__()
        self.lock_path = lock_path
        self._file: IO[str] | None = None

    async def start(self) -> None:
        if self._file is None:
            self._file = _lock_exclusively(self.lock_path)
        await self._become(True)

    async def confirm(self) -> bool:
        return self.leading

    async def stop(self) -> None:
        await self._become(False)
        if self._file is not None:
            self._file.close()  # releases the flock; the file stays (deleting it would race)
            self._file = None


def _lock_exclusively(path: Path) -> IO[str]:
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no guard, as before
        return path.open("a", encoding="utf-8")
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        database = path.with_name(path.name.removesuffix(".lock"))
        raise AnotherProcess(
            f"another Mentorbot process ({holder}) is already using the SQLite database "
            f"{database}. SQLite serves one process: stop that one first, or move to "
            "PostgreSQL (DATABASE_URL=postgresql://…) to run several processes."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    return handle


class AdvisoryLockLeadership(Leadership):
    """PostgreSQL: the holder of a session advisory lock on its own connection leads."""

    def __init__(
        self,
        url: str,
        *,
        key: int = LOCK_KEY,
        retry_seconds: float = RETRY_SECONDS,
        check_timeout: float = CHECK_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__()
        self.url = url
        self.key = key
        self.retry_seconds = retry_seconds
        self.check_timeout = check_timeout
        self._engine: AsyncEngine | None = None
        self._connection: AsyncConnection | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the one connection
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._engine is None:
            self._engine = create_async_engine(
                self.url,
                poolclass=NullPool,
                connect_args={
                    "server_settings": {"application_name": "mentorbot leader", **KEEPALIVE}
                },
            )
        await self._try()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="leader")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.retry_seconds)
            try:
                if self.leading:
                    await self.confirm()
                else:
                    await self._try()
            except Exception:  # never let the election stop for good
                log.exception("leader election: unexpected failure; retrying")

    async def _connect(self) -> AsyncConnection:
        if self._connection is None:
            assert self._engine is not None
            connection = await self._engine.connect()
            self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    async def _drop(self) -> None:
        """Close the connection (a dead one included); its lock, if any, goes with it."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.invalidate(), self.check_timeout)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), self.check_timeout)

    async def _try(self) -> None:
        async def attempt() -> object:
            connection = await self._connect()
            return await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            )

        async with self._lock:
            try:
                got = await asyncio.wait_for(attempt(), self.check_timeout)
            except Exception as exc:
                log.warning("leader election: cannot reach the database (%s); retrying", exc)
                await self._drop()
                return
        if got:
            log.info("this process (%s) now runs the recurring jobs", process_name())
            await self._become(True)

    async def _holds_lock(self) -> bool:
        connection = await self._connect()
        held = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                "AND classid::bigint = :high AND objid::bigint = :low"
            ),
            {"high": self.key >> 32, "low": self.key & 0xFFFFFFFF},
        )
        return bool(held)

    async def confirm(self) -> bool:
        if not self.leading:
            return False
        async with self._lock:
            try:
                held = await asyncio.wait_for(self._holds_lock(), self.check_timeout)
                reason = "its session no longer holds the lock"
            except Exception as exc:
                held, reason = False, f"the check failed ({type(exc).__name__}: {exc})"
            if not held:
                await self._drop()
        if not held:
            log.warning("this process stops running the recurring jobs: %s", reason)
            await self._become(False)
        return held

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        async with self._lock:
            if self.leading and self._connection is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        self._connection.scalar(
                            text("SELECT pg_advisory_unlock(:key)"), {"key": self.key}
                        ),
                        self.check_timeout,
                    )
            await self._drop()
        await self._become(False)
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None


def for_database(url: str) -> Leadership:
    """The leadership a process on this database takes part in (not started yet)."""
    url = normalise_url(url)
    lock_path = sqlite_lock_path(url)
    if lock_path is not None:
        return SoleProcess(lock_path)
    if make_url(url).get_backend_name() == "postgresql":
        return AdvisoryLockLeadership(url)
    return AlwaysLeading()
