"""Answering interactions: in time (deferring slow work), privately, and safely when the
core fails; buttons in DMs; forms that outlived the bot."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.context import Invocation
from core.messages import File, Message, Reply
from core.models import Mentor
from core.ports import Attempt, Target
from core.service import Mentorbot
from tests.adapters.discord.conftest import (
    ADA,
    ALICE,
    APPLY_OPTIONS,
    BIO,
    BotFactory,
    World,
    button_ids,
    embed_of,
    embed_text,
)
from tests.helpers import count, snapshot


class GatedMentorbot(Mentorbot):
    """The real core, held at a gate so the adapter has to defer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()

    async def execute(self, *args: Any, **kwargs: Any) -> Reply | None:
        await self.gate.wait()
        return await super().execute(*args, **kwargs)

    async def press(self, *args: Any, **kwargs: Any) -> Reply | None:
        await self.gate.wait()
        return await super().press(*args, **kwargs)


class SlowExportMentorbot(GatedMentorbot):
    """Answers every command, once the gate opens, with a file (as /mentorship export)."""

    async def execute(self, *args: Any, **kwargs: Any) -> Reply | None:
        await self.gate.wait()
        export = File("mentorship-abc.json", b'{"messages": []}', "application/json")
        return Reply(message=Message(text="Your conversation, as JSON.", files=(export,)))


class BrokenMentorbot(Mentorbot):
    async def execute(
        self, inv: Invocation, path: str, options: Mapping[str, object], **kw: Any
    ) -> Reply | None:
        raise RuntimeError("database on fire")


async def test_a_slow_command_is_deferred_and_answered_when_done(
    discord_bot: BotFactory,
    world: World,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    core = GatedMentorbot(factory, clock)
    async with discord_bot(core=core) as bot:
        bot.adapter.router.defer_after = 0.01
        pending = await world.fake.send_interaction(
            world.fake.slash_command(world.id, ALICE, "mentor help")
        )
        thinking = await pending.wait_response()
        assert (thinking.type, thinking.ephemeral) == (5, True)
        core.gate.set()
        answer = await pending.wait_followup()
    assert embed_of(answer)["title"] == "Mentorbot commands"
    assert answer["id"] == str(pending.original_message_id)  # it replaced "thinking…"


async def test_a_slow_reply_with_a_file_still_carries_it_as_an_attachment(
    discord_bot: BotFactory,
    world: World,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    core = SlowExportMentorbot(factory, clock)
    async with discord_bot(core=core) as bot:
        bot.adapter.router.defer_after = 0.01
        pending = await world.fake.send_interaction(
            world.fake.slash_command(world.id, ALICE, "mentor help")
        )
        assert (await pending.wait_response()).type == 5
        core.gate.set()
        answer = await pending.wait_followup()
    assert answer["flags"] & 64
    (attachment,) = answer["attachments"]
    assert (attachment["filename"], attachment["size"]) == ("mentorship-abc.json", 16)
    assert world.fake.attachment_data[int(attachment["id"])] == b'{"messages": []}'


async def test_a_slow_button_defers_then_updates_its_message(
    discord_bot: BotFactory,
    world: World,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    core = GatedMentorbot(factory, clock)
    core.gate.set()
    async with discord_bot(core=core) as bot:
        await bot.set_up()
        await bot.apply()
        await bot.deliver()
        (card,) = bot.admin_messages()
        core.gate.clear()
        bot.adapter.router.defer_after = 0.01
        pending = await world.fake.send_interaction(
            world.fake.button_click(world.id, ADA, button_ids(card)["Approve"], int(card["id"]))
        )
        assert (await pending.wait_response()).type == 6  # deferred update, nothing shown
        core.gate.set()
        edited = await pending.wait_original_edit()
        note = await pending.wait_followup()
    assert edited["components"] == []
    assert "Approved by ada" in embed_text(edited)
    assert note["flags"] & 64  # the "Approved @alice" note is private


async def test_an_unexpected_error_is_logged_with_a_reference_the_member_sees(
    discord_bot: BotFactory,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with discord_bot(core=BrokenMentorbot(factory, clock)) as bot:
        with caplog.at_level(logging.ERROR, logger="adapters.discord"):
            answer = await bot.command(ALICE, "mentor help")
    assert answer.ephemeral
    text = embed_text(answer)
    assert "database on fire" not in text
    (record,) = [r for r in caplog.records if r.name == "adapters.discord.interactions"]
    ref = str(record.args[-1])  # type: ignore[index]
    assert f"`{ref}`" in text
    assert record.exc_info is not None
    assert "database on fire" in str(record.exc_info[1])


async def test_a_form_left_open_across_a_restart_asks_to_run_the_command_again(
    discord_bot: BotFactory, world: World
) -> None:
    async with discord_bot() as bot:
        await bot.set_up()
        modal = await bot.command(ALICE, "mentor apply", APPLY_OPTIONS)
        assert modal.data is not None
    async with discord_bot() as bot:
        answer = await bot.submit(ALICE, modal.data["custom_id"], {"bio": BIO})
    assert answer.ephemeral
    assert "run the command again" in embed_text(answer)


async def test_someone_elses_form_cannot_be_submitted(
    discord_bot: BotFactory, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with discord_bot() as bot:
        await bot.set_up()
        modal = await bot.command(ALICE, "mentor apply", APPLY_OPTIONS)
        assert modal.data is not None
        before = await snapshot(factory)
        stolen = await bot.submit(ADA, modal.data["custom_id"], {"bio": BIO})
        assert "not valid" in embed_text(stolen)
        assert await snapshot(factory) == before
        assert await count(factory, Mentor) == 0
        own = await bot.submit(ALICE, modal.data["custom_id"], {"bio": BIO})
        assert embed_of(own)["title"] == "Application sent"


async def test_a_button_in_a_dm_acts_in_the_server_it_came_from(
    discord_bot: BotFactory, world: World, factory: async_sessionmaker[AsyncSession]
) -> None:
    fake = world.fake
    async with discord_bot() as bot:
        await bot.set_up()
        await bot.apply()
        await bot.deliver()
        (card,) = bot.admin_messages()
        await bot.click(ADA, button_ids(card)["Approve"], card)
        home = await bot.adapter.service.home(
            Invocation("discord", str(world.id), str(ALICE), display_name="alice")
        )
        target = Target("c", "discord", str(world.id))
        await bot.adapter.port.send_dm(target, str(ALICE), home, None, Attempt("test-1"))
        dm = fake.dm_messages(ALICE)[-1]
        pause = button_ids(dm)["Pause mentoring"]
        assert pause == f"mb:pause@{world.id}"

        paused = await fake.interact(fake.button_click(None, ALICE, pause, int(dm["id"])))
        assert "Paused" in embed_text(paused)
        before = await snapshot(factory)
        stray = await fake.interact(fake.button_click(None, ALICE, "mb:resume", int(dm["id"])))
        assert "only works inside a server" in embed_text(stray)
        assert await snapshot(factory) == before
        assert await count(factory, Mentor, status="paused") == 1
