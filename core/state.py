"""The bot's own state in the database: a key-value store shared by all its processes, and
the keys of platform events already handled (so a retried event does nothing)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import db
from core.models import BotState, ProcessedEvent
from core.models.base import utcnow
from core.uow import UnitOfWork


async def first_time(uow: UnitOfWork, key: str) -> bool:
    """Record ``key`` (a platform event or interaction id) in ``uow``'s transaction;
    whether it was new: a platform's retry of the same event finds it there."""
    insert = db.dialect_insert(uow.session)
    stmt = (
        insert(ProcessedEvent)
        .values(key=key[:200], created_at=uow.now())
        .on_conflict_do_nothing(index_elements=["key"])
    )
    result = await uow.session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def read_state(factory: async_sessionmaker[AsyncSession], key: str) -> dict[str, Any] | None:
    """A value from the bot's own key-value state (shared by all its processes)."""
    async with factory() as session:
        row = await session.get(BotState, key)
        return None if row is None else dict(row.value)


async def write_state(
    factory: async_sessionmaker[AsyncSession], key: str, value: dict[str, Any]
) -> None:
    """Set a key of the bot's shared state: one upsert, so processes starting together
    (each recording, say, the commands it synced) never collide on the key."""
    async with factory() as session, session.begin():
        insert = db.dialect_insert(session)
        now = utcnow()
        stmt = insert(BotState).values(key=key, value=value, updated_at=now)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["key"], set_={"value": stmt.excluded.value, "updated_at": now}
            )
        )
