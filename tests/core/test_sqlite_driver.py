"""core.sqlite_driver: readers run on the loop's thread, never wait for a lock there, and
every statement still returns all of its rows (issue 10: first responses and suggest)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from core import sqlite_driver


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


async def test_a_reader_runs_on_the_loops_thread_and_the_writer_on_its_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    _table(path, 1)
    reader = await sqlite_driver.connector(str(path), busy_timeout_ms=5000, inline=True)()
    writer = await sqlite_driver.connector(str(path), busy_timeout_ms=5000)()
    try:
        assert await _thread_of_statements(reader) == threading.get_ident()
        assert await _thread_of_statements(writer) != threading.get_ident()
    finally:
        await reader.close()
        await writer.close()


async def test_the_loop_switches_between_a_readers_statements(tmp_path: Path) -> None:
    """Reads on the loop's thread still let other work (a first response) in between."""
    path = tmp_path / "t.db"
    _table(path, 1)
    reader = await sqlite_driver.connector(str(path), busy_timeout_ms=5000, inline=True)()
    seen: list[str] = []

    async def statements() -> None:
        for _ in range(3):
            async with reader.cursor() as cursor:
                await cursor.execute("SELECT n FROM t")
                await cursor.fetchall()
            seen.append("statement")

    async def other() -> None:
        for _ in range(3):
            seen.append("other")
            await asyncio.sleep(0)

    try:
        await asyncio.gather(statements(), other())
    finally:
        await reader.close()
    assert seen[:2] != ["statement", "statement"], seen
    assert seen.count("statement") == 3


async def test_a_reader_that_finds_the_database_locked_waits_off_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    _table(path, 3)  # rollback-journal mode: an exclusive lock keeps readers out
    reader = await sqlite_driver.connector(str(path), busy_timeout_ms=5000, inline=True)()
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
        conn = await sqlite_driver.connector(str(path), busy_timeout_ms=5000, inline=inline)()
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


async def test_a_batch_larger_than_the_rows_fetched_with_the_statement_is_full(
    tmp_path: Path,
) -> None:
    """fetchmany(n) gives n rows while n remain: SQLAlchemy's partitioned streaming reads
    (``partitions``) lost rows when the first batch came back short."""
    path = tmp_path / "t.db"
    rows = sqlite_driver.ROWS_WITH_STATEMENT * 4 + 3
    _table(path, rows)
    for inline in (True, False):
        conn = await sqlite_driver.connector(str(path), busy_timeout_ms=5000, inline=inline)()
        try:
            async with conn.cursor() as cursor:
                await cursor.execute("SELECT n FROM t ORDER BY n")
                sizes, seen = [], []
                while batch := await cursor.fetchmany(sqlite_driver.ROWS_WITH_STATEMENT * 2):
                    sizes.append(len(batch))
                    seen.extend(batch)
                big = sqlite_driver.ROWS_WITH_STATEMENT * 2
                assert sizes == [big, big, 3]
                assert seen == [(n,) for n in range(rows)]
        finally:
            await conn.close()


async def test_a_readers_transaction_costs_one_trip_per_statement_and_none_to_begin_or_end(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    _table(path, 3)
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
    reader = await sqlite_driver.connector(str(path), busy_timeout_ms=5000, reads_only=True)()
    writer = await sqlite_driver.connector(str(path), busy_timeout_ms=5000)()
    trips = 0
    real = reader._execute

    async def counted(fn: object, *args: object, **kwargs: object) -> object:
        nonlocal trips
        trips += 1
        return await real(fn, *args, **kwargs)

    reader._execute = counted
    try:
        reader.begin_with_next_statement("BEGIN")
        assert reader.in_transaction
        async with reader.cursor() as cursor:
            await cursor.execute("SELECT count(*) FROM t")
            first = await cursor.fetchall()
        # Committed between the two reads: the snapshot began with the first statement.
        await writer.execute("INSERT INTO t VALUES (99)")
        await writer.commit()
        async with reader.cursor() as cursor:
            await cursor.execute("SELECT count(*) FROM t")
            second = await cursor.fetchall()
        await reader.rollback()
        assert first == second == [(3,)]
        assert trips == 2
        assert not reader.in_transaction
        # A transaction that never ran a statement never began: nothing to end.
        reader.begin_with_next_statement("BEGIN")
        await reader.rollback()
        assert trips == 2
        assert not reader.in_transaction
        async with reader.cursor() as cursor:
            await cursor.execute("SELECT count(*) FROM t")
            assert await cursor.fetchall() == [(4,)]
    finally:
        await reader.close()
        await writer.close()
