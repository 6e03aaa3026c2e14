"""Slack clients: the delivery port hands a rate limit back to the queue instead of waiting
it out, so only the throttled destination waits; and the app starts without Bolt warnings."""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.messages import Message
from core.ports import Attempt, RetryLater, Target
from tests.adapters.slack.conftest import ADMIN_CHANNEL, GENERAL, Slack

TARGET = Target("community-id", "slack", "T0FAKETEAM")


async def test_a_rate_limited_channel_is_retried_later_while_another_gets_its_post(
    slack: Slack,
) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    # Short enough that slack_sdk's rate-limit handler would have slept through it.
    fake.fail_next("chat.postMessage", 429, retry_after=3, channel=GENERAL)
    busy, calm = await asyncio.gather(
        port.post(TARGET, GENERAL, Message(text="a"), False, Attempt("a")),
        port.post(TARGET, ADMIN_CHANNEL, Message(text="b"), False, Attempt("b")),
        return_exceptions=True,
    )
    assert isinstance(busy, RetryLater)
    assert (busy.retry_after, busy.rate_limited) == (3.0, True)
    assert [
        c.status for c in fake.calls_to("chat.postMessage") if c.args["channel"] == GENERAL
    ] == [429]
    assert not isinstance(calm, BaseException)
    assert fake.messages(GENERAL) == []
    assert [m.text for m in fake.messages(ADMIN_CHANNEL)] == ["b"]


async def test_a_ratelimited_error_without_a_429_is_retried_later_too(slack: Slack) -> None:
    bot = await slack()
    bot.fake.fail_next("chat.postMessage", 200, error="ratelimited")
    with pytest.raises(RetryLater) as limited:
        await bot.app.port.post(TARGET, GENERAL, Message(text="a"), False, Attempt("a"))
    assert limited.value.rate_limited
    assert len(bot.fake.calls_to("chat.postMessage")) == 1


async def test_the_app_starts_without_a_token_warning_when_the_token_is_in_the_environment(
    slack: Slack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Production reads SLACK_BOT_TOKEN from the environment, where Bolt looks as well.
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-fake-bot-token")
    with caplog.at_level(logging.WARNING):
        bot = await slack()
        await bot.set_up_community()  # Bolt's client answers a command
    assert [r.getMessage() for r in caplog.records if r.name.startswith("adapters.slack")] == []
