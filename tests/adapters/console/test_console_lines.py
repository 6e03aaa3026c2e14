"""The console's own lines (issue 8 item 7): help, `as`, `advance`, `click`, failures."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from bot.config import Config
from bot.wiring import build_console
from core.clock import FakeClock, SystemClock
from core.models import Delivery, Member, Mentee
from core.ports import RetryLater
from tests.helpers import count, snapshot

SETUP = "/admin setup admin_role:@Admins admin_channel:#mentor-admin default_timezone:UTC"


def apply_line(expertise: str = "giving") -> str:
    return (
        '/mentor apply bio:"I have funded 40 microloans and love explaining how it works." '
        f"expertise:{expertise} availability:6 max_mentees:2 style:async languages:en "
        "timezone:Europe/Madrid"
    )


# ----- help --------------------------------------------------------------------------------


async def test_help_works_before_anyone_acts_and_writes_nothing(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    before = await snapshot(factory)
    out = await console.say("help")
    assert console.parse_errors == 0, out
    assert "[private]" in out
    assert any("Mentorbot commands" in line for line in out)
    assert any("/mentor apply" in line for line in out)
    assert not any("/admin setup" in line for line in out)  # nobody is an admin yet
    out = await console.say('help "mentor apply"')
    assert any("bio" in line for line in out)
    assert await snapshot(factory) == before


async def test_help_as_an_admin_lists_the_admin_commands(console: ConsoleBot) -> None:
    await console.handle("as @owner --admin")
    out = await console.say("help")
    assert any("/admin setup" in line for line in out)


async def test_help_on_an_unknown_command_says_so_privately(console: ConsoleBot) -> None:
    out = await console.say("help mentor fly")
    assert console.parse_errors == 0
    assert any("✗" in line and "/mentor fly" in line for line in out)


# ----- as @name ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["مريم", "José", "Jose\u0301", "李小龍", "ana-maria.o_neil", "x"])
async def test_member_names_may_be_in_any_script(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession], name: str
) -> None:
    out = await console.say(f"as @{name}")
    assert console.parse_errors == 0, out
    await console.handle("/mentee profile goals:learn_giving languages:en")
    async with factory() as session:
        stored = (await session.execute(select(Member.platform_user_id))).scalars().all()
    assert stored == [console.current]
    assert await count(factory, Mentee) == 1


async def test_a_combining_accent_and_a_precomposed_one_are_the_same_member(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await console.handle("as @José")
    await console.handle("/mentee profile goals:learn_giving languages:en")
    await console.handle("as @Jose\u0301")
    await console.handle("/mentee profile goals:understand_loans")
    assert await count(factory, Member) == 1


@pytest.mark.parametrize(
    "line",
    [
        '"as" "@a b"',  # whitespace
        "as @a\u200bb",  # an invisible format character
        "as @a\x1b[31mb",  # an ANSI escape
        "as @a\x07",  # a control character
        "as @" + "n" * 33,  # too long
        "as @a!b",
        "as @",
        "as alice",
    ],
)
async def test_refused_names_leave_nobody_acting(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession], line: str
) -> None:
    await console.handle("as @alice")
    before = await snapshot(factory)
    out = await console.say(line)
    assert console.parse_errors == 1
    assert any("nobody is acting now" in entry for entry in out), out
    assert console.current is None
    out = await console.say("/mentee profile goals:learn_giving languages:en")
    assert any("say who you are first" in entry for entry in out)
    assert await snapshot(factory) == before


async def test_a_unicode_name_is_shown_as_a_mention(console: ConsoleBot) -> None:
    for line in ("as @owner --admin", SETUP, "as @مريم", apply_line(), "as @owner"):
        await console.handle(line)
    out = await console.say("click Approve")
    assert "[DM → @مريم]" in out
    assert not any("<@" in line for line in console.lines), console.lines


# ----- advance -----------------------------------------------------------------------------


async def test_advance_without_the_demo_clock_says_how_to_get_it(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    console = build_console(factory, Config(), clock=SystemClock())
    out = await console.say("advance 2h")
    assert console.parse_errors == 1
    assert any("--demo-clock" in line for line in out), out


async def test_advance_delivers_what_became_due(
    console: ConsoleBot, clock: FakeClock, factory: async_sessionmaker[AsyncSession]
) -> None:
    for line in ("as @owner --admin", SETUP, "as @alice", apply_line(), "as @owner"):
        await console.handle(line)
    console.port.fail_next(RetryLater("rate limited", retry_after=600))
    out = await console.say("click Approve")
    assert "[DM → @alice]" not in out
    assert await count(factory, Delivery, status="pending") == 1
    out = await console.say("advance 5m")
    assert "[DM → @alice]" not in out  # not due yet: Retry-After is ten minutes
    out = await console.say("advance 10m")
    assert "[DM → @alice]" in out
    assert await count(factory, Delivery, status="pending") == 0


# ----- failures while delivering -----------------------------------------------------------


async def test_a_database_error_while_delivering_is_reported_and_the_console_goes_on(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    for line in ("as @owner --admin", SETUP, "as @alice", apply_line(), "as @owner"):
        await console.handle(line)
    drain = console.dispatcher.drain

    async def broken(max_batches: int = 1000) -> int:
        raise OperationalError("SELECT …", {}, Exception("database is locked"))

    monkeypatch.setattr(console.dispatcher, "drain", broken)
    out = await console.say("click Approve")
    failures = [line for line in out if line.startswith("✗ Delivering failed")]
    assert len(failures) == 1, out
    assert "database is locked" in failures[0]
    assert "(ref " in failures[0]
    assert not any("Traceback" in line for line in out)
    assert "[DM → @alice]" not in out
    assert await count(factory, Delivery, status="pending") == 2  # the DM and the role: kept
    monkeypatch.setattr(console.dispatcher, "drain", drain)
    out = await console.say("as @alice")
    assert "[DM → @alice]" in out
    assert await count(factory, Delivery, status="pending") == 0


async def test_a_database_error_in_housekeeping_is_reported_and_the_console_goes_on(
    console: ConsoleBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> tuple[int, int]:
        raise OperationalError("UPDATE …", {}, Exception("disk I/O error"))

    monkeypatch.setattr(console.service, "housekeeping", broken)
    out = await console.say("advance 1h")
    assert any(line.startswith("✗ Housekeeping failed") and "ref" in line for line in out), out
    out = await console.say("help")
    assert any("Mentorbot commands" in line for line in out)
