"""Logging set-up: readable lines or one JSON object per line, never a secret.

``[logging] format = "json"`` writes each record as one JSON object on one line:
``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, then, when known, the
interaction's fields from core/logcontext.py (``command``, ``community``, ``interaction``,
``error_ref`` — the reference the member's apology shows —, ``platform``, ``job``) and
``exception`` (the traceback).

Secrets. Every record of every logger (ours, discord.py's, Bolt's, SQLAlchemy's) passes
:class:`RedactSecrets` on its way out: the configured tokens, signing secret and database
password are replaced wherever they appear, as are strings shaped like a Slack token, a
Discord bot token, an ``Authorization`` header or a password in a URL.

Message content is kept out at the source: the bot logs ids, names and counts, never what
a member wrote; statements' parameters are hidden from database errors (core/db.py); and
libraries that echo payloads at DEBUG are held at INFO (``PAYLOAD_LOGGERS``).
tests/bot/test_logs.py checks a DM relay and failing commands at DEBUG.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from pydantic import BaseModel, SecretStr
from sqlalchemy.engine import make_url

from bot.config import Config
from core.logcontext import FIELDS, current_fields

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "[redacted]"
HANDLER_NAME = "mentorbot"
# Libraries whose DEBUG output echoes payloads (gateway events, API request bodies,
# statements with their parameters), so message text: held at INFO even when the bot
# logs at DEBUG. (SQLAlchemy holds its own loggers at WARNING.)
PAYLOAD_LOGGERS = ("aiosqlite", "discord", "slack_bolt", "slack_sdk", "adapters.slack.bolt")
# Secrets shorter than this are not searched for (they would match ordinary words).
MIN_SECRET_LENGTH = 6

# (pattern, replacement) for secrets the configuration does not name.
_PATTERNS = (
    # Slack tokens: bot, user, app-level, configuration, legacy.
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]{8,}"), MASK),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"), MASK),
    # A Discord bot token: base64 user id . timestamp . HMAC.
    (re.compile(r"\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,}"), MASK),
    # Authorization header values (Bot / Bearer / Basic credentials).
    (re.compile(r"(?i)\b(bot|bearer|basic)\s+[A-Za-z0-9_.=+/-]{16,}"), rf"\1 {MASK}"),
    # A password in a URL, scheme://user:password@host: the user stays.
    (re.compile(r"(://[^:/@\s]+):[^@/\s]+@"), rf"\1:{MASK}@"),
)


class RedactSecrets(logging.Filter):
    """Replaces secrets in a record's message, arguments and traceback."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted(
            {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = dict(current_fields())
        # Fields given explicitly (``extra={"command": ...}``) win over the scope's.
        fields.update({k: str(v) for k in FIELDS if (v := getattr(record, k, None)) is not None})
        entry.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def secrets_of(config: Config) -> list[str]:
    """Every secret value in the configuration: tokens, signing secret, DB password."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))

    walk(config)
    try:
        password = make_url(config.database.url).password
    except Exception:
        password = None
    if password:
        found.append(str(password))
    return found


def configure_logging(
    config: Config, *, level: str | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Install the bot's root handler, formatted as configured and redacting the
    configuration's secrets (replacing one installed before; other handlers stay).
    Returns it, so a caller (a test) can remove it again."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if config.logging.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactSecrets(secrets_of(config)))
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level or config.logging.level)
    for name in PAYLOAD_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
    return handler
