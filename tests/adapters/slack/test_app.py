"""Starting and stopping the adapter: clear failures for operators."""

from __future__ import annotations

import re
from typing import Any

import pytest
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.slack.app import SlackAdapter, SlackStartError
from adapters.slack.client import default_retry_handlers
from core.clock import FakeClock
from core.service import Mentorbot
from tests.fakes.slack_fake import FakeSlack


def adapter(service: Mentorbot, fake: FakeSlack, **overrides: Any) -> SlackAdapter:
    settings: dict[str, Any] = {
        "bot_token": fake.bot_token,
        "signing_secret": fake.signing_secret,
        "app_token": fake.app_token,
        "mode": "http",
        "http_host": "127.0.0.1",
        "http_port": 0,
        "api_base_url": fake.api_base_url,
        "retry_handlers": default_retry_handlers(FixedValueRetryIntervalCalculator(0.01)),
        **overrides,
    }
    return SlackAdapter(service, **settings)


async def test_a_rejected_token_stops_start_up_with_a_clear_message(
    fake: FakeSlack, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    fake.strict_tokens = True
    slack = adapter(Mentorbot(factory, clock), fake, bot_token="xoxb-wrong")
    with pytest.raises(SlackStartError, match=r"refused the bot token \(invalid_auth\)"):
        await slack.start()


async def test_an_unreachable_api_stops_start_up_naming_the_url(
    fake: FakeSlack, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    url = f"http://127.0.0.1:{fake.port}/nowhere/"
    await fake.stop()
    slack = adapter(Mentorbot(factory, clock), fake, api_base_url=url)
    with pytest.raises(SlackStartError, match=re.escape(f"cannot reach Slack at {url}")):
        await slack.start()


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"mode": "http", "signing_secret": None}, "signing secret"),
        ({"mode": "socket", "app_token": None}, "app-level token"),
        ({"api_base_url": "https://slack.com/api"}, "must end with '/'"),
    ],
)
def test_missing_settings_are_named(
    fake: FakeSlack,
    factory: async_sessionmaker[AsyncSession],
    overrides: dict[str, Any],
    problem: str,
) -> None:
    with pytest.raises(ValueError, match=problem):
        adapter(Mentorbot(factory), fake, **overrides)
