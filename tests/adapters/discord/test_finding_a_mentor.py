"""F3/F4 on Discord: browsing mentors with each filter (and its autocomplete), paging with
buttons that edit the private list in place, suggestions with why, and a request from a
card through the note modal to the mentor's DM with Accept / Decline."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.service import Mentorbot
from tests.adapters.discord.community import (
    Mentor,
    add_members,
    become_mentee,
    bot_dms,
    member,
    mentorships,
    seed_mentors,
)
from tests.adapters.discord.conftest import (
    BOB,
    Bot,
    BotFactory,
    World,
    button_ids,
    embed_of,
    embed_text,
)
from tests.fakes.discord_fake import InteractionCallback

JSON = dict[str, Any]

# Five free mentors sort before "fay" (most free places first, then by name), so an
# unfiltered list has two pages; ivy is full; gus and hal are far from Bob's London clock.
MENTORS = [
    Mentor(3001, "ana"),
    Mentor(3002, "ben", timezone="Europe/Madrid"),
    Mentor(3003, "cai", expertise="giving,loans", timezone="Europe/Paris"),
    Mentor(3004, "dee", timezone="Europe/Berlin"),
    Mentor(3005, "eli", timezone="Europe/Lisbon"),
    Mentor(3006, "fay", languages="en,es", style="scheduled", timezone="Europe/Madrid"),
    Mentor(
        3007, "gus", expertise="loans", languages="es", style="casual", timezone="America/New_York"
    ),
    Mentor(3008, "hal", expertise="community", languages="fr", timezone="Asia/Tokyo"),
    Mentor(3009, "ivy", expertise="financial", max_mentees=1),
]
IVYS_MENTEE = 3100


@pytest.fixture
def mentors(world: World) -> list[Mentor]:
    add_members(world, MENTORS)
    world.fake.add_member(world.id, IVYS_MENTEE, "zed")
    return MENTORS


async def _community(bot: Bot, service: Mentorbot, world: World) -> dict[str, str]:
    """Set up, seed the mentors, fill ivy's one place, make Bob a mentee in London."""
    await bot.set_up()
    ids = await seed_mentors(service, world, MENTORS)
    zed = member(world, IVYS_MENTEE, "zed")
    await service.execute(zed, "mentee profile", {"goals": "learn_giving"})
    await service.execute(zed, "mentor request", {"mentor": "3009"})
    (request,) = await mentorships(service.factory)
    await service.press(member(world, 3009, "ivy"), f"mb:accept:{request.id}:1")
    await become_mentee(bot, BOB)
    return ids


async def _browse(bot: Bot, **options: Any) -> tuple[InteractionCallback, JSON]:
    """Bob runs /mentor browse; returns the answer and the private message it made."""
    fake = bot.fake
    pending = await fake.send_interaction(
        fake.slash_command(bot.world.id, BOB, "mentor browse", options)
    )
    answer = await pending.wait_response()
    assert pending.original_message_id is not None
    return answer, fake.state.any_message(pending.original_message_id)


def _names(message: InteractionCallback | JSON) -> list[str]:
    return [f["name"].split(" · ")[0] for f in embed_of(message).get("fields", [])]


async def test_browse_pages_with_buttons_that_edit_the_list_in_place(
    discord_bot: BotFactory, world: World, service: Mentorbot, mentors: list[Mentor]
) -> None:
    async with discord_bot() as bot:
        await _community(bot, service, world)
        answer, shown = await _browse(bot)
        assert answer.ephemeral
        assert embed_of(answer)["title"] == "Mentors (8 found, page 1 of 2)"
        assert _names(answer) == ["ana", "ben", "cai", "dee", "eli"]
        buttons = button_ids(shown)
        assert "◀ Previous" not in buttons
        assert buttons["Request ana"].startswith("mb:request:")

        turned = await bot.click(BOB, buttons["Next ▶"], shown)
        assert turned.type == 7  # the same message, edited
        assert _names(turned) == ["fay", "gus", "hal"]
        edited = world.fake.state.any_message(int(shown["id"]))
        assert embed_of(edited)["title"] == "Mentors (8 found, page 2 of 2)"
        assert set(button_ids(edited)) == {
            "Request fay",
            "Request gus",
            "Request hal",
            "◀ Previous",
        }

        back = await bot.click(BOB, button_ids(edited)["◀ Previous"], edited)
        assert _names(back) == ["ana", "ben", "cai", "dee", "eli"]


@pytest.mark.parametrize(
    ("options", "pages"),
    [
        ({"expertise": "giving"}, [["ana", "ben", "cai", "dee", "eli"], ["fay"]]),
        ({"language": "es"}, [["fay", "gus"]]),
        ({"style": "scheduled"}, [["fay"]]),
        ({"max_tz_distance": 0}, [["ana", "eli"]]),  # London and Lisbon share Bob's clock
        (
            {"has_capacity": False},
            [["ana", "ben", "cai", "dee", "eli"], ["fay", "gus", "hal", "ivy"]],
        ),
        ({"expertise": "loans", "language": "es", "max_tz_distance": 5}, [["gus"]]),
    ],
)
async def test_browse_filters_hold_across_pages(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    mentors: list[Mentor],
    options: dict[str, Any],
    pages: list[list[str]],
) -> None:
    async with discord_bot() as bot:
        await _community(bot, service, world)
        answer, shown = await _browse(bot, **options)
        assert _names(answer) == pages[0]
        for page in pages[1:]:
            turned = await bot.click(BOB, button_ids(shown)["Next ▶"], shown)
            assert _names(turned) == page
            shown = world.fake.state.any_message(int(shown["id"]))
        assert "Next ▶" not in button_ids(shown)


async def test_a_full_mentor_shows_only_when_asked_for(
    discord_bot: BotFactory, world: World, service: Mentorbot, mentors: list[Mentor]
) -> None:
    async with discord_bot() as bot:
        await _community(bot, service, world)
        answer, _ = await _browse(bot, expertise="financial", has_capacity=False)
        assert "0 of 1 place free" in embed_text(answer)
        nobody, _ = await _browse(bot, expertise="financial")
    assert embed_of(nobody)["title"] == "No mentors match"
    assert "expertise financial, with free places" in embed_text(nobody)


async def test_browse_options_autocomplete_the_communitys_expertise_and_languages(
    discord_bot: BotFactory,
) -> None:
    async with discord_bot() as bot:
        await bot.set_up()
        assert await bot.autocomplete(BOB, "mentor browse", "expertise", "lo") == [
            {"name": "loans", "value": "loans"}
        ]
        languages = await bot.autocomplete(BOB, "mentor browse", "language", "spa")
        assert {"name": "Spanish (es)", "value": "es"} in languages


async def test_suggest_explains_each_match_and_a_request_reaches_the_mentor(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    mentors: list[Mentor],
    factory: async_sessionmaker[AsyncSession],
) -> None:
    fake = world.fake
    async with discord_bot() as bot:
        ids = await _community(bot, service, world)
        pending = await fake.send_interaction(
            fake.slash_command(world.id, BOB, "mentor suggest", {"count": 10})
        )
        answer = await pending.wait_response()
        assert answer.ephemeral
        assert pending.original_message_id is not None
        shown = fake.state.any_message(pending.original_message_id)
        cards = embed_of(answer)["fields"]
        ranked = [(int(c["name"].split("/")[0]), c["name"].split(" · ")[1]) for c in cards]
        # Every free mentor, best first; ivy is full. Bob's clock is London's: Lisbon's
        # and London's mentors fit best, Tokyo's French speaker least.
        assert [score for score, _ in ranked] == sorted((s for s, _ in ranked), reverse=True)
        assert {name for _, name in ranked[:2]} == {"ana", "eli"}
        assert len(ranked) == 8
        assert ranked[-1][1] == "hal"
        for card in cards:
            why = card["value"].split("Why this match:\n")[1].splitlines()
            assert [line.split()[1] for line in why] == [
                "Expertise",
                "Timezone",
                "Language",
                "Capacity",
                "Style",
            ]
        assert "· Language 0%: no shared language" in cards[-1]["value"]
        buttons = button_ids(shown)
        assert list(buttons) == [f"Request {name}" for _, name in ranked]
        assert buttons["Request ana"] == f"mb:request:{ids['ana']}"

        form = await bot.click(BOB, buttons["Request ana"], shown)
        assert form.type == 9
        assert form.data is not None
        assert form.data["title"] == "Ask ana to mentor you"
        (note,) = [row["components"][0] for row in form.data["components"]]
        assert (note["custom_id"], note["required"], note["max_length"]) == ("note", False, 500)

        sent = await bot.submit(
            BOB, form.data["custom_id"], {"note": "I want to start giving monthly."}, shown
        )
        assert sent.ephemeral
        assert embed_of(sent)["title"] == "Request sent"
        await bot.deliver()

    (request,) = [m for m in bot_dms(bot, 3001) if "request" in embed_of(m)["title"]]
    assert embed_of(request)["title"] == "Mentorship request from bob"
    assert embed_of(request)["author"]["name"] == "Givers"
    assert "> I want to start giving monthly." in embed_text(request)
    scores = {name: score for score, name in ranked}
    assert f"Compatibility {scores['ana']}/100" in embed_text(request)
    (ms,) = [m for m in await mentorships(factory) if m.mentor_id == ids["ana"]]
    assert button_ids(request) == {
        "Accept": f"mb:accept:{ms.id}:1@{world.id}",
        "Decline": f"mb:decline:{ms.id}:1@{world.id}",
    }
    assert (ms.status, ms.request_note) == ("pending", "I want to start giving monthly.")
