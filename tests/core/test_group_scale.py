"""Support-group paths read a fixed number of statements, however many groups there are."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.context import Invocation
from core.service import Mentorbot
from tests.core.test_query_counts import _statements


def _inv(guild: str, user: str, *, admin: bool = False) -> Invocation:
    return Invocation("console", guild, user, user, is_platform_admin=admin)


async def _counts(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, n: int, guild: str
) -> dict[str, int]:
    bot = Mentorbot(factory, clock)
    owner = _inv(guild, "owner", admin=True)
    await bot.execute(owner, "admin setup", {"admin_role": "A", "admin_channel": "a"})
    await bot.execute(_inv(guild, "fay"), "mentor help", {})
    for i in range(n):
        await bot.execute(
            owner,
            "group create",
            {
                "name": f"Group {i}",
                "type": "new_givers",
                "facilitator": "fay",
                "frequency": "weekly",
                "day": "monday",
                "time": "18:00",
                "timezone": "UTC",
            },
        )
        await bot.execute(
            _inv(guild, "fay"),
            "group prompt-schedule",
            {"group": f"Group {i}", "day": "tuesday", "time": "09:00"},
        )
    amy = _inv(guild, "amy")
    await bot.execute(amy, "mentor help", {})
    counts = {
        "list": await _statements(factory, lambda: bot.execute(amy, "group list", {})),
        "info": await _statements(
            factory, lambda: bot.execute(amy, "group info", {"group": "Group 0"})
        ),
        "join": await _statements(
            factory, lambda: bot.execute(amy, "group join", {"group": "Group 0"})
        ),
    }
    clock.advance(days=8)  # every group's first meeting passed and its prompt fell due
    counts["pass"] = await _statements(factory, bot.group_housekeeping)
    clock.advance(days=-8)
    return counts


async def test_group_commands_and_a_housekeeping_pass_cost_the_same_for_3_or_30_groups(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    few = await _counts(factory, clock, 3, "few")
    many = await _counts(factory, clock, 30, "many")
    assert many == few
    assert few["pass"] < 40
