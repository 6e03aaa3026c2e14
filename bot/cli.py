"""The ``mentorbot`` command line.

Imports are made where they are used, so ``--help``, the console and each command load
only what they need (no platform library, numpy or Alembic unless asked for).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.console.bot import ConsoleBot
    from bot.config import Config
    from core.leader import Leadership

log = logging.getLogger("mentorbot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mentorbot", description="Mentorship and peer-support bot for Discord and Slack."
    )
    parser.add_argument(
        "--config", help="TOML config file (default: $MENTORBOT_CONFIG or ./mentorbot.toml)"
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="start the configured adapters (the console when no tokens are set)")
    console = sub.add_parser("console", help="the local console bot on SQLite")
    console.add_argument("--script", type=Path, help="run these lines and print the transcript")
    console.add_argument("--database", help="database URL (overrides the config)")
    console.add_argument(
        "--demo-clock",
        action="store_true",
        help="a clock that starts now and moves only with `advance` (see nudges, expiry)",
    )
    demo = sub.add_parser(
        "demo", help="play a scripted community through every feature, checking each step"
    )
    demo.add_argument("--step", action="store_true", help="pause between sections (Enter)")
    demo.add_argument(
        "--database", help="database URL (default: a throwaway SQLite file, removed at the end)"
    )
    demo.add_argument(
        "--files-dir",
        type=Path,
        help="keep the files members are sent here (default: a temporary folder)",
    )
    migrate = sub.add_parser("migrate", help="upgrade the database schema to the newest version")
    migrate.add_argument("--revision", default="head")
    sub.add_parser("check-config", help="print the effective configuration, secrets masked")
    sub.add_parser("discord-invite", help="print the OAuth2 URL that adds the bot to a server")
    sync = sub.add_parser("discord-sync", help="register the slash commands with Discord now")
    sync.add_argument("--guild", help="only this server (instant); default: global")
    manifest = sub.add_parser("slack-manifest", help="print the Slack app manifest (JSON)")
    manifest.add_argument(
        "--request-url",
        help="https://your.host/slack/events (HTTP mode; default: slack.public_url's)",
    )
    manifest.add_argument(
        "--oauth",
        action="store_true",
        help="for installing in many workspaces: the redirect URL and distribution settings",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    from bot.config import ConfigError, load_config, masked
    from core import db

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"Configuration error:\n{exc}", file=sys.stderr)
        return 2
    command = args.command or "run"
    if not logging.getLogger().handlers:  # as basicConfig: a host's own set-up stays
        from bot.logs import configure_logging

        quiet = command == "console" or _console_only(config)
        configure_logging(config, level="WARNING" if quiet else config.logging.level)
    try:
        if command == "check-config":
            print(json.dumps(masked(config), indent=2))
            return 0
        if command == "migrate":
            db.upgrade(config.database.url, args.revision)
            revision = db.head_revision() if args.revision == "head" else args.revision
            print(f"Database is at {revision}.")
            return 0
        if command == "discord-invite":
            return _discord_invite(config)
        if command == "discord-sync":
            return asyncio.run(_discord_sync(config, args.guild))
        if command == "slack-manifest":
            return _slack_manifest(config, args.request_url, oauth=args.oauth)
        if command == "console":
            url = args.database or config.database.url
            script = args.script.read_text(encoding="utf-8").splitlines() if args.script else None
            return asyncio.run(_console(config, url, script, demo_clock=args.demo_clock))
        if _console_only(config):
            return asyncio.run(_console(config, config.database.url, None))
        return asyncio.run(_run_platforms(config))
    except db.SchemaOutOfDate as exc:
        print(str(exc), file=sys.stderr)
        return 3
    except ValueError as exc:  # a database URL that cannot be used
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _demo(args: argparse.Namespace) -> int:
    """The demo ignores the configuration file: its script expects the built-in settings."""
    from adapters.console.demo_script import DEMO
    from bot.demo import run_demo
    from core import db

    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(
            run_demo(DEMO, database=args.database, files_dir=args.files_dir, step=args.step)
        )
    except db.SchemaOutOfDate as exc:
        print(str(exc), file=sys.stderr)
        return 3
    except ValueError as exc:  # a database URL that cannot be used
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _console_only(config: Config) -> bool:
    return not config.discord.enabled and not config.slack.enabled


async def _console(
    config: Config, url: str, script: list[str] | None, *, demo_clock: bool = False
) -> int:
    from bot.wiring import build_console, open_database
    from core import leader
    from core.clock import FakeClock

    engine, factory = await open_database(url)
    leadership = leader.for_database(url)
    try:
        await leadership.start()  # a second process on one SQLite file is refused here
    except leader.AnotherProcess as exc:
        await engine.dispose()
        print(f"Could not start: {exc}", file=sys.stderr)
        return 2
    clock = FakeClock(datetime.now(UTC)) if demo_clock else None
    files = config.console.files_dir or str(Path(tempfile.gettempdir()) / "mentorbot-files")
    bot = build_console(factory, config, clock=clock, sink=print, files_dir=Path(files))
    try:
        if script is not None:
            return await _run_script(bot, script)
        return await _interactive(bot, config, leadership)
    finally:
        await leadership.stop()
        await engine.dispose()


async def _run_script(bot: ConsoleBot, script: list[str]) -> int:
    """Run the lines in order; stop at the first one that is not console syntax, since the
    lines after it would run in a state the script did not mean (e.g. as the wrong member)."""
    for number, line in enumerate(script, start=1):
        if not await bot.handle(line):
            print(
                f"Stopped at line {number}: {line.strip()}\n  {bot.last_parse_error}",
                file=sys.stderr,
            )
            return 1
    return 0


async def _interactive(bot: ConsoleBot, config: Config, leadership: Leadership) -> int:
    from bot.wiring import start_scheduler
    from core.clock import FakeClock

    bot.echo_input = False
    print(
        "Mentorbot console. Start with `as @you --admin`, then `/admin setup …`; `help` lists "
        "commands; Ctrl-D quits."
    )
    if isinstance(bot.service.clock, FakeClock):
        print("Demo clock: time stands still; `advance 1d` (or 2h, 15m) moves it.")
    await bot.dispatcher.start()
    scheduler = start_scheduler(bot.dispatcher, config, service=bot.service, leadership=leadership)
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, f"@{bot.current or '?'}> ")
            except EOFError:
                print()
                return 0
            await bot.handle(line)
    finally:
        scheduler.shutdown(wait=False)
        await bot.dispatcher.stop()


def _discord_invite(config: Config) -> int:
    from adapters.discord.invite import invite_url

    if not config.discord.application_id:
        print(
            "Configuration error:\ndiscord.application_id: required for the invite URL "
            "(Developer Portal → General Information → Application ID)",
            file=sys.stderr,
        )
        return 2
    print(invite_url(config.discord.application_id))
    return 0


async def _discord_sync(config: Config, guild: str | None) -> int:
    if not config.discord.enabled:
        print("Configuration error:\ndiscord.token: set DISCORD_TOKEN", file=sys.stderr)
        return 2
    from bot.wiring import build_discord, open_database
    from core.clock import SystemClock
    from core.service import Mentorbot

    engine, factory = await open_database(config.database.url)
    adapter = build_discord(Mentorbot(factory, SystemClock()), config)
    try:
        synced = await adapter.sync_commands(guild, force=True)
    finally:
        await adapter.stop()
        await engine.dispose()
    where = f"server {guild}" if guild else "every server (global; may take a while to show)"
    print(f"Slash commands {'registered' if synced else 'already up to date'} for {where}.")
    return 0


def _slack_manifest(config: Config, request_url: str | None, *, oauth: bool = False) -> int:
    from adapters.slack.manifest import build_manifest
    from core.commands import CATALOG

    s = config.slack
    socket_mode = s.mode == "socket" and not oauth
    public = s.public_url
    if public is None and request_url and request_url.endswith("/slack/events"):
        public = request_url.removesuffix("/slack/events")  # the same server's base URL
    request_url = request_url or (f"{public}/slack/events" if public else None)
    if not socket_mode and not request_url:
        print(
            "HTTP mode needs --request-url https://your.host/slack/events (or slack.public_url)",
            file=sys.stderr,
        )
        return 2
    if oauth and not public:
        print(
            "--oauth needs slack.public_url (https://your.host) or --request-url "
            "https://your.host/slack/events: Slack redirects installers to "
            "<public_url>/slack/oauth_redirect",
            file=sys.stderr,
        )
        return 2
    manifest = build_manifest(
        CATALOG,
        command=s.command,
        socket_mode=socket_mode,
        request_url=request_url,
        badge_usergroups=s.badge_usergroups,
        redirect_url=f"{public}/slack/oauth_redirect" if oauth else None,
        token_rotation=s.token_rotation,
    )
    print(json.dumps(manifest, indent=2))
    return 0


async def _run_platforms(config: Config, stop: asyncio.Event | None = None) -> int:
    """Run the configured adapters with one dispatcher and the scheduler until stopped.

    ``stop`` ends it (tests); otherwise SIGINT or SIGTERM does, also while starting (a
    start cut short stops what had started). Stopping: the scheduler first, then the
    dispatcher (calls under way finish, claimed rows are released), the HTTP server, the
    adapters and the database.
    """
    from bot.wiring import (
        Platform,
        StartError,
        add_operator_routes,
        build_discord,
        build_dispatcher,
        build_http_server,
        build_metrics,
        build_slack,
        core_settings,
        open_database,
        settle_memory,
        start_platform,
        start_scheduler,
    )
    from core import leader
    from core.clock import SystemClock
    from core.delivery import Dispatcher
    from core.service import Mentorbot

    stop = stop or asyncio.Event()
    metrics = build_metrics(config)
    engine, factory = await open_database(
        config.database.url, on_pool_wait=metrics.pool_wait if metrics else None
    )
    # Who runs the recurring jobs; on SQLite, a second process is refused here.
    leadership = leader.for_database(config.database.url)
    try:
        await leadership.start()
    except leader.AnotherProcess as exc:
        await engine.dispose()
        print(f"Could not start: {exc}", file=sys.stderr)
        return 2
    clock = SystemClock()
    holder: list[Dispatcher] = []
    service = Mentorbot(
        factory,
        clock,
        settings=core_settings(config),
        on_effects=lambda: holder[0].wake() if holder else None,
        observer=metrics,
    )
    adapters: list[Platform] = []
    http = build_http_server(config, service)
    if config.discord.enabled:
        adapters.append(build_discord(service, config))
    if config.slack.enabled:
        adapters.append(
            build_slack(service, config, server=http.app if http else None, engine=engine)
        )
    readiness = None
    if http is not None:
        readiness = add_operator_routes(http, config, service, adapters, metrics)
        if readiness is not None:
            readiness.started = False  # until start() below has run to its end
    dispatcher = build_dispatcher(
        factory, {a.port.platform: a.port for a in adapters}, config, clock, observer=metrics
    )
    holder.append(dispatcher)
    started: list[Platform] = []
    scheduler = None

    async def start() -> None:
        nonlocal scheduler
        for adapter in adapters:
            started.append(adapter)  # stopped on the way out even if cut short
            await start_platform(adapter)
        if http is not None:
            try:
                await http.start()
            except OSError as exc:
                raise StartError(
                    f"cannot listen on {http.host}:{http.port} ({exc.strerror or exc}); "
                    "another process has that port? See [health] port (or "
                    "MENTORBOT_HEALTH_PORT), [calendar] port, [slack] http_port"
                ) from exc
        # Heartbeat, then whatever was left queued (or claimed by a dead run) goes now.
        await dispatcher.start()
        scheduler = start_scheduler(dispatcher, config, service=service, leadership=leadership)
        settle_memory()
        log.info("Mentorbot is running (%s)", ", ".join(a.port.platform for a in adapters))
        if readiness is not None:
            readiness.started = True

    signals = _stop_on_signals(stop)
    try:
        if not await _unless_stopped(start(), stop):
            log.info("stopped while starting")
            return 0
        await stop.wait()
        log.info("stopping")
        return 0
    except StartError as exc:
        print(f"Could not start: {exc}", file=sys.stderr)
        return 2
    finally:
        gc.unfreeze()  # settle_memory froze start-up's heap (tests run this in-process)
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        await leadership.stop()  # another process takes the recurring jobs at once
        # Finishes the calls under way and releases every row still claimed.
        await dispatcher.stop()
        if http is not None:
            await http.stop()
        for adapter in reversed(started):
            await adapter.stop()
        await engine.dispose()
        signals()
        log.info("stopped")


def _stop_on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """SIGINT and SIGTERM set ``stop``; returns what puts the default handlers back."""
    loop = asyncio.get_running_loop()
    handled = (signal.SIGINT, signal.SIGTERM)
    for sig in handled:
        loop.add_signal_handler(sig, stop.set)

    def restore() -> None:
        for sig in handled:
            loop.remove_signal_handler(sig)

    return restore


async def _unless_stopped(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Run ``work`` unless ``stop`` is set first (then cancel it); True if it finished."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    task.result()  # its error, if it failed
    return True


if __name__ == "__main__":
    sys.exit(main())
