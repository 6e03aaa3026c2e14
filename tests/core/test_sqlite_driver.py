"""core.sqlite_driver: readers run on the loop's thread, never wait for a lock there, and
every statement still returns all of its rows (issue 10: first responses and suggest)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from core import db, sqlite_driver


def _table(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (n INTEGER)")
        setup.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(rows)])


async def _thread_of_statements(conn: sqlite_driver.OneTripConnection) -> int:
    conn._conn.create_function("thread_id", 0, threading.get_ident)
    async with conn.cursor() as cursor:
        await cursor.execute("SELECT thread_id()")
        ((ident,),) = await cursor.fetchall()
    return int(ident)


async def test_a_read_alone_runs_on_the_loops_thread_and_others_on_their_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    _table(path, 1)
    readers = sqlite_driver.Readers()
    reader = await sqlite_driver.connector(str(path), busy_timeout_ms=5000, readers=readers)()
    writer = await sqlite_driver.connector(str(path), busy_timeout_ms=5000)()
    try:
        readers.in_use = 1  # this read is the only one under way
        assert await _thread_of_statements(reader) == threading.get_ident()
        readers.in_use = 3  # a burst: reads go to their connections' threads
        assert await _thread_of_statements(reader) != threading.get_ident()
        assert await _thread_of_statements(writer) != threading.get_ident()
    finally:
        await reader.close()
        await writer.close()


async def test_a_reader_that_finds_the_database_locked_waits_off_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    _table(path, 3)  # rollback-journal mode: an exclusive lock keeps readers out
    reader = await sqlite_driver.connector(
        str(path), busy_timeout_ms=5000, readers=sqlite_driver.Readers()
    )()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")

    async def read() -> list[tuple[int]]:
        async with reader.cursor() as cursor:
            await cursor.execute("SELECT count(*) FROM t")
            return list(await cursor.fetchall())

    try:
        pending = asyncio.ensure_future(read())
        ticks = 0
        for _ in range(20):  # the loop keeps running while the read waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20
        assert not pending.done()
        other.execute("ROLLBACK")
        assert await asyncio.wait_for(pending, 5) == [(3,)]
        # Back on the loop's thread for the next statement, with no wait there.
        assert await _thread_of_statements(reader) == threading.get_ident()
    finally:
        other.close()
        await reader.close()


async def test_long_results_come_whole_whichever_way_they_are_fetched(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    rows = sqlite_driver.ROWS_WITH_STATEMENT * 2 + 7
    _table(path, rows)
    for inline in (True, False):
        readers = sqlite_driver.Readers() if inline else None
        conn = await sqlite_driver.connector(str(path), busy_timeout_ms=5000, readers=readers)()
        try:
            async with conn.cursor() as cursor:
                await cursor.execute("SELECT n FROM t ORDER BY n")
                assert list(await cursor.fetchall()) == [(n,) for n in range(rows)]
            async with conn.cursor() as cursor:
                await cursor.execute("SELECT n FROM t ORDER BY n")
                first = await cursor.fetchone()
                batches = [first]
                while batch := await cursor.fetchmany(300):
                    batches.extend(batch)
                assert batches == [(n,) for n in range(rows)]
                assert await cursor.fetchone() is None
            async with conn.cursor() as cursor:
                await cursor.execute("UPDATE t SET n = n WHERE n < 5")
                assert cursor.rowcount == 5
                assert list(await cursor.fetchall()) == []
        finally:
            await conn.close()


async def _driver_connection(session: AsyncSession) -> sqlite_driver.OneTripConnection:
    raw = await (await session.connection()).get_raw_connection()
    found = raw.dbapi_connection._connection  # type: ignore[union-attr]
    assert isinstance(found, sqlite_driver.OneTripConnection)
    return found


async def test_the_reader_pool_counts_the_reads_under_way(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'count.db'}"
    await db.upgrade_async(url)
    engine = db.create_engine(url)
    readers = db.read_session_factory(db.session_factory(engine))
    try:
        async with readers() as one:
            assert (await _driver_connection(one)).readers.alone()  # type: ignore[union-attr]
            async with readers() as two:
                second = await _driver_connection(two)
                assert second.readers is not None
                assert not second.readers.alone()
        async with readers() as again:
            assert (await _driver_connection(again)).readers.alone()  # type: ignore[union-attr]
    finally:
        await engine.dispose()
