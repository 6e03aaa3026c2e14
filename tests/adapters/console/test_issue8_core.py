"""Issue 8 on the console: outdated cards, text hygiene, and what a declined mentee reads."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from core.models import Mentor
from tests.adapters.console.test_mentor_application import APPLY, SETUP
from tests.helpers import snapshot


async def _mentor(factory: async_sessionmaker[AsyncSession]) -> Mentor:
    async with factory() as session:
        return (await session.execute(select(Mentor))).scalar_one()


async def test_a_reject_form_left_open_does_not_reject_the_new_application(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    for line in ("as @owner --admin", SETUP, "as @bob --admin", "as @alice", APPLY):
        await console.handle(line)
    # Olive opens the reason form for the first application and leaves it open ...
    await console.handle("as @owner")
    assert any("[form → @owner]" in line for line in await console.say("click Reject"))
    # ... while Bob rejects that application and Alice applies again.
    for line in ("as @bob", "click Reject", 'submit reason:"Mentor a study group first."'):
        await console.handle(line)
    assert (await _mentor(factory)).status == "rejected"
    await console.handle("as @alice")
    await console.handle(APPLY)
    await console.handle("as @owner")
    before = await snapshot(factory)

    out = await console.say('submit reason:"Your answers were too short."')

    assert any("This card is outdated" in line for line in out)
    assert await snapshot(factory) == before
    mentor = await _mentor(factory)
    assert (mentor.status, mentor.application_version) == ("pending", 2)
    assert console.parse_errors == 0
