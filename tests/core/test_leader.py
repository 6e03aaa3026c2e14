"""Leader election for the recurring jobs: one process per database leads at a time."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import pytest
from sqlalchemy import text

from core import db
from core.leader import (
    AdvisoryLockLeadership,
    AlwaysLeading,
    AnotherProcess,
    SoleProcess,
    for_database,
    sqlite_lock_path,
)
from tests.conftest import PG_URL

pg_only = pytest.mark.skipif(not PG_URL, reason="needs MENTORBOT_TEST_DATABASE_URL (PostgreSQL)")


async def _until(condition: object, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_each_kind_of_database_gets_its_leadership(tmp_path: Path) -> None:
    lead = for_database(f"sqlite:///{tmp_path}/bot.db")
    assert isinstance(lead, SoleProcess)
    assert lead.lock_path == tmp_path / "bot.db.lock"
    assert isinstance(for_database("postgresql://u@h/db"), AdvisoryLockLeadership)
    assert sqlite_lock_path("postgresql://u@h/db") is None


async def test_a_second_holder_of_a_sqlite_file_is_refused_until_the_first_lets_go(
    tmp_path: Path,
) -> None:
    first, second = SoleProcess(tmp_path / "bot.db.lock"), SoleProcess(tmp_path / "bot.db.lock")
    heard: list[bool] = []

    async def listen(leading: bool) -> None:
        heard.append(leading)

    first.on_change(listen)
    await first.start()
    assert first.leading
    assert heard == [True]
    with pytest.raises(AnotherProcess) as refused:
        await second.start()
    message = str(refused.value)
    assert f"pid {os.getpid()}" in message
    assert str(tmp_path / "bot.db") in message
    assert "PostgreSQL" in message
    assert not second.leading
    await first.stop()
    assert heard == [True, False]
    await second.start()
    assert second.leading
    await second.stop()


async def test_always_leading_needs_no_database() -> None:
    lead = AlwaysLeading()
    assert lead.leading
    assert await lead.confirm()
    await lead.stop()
    assert not await lead.confirm()


def _pair(key: int) -> tuple[AdvisoryLockLeadership, AdvisoryLockLeadership]:
    assert PG_URL
    url = db.normalise_url(PG_URL)
    return (
        AdvisoryLockLeadership(url, key=key, retry_seconds=0.1),
        AdvisoryLockLeadership(url, key=key, retry_seconds=0.1),
    )


@pg_only
async def test_one_of_two_leads_and_the_other_takes_over_when_it_stops() -> None:
    first, second = _pair(random.randrange(1, 2**40))
    try:
        await first.start()
        await second.start()
        assert first.leading
        assert not second.leading
        assert await first.confirm()
        assert not await second.confirm()
        await first.stop()
        await _until(lambda: second.leading, within=3)
        assert await second.confirm()
    finally:
        await first.stop()
        await second.stop()


@pg_only
async def test_a_leader_whose_connection_died_steps_down_and_one_process_leads_again() -> None:
    first, second = _pair(random.randrange(1, 2**40))
    heard: list[bool] = []

    async def listen(leading: bool) -> None:
        heard.append(leading)

    first.on_change(listen)
    try:
        await first.start()
        await second.start()
        assert first.leading
        assert first._connection is not None
        backend = await first._connection.scalar(text("SELECT pg_backend_pid()"))
        # The server ends the leader's session behind its back (as a dead link would).
        engine = db.create_engine(PG_URL or "")
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        await engine.dispose()
        assert not await first.confirm()  # checked before a job run: it no longer leads
        assert heard[:2] == [True, False]
        # Whoever retries first leads (the deposed one may win again on a new
        # connection); never both, never neither for long.
        await _until(lambda: first.leading or second.leading, within=3)
        assert await first.confirm() != await second.confirm()
    finally:
        await first.stop()
        await second.stop()
