"""Wire-level vocabulary shared by the fake Discord modules.

Constants (permission bits, channel types), Discord-style API errors, timestamps and snowflakes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from typing import Any

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1_420_070_400_000
DEFAULT_BOT_USER_ID = 1_000_000_000_000_000_001
DEFAULT_BOT_NAME = "Mentorbot"
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


class Perm:
    """Discord permission bits (only the ones the fake reasons about, plus common extras)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40
    CREATE_EVENTS = 1 << 44
    PIN_MESSAGES = 1 << 51
    ALL = (1 << 53) - 1

    DEFAULT_EVERYONE = (
        CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
        | CONNECT
        | SPEAK
        | CHANGE_NICKNAME
        | USE_APPLICATION_COMMANDS
        | CREATE_PUBLIC_THREADS
        | CREATE_PRIVATE_THREADS
        | SEND_MESSAGES_IN_THREADS
    )


class ChannelType:
    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GUILD_CATEGORY = 4
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12

    THREADS = frozenset({10, 11, 12})


class ApiError(Exception):
    """Raised by the fake's logic; turned into a Discord-style JSON error response."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body

    @classmethod
    def not_found(cls, what: str, code: int) -> ApiError:
        return cls(404, code, f"Unknown {what}")

    @classmethod
    def missing_permissions(cls) -> ApiError:
        return cls(403, 50013, "Missing Permissions")

    @classmethod
    def invalid_form(cls, path: str, error_code: str, message: str) -> ApiError:
        errors: JSON = {}
        node = errors
        for part in path.split("."):
            node = node.setdefault(part, {})
        node["_errors"] = [{"code": error_code, "message": message}]
        return cls(400, 50035, "Invalid Form Body", errors)


def iso(ts: float | None = None) -> str:
    when = dt.datetime.fromtimestamp(time.time() if ts is None else ts, dt.UTC)
    return when.isoformat()


class SnowflakeFactory:
    """Produces strictly increasing, timestamp-based snowflakes."""

    def __init__(self) -> None:
        self._last = 0
        self._increment = itertools.count()

    def __call__(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (ms << 22) | (next(self._increment) & 0xFFF)
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return candidate


def normalize_overwrite(raw: JSON) -> JSON:
    return {
        "id": str(raw["id"]),
        "type": int(raw.get("type", 0)),
        "allow": str(raw.get("allow", "0")),
        "deny": str(raw.get("deny", "0")),
    }
