"""Reliability at the edge: signatures, Slack's retries, double-clicks, the 3 s deadline."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import AuditEntry, Mentee, Mentor
from tests.adapters.slack.conftest import (
    ANA,
    APPLY_INLINE,
    CAROL,
    GENERAL,
    Slack,
    buttons,
    texts,
)
from tests.helpers import count, snapshot


@pytest.mark.parametrize(
    "forgery",
    [{"secret": "not-the-signing-secret"}, {"timestamp": int(time.time()) - 6 * 60}],
    ids=["bad-signature", "stale-timestamp"],
)
async def test_forged_or_replayed_requests_get_401_and_do_nothing(
    slack: Slack, factory: async_sessionmaker[AsyncSession], forgery: dict[str, object]
) -> None:
    bot = await slack("http")
    before, calls = await snapshot(factory), len(bot.fake.calls)
    answer = await bot.fake.send_to_app(
        bot.app.request_url,
        "slash_command",
        command="/mentor",
        text=APPLY_INLINE,
        user_id=ANA,
        **forgery,
    )
    assert answer.status == 401
    assert await snapshot(factory) == before
    assert bot.fake.calls[calls:] == []
    assert bot.fake.response_posts == []


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_an_event_delivered_four_times_has_one_effect(
    slack: Slack, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await slack(mode)
    fake = bot.fake
    event = fake.event_payload(fake.app_home_opened_event(ANA), event_id="Ev0HOME")
    caplog.set_level(logging.INFO, logger="adapters.slack.listeners")
    for attempt in range(4):
        if mode == "http":
            retry = {"retry_num": attempt, "retry_reason": "http_timeout"} if attempt else {}
            await bot.send("event", event, **retry)
        else:
            await bot.send("event", event, retry_attempt=attempt, retry_reason="timeout")

    def ignored() -> int:
        return sum("redelivered app_home_opened" in r.getMessage() for r in caplog.records)

    await fake.wait_until(lambda: ignored() == 3, what="three ignored redeliveries")
    await fake.wait_for_calls("views.publish", 1)
    assert len(fake.calls_to("views.publish")) == 1
    assert "Share what you know" in texts(fake.home_views[ANA].view["blocks"])


async def test_a_double_clicked_button_has_one_effect(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    await bot.set_up_community()
    await bot.apply()
    await bot.deliver()
    await asyncio.gather(bot.click(CAROL, "Approve"), bot.click(CAROL, "Approve"))
    answers = [texts((await bot.reply())["blocks"]) for _ in range(3)]
    assert sum("already approved; nothing was changed" in a for a in answers) == 1
    await bot.deliver()
    assert len(bot.fake.messages(ANA)) == 1
    assert len([m for m in bot.fake.messages(GENERAL) if "new mentor" in m.text]) == 1
    assert await count(factory, AuditEntry, action="mentor.approve") == 1
    assert await count(factory, Mentor, status="active") == 1


async def test_every_listener_acknowledges_before_its_slow_work(slack: Slack) -> None:
    bot = await slack("http")
    await bot.set_up_community()
    bot.fake.hold("users.info")  # Slack's Web API stalls for this member's profile…
    answer = await bot.fake.send_to_app(
        bot.app.request_url, "slash_command", command="/mentor", text="profile", user_id=ANA
    )
    assert (answer.status, answer.text) == (200, "")  # …yet Slack got its answer at once
    await bot.fake.wait_for_calls("users.info")
    assert bot.fake.response_posts[1:] == []
    bot.fake.release("users.info")
    assert "mentor profile" in texts((await bot.reply())["blocks"])


async def test_a_command_mentioning_payload_is_not_mistaken_for_a_button(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    # Bolt reads any form body containing "payload" as an interactivity post.
    bot = await slack("http")
    await bot.command(
        ANA, 'mentee profile goals:understand_loans challenges:"what is a loan payload?"'
    )
    assert "Mentee profile created" in texts((await bot.reply())["blocks"])
    assert await count(factory, Mentee) == 1


async def test_an_unexpected_failure_is_logged_and_shown_as_an_apology(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await slack()
    await bot.set_up_community()
    bot.fake.fail_next("views.open", status=200, error="internal_error")
    await bot.command(ANA, "apply")
    apology = texts((await bot.reply())["blocks"])
    assert "Sorry, something went wrong" in apology
    [logged] = [r for r in caplog.records if r.exc_info and "ref" in r.getMessage()]
    ref = logged.getMessage().split("ref ")[1].rstrip(")")
    assert ref in apology
    assert "Traceback" not in apology
    assert "internal_error" not in apology


async def test_buttons_carry_the_id_they_act_on(slack: Slack) -> None:
    bot = await slack()
    await bot.set_up_community()
    await bot.apply()
    await bot.deliver()
    card = bot.fake.messages()[-1]
    approve, reject = buttons(card.blocks)["Approve"], buttons(card.blocks)["Reject"]
    assert approve.startswith("mb:approve:")
    assert reject.startswith("mb:reject:")
    assert approve.split(":")[2] == reject.split(":")[2]


async def test_slack_can_verify_the_http_request_url(slack: Slack) -> None:
    bot = await slack("http")
    answer = await bot.send("url_verification", challenge="c-123")
    assert answer == {"challenge": "c-123"}
