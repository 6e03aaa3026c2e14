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


# Prometheus samples by (name, sorted labels), e.g. ("mentorbot_interactions_total", (...)).
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def metric_samples(exposition: str | bytes) -> Samples:
    """Parse a /metrics text with prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    text = exposition.decode() if isinstance(exposition, bytes) else exposition
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(samples: Samples, name: str, /, **labels: str) -> float:
    """One sample's value (0 when absent, as an untouched counter would be)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
