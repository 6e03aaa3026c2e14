"""Rate limits on Discord go back to the delivery queue; only their destination waits."""

from __future__ import annotations

import asyncio

import pytest

from adapters.discord.bot import MAX_RATELIMIT_WAIT_SECONDS
from core.messages import Message
from core.ports import Attempt, RetryLater, Target
from tests.adapters.discord.conftest import BotFactory, World


def _target(world: World) -> Target:
    return Target("c1", "discord", str(world.id))


async def test_the_client_gives_up_on_long_rate_limits_instead_of_sleeping(
    discord_bot: BotFactory,
) -> None:
    async with discord_bot() as bot:
        assert bot.adapter.client.http.max_ratelimit_timeout == MAX_RATELIMIT_WAIT_SECONDS


async def test_a_429_on_one_channel_is_retried_later_while_another_channel_gets_its_post(
    discord_bot: BotFactory, world: World
) -> None:
    fake = world.fake
    limited = fake.add_text_channel(world.id, "busy")["id"]
    async with discord_bot() as bot:
        fake.fail_next("POST", f"/channels/{limited}/messages", 429, retry_after=120.0)
        port = bot.adapter.port
        busy, calm = await asyncio.gather(
            port.post(_target(world), limited, Message(text="a"), False, Attempt("a")),
            port.post(_target(world), str(world.general), Message(text="b"), False, Attempt("b")),
            return_exceptions=True,
        )
    assert isinstance(busy, RetryLater)
    assert (busy.retry_after, busy.rate_limited) == (120.0, True)
    # Refused once and handed back, not retried in place.
    assert [c.status for c in fake.calls_to("POST", f"/channels/{limited}/messages")] == [429]
    assert not isinstance(calm, BaseException)
    assert calm["message_id"] in [m["id"] for m in fake.channel_messages(world.general)]
    assert fake.channel_messages(int(limited)) == []


async def test_a_cloudflare_429_becomes_a_retry_after_its_header(
    discord_bot: BotFactory, world: World
) -> None:
    fake = world.fake
    async with discord_bot() as bot:
        fake.clear_calls()
        fake.fail_next(
            "POST", f"/channels/{world.general}/messages", 429, retry_after=9, cloudflare=True
        )
        with pytest.raises(RetryLater) as limited:
            await bot.adapter.port.post(
                _target(world), str(world.general), Message(text="a"), False, Attempt("a")
            )
    assert (limited.value.retry_after, limited.value.rate_limited) == (9.0, True)
    assert len(fake.calls_to("POST", "/channels/{c}/messages")) == 1
