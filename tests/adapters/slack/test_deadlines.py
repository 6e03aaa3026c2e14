"""Modal submissions acknowledged in time, measured from receipt: a field error travels in
the acknowledgement even when the core's write path is slow; a slow write is acknowledged
first and its outcome (success, refusal or failure) follows privately."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.slack import app as slack_app
from adapters.slack.listeners import RECEIVED_AT
from core.errors import UserError
from core.messages import Reply
from core.models import Mentor
from tests.adapters.slack.conftest import ANA, Slack, SlackHarness, application_form, texts
from tests.helpers import count, snapshot


def hold_execute(bot: SlackHarness, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Make the core's ``execute`` wait for the returned gate; ack margin almost nothing."""
    service = bot.app.service
    real = service.execute
    gate = asyncio.Event()

    async def held(*args: Any, **kwargs: Any) -> Reply | None:
        await gate.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(service, "execute", held)
    bot.app.listeners.ack_after = 0.05
    return gate


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_field_error_is_in_the_ack_even_when_the_core_is_slow(
    slack: Slack,
    mode: str,
    factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = await slack(mode)
    await bot.set_up_community()
    view_id = await bot.open_form(ANA, "apply")
    hold_execute(bot, monkeypatch)
    before = await snapshot(factory)
    ack = await bot.send(
        "view_submission", user_id=ANA, view_id=view_id, values=application_form("Too short")
    )
    assert ack == {
        "response_action": "errors",
        "errors": {"bio": "Must be 20–1000 characters (it is 9)."},
    }
    assert await snapshot(factory) == before


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_slow_write_is_acknowledged_first_and_its_outcome_follows_privately(
    slack: Slack,
    mode: str,
    factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = await slack(mode)
    await bot.set_up_community()
    view_id = await bot.open_form(ANA, "apply")
    gate = hold_execute(bot, monkeypatch)
    ack = await bot.send("view_submission", user_id=ANA, view_id=view_id, values=application_form())
    assert ack == {}  # the form closes before anything is written
    assert await count(factory, Mentor) == 0
    gate.set()
    answer = await bot.reply()
    assert answer["response_type"] == "ephemeral"
    assert "Application sent" in texts(answer["blocks"])
    assert await count(factory, Mentor) == 1


class Refused(UserError):
    def __init__(self) -> None:
        super().__init__("Applications are paused this week.")


@pytest.mark.parametrize(
    ("failure", "shown"),
    [
        (RuntimeError("database on fire"), "Sorry, something went wrong on our side"),
        (Refused(), "Applications are paused this week."),
    ],
)
async def test_a_write_that_fails_after_the_ack_tells_the_member_privately(
    slack: Slack,
    factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
    shown: str,
) -> None:
    bot = await slack("http")
    await bot.set_up_community()
    view_id = await bot.open_form(ANA, "apply")
    gate = asyncio.Event()

    async def failing(*args: Any, **kwargs: Any) -> Reply | None:
        await gate.wait()
        raise failure

    monkeypatch.setattr(bot.app.service, "execute", failing)
    bot.app.listeners.ack_after = 0.05
    before = await snapshot(factory)
    ack = await bot.send("view_submission", user_id=ANA, view_id=view_id, values=application_form())
    assert ack == {}
    gate.set()
    answer = await bot.reply()
    assert answer["response_type"] == "ephemeral"
    assert shown in texts(answer["blocks"])
    assert await snapshot(factory) == before


async def test_the_ack_deadline_runs_from_the_requests_receipt(
    slack: Slack,
    factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request stamped as received 10 s ago (a long queue in front of its listener) is
    acknowledged at once, though the margin (5 s here) has not passed since the listener
    started; otherwise Bolt would give up after its own 3 s."""
    bot = await slack("http")
    await bot.set_up_community()
    view_id = await bot.open_form(ANA, "apply")
    gate = hold_execute(bot, monkeypatch)
    bot.app.listeners.ack_after = 5.0
    real = time.time
    monkeypatch.setattr(slack_app, "time", SimpleNamespace(time=lambda: real() - 10))
    ack = await bot.send("view_submission", user_id=ANA, view_id=view_id, values=application_form())
    assert ack == {}
    assert await count(factory, Mentor) == 0
    gate.set()
    assert "Application sent" in texts((await bot.reply())["blocks"])


def test_an_http_request_carries_its_receipt_time() -> None:
    request = slack_app.bolt_request("token=x&command=%2Fmentor&text=help", "", {}, received=12.5)
    assert request.context[RECEIVED_AT] == 12.5


async def test_behind_a_queue_a_submission_is_acked_once_its_fields_are_checked(
    slack: Slack,
    factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = await slack("socket")
    await bot.set_up_community()
    view_id = await bot.open_form(ANA, "apply")
    gate = hold_execute(bot, monkeypatch)
    bot.app.listeners.ack_after = 30.0  # the margin plays no part here
    bot.app.listeners.busy_after = 0  # every submission counts as behind a queue
    before = await snapshot(factory)
    ack = await bot.send(
        "view_submission", user_id=ANA, view_id=view_id, values=application_form("Too short")
    )
    assert ack["response_action"] == "errors"
    assert await snapshot(factory) == before
    ack = await bot.send("view_submission", user_id=ANA, view_id=view_id, values=application_form())
    assert ack == {}
    assert await count(factory, Mentor) == 0
    gate.set()
    assert "Application sent" in texts((await bot.reply())["blocks"])
    assert await count(factory, Mentor) == 1
