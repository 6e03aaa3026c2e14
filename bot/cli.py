"""The ``mentorbot`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from adapters.console.bot import ConsoleBot
from bot.config import Config, ConfigError, load_config, masked
from bot.wiring import build_console, open_database, start_scheduler
from core import db

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
    migrate = sub.add_parser("migrate", help="upgrade the database schema to the newest version")
    migrate.add_argument("--revision", default="head")
    sub.add_parser("check-config", help="print the effective configuration, secrets masked")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"Configuration error:\n{exc}", file=sys.stderr)
        return 2
    command = args.command or "run"
    logging.basicConfig(
        level=config.logging.level
        if command != "console" and not _console_only(config)
        else "WARNING",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if command == "check-config":
            print(json.dumps(masked(config), indent=2))
            return 0
        if command == "migrate":
            db.upgrade(config.database.url, args.revision)
            revision = db.head_revision() if args.revision == "head" else args.revision
            print(f"Database is at {revision}.")
            return 0
        if command == "console":
            url = args.database or config.database.url
            script = args.script.read_text(encoding="utf-8").splitlines() if args.script else None
            return asyncio.run(_console(config, url, script))
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


def _console_only(config: Config) -> bool:
    return not config.discord.enabled and not config.slack.enabled


async def _console(config: Config, url: str, script: list[str] | None) -> int:
    lines = script
    engine, factory = await open_database(url, create_if_new=True)
    bot = build_console(factory, config, sink=print)
    try:
        if lines is not None:
            for line in lines:
                await bot.handle(line)
            if bot.parse_errors:  # only for scripts
                print(f"{bot.parse_errors} line(s) could not be parsed", file=sys.stderr)
                return 1
            return 0
        return await _interactive(bot, config)
    finally:
        await engine.dispose()


async def _interactive(bot: ConsoleBot, config: Config) -> int:
    bot.echo_input = False
    print(
        "Mentorbot console. Start with `as @you --admin`, then `/admin setup …`; `help` lists "
        "commands; Ctrl-D quits."
    )
    scheduler = start_scheduler(bot.dispatcher, config, service=bot.service)
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


async def _run_platforms(config: Config) -> int:
    print(
        "Discord and Slack adapters are not part of this build yet; unset the tokens to use "
        "the console.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
