"""First responses measured from receipt: a slow core is deferred (type 5 for commands and
forms, 6 for buttons) and answered later; an interaction that arrives already late is
deferred before any work; Discord's clock running ahead does not delay the deferral."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.messages import Reply
from core.models import Mentor
from core.service import Mentorbot
from tests.adapters.discord.conftest import (
    ALICE,
    APPLY_OPTIONS,
    BIO,
    BotFactory,
    World,
    embed_of,
    embed_text,
)
from tests.fakes.discord_fake_interactions import PendingInteraction
from tests.fakes.discord_fake_types import DISCORD_EPOCH_MS, JSON
from tests.helpers import count


class HeldMentorbot(Mentorbot):
    """The real core, held at a gate; notes whether the member had an answer when called."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()
        self.pending: PendingInteraction | None = None
        self.answered_before_call: list[bool] = []
        self.entered = asyncio.Event()

    async def execute(self, *args: Any, **kwargs: Any) -> Reply | None:
        self.entered.set()
        if self.pending is not None:
            self.answered_before_call.append(self.pending.response is not None)
        await self.gate.wait()
        return await super().execute(*args, **kwargs)


async def send_watched(world: World, core: HeldMentorbot, payload: JSON) -> PendingInteraction:
    """Send ``payload`` with ``core`` watching whether it was answered before the core ran."""
    pending = PendingInteraction(int(payload["id"]), payload["token"], payload)
    core.pending = pending
    world.fake.pending_interactions[pending.id] = pending
    world.fake.pending_by_token[pending.token] = pending
    await world.fake.gateway.dispatch("INTERACTION_CREATE", payload)
    return pending


def created(seconds_from_now: float, payload: JSON) -> JSON:
    """``payload`` with an interaction id whose snowflake time is ``seconds_from_now``."""
    ms = int((time.time() + seconds_from_now) * 1000) - DISCORD_EPOCH_MS
    return {**payload, "id": str((ms << 22) | 1)}


async def test_a_slow_form_submission_is_deferred_then_answered(
    discord_bot: BotFactory,
    world: World,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    core = HeldMentorbot(factory, clock)
    core.gate.set()
    async with discord_bot(core=core) as bot:
        await bot.set_up()
        modal = await bot.command(ALICE, "mentor apply", APPLY_OPTIONS)
        assert modal.type == 9
        assert modal.data is not None
        core.gate.clear()
        bot.adapter.router.defer_after = 0.05
        pending = await world.fake.send_interaction(
            world.fake.modal_submit(world.id, ALICE, modal.data["custom_id"], {"bio": BIO})
        )
        thinking = await pending.wait_response()
        assert (thinking.type, thinking.ephemeral) == (5, True)
        assert await count(factory, Mentor) == 0  # nothing written while held
        core.gate.set()
        answer = await pending.wait_followup()
    assert "application" in embed_text(answer).lower()
    assert await count(factory, Mentor) == 1


async def test_an_interaction_already_past_the_margin_is_deferred_before_any_work(
    discord_bot: BotFactory,
    world: World,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    core = HeldMentorbot(factory, clock)
    async with discord_bot(core=core) as bot:
        assert bot.adapter.router.defer_after == 2.0  # the production margin
        payload = created(-2.5, world.fake.slash_command(world.id, ALICE, "mentor help"))
        pending = await send_watched(world, core, payload)
        thinking = await pending.wait_response()
        assert thinking.type == 5
        core.gate.set()
        answer = await pending.wait_followup()
    assert core.answered_before_call == [True]
    assert embed_of(answer)["title"] == "Mentorbot commands"


async def test_the_deadline_runs_from_our_receipt_when_discords_clock_is_ahead(
    discord_bot: BotFactory,
    world: World,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    """An id stamped a minute in the future still gets its deferral 2 s (here 0.05 s)
    after the gateway delivered it, not a minute later."""
    core = HeldMentorbot(factory, clock)
    async with discord_bot(core=core) as bot:
        bot.adapter.router.defer_after = 0.05
        pending = await world.fake.send_interaction(
            created(60, world.fake.slash_command(world.id, ALICE, "mentor help"))
        )
        thinking = await pending.wait_response()
        assert thinking.type == 5
        core.gate.set()
        answer = await pending.wait_followup()
    assert embed_of(answer)["title"] == "Mentorbot commands"


async def test_a_quick_answer_is_still_a_direct_response(
    discord_bot: BotFactory, world: World
) -> None:
    async with discord_bot() as bot:
        answer = await bot.command(ALICE, "mentor help")
    assert answer.type == 4
    assert embed_of(answer)["title"] == "Mentorbot commands"


async def test_behind_a_queue_of_interactions_a_new_one_is_deferred_before_any_work(
    discord_bot: BotFactory,
    world: World,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    core = HeldMentorbot(factory, clock)
    async with discord_bot(core=core) as bot:
        bot.adapter.router.defer_after = 30.0  # the margin plays no part here
        bot.adapter.router.busy_after = 1
        first = await world.fake.send_interaction(
            world.fake.slash_command(world.id, ALICE, "mentor help")
        )
        await core.entered.wait()
        second = await send_watched(
            world, core, world.fake.slash_command(world.id, ALICE, "mentor help")
        )
        assert (await second.wait_response()).type == 5
        assert first.response is None  # the quiet one still waits for a direct answer
        core.gate.set()
        assert (await first.wait_response()).type == 4
        answer = await second.wait_followup()
    assert core.answered_before_call == [True]
    assert embed_of(answer)["title"] == "Mentorbot commands"
