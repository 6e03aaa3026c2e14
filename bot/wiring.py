"""Composition: database, core service, dispatcher, scheduler and adapters, wired once.

A platform's adapter (and with it discord.py, Bolt, aiohttp) is imported only when that
platform is built, and APScheduler only when the scheduler starts, so the console and
the command line start without them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Config, DeliveryConfig
from bot.jobs import RecurringJob, RecurringJobs
from core import db
from core.clock import Clock, SystemClock
from core.defaults import GOAL_EXPERTISE
from core.delivery import DeliverySettings, Dispatcher
from core.leader import AlwaysLeading, Leadership
from core.matching import MatchingSettings
from core.observe import Observer
from core.ports import PlatformPort
from core.queue import ClaimScope
from core.settings import CoreSettings

if TYPE_CHECKING:
    # Imported where they are built: a process that only delivers (bench/reminders.py's
    # dispatcher) starts without the command catalog and the use cases.
    from aiohttp import web
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from adapters.console.bot import ConsoleBot
    from adapters.console.port import ConsolePort
    from adapters.discord.bot import DiscordAdapter
    from adapters.slack.app import SlackAdapter
    from bot.health import Readiness
    from bot.http import HttpServer
    from bot.metrics import Metrics
    from core.service import Mentorbot

log = logging.getLogger(__name__)

DISPATCHER_JOB_ID = "delivery-dispatcher"
HOUSEKEEPING_JOB_ID = "request-housekeeping"
HOUSEKEEPING_MINUTES = 60
BADGE_SYNC_JOB_ID = "badge-role-sync"


def core_settings(config: Config) -> CoreSettings:
    m, r = config.matching, config.requests
    return CoreSettings(
        matching=MatchingSettings(
            weights={
                "expertise": m.weight_expertise,
                "timezone": m.weight_timezone,
                "language": m.weight_language,
                "capacity": m.weight_capacity,
                "style": m.weight_style,
            },
            day_start_hour=m.day_start_hour,
            day_end_hour=m.day_end_hour,
            horizon_days=m.horizon_days,
            min_score=m.min_score,
            suggestions=m.suggestions,
            goal_expertise={
                **GOAL_EXPERTISE,
                **{goal: tuple(needs) for goal, needs in m.goal_expertise.items()},
            },
        ),
        request_nudge_days=r.nudge_days,
        request_expiry_days=r.expiry_days,
        max_open_requests=r.max_open,
        group_min_members=config.groups.min_members,
        waitlist_offer_hours=config.groups.waitlist_offer_hours,
        meeting_window=config.groups.meeting_window,
        meeting_reminder_hours=tuple(config.groups.reminder_hours),
        dedupe_retention_days=config.retention.dedupe_days,
        pending_relay_retention_days=config.retention.pending_relay_days,
        route_retention_days=config.retention.route_days,
        uninstalled_retention_days=config.retention.uninstalled_days,
        session_reminder_minutes=tuple(config.sessions.reminder_minutes),
        check_in_days=config.sessions.check_in_days,
        calendar_base_url=config.calendar.public_base_url,
        goal_nudge_days=config.goals.nudge_days,
        review_after_sessions=config.reviews.after_sessions,
        review_edit_window_hours=config.reviews.edit_window_hours,
        review_flag_threshold=config.reviews.flag_threshold,
        peer_supporter_replies=config.badges.peer_supporter_replies,
        peer_supporter_daily_cap=config.badges.peer_supporter_daily_cap,
        privacy_grace_days=config.privacy.grace_days,
    )


def delivery_settings(config: DeliveryConfig) -> DeliverySettings:
    return DeliverySettings(
        batch_size=config.batch_size,
        lease_seconds=config.lease_seconds,
        heartbeat_seconds=config.heartbeat_seconds,
        concurrency=config.concurrency,
        degraded_after=config.degraded_after,
        base_backoff_seconds=config.base_backoff_seconds,
        max_backoff_seconds=config.max_backoff_seconds,
    )


def _new_sqlite_file(url: str) -> Path | None:
    """The path of a SQLite database file that does not exist yet, else None."""
    parsed = make_url(db.normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def _remove_sqlite_files(path: Path) -> None:
    for leftover in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        leftover.unlink(missing_ok=True)


async def open_database(
    url: str, *, on_pool_wait: db.PoolWaitHook | None = None
) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """Open the database for `run`, `console` and the other commands alike.

    A SQLite file that does not exist yet is created at the newest schema (a brand-new
    local database holds nothing to upgrade, so nothing can be lost); an existing database
    that is not at the newest migration is refused (SchemaOutOfDate). A refusal or a file
    that cannot be created leaves no file behind.
    """
    new_file = _new_sqlite_file(url)
    if new_file is not None:
        if not new_file.parent.is_dir():
            raise ValueError(
                f"cannot create the SQLite database {new_file}: the folder "
                f"{new_file.parent} does not exist"
            )
        try:
            await db.upgrade_async(url)
        except Exception as exc:
            _remove_sqlite_files(new_file)
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"cannot create the SQLite database {new_file}: {reason}") from exc
        print(f"(created a new database at {new_file})")
    engine = db.create_engine(url, on_pool_wait=on_pool_wait)
    try:
        await db.ensure_schema_current(engine)
    except BaseException:
        await engine.dispose()
        if new_file is not None:
            _remove_sqlite_files(new_file)
        raise
    return engine, db.session_factory(engine)


def build_console(
    factory: async_sessionmaker[AsyncSession],
    config: Config,
    *,
    clock: Clock | None = None,
    sink: Callable[[str], None] | None = None,
    files_dir: Path | None = None,
) -> ConsoleBot:
    """``files_dir``: where files sent to members are saved (None: only listed)."""
    from adapters.console.bot import ConsoleBot
    from core.service import Mentorbot

    clock = clock or SystemClock()
    service = Mentorbot(factory, clock, settings=core_settings(config))

    def make_dispatcher(port: ConsolePort) -> Dispatcher:
        return Dispatcher(factory, {"console": port}, clock, delivery_settings(config.delivery))

    return ConsoleBot(
        service,
        make_dispatcher,
        sink=sink,
        community_name=config.console.community_name,
        files_dir=files_dir,
    )


def build_dispatcher(
    factory: async_sessionmaker[AsyncSession],
    ports: dict[str, PlatformPort],
    config: Config,
    clock: Clock,
    *,
    observer: Observer | None = None,
) -> Dispatcher:
    """The dispatcher of ``mentorbot run``: it claims only the effects of communities on
    the platforms it has ports for and, with Discord shards, on its own shards, so that
    processes sharing the queue never take each other's work."""
    scope = claim_scope(config, ports)
    return Dispatcher(
        factory, ports, clock, delivery_settings(config.delivery), observer=observer, scope=scope
    )


def claim_scope(config: Config, platforms: Iterable[str]) -> ClaimScope:
    """The effects this process delivers: its platforms' and, with Discord shards, its own
    shards' (the dispatcher claims only these; readiness judges the lag of only these)."""
    d = config.discord
    shards = None if d.shard_count is None else (d.shard_count, tuple(d.shards_here))
    return ClaimScope(tuple(sorted(platforms)), shards)


def recurring_jobs(service: Mentorbot, config: Config) -> list[RecurringJob]:
    """Every job the leading process runs on a schedule (besides every process's poll)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    return [
        RecurringJob(
            HOUSEKEEPING_JOB_ID,
            service.housekeeping,
            IntervalTrigger(minutes=HOUSEKEEPING_MINUTES, timezone="UTC"),
        ),
        RecurringJob(
            BADGE_SYNC_JOB_ID,
            service.sync_badge_roles,
            CronTrigger(hour=config.badges.sync_hour, timezone="UTC"),
        ),
    ]


def start_scheduler(
    dispatcher: Dispatcher,
    config: Config,
    *,
    service: Mentorbot | None = None,
    leadership: Leadership | None = None,
    jobs: list[RecurringJob] | None = None,
) -> AsyncIOScheduler:
    """APScheduler is the clock, never the store: it wakes the dispatcher and runs the
    recurring jobs, whose state lives in the database.

    The dispatcher's job only wakes it (a pass runs as its own task), so a slow pass
    never makes the next poll overlap it; APScheduler's own INFO lines (two per poll)
    are silenced, so an idle bot logs nothing periodic. Every process polls; the
    recurring jobs (``jobs``, by default ``recurring_jobs``) are scheduled only while
    ``leadership`` says this process leads (without one: always, as for a lone console).
    """
    from apscheduler.executors.asyncio import AsyncIOExecutor
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    class LetFinishExecutor(AsyncIOExecutor):  # type: ignore[misc]
        """For jobs that return at once (the dispatcher's poll): on shutdown a pending run
        is left to finish instead of being cancelled, which APScheduler logs as an ERROR."""

        def shutdown(self, wait: bool = True) -> None:
            self._pending_futures.clear()

    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = AsyncIOScheduler(
        timezone="UTC", executors={"default": AsyncIOExecutor(), "poll": LetFinishExecutor()}
    )
    scheduler.add_job(
        dispatcher.poll,
        "interval",
        executor="poll",
        seconds=config.delivery.poll_seconds,
        id=DISPATCHER_JOB_ID,
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,  # a late poll (busy loop) runs, without a warning
    )
    scheduler.start()
    if service is not None:
        leadership = leadership or AlwaysLeading()
        recurring = RecurringJobs(
            scheduler,
            recurring_jobs(service, config) if jobs is None else jobs,
            leadership,
            service.factory,
            service.observer,
        )
        leadership.on_change(recurring.follow)
        if leadership.leading:
            task = asyncio.get_running_loop().create_task(recurring.follow(True))
            _scheduling.add(task)
            task.add_done_callback(_scheduling.discard)
    return scheduler


_scheduling: set[asyncio.Task[None]] = set()  # keeps the first scheduling task alive


class Platform(Protocol):
    """What the composition root needs of an adapter."""

    @property
    def port(self) -> PlatformPort: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def unready_reason(self) -> str | None:
        """Why the adapter cannot serve right now (disconnected, reconnecting), or None
        when it is connected (the health check's question)."""


class StartError(Exception):
    """An adapter could not start (refused token, unreachable API); the message says why."""


# How many collections of the middle generation before one of the oldest (Python: 10).
GC_OLDEST_EVERY = 100


def settle_memory() -> None:
    """Once the bot is up: keep start-up's objects out of every later garbage collection,
    and collect the oldest generation ten times less often.

    A collection of the oldest generation walks every tracked object while the event loop
    waits. On the 2-core machine under load one took 0.2-0.8 s, about once per 100
    interactions, and the interaction being answered waited for it (bench/ack.py, issue
    10). Start-up's objects (modules, the catalog, the clients) live as long as the
    process, so ``gc.freeze`` moves them out of the collector's way. Garbage is still
    freed at once by reference counting; only reference cycles wait longer.
    """
    gc.collect()
    gc.freeze()
    first, second, _ = gc.get_threshold()
    gc.set_threshold(first, second, GC_OLDEST_EVERY)


async def start_platform(adapter: Platform) -> None:
    """Start an adapter, turning its known start-up failures into one StartError."""
    name = adapter.port.platform
    try:
        await adapter.start()
    except Exception as exc:
        reason = _start_failure(name, exc)
        if reason is None:
            raise
        raise StartError(reason) from exc


def _start_failure(platform: str, exc: Exception) -> str | None:
    """What to tell the operator about a known start-up failure; None for anything else.

    A platform's library is only imported here once its adapter was built (and so
    imported it), which keeps the import free.
    """
    if platform == "slack":
        from adapters.slack.app import SlackStartError

        if isinstance(exc, SlackStartError):
            return f"Slack: {exc}"
    if platform == "discord":
        import discord

        if isinstance(exc, discord.LoginFailure):
            return "Discord refused the token (check DISCORD_TOKEN)"
        if isinstance(exc, discord.PrivilegedIntentsRequired):
            return f"Discord: {exc}"
    if isinstance(exc, TimeoutError):
        return f"{platform}: {exc}"
    return None


def build_discord(service: Mentorbot, config: Config) -> DiscordAdapter:
    from adapters.discord.bot import DiscordAdapter

    d = config.discord
    assert d.token is not None
    return DiscordAdapter(
        service,
        token=d.token.get_secret_value(),
        application_id=d.application_id,
        api_base_url=d.api_base_url,
        gateway_url=d.gateway_url,
        dev_guild_id=d.dev_guild_id,
        capture_group_replies=d.capture_group_replies,
        list_role_members=d.list_role_members,
    )


def build_slack(
    service: Mentorbot,
    config: Config,
    *,
    server: web.Application | None = None,
    engine: AsyncEngine | None = None,
) -> SlackAdapter:
    """One workspace (a bot token) or many (OAuth; installations kept on ``engine``)."""
    from adapters.slack.app import SlackAdapter
    from adapters.slack.installation import OAuthSettings

    s = config.slack

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    oauth = None
    if s.oauth:
        assert s.client_id is not None
        oauth = OAuthSettings(
            client_id=s.client_id,
            client_secret=secret(s.client_secret) or "",
            redirect_uri=s.redirect_url,
            token_rotation=s.token_rotation,
            rotate_within_minutes=s.token_rotation_minutes,
        )
    return SlackAdapter(
        service,
        bot_token=None if oauth is not None else secret(s.bot_token),
        oauth=oauth,
        engine=engine,
        signing_secret=secret(s.signing_secret),
        app_token=secret(s.app_token),
        mode=s.mode,
        http_host=s.http_host,
        http_port=s.http_port,
        api_base_url=s.api_base_url,
        server=server,
        command=s.command,
        badge_usergroups=s.badge_usergroups,
    )


def build_http_server(config: Config, service: Mentorbot) -> HttpServer | None:
    """The one HTTP server, when something needs it: the calendar feed, the Slack HTTP
    mode and the health endpoints share it (at Slack's ``http_host:http_port`` when that
    mode runs, else at the ``[calendar]`` host and port when the feed is on, else at the
    ``[health]`` host and port). The health routes are added by :func:`add_operator_routes`
    once the adapters exist."""
    slack_http = config.slack.enabled and config.slack.mode == "http"
    if not (config.calendar.enabled or slack_http or config.health.enabled):
        return None
    from bot.http import HttpServer, add_calendar_feed

    if slack_http:
        server = HttpServer(config.slack.http_host, config.slack.http_port)
    elif config.calendar.enabled:
        server = HttpServer(config.calendar.host, config.calendar.port)
    else:
        server = HttpServer(config.health.host, config.health.port)
    if config.calendar.enabled:
        add_calendar_feed(server, service)
    return server


def build_metrics(config: Config) -> Metrics | None:
    """This process's Prometheus metrics (``[health] metrics``), before anything reports."""
    if not (config.health.enabled and config.health.metrics):
        return None
    from bot.metrics import Metrics

    return Metrics()


def add_operator_routes(
    server: HttpServer,
    config: Config,
    service: Mentorbot,
    adapters: list[Platform],
    metrics: Metrics | None,
) -> Readiness | None:
    """``/healthz``, ``/readyz`` and ``/metrics`` on the server (bot/health.py); returns
    what ``/readyz`` reports, or None if health is turned off."""
    if not config.health.enabled:
        return None
    from bot.health import Readiness, add_operator_routes, queue_reader

    read_queue = queue_reader(service.readers, service.clock)
    if metrics is not None:
        metrics.watch_queue(read_queue, service.clock)
    # Readiness: the lag of what this process delivers (another platform's or shard's
    # effects wait for the process that runs it, see build_dispatcher).
    scope = claim_scope(config, (a.port.platform for a in adapters)) if adapters else None
    readiness = Readiness(
        queue_reader(service.readers, service.clock, scope),
        service.clock,
        adapters,
        database_timeout=config.health.database_timeout_seconds,
        max_delivery_lag=config.health.max_delivery_lag_seconds,
    )
    add_operator_routes(server, readiness, metrics)
    return readiness
