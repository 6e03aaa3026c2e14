"""Operator metrics: /metrics parses as Prometheus text and counts commands, presses,
deliveries and the queue; labels carry no member data; each bot has its own registry."""

from __future__ import annotations

import logging
from datetime import timedelta

import aiohttp
import pytest
from prometheus_client import generate_latest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from bot.config import Config
from bot.http import HttpServer
from bot.jobs import RecurringJob, RecurringJobs
from bot.metrics import Metrics
from bot.wiring import add_operator_routes, core_settings
from core import db
from core.actions import BUTTONS, FORMS
from core.clock import FakeClock
from core.commands import CATALOG
from core.delivery import Dispatcher
from core.effects import Reminder
from core.leader import AlwaysLeading
from core.logcontext import current_fields
from core.messages import Message
from core.observe import REASONS
from core.service import Mentorbot
from core.uow import UnitOfWork
from tests.adapters.console.test_mentor_application import APPLY, SETUP
from tests.core.delivery_kit import community
from tests.helpers import metric, metric_samples


def _console(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, metrics: Metrics
) -> ConsoleBot:
    service = Mentorbot(factory, clock, settings=core_settings(Config()), observer=metrics)

    def make_dispatcher(port: object) -> Dispatcher:
        return Dispatcher(factory, {"console": port}, clock, observer=metrics)  # type: ignore[dict-item]

    return ConsoleBot(service, make_dispatcher)


async def _scrape(metrics: Metrics, service: Mentorbot) -> str:
    server = HttpServer("127.0.0.1", 0)
    add_operator_routes(server, Config(), service, [], metrics)
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.base_url + "/metrics") as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return await response.text()
    finally:
        await server.stop()


async def test_metrics_count_commands_presses_and_deliveries_and_parse(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    metrics = Metrics()
    bot = _console(factory, clock, metrics)
    for line in ("as @owner --admin", SETUP, "as @alice", APPLY):
        await bot.handle(line)
    # A refused command: Alice has applied already.
    out = await bot.say(APPLY)
    assert any("already" in line for line in out), out
    await bot.handle("as @owner")
    await bot.handle("click Approve")

    samples = metric_samples(await _scrape(metrics, bot.service))

    def interactions(kind: str, name: str, outcome: str) -> float:
        return metric(
            samples,
            "mentorbot_interactions_total",
            platform="console",
            kind=kind,
            name=name,
            outcome=outcome,
        )

    assert interactions("command", "admin setup", "ok") == 1
    assert interactions("command", "mentor apply", "ok") == 1
    assert interactions("command", "mentor apply", "user_error") == 1
    assert interactions("button", "approve", "ok") == 1
    handled = metric(
        samples, "mentorbot_interaction_seconds_count", platform="console", kind="command"
    )
    assert handled == 3
    # The application card in the admin channel, the approval DM, the role: all delivered.
    sent = sum(
        v
        for (name, labels), v in samples.items()
        if name == "mentorbot_deliveries_total" and ("outcome", "sent") in labels
    )
    assert sent >= 2
    assert metric(samples, "mentorbot_delivery_queue_depth", state="due") == 0
    assert metric(samples, "mentorbot_delivery_oldest_due_age_seconds") == 0
    assert metric(samples, "mentorbot_queue_read_ok") == 1


async def test_labels_hold_only_catalog_names_and_fixed_words(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    metrics = Metrics()
    bot = _console(factory, clock, metrics)
    for line in (
        "as @owner --admin",
        SETUP,
        "as @alice",
        APPLY,
        "/mentor nosuchcommand",
        "/mentor apply bio:tiny",
        "as @owner",
        "click Approve",
    ):
        await bot.handle(line)

    samples = metric_samples(await _scrape(metrics, bot.service))

    allowed = (
        {c.path for c in CATALOG.commands}
        | set(BUTTONS)
        | set(FORMS)
        | set(REASONS)
        | {"unknown", "console", "command", "button", "form", "ok", "user_error", "failure"}
        | {"sent", "retry", "failed", "expired", "cancelled", "due", "scheduled"}
        | {"dm", "post", "grant_role", "reminder"}
    )
    for (name, labels), _ in samples.items():
        for key, value in labels:
            if key in ("le", "quantile", "pool", "job"):
                continue
            assert value in allowed, (name, key, value)
    assert (
        metric(
            samples,
            "mentorbot_interactions_total",
            platform="console",
            kind="command",
            name="unknown",
            outcome="user_error",
        )
        == 1
    )


async def test_queue_gauges_show_depth_age_and_reminders_of_the_next_hour(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    made = await community(factory, clock)
    now = clock.now()
    async with UnitOfWork(factory, clock) as uow:
        for n, minutes in enumerate((-3, 20, 50, 90)):
            reminder = Reminder(f"u{n}", Message(text="soon"), at=now + timedelta(minutes=60))
            await uow.outbox.add(
                made.id, reminder, key=f"r{n}", due_at=now + timedelta(minutes=minutes)
            )
        await uow.commit()
    metrics = Metrics()
    samples = metric_samples(await _scrape(metrics, Mentorbot(factory, clock)))

    assert metric(samples, "mentorbot_delivery_queue_depth", state="due") == 1
    assert metric(samples, "mentorbot_delivery_queue_depth", state="scheduled") == 3
    assert metric(samples, "mentorbot_delivery_oldest_due_age_seconds") == 180
    assert metric(samples, "mentorbot_reminders_due_next_hour", kind="reminder") == 2


async def test_a_failed_delivery_is_counted_by_reason(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    made = await community(factory, clock)
    async with UnitOfWork(factory, clock) as uow:
        stale = Reminder("u1", Message(text="old"), at=clock.now() - timedelta(days=30))
        await uow.outbox.add(made.id, stale, key="old", due_at=clock.now() - timedelta(days=30))
        await uow.commit()
    metrics = Metrics()
    bot = _console(factory, clock, metrics)
    await bot.deliver()

    samples = metric_samples(await _scrape(metrics, bot.service))

    assert (
        metric(
            samples,
            "mentorbot_delivery_failures_total",
            platform="console",
            reason="no_longer_useful",
        )
        == 1
    )
    assert (
        metric(
            samples,
            "mentorbot_deliveries_total",
            platform="console",
            kind="reminder",
            outcome="expired",
        )
        == 1
    )


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.interaction_finished("console", "command", "mentor help", "ok", 0.01)
    first_text = metric_samples(_latest(first))
    second_text = metric_samples(_latest(second))
    labels = (
        ("kind", "command"),
        ("name", "mentor help"),
        ("outcome", "ok"),
        ("platform", "console"),
    )
    assert first_text[("mentorbot_interactions_total", labels)] == 1
    assert ("mentorbot_interactions_total", labels) not in second_text


def _latest(metrics: Metrics) -> bytes:
    return generate_latest(metrics.registry)


async def test_a_checkout_that_finds_no_idle_connection_is_reported_as_a_pool_wait(
    database_url: str,
) -> None:
    waits: list[tuple[str, float]] = []
    engine = db.create_engine(database_url, on_pool_wait=lambda pool, s: waits.append((pool, s)))
    try:
        async with engine.connect():
            pass  # the first checkout opens a connection: it had to wait for it
        assert len(waits) == 1
        async with engine.connect():
            pass  # the connection came back and is reused at once
        assert len(waits) == 1
        expected = "writer" if db.is_sqlite(database_url) else "pool"
        assert waits[0][0] == expected
        await engine.dispose()  # a recreated pool keeps reporting
        async with engine.connect():
            pass
        assert [pool for pool, _ in waits] == [expected, expected]
    finally:
        await engine.dispose()


async def test_recurring_job_runs_are_counted_and_a_failure_is_logged_with_the_job(
    caplog: pytest.LogCaptureFixture, factory: async_sessionmaker[AsyncSession]
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    metrics = Metrics()
    fields: list[dict[str, str]] = []

    async def housekeeping() -> tuple[int, int]:
        fields.append(dict(current_fields()))
        return 0, 0

    async def broken() -> None:
        raise RuntimeError("the database went away")

    hourly = IntervalTrigger(hours=1, timezone="UTC")
    jobs = RecurringJobs(AsyncIOScheduler(timezone="UTC"), [], AlwaysLeading(), factory, metrics)
    await jobs._run(RecurringJob("request-housekeeping", housekeeping, hourly))
    await jobs._run(RecurringJob("badge-role-sync", broken, hourly))  # logged, not raised

    samples = metric_samples(_latest(metrics))
    runs = "mentorbot_scheduler_job_runs_total"
    assert metric(samples, runs, job="request-housekeeping", outcome="ok") == 1
    assert metric(samples, runs, job="badge-role-sync", outcome="failure") == 1
    assert metric(samples, "mentorbot_scheduler_job_seconds_count", job="badge-role-sync") == 1
    assert fields == [{"job": "request-housekeeping"}]
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.getMessage().startswith("recurring job badge-role-sync failed")
    assert failure.exc_info is not None
