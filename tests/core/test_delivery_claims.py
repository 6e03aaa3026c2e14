"""Claims: renewed while worked on, checked before each call, taken over in seconds after a
crash, released on a clean stop; the wake-up armed at the next due moment."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config, DeliveryConfig
from bot.wiring import start_scheduler
from core.clock import FakeClock, SystemClock
from core.delivery import Dispatcher
from core.effects import DirectMessage
from core.messages import Message
from core.service import Mentorbot
from tests.core.delivery_kit import (
    RecordingPort,
    community,
    dispatcher,
    queue,
    recording_port,
    rows,
    texts,
)

Factory = async_sessionmaker[AsyncSession]
ROOT = Path(__file__).resolve().parents[2]


async def test_a_platform_slower_than_the_lease_with_two_dispatchers_sends_nothing_twice(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, *(f"m{n}" for n in range(4)), user="alice")
    port_a, shown = recording_port()
    port_b = RecordingPort(emit=shown.append, emit_line=lambda _l: None, done=port_a.done)
    a = dispatcher(factory, port_a, clock, "a", lease_seconds=4, heartbeat_seconds=1)
    b = dispatcher(factory, port_b, clock, "b", lease_seconds=4, heartbeat_seconds=1)
    claimed_by_b: list[int] = []
    send = port_a.send_dm

    async def slow_send(target, user_id, message, thread, attempt):  # type: ignore[no-untyped-def]
        for _ in range(10):  # 10 s per call (a 429 slept out inside discord.py) ...
            clock.advance(seconds=1)
            await a.heartbeat()  # ... while the heartbeat keeps beating
        claimed_by_b.append(await b.run_once())
        return await send(target, user_id, message, thread, attempt)

    port_a.send_dm = slow_send  # type: ignore[method-assign]
    await a.run_once()
    assert claimed_by_b == [0, 0, 0, 0]
    assert texts(shown) == ["m0", "m1", "m2", "m3"]
    assert port_b.attempts == []


async def test_a_claim_that_lapsed_is_not_sent_by_its_old_owner(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, *(f"m{n}" for n in range(4)), user="alice")
    port_a, shown = recording_port()
    port_b = RecordingPort(emit=shown.append, emit_line=lambda _l: None, done=port_a.done)
    a = dispatcher(factory, port_a, clock, "a", lease_seconds=4, heartbeat_seconds=1)
    b = dispatcher(factory, port_b, clock, "b", lease_seconds=4, heartbeat_seconds=1)
    send = port_a.send_dm

    async def frozen_send(target, user_id, message, thread, attempt):  # type: ignore[no-untyped-def]
        if not port_b.attempts:
            clock.advance(seconds=10)  # this process froze: no heartbeat for 10 s
            assert await b.run_once() == 4  # so b took the rows over
        return await send(target, user_id, message, thread, attempt)

    port_a.send_dm = frozen_send  # type: ignore[method-assign]
    await a.run_once()
    # a finished only the call it was in; b sent all four, the first marked uncertain.
    assert [t.key for t in port_a.attempts] == ["m0"]
    assert [t.key for t in port_b.attempts] == ["m0", "m1", "m2", "m3"]
    assert all(t.uncertain for t in port_b.attempts)
    assert texts(shown) == ["m0", "m1", "m2", "m3"]  # the platform's de-dupe caught m0
    assert {r.status for r in await rows(factory)} == {"sent"}


VICTIM = textwrap.dedent(
    """
    import asyncio, sys
    from core import db
    from core.clock import SystemClock
    from core.delivery import DeliverySettings, Dispatcher

    class Stuck:
        platform = "console"

        async def send_dm(self, target, user_id, message, thread, attempt):
            print("sending", flush=True)
            await asyncio.Event().wait()

    async def main():
        engine = db.create_engine(sys.argv[1])
        d = Dispatcher(db.session_factory(engine), {"console": Stuck()}, SystemClock(),
                       DeliverySettings(lease_seconds=4, heartbeat_seconds=1))
        await d.start()
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def test_a_killed_dispatchers_rows_are_taken_over_within_seconds(
    database_url: str, factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    # Due by the real clock the victim runs on.
    await queue(factory, SystemClock(), c.id, *(f"m{n}" for n in range(5)), user="alice")
    victim = subprocess.Popen(  # noqa: ASYNC220 (read in a thread below)
        [sys.executable, "-c", VICTIM, database_url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert victim.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(victim.stdout.readline), timeout=60)
        assert line.strip() == b"sending"
        victim.send_signal(signal.SIGKILL)
        killed_at = SystemClock().now()
    finally:
        victim.kill()
        victim.wait()
    [victim_id] = {r.claimed_by for r in await rows(factory)}
    assert victim_id is not None
    # On another host, the claims lapse with the victim's heartbeat: at most the lease
    # after its last beat, within 5 s of the kill (the wake-up is armed for that moment).
    port, shown = recording_port()
    elsewhere = dispatcher(factory, port, FakeClock(killed_at), "elsewhere")
    takeover = await elsewhere.next_due()
    assert takeover is not None
    assert takeover <= killed_at + timedelta(seconds=5)
    # Restarted on the same host, it sees the victim's process is gone and takes its rows
    # at once: delivered without the clock moving at all.
    restarted = Dispatcher(factory, {"console": port}, FakeClock(killed_at))
    await restarted.start()
    await restarted.wait_idle()
    await restarted.stop()
    assert texts(shown) == [f"m{n}" for n in range(5)]
    assert port.attempts[0].uncertain  # the victim may have sent it


async def test_stop_during_a_batch_releases_the_rows_for_the_next_start_without_errors(
    factory: Factory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, "m0", "m1", "m2", user="alice")
    port, _ = recording_port()
    started = asyncio.Event()

    async def hanging_send(*_args: object) -> dict[str, str]:
        started.set()
        await asyncio.Event().wait()
        return {}

    port.send_dm = hanging_send  # type: ignore[assignment]
    d = dispatcher(factory, port, clock, "old", stop_grace_seconds=0.05)
    caplog.set_level(logging.INFO)
    d.wake()
    await asyncio.wait_for(started.wait(), timeout=10)
    await d.stop()  # SIGTERM: the call under way is given up after the grace period

    left = await rows(factory)
    assert [(r.status, r.claimed_by, r.uncertain) for r in left] == [
        ("pending", None, True),
        ("pending", None, False),
        ("pending", None, False),
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    port2, shown2 = recording_port()
    assert await dispatcher(factory, port2, clock, "new").drain() == 3  # at once, no lease
    assert texts(shown2) == ["m0", "m1", "m2"]


async def test_a_call_finishing_within_the_grace_period_is_recorded_on_stop(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, "m0", "m1", user="alice")
    port, _ = recording_port()
    started, release = asyncio.Event(), asyncio.Event()
    send = port.send_dm

    async def slow_send(*args: object) -> object:
        started.set()
        await release.wait()
        return await send(*args)  # type: ignore[arg-type]

    port.send_dm = slow_send  # type: ignore[assignment]
    d = dispatcher(factory, port, clock, "old")
    d.wake()
    await asyncio.wait_for(started.wait(), timeout=10)
    stopping = asyncio.create_task(d.stop())
    await asyncio.sleep(0)
    release.set()
    await stopping
    assert [(r.status, r.claimed_by) for r in await rows(factory)] == [
        ("sent", None),
        ("pending", None),
    ]


async def test_the_wake_up_is_armed_at_the_earliest_due_moment(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    at = clock.now()
    await queue(factory, clock, c.id, "later", due_at=at + timedelta(minutes=10))
    port, _ = recording_port()
    d = dispatcher(factory, port, clock)
    service = Mentorbot(factory, clock, on_effects=d.wake)
    try:
        await d.run_pending()
        assert d.next_wakeup == at + timedelta(minutes=10)
        # An earlier effect queued by a use case moves the wake-up earlier.
        async with service.uow() as uow:
            for n in range(30):  # all due in the same second
                await uow.outbox.add(
                    c.id,
                    DirectMessage(f"u{n}", Message(text=f"s{n}")),
                    key=f"s{n}",
                    due_at=at + timedelta(minutes=2),
                )
            await uow.commit()
        await d.wait_idle()
        assert d.next_wakeup == at + timedelta(minutes=2)
        clock.set(at + timedelta(minutes=2))
        assert await d.run_once() == 30  # one batch
        assert d.next_wakeup is not None
    finally:
        await d.stop()


async def test_an_idle_scheduler_logs_nothing_and_slow_passes_do_not_overlap(
    factory: Factory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    port, _ = recording_port()
    d = dispatcher(factory, port, clock)
    passes = 0
    drain = d.drain

    async def slow_drain(max_batches: int = 1000) -> int:
        nonlocal passes
        passes += 1
        await asyncio.sleep(0.2)  # each pass outlasts several polls
        return await drain(max_batches)

    d.drain = slow_drain  # type: ignore[method-assign]
    caplog.set_level(logging.INFO)
    scheduler = start_scheduler(d, Config(delivery=DeliveryConfig(poll_seconds=0.02)))
    try:
        while passes < 3:  # noqa: ASYNC110 (polling what the scheduler does)
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown(wait=False)
        await d.stop()
        await asyncio.sleep(0.1)  # a poll started just before the shutdown returns
    assert [r.getMessage() for r in caplog.records if r.name.startswith("apscheduler")] == []


async def test_a_pass_that_cannot_reach_the_database_is_logged_and_retried_later(
    factory: Factory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, "later")
    port, shown = recording_port()
    d = dispatcher(factory, port, clock)
    claim = d._claim

    async def unreachable() -> object:
        raise ConnectionRefusedError("the database is down")

    d._claim = unreachable  # type: ignore[assignment,method-assign]
    assert await d.run_pending() == 0
    assert [r.levelno for r in caplog.records if "delivery pass failed" in r.getMessage()] == [
        logging.WARNING
    ]
    d._claim = claim  # type: ignore[method-assign]
    assert await d.run_pending() == 1
    assert texts(shown) == ["later"]


async def test_an_effect_falling_due_after_a_claim_looked_is_not_left_for_the_poll(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    port, _ = recording_port()
    d = dispatcher(factory, port, clock)
    looked = clock.now()
    assert await d.run_once() == 0  # the claim looked at `looked`
    await queue(factory, clock, c.id, "soon", due_at=looked + timedelta(seconds=1))
    clock.advance(seconds=2)  # the pass was still finishing when it fell due
    # The wake-up is armed for a moment already past, so it fires at once.
    assert await d.next_due() == looked + timedelta(seconds=1)
