"""What the Slack adapter tells operators: commands and first responses counted in the
metrics, log lines tagged with the workspace and trigger, and whether it is connected."""

from __future__ import annotations

import json
import logging
import re
from typing import Literal

import pytest
from prometheus_client import generate_latest
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.slack.app import SlackAdapter
from adapters.slack.client import default_retry_handlers
from bot.metrics import Metrics
from core.clock import FakeClock
from core.logcontext import current_fields
from core.service import Mentorbot
from tests.adapters.slack.conftest import ANA, APPLY_INLINE, OWNER, SlackHarness
from tests.fakes.slack_fake import FakeSlack
from tests.helpers import Samples, metric_samples

Mode = Literal["http", "socket"]


async def _observed(harness: SlackHarness, metrics: Metrics) -> SlackAdapter:
    """The harness's adapter, with its service reporting to ``metrics``."""
    fake: FakeSlack = harness.fake
    harness.adapter = SlackAdapter(
        Mentorbot(harness.factory, harness.clock, observer=metrics),
        bot_token=fake.bot_token,
        signing_secret=fake.signing_secret,
        app_token=fake.app_token,
        mode=harness.mode,
        http_host="127.0.0.1",
        http_port=0,
        api_base_url=fake.api_base_url,
        retry_handlers=default_retry_handlers(FixedValueRetryIntervalCalculator(0.01)),
    )
    await harness.adapter.start()
    return harness.adapter


def _samples(metrics: Metrics) -> Samples:
    return metric_samples(generate_latest(metrics.registry))


def _interactions(samples: Samples, name: str, outcome: str) -> float:
    labels = (("kind", "command"), ("name", name), ("outcome", outcome), ("platform", "slack"))
    return samples.get(("mentorbot_interactions_total", labels), 0.0)


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_command_is_counted_with_its_first_response(
    fake: FakeSlack, factory: async_sessionmaker[AsyncSession], clock: FakeClock, mode: Mode
) -> None:
    harness = SlackHarness(fake, factory, clock, mode, False)
    metrics = Metrics()
    adapter = await _observed(harness, metrics)
    try:
        assert await adapter.unready_reason() is None
        await harness.command(OWNER, "help")
        await harness.reply()
        await harness.command(OWNER, "nosuch")
        await harness.reply()
    finally:
        await harness.stop()
    assert await adapter.unready_reason() is not None  # stopped: not serving any more

    samples = _samples(metrics)
    assert _interactions(samples, "mentor help", "ok") == 1
    assert _interactions(samples, "unknown", "user_error") == 1
    assert samples[("mentorbot_first_response_seconds_count", (("platform", "slack"),))] == 2


async def test_a_failure_is_logged_with_the_workspace_trigger_command_and_reference(
    fake: FakeSlack, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append((record.getMessage(), dict(current_fields())))

    handler = Capture(level=logging.ERROR)
    logging.getLogger("adapters.slack").addHandler(handler)
    harness = SlackHarness(fake, factory, clock, "http", False)
    metrics = Metrics()
    try:
        await _observed(harness, metrics)
        await harness.set_up_community()
        async with factory() as session, session.begin():
            await session.execute(text("ALTER TABLE mentors RENAME TO mentors_away"))
        try:
            await harness.command(ANA, APPLY_INLINE)
            reply = await harness.reply()
        finally:
            async with factory() as session, session.begin():
                await session.execute(text("ALTER TABLE mentors_away RENAME TO mentors"))
    finally:
        logging.getLogger("adapters.slack").removeHandler(handler)
        await harness.stop()

    found = re.search(r"reference: `(\w+)`", json.dumps(reply))
    assert found, reply
    ref = found.group(1)
    [(message, fields)] = [(m, f) for m, f in seen if f.get("error_ref") == ref]
    assert ref in message
    assert fields["command"] == "mentor apply"
    assert fields["community"] == fake.team_id
    assert fields["platform"] == "slack"
    assert fields["interaction"]  # the command's trigger id
    assert _interactions(_samples(metrics), "mentor apply", "failure") == 1
