"""The member dashboard shows where each person stands and what they can do next."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.context import Invocation
from core.service import Mentorbot
from tests.core.test_bad_input import APPLICATION


def _inv(user: str, *, admin: bool = False) -> Invocation:
    return Invocation("console", "g", user, user, is_platform_admin=admin)


async def test_dashboard_follows_the_member_through_application_and_approval(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    bot = Mentorbot(factory, clock)
    admin = _inv("owner", admin=True)
    home = await bot.home(admin)
    assert "not set up yet" in home.fields[-1].value
    await bot.execute(admin, "admin setup", {"admin_role": "A", "admin_channel": "adm"})

    newcomer = await bot.home(_inv("ana"))
    assert "/mentor apply" in newcomer.fields[0].value
    assert newcomer.buttons == ()

    await bot.execute(_inv("ana"), "mentor apply", APPLICATION)
    assert "with the admins" in (await bot.home(_inv("ana"))).fields[0].value
    admin_home = await bot.home(admin)
    assert admin_home.fields[-1].name == "Admin: 1 application(s) waiting"
    approve = next(b for b in admin_home.buttons if b.label == "Approve ana")

    await bot.press(admin, approve.action)
    mentor_home = await bot.home(_inv("ana"))
    assert "taking mentees" in mentor_home.fields[0].value
    [pause] = mentor_home.buttons
    await bot.press(_inv("ana"), pause.action)
    assert "paused" in (await bot.home(_inv("ana"))).fields[0].value
