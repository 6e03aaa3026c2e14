"""The bot's shared key-value state: processes starting together write it without colliding."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.state import read_state, write_state


async def test_writers_racing_on_a_new_key_both_succeed_and_the_last_value_stays(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    # Several processes (here: tasks on their own connections) record the same new key at
    # once, as sharded processes do at start; a read-then-insert would fail one of them
    # with a duplicate key.
    await asyncio.gather(*(write_state(factory, "synced", {"by": n}) for n in range(8)))
    stored = await read_state(factory, "synced")
    assert stored is not None
    assert stored["by"] in range(8)
    await write_state(factory, "synced", {"by": "later"})
    assert await read_state(factory, "synced") == {"by": "later"}
