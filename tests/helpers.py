"""Test helpers shared across the suite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Base


async def snapshot(factory: async_sessionmaker[AsyncSession]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for asserting that nothing was written."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    async with factory() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            result[table.name] = sorted(tuple(map(repr, r)) for r in rows)
    return result


async def count(factory: async_sessionmaker[AsyncSession], model: type[Base], **where: Any) -> int:
    async with factory() as session:
        stmt = select(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return len((await session.execute(stmt)).scalars().all())
