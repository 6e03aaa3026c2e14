"""The schema comes from Alembic, and the models agree with it, on both databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot.wiring import open_database
from core import db
from core.models import Base


def _diff(conn: Connection) -> list[object]:
    def ours(name: str | None, type_: str, _parents: object) -> bool:
        return not (type_ == "table" and name in db.LIBRARY_TABLES)

    context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": ours})
    return list(compare_metadata(context, Base.metadata))


async def test_models_and_migrations_agree(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        assert await db.current_revision(engine) == db.head_revision()
    finally:
        await engine.dispose()


async def test_an_out_of_date_schema_is_refused_with_a_hint(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    (tmp_path / "old.db").touch()  # exists, so it is not treated as a new database
    with pytest.raises(db.SchemaOutOfDate, match="mentorbot migrate"):
        await open_database(url)


async def test_a_new_sqlite_file_is_created_at_the_newest_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    engine, _factory = await open_database(url)
    try:
        assert await db.current_revision(engine) == db.head_revision()
    finally:
        await engine.dispose()


async def test_downgrade_to_nothing_and_back_up(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cycle.db'}"
    await db.upgrade_async(url)
    await asyncio.to_thread(command.downgrade, db.alembic_config(url), "base")
    engine = db.create_engine(url)
    try:
        assert await db.current_revision(engine) is None
        await db.upgrade_async(url)
        assert await db.current_revision(engine) == db.head_revision()
    finally:
        await engine.dispose()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}"
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 10_000
        assert engine.pool.size() == 1  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


def test_plain_urls_get_the_async_drivers() -> None:
    assert db.normalise_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert db.normalise_url("postgresql://u:p@h/d") == "postgresql+asyncpg://u:p@h/d"
