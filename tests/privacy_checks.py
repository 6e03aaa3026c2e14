"""Checks shared by the privacy tests of every adapter: rows that name someone, and an
export compared with the database read independently."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Base, Member

# Columns that point at a member without the row being theirs (an admin who approved
# someone else's application).
NOT_THEIRS = {("mentors", "approved_by")}


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


async def rows_naming(
    factory: async_sessionmaker[AsyncSession], *needles: str
) -> list[tuple[str, dict[str, Any]]]:
    """Every row of every table with one of ``needles`` in any column (case-insensitive)."""
    wanted = [n.lower() for n in needles]
    found = []
    async with factory() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                text = " ".join(_text(v) for v in row.values() if v is not None).lower()
                if any(n in text for n in wanted):
                    found.append((table.name, dict(row)))
    return found


def member_columns(table: Table) -> list[str]:
    return [
        fk.parent.name
        for fk in table.foreign_keys
        if fk.column.table.name == "members" and (table.name, fk.parent.name) not in NOT_THEIRS
    ]


async def rows_pointing_at(
    factory: async_sessionmaker[AsyncSession], member_id: str
) -> dict[str, set[Any]]:
    """Table -> ids of its rows whose member columns name ``member_id`` (read directly)."""
    found: dict[str, set[Any]] = {}
    async with factory() as session:
        for table in Base.metadata.sorted_tables:
            columns = member_columns(table)
            if table.name == "members":
                found["members"] = {member_id}
                continue
            if not columns:
                continue
            pk = next(iter(table.primary_key.columns))
            ids = set()
            for column in columns:
                rows = await session.execute(select(pk).where(table.c[column] == member_id))
                ids |= set(rows.scalars())
            if ids:
                found[table.name] = ids
    return found


async def member_named(factory: async_sessionmaker[AsyncSession], user_id: str) -> Member:
    async with factory() as session:
        return (
            await session.execute(select(Member).where(Member.platform_user_id == user_id))
        ).scalar_one()


def exported_ids(document: dict[str, Any]) -> dict[str, set[Any]]:
    return {
        table: {row.get("id", row.get("key")) for row in rows}
        for table, rows in document["tables"].items()
    }


def assert_export_holds(document: dict[str, Any], expected: dict[str, set[Any]]) -> None:
    """Every row that points at the member is in the export, table by table."""
    have = exported_ids(document)
    for table, ids in expected.items():
        assert ids <= have.get(table, set()), (table, ids - have.get(table, set()))
