"""Session reads stay the page shown: the agenda, the home tab, the mentorship list and the
feed take as many statements for a member with 20 sessions as for one with 2."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.service import Mentorbot
from core.settings import CoreSettings
from tests.core.test_connections import inv
from tests.core.test_query_counts import _mentor_with, _statements


async def _counts(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, n: int, guild: str
) -> dict[str, int]:
    bot = Mentorbot(factory, clock, settings=CoreSettings(calendar_base_url="https://c.example"))
    await _mentor_with(bot, factory, clock, n, guild)
    x = inv("x", guild=guild)
    for i in range(n):
        reply = await bot.execute(
            x,
            "session schedule",
            {"person": f"e{i}", "title": f"Session {i}", "when": f"2026-02-{i + 1:02d} 10:00"},
        )
        assert reply is not None
        assert reply.message is not None
        assert reply.message.tone == "success", reply.message.text
    reply = await bot.execute(x, "session calendar", {})
    assert reply is not None
    assert reply.message is not None
    token = reply.message.text.split("/calendar/")[1].split(".ics")[0]
    await bot.execute(x, "session agenda", {})  # warm the member and community
    return {
        "agenda": await _statements(factory, lambda: bot.execute(x, "session agenda", {})),
        "list": await _statements(factory, lambda: bot.execute(x, "mentorship list", {})),
        "home": await _statements(factory, lambda: bot.home(x)),
        "feed": await _statements(factory, lambda: bot.calendar_feed(token)),
    }


async def test_session_reads_take_as_many_statements_for_20_as_for_2(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    few = await _counts(factory, clock, 2, "few")
    many = await _counts(factory, clock, 20, "many")
    assert many == few
