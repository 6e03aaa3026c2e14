"""In a burst, every request is acknowledged before core calls start (issue 10, item 3):
the acknowledgements' few steps on the event loop do not wait behind other members'
database work. A request on its own is answered at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.adapters.slack.conftest import ANA, BOB, CAROL, OWNER, SlackHarness, texts


def record_core_calls(bot: SlackHarness, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of requests still unacknowledged as each command's work starts (its
    text parsed, then Slack ids checked, the member looked up, the core called)."""
    commands = bot.app.listeners.commands
    real = commands.parse
    seen: list[int] = []

    def recorded(text: str) -> Any:
        seen.append(bot.app.listeners.acks_first.pending)
        return real(text)

    monkeypatch.setattr(commands, "parse", recorded)
    return seen


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_burst_is_acknowledged_before_any_core_call_starts(
    slack: Any, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot: SlackHarness = await slack(mode)
    await bot.set_up_community()
    gate = bot.app.listeners.acks_first
    gate.quiet, gate.max_wait = 0.3, 30.0  # every request below falls in one burst
    seen = record_core_calls(bot, monkeypatch)
    people = [ANA, BOB, CAROL, OWNER] * 3
    acks = await asyncio.gather(*(bot.command(user, "help") for user in people))
    assert acks == [{}] * len(people)
    answers = [await bot.reply() for _ in people]
    assert all("/mentor" in texts(a["blocks"]) for a in answers)
    assert len(seen) == len(people)
    # None started while a request awaited its ack, except perhaps the burst's first,
    # which came alone as far as anyone could tell when it started.
    assert sorted(seen)[:-1] == [0] * (len(people) - 1)


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_request_on_its_own_does_not_wait_for_a_quiet_spell(
    slack: Any, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot: SlackHarness = await slack(mode)
    await bot.set_up_community()
    bot.app.listeners.acks_first.quiet = 0.001  # requests below are further apart
    await asyncio.sleep(0.01)
    bot.app.listeners.acks_first.max_wait = 60.0  # a wait would time the test out
    seen = record_core_calls(bot, monkeypatch)
    await bot.command(ANA, "help")
    answer = await asyncio.wait_for(bot.reply(), 5)
    assert "/mentor" in texts(answer["blocks"])
    assert len(seen) == 1  # answered without waiting (a wait would last a minute)


async def test_a_request_never_acknowledged_stops_holding_core_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from adapters.slack import listeners

    monkeypatch.setattr(listeners, "ACK_DEADLINE", 0.05)
    gate = listeners.AcksFirst(quiet=0.01, max_wait=60.0)
    gate.received("lost")  # Bolt never answered it
    gate.received("answered")  # close behind: a burst
    gate.acknowledged("answered")
    await asyncio.wait_for(gate.wait(), 2.0)  # opens once "lost" is past the deadline
    assert gate.pending == 0


async def test_requests_bolt_never_answers_stop_holding_core_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An envelope no listener matched gets no acknowledgement from Bolt at all.
    from adapters.slack import listeners

    monkeypatch.setattr(listeners, "ACK_DEADLINE", 0.05)
    gate = listeners.AcksFirst(quiet=0.01, max_wait=60.0)
    gate.received("unmatched")
    gate.received("unmatched too")  # close behind: a burst, and nothing is acknowledged
    await asyncio.wait_for(gate.wait(), 2.0)
    assert gate.pending == 0
