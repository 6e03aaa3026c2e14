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


# ----- item 8: text hygiene -------------------------------------------------------------

BIO = "I have funded 40 microloans and love explaining how it works."
REST_OF_APPLY = (
    "expertise:giving,loans availability:6 style:async languages:en,es timezone:Europe/Madrid"
)


async def _connected(console: ConsoleBot) -> None:
    """alice mentors dave."""
    for line in (
        "as @owner --admin",
        SETUP,
        "as @alice",
        APPLY,
        "as @owner",
        "click Approve",
        "as @dave",
        "/mentee profile goals:learn_giving languages:en",
        "/mentor request mentor:@alice",
        "as @alice",
        "click Accept",
        "as @dave",
    ):
        await console.handle(line)


async def test_a_dm_of_zero_width_characters_is_refused_like_an_empty_one(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _connected(console)
    before = await snapshot(factory)

    out = await console.say("dm \u200b\u200c\u200d\u2060\ufeff")

    assert any("`text`: write something" in line for line in out)
    assert not any("[DM → @alice]" in line for line in out)
    assert await snapshot(factory) == before


async def test_terminal_escapes_and_controls_in_a_bio_are_neither_stored_nor_shown(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await console.handle("as @owner --admin")
    await console.handle(SETUP)
    await console.handle("as @alice")
    dirty = "\x1b[2J\x1b[41mI have funded 40 microloans\x1b[0m\x07 and love explaining\x08 it."

    out = await console.say(f'/mentor apply bio:"{dirty}" {REST_OF_APPLY}')

    shown = out[1:]  # after the echo of the typed line
    assert not any(ch in line for line in shown for ch in "\x1b\x07\x08")
    assert any("I have funded 40 microloans and love explaining it." in line for line in shown)
    bio = (await _mentor(factory)).bio
    assert bio == "I have funded 40 microloans and love explaining it."


async def test_a_repeated_option_is_refused_naming_it_and_nothing_is_written(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await console.handle("as @owner --admin")
    await console.handle(SETUP)
    await console.handle("as @alice")
    before = await snapshot(factory)

    out = await console.say(
        f'/mentor apply bio:"{BIO}" bio:"Something else entirely." {REST_OF_APPLY}'
    )

    assert any("`bio`: is given more than once" in line for line in out)
    assert await snapshot(factory) == before
    assert console.parse_errors == 0  # a refusal by the bot, not a console syntax error


async def test_an_empty_language_list_is_refused_naming_it_and_nothing_is_written(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await console.handle("as @owner --admin")
    await console.handle(SETUP)
    await console.handle("as @alice")
    before = await snapshot(factory)

    applying = await console.say(
        f'/mentor apply bio:"{BIO}" expertise:giving availability:6 style:async '
        'languages:"" timezone:Europe/Madrid'
    )
    profile = await console.say('/mentee profile goals:learn_giving languages:""')

    for out in (applying, profile):
        assert any("`languages`: is empty" in line for line in out)
    assert await snapshot(factory) == before


# ----- item 9: what a declined mentee reads ---------------------------------------------


def _dm_to(console: ConsoleBot, user: str, since: int) -> list[str]:
    lines = console.lines[since:]
    start = lines.index(f"[DM → @{user}]")
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        body.append(line)
    return body


async def _dave_asks_alice(console: ConsoleBot, *other_mentors: str) -> None:
    """alice (and ``other_mentors``) approved; dave asks alice; alice acts next."""
    lines = ["as @owner --admin", SETUP]
    for name in ("alice", *other_mentors):
        lines += [f"as @{name}", APPLY, "as @owner", "click Approve"]
    lines += [
        "as @dave",
        "/mentee profile goals:learn_giving languages:en",
        "/mentor request mentor:@alice",
        "as @alice",
    ]
    for line in lines:
        await console.handle(line)


async def test_a_decline_with_no_other_mentor_points_to_browse_instead_of_promising(
    console: ConsoleBot,
) -> None:
    await _dave_asks_alice(console)
    since = len(console.lines)

    await console.handle("click Decline")

    told = "\n".join(_dm_to(console, "dave", since))
    assert "can't take you on right now" in told
    assert "here are other mentors" not in told
    assert "`/mentor browse`" in told
    assert "[Request" not in told


async def test_a_decline_with_other_mentors_lists_them_after_saying_so(
    console: ConsoleBot,
) -> None:
    await _dave_asks_alice(console, "bruno")
    since = len(console.lines)

    await console.handle("click Decline")

    told = "\n".join(_dm_to(console, "dave", since))
    assert "here are other mentors who fit your goals." in told
    assert "[Request bruno]" in told
