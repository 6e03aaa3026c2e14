"""Structured logs: one JSON object per line carrying the interaction's fields and the
reference an apology shows; never a secret, never what a member wrote."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import COMMUNITY_ID, ConsoleBot
from bot.config import Config
from bot.logs import (
    MASK,
    PAYLOAD_LOGGERS,
    JsonFormatter,
    RedactSecrets,
    configure_logging,
    secrets_of,
)
from core.logcontext import annotate, current_fields, log_scope
from tests.adapters.console.test_issue8_core import _connected

DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.abcdefghijklmnopqrstuvwxyz012345678"
SLACK_TOKEN = "xoxb-1111-2222-notarealtokenatall"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
APP_TOKEN = "xapp-1-A111-222-feedfacecafe"
DM_TEXT = "my rent is late again and I feel ashamed"
SECOND_DM = "please keep this between us, the loan was denied"
BIO = "Quietly funding 12 loans in Lagos since 2019"


def _config(**extra: Any) -> Config:
    return Config.model_validate(
        {
            "discord": {"token": DISCORD_TOKEN},
            "slack": {
                "bot_token": SLACK_TOKEN,
                "signing_secret": SIGNING_SECRET,
                "app_token": APP_TOKEN,
            },
            "logging": {"format": "json"},
            **extra,
        }
    )


@contextmanager
def _logging_to(config: Config, level: str) -> Iterator[io.StringIO]:
    """The bot's logging set-up, writing to a string; undone afterwards."""
    stream = io.StringIO()
    loggers = [logging.getLogger(), *map(logging.getLogger, PAYLOAD_LOGGERS)]
    levels = [logger.level for logger in loggers]
    handler = configure_logging(config, level=level, stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)
        for logger, was in zip(loggers, levels, strict=True):
            logger.setLevel(was)


@asynccontextmanager
async def _table_away(factory: async_sessionmaker[AsyncSession], table: str) -> AsyncIterator[None]:
    """A table the next statements cannot find (a failure on the bot's side)."""
    async with factory() as session, session.begin():
        await session.execute(text(f"ALTER TABLE {table} RENAME TO {table}_away"))
    try:
        yield
    finally:
        async with factory() as session, session.begin():
            await session.execute(text(f"ALTER TABLE {table}_away RENAME TO {table}"))


def _reference(lines: list[str]) -> str:
    found = [m.group(1) for line in lines if (m := re.search(r"reference: `(\w+)`", line))]
    assert len(found) == 1, lines
    return found[0]


async def test_json_lines_carry_the_failure_reference_and_no_secret_or_dm_text(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    with _logging_to(_config(), "DEBUG") as stream:
        await _connected(console)  # alice mentors dave; dave is acting
        relayed = await console.say(f"dm {DM_TEXT}")
        assert any(DM_TEXT in line for line in relayed)  # reached alice
        async with _table_away(factory, "mentor_messages"):
            dm_failed = await console.say(f"dm {SECOND_DM}")
        dm_ref = _reference(dm_failed)
        await console.handle("as @bob")
        async with _table_away(factory, "mentors"):
            apply_failed = await console.say(
                f'/mentor apply bio:"{BIO}" expertise:giving availability:6 style:async '
                "languages:en timezone:Europe/Madrid"
            )
        apply_ref = _reference(apply_failed)
        # What a library might log: a request header, a token, a connection URL.
        logging.getLogger("discord.http").warning("headers: Authorization: Bot %s", DISCORD_TOKEN)
        logging.getLogger("slack_bolt").warning("token=%s secret=%s", SLACK_TOKEN, SIGNING_SECRET)
        logging.getLogger("sqlalchemy").warning("url postgresql://bot:hunter2-pw@db:5432/x")

    written = stream.getvalue()
    records = [json.loads(line) for line in written.splitlines()]
    assert len(records) == 5  # the two failures and the three library lines
    # The driver's own DEBUG lines (each statement with its parameters) stayed off.
    assert not [r for r in records if r["logger"].startswith("aiosqlite")]
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= set(record)
    for secret in (DISCORD_TOKEN, SLACK_TOKEN, SIGNING_SECRET, APP_TOKEN, "hunter2-pw"):
        assert secret not in written
    for words in (DM_TEXT, SECOND_DM, BIO):
        assert words not in written
    assert MASK in written

    failures = {r["error_ref"]: r for r in records if "error_ref" in r}
    assert set(failures) == {dm_ref, apply_ref}
    apply_line = failures[apply_ref]
    assert apply_line["level"] == "ERROR"
    assert apply_line["command"] == "mentor apply"
    assert apply_line["community"] == COMMUNITY_ID
    assert apply_line["platform"] == "console"
    assert apply_ref in apply_line["message"]
    assert "no such table" in apply_line["exception"] or "does not exist" in apply_line["exception"]
    assert failures[dm_ref]["platform"] == "console"
    assert "exception" in failures[dm_ref]


def test_json_lines_parse_one_per_line_even_with_newlines_in_the_message() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("mentorbot.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with log_scope(interaction="42", platform="discord"):
            annotate(command="mentor help")
            logger.warning("two\nlines")
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("failed")
        logger.info("outside", extra={"command": "admin setup"})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first["message"] == "two\nlines"
    assert (first["interaction"], first["platform"], first["command"]) == (
        "42",
        "discord",
        "mentor help",
    )
    assert "ValueError: boom" in second["exception"]
    assert third["command"] == "admin setup"
    assert "interaction" not in third
    assert current_fields() == {}


@pytest.mark.parametrize(
    ("line", "leaked"),
    [
        (f"token {SLACK_TOKEN}", SLACK_TOKEN),
        (f"app {APP_TOKEN}", APP_TOKEN),
        (f"discord {DISCORD_TOKEN}", DISCORD_TOKEN),
        (f"signing {SIGNING_SECRET} here", SIGNING_SECRET),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"),
        ("dsn postgresql://bot:s3cret-pass@db/mentorbot", "s3cret-pass"),
    ],
)
def test_the_redaction_filter_masks_secrets(line: str, leaked: str) -> None:
    redact = RedactSecrets(secrets_of(_config()))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (line,), None)
    assert redact.filter(record)
    assert leaked not in record.getMessage()
    assert MASK in record.getMessage()


def test_the_redaction_filter_masks_secrets_in_tracebacks_and_keeps_ordinary_words() -> None:
    config = _config(database={"url": "postgresql://bot:pw-from-config@db/mentorbot"})
    redact = RedactSecrets(secrets_of(config))
    try:
        raise RuntimeError(f"login failed for {DISCORD_TOKEN} via pw-from-config")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "a bot said %s", ("hi",), None)
        record.exc_info = sys.exc_info()
    redact.filter(record)
    assert record.getMessage() == "a bot said hi"
    assert record.exc_text is not None
    assert DISCORD_TOKEN not in record.exc_text
    assert "pw-from-config" not in record.exc_text
    assert "RuntimeError: login failed for [redacted]" in record.exc_text


def test_text_format_is_the_default_and_redacts_too() -> None:
    with _logging_to(_config(logging={"format": "text"}), "INFO") as stream:
        logging.getLogger("mentorbot.test").info("sending %s", SLACK_TOKEN)
    assert Config().logging.format == "text"
    out = stream.getvalue()
    assert "INFO mentorbot.test: sending [redacted]" in out
    assert not out.lstrip().startswith("{")
