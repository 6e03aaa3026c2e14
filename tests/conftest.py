"""Shared fixtures: a migrated database per test (SQLite, or PostgreSQL when
MENTORBOT_TEST_DATABASE_URL is set), a clock that only moves when told, the console bot."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from bot.config import Config
from bot.wiring import build_console
from core import db
from core.clock import FakeClock
from core.models import Base

PG_URL = os.environ.get("MENTORBOT_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def _migrated(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run the migrations once per test session; return the template's URL."""
    if PG_URL:
        url = db.normalise_url(PG_URL)
        _reset_postgres(url)
        db.upgrade(url)
        return url
    template = tmp_path_factory.mktemp("db") / "template.db"
    url = f"sqlite+aiosqlite:///{template}"
    db.upgrade(url)
    return url


def _reset_postgres(url: str) -> None:
    async def reset() -> None:
        engine = db.create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())


@pytest.fixture
def database_url(_migrated: str, tmp_path: Path) -> str:
    """A migrated, empty database for this test alone."""
    if PG_URL:
        return _migrated
    copy = tmp_path / "mentorbot.db"
    shutil.copy(_migrated.removeprefix("sqlite+aiosqlite:///"), copy)
    return f"sqlite+aiosqlite:///{copy}"


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = db.create_engine(database_url)
    if PG_URL:
        tables = ", ".join([*(t.name for t in Base.metadata.sorted_tables), *db.LIBRARY_TABLES])
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        yield db.session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def console(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> ConsoleBot:
    """The test bot: ``await console.say(line)`` returns what the bot printed."""
    return build_console(factory, Config(), clock=clock)
