"""Composition: database, core service, dispatcher, scheduler and adapters, wired once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from adapters.console.port import ConsolePort
from bot.config import Config, DeliveryConfig
from core import db
from core.clock import Clock, SystemClock
from core.delivery import DeliverySettings, Dispatcher
from core.ports import PlatformPort
from core.service import Mentorbot

log = logging.getLogger(__name__)

DISPATCHER_JOB_ID = "delivery-dispatcher"
HOUSEKEEPING_JOB_ID = "request-housekeeping"
HOUSEKEEPING_MINUTES = 60


def delivery_settings(config: DeliveryConfig) -> DeliverySettings:
    return DeliverySettings(
        batch_size=config.batch_size,
        lease_seconds=config.lease_seconds,
        max_attempts=config.max_attempts,
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


async def open_database(
    url: str, *, create_if_new: bool = False
) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """Open the database, refusing a schema that is not at the newest migration.

    With ``create_if_new``, a SQLite file that does not exist yet is created and migrated
    (a brand-new local database holds nothing to upgrade, so nothing can be lost).
    """
    if create_if_new and (new_file := _new_sqlite_file(url)) is not None:
        print(f"(creating a new database at {new_file})")
        await db.upgrade_async(url)
    engine = db.create_engine(url)
    try:
        await db.ensure_schema_current(engine)
    except BaseException:
        await engine.dispose()
        raise
    return engine, db.session_factory(engine)


def build_console(
    factory: async_sessionmaker[AsyncSession],
    config: Config,
    *,
    clock: Clock | None = None,
    sink: Callable[[str], None] | None = None,
) -> ConsoleBot:
    clock = clock or SystemClock()
    service = Mentorbot(factory, clock)

    def make_dispatcher(port: ConsolePort) -> Dispatcher:
        return Dispatcher(factory, {"console": port}, clock, delivery_settings(config.delivery))

    return ConsoleBot(
        service, make_dispatcher, sink=sink, community_name=config.console.community_name
    )


def build_dispatcher(
    factory: async_sessionmaker[AsyncSession],
    ports: dict[str, PlatformPort],
    config: Config,
    clock: Clock,
) -> Dispatcher:
    return Dispatcher(factory, ports, clock, delivery_settings(config.delivery))


def start_scheduler(
    dispatcher: Dispatcher, config: Config, *, service: Mentorbot | None = None
) -> AsyncIOScheduler:
    """APScheduler is the clock, never the store: it wakes the dispatcher and runs the
    recurring jobs, whose state lives in the database."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        dispatcher.run_pending,
        "interval",
        seconds=config.delivery.poll_seconds,
        id=DISPATCHER_JOB_ID,
        replace_existing=True,
        max_instances=1,
        coalesce=True,
    )
    if service is not None:
        scheduler.add_job(
            service.housekeeping,
            "interval",
            minutes=HOUSEKEEPING_MINUTES,
            id=HOUSEKEEPING_JOB_ID,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
        )
    scheduler.start()
    return scheduler
