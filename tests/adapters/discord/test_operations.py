"""What the Discord adapter tells operators: commands, presses and first responses counted
in the metrics, a failure's log line tagged with the interaction and its reference, and
whether the gateway is connected."""

from __future__ import annotations

import logging
import re

from prometheus_client import generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import Metrics
from core.clock import FakeClock
from core.logcontext import current_fields
from core.service import Mentorbot
from tests.adapters.discord.conftest import ALICE, BotFactory, World, button_ids, embed_text
from tests.helpers import Samples, metric_samples


def _samples(metrics: Metrics) -> Samples:
    return metric_samples(generate_latest(metrics.registry))


def _interactions(samples: Samples, kind: str, name: str, outcome: str) -> float:
    labels = (("kind", kind), ("name", name), ("outcome", outcome), ("platform", "discord"))
    return samples.get(("mentorbot_interactions_total", labels), 0.0)


async def test_commands_presses_and_first_responses_are_counted(
    discord_bot: BotFactory,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    world: World,
) -> None:
    metrics = Metrics()
    async with discord_bot(core=Mentorbot(factory, clock, observer=metrics)) as bot:
        assert await bot.adapter.unready_reason() is None
        await bot.set_up()
        await bot.apply()
        await bot.deliver()
        card = bot.admin_messages()[-1]
        await bot.click(ALICE, button_ids(card)["Approve"], card)  # not an admin: refused
    assert await bot.adapter.unready_reason() == "the client is closed"

    samples = _samples(metrics)
    assert _interactions(samples, "command", "admin setup", "ok") == 1
    assert _interactions(samples, "command", "mentor apply", "ok") == 1  # the form's submit
    assert _interactions(samples, "button", "approve", "user_error") == 1
    # setup, the apply command (its form opens), the form, the click.
    assert samples[("mentorbot_first_response_seconds_count", (("platform", "discord"),))] == 4


async def test_a_failure_is_logged_with_the_interaction_command_and_reference(
    discord_bot: BotFactory, factory: async_sessionmaker[AsyncSession], world: World
) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append((record.getMessage(), dict(current_fields())))

    handler = Capture(level=logging.ERROR)
    logging.getLogger("adapters.discord").addHandler(handler)
    try:
        async with discord_bot() as bot:
            await bot.set_up()
            async with factory() as session, session.begin():
                await session.execute(text("ALTER TABLE mentors RENAME TO mentors_away"))
            try:
                answer = await bot.apply()
            finally:
                async with factory() as session, session.begin():
                    await session.execute(text("ALTER TABLE mentors_away RENAME TO mentors"))
    finally:
        logging.getLogger("adapters.discord").removeHandler(handler)

    found = re.search(r"reference: `(\w+)`", embed_text(answer))
    assert found, embed_text(answer)
    ref = found.group(1)
    [(message, fields)] = [(m, f) for m, f in seen if f.get("error_ref") == ref]
    assert ref in message
    assert fields["command"] == "mentor apply"
    assert fields["community"] == str(world.id)
    assert fields["platform"] == "discord"
    assert fields["interaction"].isdigit()
    assert fields["interaction"] in message  # "interaction <id> failed (ref …)"
