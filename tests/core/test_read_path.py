"""Reads never wait for the writer (issue 10, item 2).

Read-only commands run in read-only units of work on reader connections: on SQLite a
deferred transaction beside the one writer (WAL), so they answer while the write lock is
held; they write nothing, not even a dedupe record.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import db
from core.catalog import Autocomplete, Catalog, Command
from core.clock import FakeClock
from core.commands import CATALOG
from core.context import Actor, Invocation
from core.errors import Busy
from core.messages import Message, Reply
from core.models import Member, Mentor, ProcessedEvent
from core.service import Mentorbot
from core.uow import UnitOfWork
from tests.helpers import count, snapshot

GUILD = "g1"
ADMIN = Invocation("console", GUILD, "owner", "Owner", is_platform_admin=True)
MENTOR = Invocation("console", GUILD, "ana", "Ana")
MENTEE = Invocation("console", GUILD, "dave", "Dave")


async def _community(service: Mentorbot) -> None:
    """A set-up community with one approved mentor (Ana) and one mentee (Dave)."""
    await service.execute(
        ADMIN,
        "admin setup",
        {"admin_role": "@Admins", "admin_channel": "#admins", "default_timezone": "UTC"},
    )
    await service.execute(
        MENTOR,
        "mentor apply",
        {
            "bio": "Ana has helped newcomers budget for years.",
            "expertise": "giving",
            "availability": 10,
            "style": "async",
            "languages": "en",
            "timezone": "Europe/Madrid",
        },
    )
    async with service.factory() as session, session.begin():
        await session.execute(update(Mentor).values(status="active"))
    await service.execute(MENTEE, "mentee profile", {"goals": "learn_giving", "languages": "en"})


@pytest.fixture
async def sqlite_file(
    tmp_path: Path,
) -> AsyncIterator[tuple[str, async_sessionmaker[AsyncSession]]]:
    """A migrated SQLite file of this test's own (also when the suite runs on PostgreSQL:
    the write lock under test is SQLite's)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'reads.db'}"
    await db.upgrade_async(url)
    engine = db.create_engine(url)
    try:
        yield str(tmp_path / "reads.db"), db.session_factory(engine)
    finally:
        await engine.dispose()


async def test_read_only_commands_answer_while_the_write_lock_is_held(
    sqlite_file: tuple[str, async_sessionmaker[AsyncSession]], clock: FakeClock
) -> None:
    path, factory = sqlite_file
    service = Mentorbot(factory, clock)
    await _community(service)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        browse = await asyncio.wait_for(service.execute(MENTEE, "mentor browse", {}), 5)
        assert browse is not None
        assert browse.message is not None
        assert browse.message.title == "Mentors (1 found, page 1 of 1)"
        helped = await asyncio.wait_for(service.execute(MENTEE, "mentor help", {}), 5)
        assert helped is not None
        assert helped.message is not None
        suggested = await asyncio.wait_for(service.execute(MENTEE, "mentor suggest", {}), 5)
        assert suggested is not None
        assert suggested.message is not None
        assert suggested.message.buttons
        found = await asyncio.wait_for(
            service.autocomplete("console", GUILD, Autocomplete.EXPERTISE, "giv"), 5
        )
        assert found == [("giving", "giving")]
        assert await asyncio.wait_for(service.community("console", GUILD), 5) is not None
    finally:
        writer.execute("ROLLBACK")
        writer.close()


async def test_a_write_still_waits_for_the_write_lock(
    sqlite_file: tuple[str, async_sessionmaker[AsyncSession]], clock: FakeClock
) -> None:
    """The contrast to the test above: the writer path does take the lock."""
    path, factory = sqlite_file
    service = Mentorbot(factory, clock)
    await _community(service)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    pending = asyncio.ensure_future(
        service.execute(MENTEE, "mentee profile", {"languages": "en,es"})
    )
    try:
        await asyncio.sleep(0.3)
        assert not pending.done()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert await asyncio.wait_for(pending, 10) is not None


READ_ONLY = {
    "mentor help",
    "mentor profile",
    "mentor browse",
    "mentor suggest",
    "mentor reviews",
    "mentor badges",
    "goal list",
    "goal chart",
    "mentorship list",
    "mentee show",
    "admin applications",
    "admin audit",
    "admin deliveries",
    "session agenda",
    "session suggest-times",
    "admin prompt-list",
    "group list",
    "group info",
    "group meetings",
    "privacy export",
    "admin metrics",
    "admin export metrics",
    "admin export mentors",
}
# Needs a mentorship to answer: checked to write nothing in tests/adapters/console/test_sessions.py.
NEEDS_A_PARTNER = {"session suggest-times"}
# Options a read needs (the group's name); the group is made before the snapshot.
READ_OPTIONS = {"group info": {"group": "Readers"}, "group meetings": {"group": "Readers"}}


def test_the_catalog_marks_exactly_the_commands_that_only_read() -> None:
    assert {c.path for c in CATALOG if c.read_only} == READ_ONLY


@pytest.mark.parametrize("path", sorted(READ_ONLY - NEEDS_A_PARTNER))
async def test_read_only_commands_write_nothing_even_with_a_dedupe_key(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, path: str
) -> None:
    service = Mentorbot(factory, clock)
    await _community(service)
    who = ADMIN if path.startswith("admin") else MENTOR if path == "mentor profile" else MENTEE
    await service.execute(who, "mentor help", {})  # the member exists from here on
    options = READ_OPTIONS.get(path, {})
    if options:
        await service.execute(
            ADMIN,
            "group create",
            {
                "name": "Readers",
                "type": "new_givers",
                "facilitator": MENTOR.user_id,
                "frequency": "weekly",
                "day": "monday",
                "time": "18:00",
                "timezone": "UTC",
            },
        )
    before = await snapshot(factory)
    first = await service.execute(who, path, options, dedupe_key="interaction-1")
    again = await service.execute(who, path, options, dedupe_key="interaction-1")
    assert first is not None
    assert again is not None
    assert await snapshot(factory) == before
    assert await count(factory, ProcessedEvent) == 0


async def test_a_first_time_member_is_created_once_then_reads_stay_read_only(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    service = Mentorbot(factory, clock)
    await _community(service)
    newcomer = Invocation("console", GUILD, "newbie", "Newbie")
    assert await count(factory, Member, platform_user_id="newbie") == 0
    reply = await service.execute(newcomer, "mentor help", {})
    assert reply is not None
    assert reply.message is not None
    assert await count(factory, Member, platform_user_id="newbie") == 1
    before = await snapshot(factory)
    await service.execute(newcomer, "mentor browse", {})
    assert await snapshot(factory) == before
    # A new display name is a write: it goes through the writer once.
    renamed = Invocation("console", GUILD, "newbie", "New Name")
    await service.execute(renamed, "mentor help", {})
    names = await snapshot(factory)
    assert any("New Name" in str(row) for row in names["members"])


async def test_a_write_commands_dedupe_key_is_still_recorded(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    service = Mentorbot(factory, clock)
    await _community(service)
    await service.execute(MENTEE, "mentee profile", {"languages": "en,fr"}, dedupe_key="k1")
    assert (
        await service.execute(MENTEE, "mentee profile", {"languages": "es"}, dedupe_key="k1")
        is None
    )
    assert await count(factory, ProcessedEvent) == 1


@dataclass(frozen=True)
class _NoOptions:
    pass


async def _sneaky_write(uow: UnitOfWork, actor: Actor, _cmd: _NoOptions) -> Reply:
    actor.member.display_name = "Changed by a read"
    await uow.session.flush()
    return Reply(message=Message(text="done"))


async def test_a_read_only_command_that_writes_fails_and_writes_nothing(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    catalog = Catalog(
        [Command("mentor", "peek", "A read that writes", _sneaky_write, _NoOptions, read_only=True)]
    )
    service = Mentorbot(factory, clock, catalog=catalog)
    await Mentorbot(factory, clock).execute(MENTEE, "mentor help", {})
    before = await snapshot(factory)
    with pytest.raises(DBAPIError):
        await service.execute(MENTEE, "mentor peek", {})
    assert await snapshot(factory) == before


async def test_an_exhausted_reader_pool_tells_the_member_to_try_again(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}"
    await db.upgrade_async(url)
    monkeypatch.setattr(db, "POOL_TIMEOUT_SECONDS", 0.2)
    engine = db.create_engine(url)
    try:
        service = Mentorbot(db.session_factory(engine), clock)
        await _community(service)
        readers = db.reader_engine(engine)
        held = [await readers.connect() for _ in range(db.SQLITE_READERS)]
        try:
            with pytest.raises(Busy, match="try again"):
                await service.execute(MENTEE, "mentor browse", {})
        finally:
            for conn in held:
                await conn.close()
        assert await service.execute(MENTEE, "mentor browse", {}) is not None
    finally:
        await engine.dispose()
