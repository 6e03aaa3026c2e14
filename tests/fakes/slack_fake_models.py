"""Data model and pure helpers of the fake Slack server (entry point: ``slack_fake.FakeSlack``).

Nothing here does I/O. The dataclasses render themselves in the JSON shapes the real Slack
Web API returns (``to_api()``), trimmed to the fields bots commonly read.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

JsonDict = dict[str, Any]

# Fields that slack_sdk (or hand-written callers) may send as JSON-encoded strings in form posts.
JSON_STRING_FIELDS = frozenset(
    {"blocks", "attachments", "view", "metadata", "prefs", "options", "channels_json"}
)


class SlackError(Exception):
    """Raised by a Web API handler to answer ``{"ok": false, "error": ..., **extra}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def to_body(self) -> JsonDict:
        return {"ok": False, "error": self.error, **self.extra}


@dataclass
class ApiCall:
    """One HTTP hit on ``/api/{method}``: merged arguments plus what the fake answered."""

    method: str
    args: JsonDict
    http_method: str
    token: str | None
    content_type: str
    status: int = 200
    response: JsonDict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.response.get("ok") is True

    @property
    def error(self) -> str | None:
        err = self.response.get("error")
        return err if isinstance(err, str) else None

    def get(self, key: str, default: Any = None) -> Any:
        return self.args.get(key, default)


@dataclass
class Fault:
    """A queued failure for ``fail_next``."""

    status: int
    retry_after: int | str | None = None
    error: str | None = None
    body: JsonDict | None = None
    channel: str | None = None  # only calls naming this channel (None: any call)


@dataclass
class FakeUser:
    id: str
    name: str
    team_id: str
    real_name: str = ""
    tz: str = "Europe/Madrid"
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    deleted: bool = False
    email: str | None = None

    def to_api(self) -> JsonDict:
        offset, label = tz_offset_and_label(self.tz)
        real_name = self.real_name or self.name
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": real_name,
            "tz": self.tz,
            "tz_label": label,
            "tz_offset": offset,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1_700_000_000,
            "profile": {
                "real_name": real_name,
                "real_name_normalized": real_name,
                "display_name": self.name,
                "display_name_normalized": self.name,
                "email": self.email,
                "team": self.team_id,
                "image_48": f"https://fake.slack-edge.com/{self.id}_48.png",
            },
        }


@dataclass
class FakeChannel:
    id: str
    name: str
    created: int
    is_private: bool = False
    is_im: bool = False
    is_mpim: bool = False
    is_archived: bool = False
    members: list[str] = field(default_factory=list)
    creator: str = ""
    topic: str = ""
    purpose: str = ""
    user: str | None = None  # the human side of an IM

    def to_api(self, viewer: str, *, include_num_members: bool = False) -> JsonDict:
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.user,
                "is_user_deleted": False,
                "priority": 0,
            }
        body: JsonDict = {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private and not self.is_mpim,
            "is_group": self.is_private and not self.is_mpim,
            "is_im": False,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private,
            "created": self.created,
            "is_archived": self.is_archived,
            "is_general": False,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_member": viewer in self.members,
            "creator": self.creator,
            "topic": {"value": self.topic, "creator": "", "last_set": 0},
            "purpose": {"value": self.purpose, "creator": "", "last_set": 0},
        }
        if include_num_members:
            body["num_members"] = len(self.members)
        return body


@dataclass
class StoredMessage:
    channel: str
    ts: str
    text: str
    user: str
    blocks: list[JsonDict] = field(default_factory=list)
    attachments: list[JsonDict] = field(default_factory=list)
    thread_ts: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    metadata: JsonDict | None = None
    edited: JsonDict | None = None
    reply_users: list[str] = field(default_factory=list)
    reply_count: int = 0
    latest_reply: str | None = None
    reply_broadcast: bool = False
    reactions: dict[str, list[str]] = field(default_factory=dict)
    files: list[JsonDict] = field(default_factory=list)
    pinned: bool = False
    deleted: bool = False

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self, *, include_metadata: bool = True) -> JsonDict:
        """The message as the Web API shows it; reads of history show ``metadata`` only
        when asked (``include_all_metadata``)."""
        body: JsonDict = {"type": "message", "ts": self.ts, "user": self.user, "text": self.text}
        if self.bot_id:
            body["bot_id"] = self.bot_id
            body["app_id"] = self.app_id
        if self.blocks:
            body["blocks"] = self.blocks
        if self.attachments:
            body["attachments"] = self.attachments
        if self.thread_ts:
            body["thread_ts"] = self.thread_ts
        if self.reply_count:
            body.update(
                reply_count=self.reply_count,
                reply_users=list(self.reply_users),
                reply_users_count=len(self.reply_users),
                latest_reply=self.latest_reply,
            )
        if self.files:
            body["files"] = self.files
        if self.metadata and include_metadata:
            body["metadata"] = self.metadata
        if self.edited:
            body["edited"] = self.edited
        if self.reactions:
            body["reactions"] = [
                {"name": name, "users": users, "count": len(users)}
                for name, users in self.reactions.items()
            ]
        return body


@dataclass
class EphemeralMessage:
    channel: str
    user: str
    ts: str
    text: str
    blocks: list[JsonDict] = field(default_factory=list)
    thread_ts: str | None = None


@dataclass
class FakeView:
    id: str
    team_id: str
    user_id: str
    view: JsonDict
    hash: str
    app_id: str
    bot_id: str
    root_view_id: str
    previous_view_id: str | None = None
    state_values: JsonDict = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.view.get("type", ""))

    @property
    def callback_id(self) -> str:
        return str(self.view.get("callback_id", ""))

    def to_api(self) -> JsonDict:
        v = self.view
        return {
            "id": self.id,
            "team_id": self.team_id,
            "type": v.get("type"),
            "title": v.get("title"),
            "submit": v.get("submit"),
            "close": v.get("close"),
            "blocks": v.get("blocks", []),
            "private_metadata": v.get("private_metadata", ""),
            "callback_id": v.get("callback_id", ""),
            "external_id": v.get("external_id", ""),
            "state": {"values": self.state_values},
            "hash": self.hash,
            "clear_on_close": bool(v.get("clear_on_close", False)),
            "notify_on_close": bool(v.get("notify_on_close", False)),
            "root_view_id": self.root_view_id,
            "previous_view_id": self.previous_view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }


@dataclass
class FakeFile:
    """A file uploaded with files.getUploadURLExternal → upload URL → completeUploadExternal."""

    id: str
    name: str
    length: int
    data: bytes | None = None
    title: str = ""
    channels: list[str] = field(default_factory=list)
    completed: bool = False

    def to_api(self) -> JsonDict:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title or self.name,
            "size": len(self.data or b""),
            "channels": list(self.channels),
        }


@dataclass
class FakeUsergroup:
    id: str
    team_id: str
    name: str
    handle: str
    created_by: str
    date_create: int
    description: str = ""
    users: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    disabled: bool = False
    updated_by: str = ""
    date_update: int = 0

    def to_api(self, *, include_users: bool = True, include_count: bool = False) -> JsonDict:
        body: JsonDict = {
            "id": self.id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "is_subteam": True,
            "name": self.name,
            "description": self.description,
            "handle": self.handle,
            "is_external": False,
            "date_create": self.date_create,
            "date_update": self.date_update or self.date_create,
            "date_delete": self.date_update if self.disabled else 0,
            "created_by": self.created_by,
            "updated_by": self.updated_by or self.created_by,
            "prefs": {"channels": list(self.channels), "groups": []},
        }
        if include_users:
            body["users"] = list(self.users)
        if include_users or include_count:
            body["user_count"] = len(self.users)
        return body


@dataclass
class ResponseUrlTarget:
    """Where a fake ``response_url`` points (the interaction's channel/message/user)."""

    id: str
    user_id: str
    channel_id: str | None
    message_ts: str | None = None


@dataclass
class ResponseUrlPost:
    """One POST received on a fake ``response_url`` (what Bolt's ``respond()`` sent)."""

    response_id: str
    url: str
    body: JsonDict
    channel_id: str | None
    user_id: str
    message_ts: str | None


@dataclass
class SocketEnvelope:
    envelope_id: str
    type: str
    payload: JsonDict
    accepts_response_payload: bool
    retry_attempt: int | None
    retry_reason: str | None
    sent_at: float

    def to_wire(self) -> JsonDict:
        body: JsonDict = {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "accepts_response_payload": self.accepts_response_payload,
            "payload": self.payload,
        }
        if self.retry_attempt is not None:
            body["retry_attempt"] = self.retry_attempt
            body["retry_reason"] = self.retry_reason or ""
        return body


@dataclass
class SocketAck:
    envelope_id: str
    payload: JsonDict | None
    latency: float


@dataclass
class AppResponse:
    """What an app served over HTTP answered to ``FakeSlack.post_to_app``."""

    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class TsClock:
    """Slack-style message timestamps ("1700000000.000100"), strictly increasing."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> str:
        now = int(time.time() * 1_000_000)
        self._last = max(now, self._last + 1)
        return f"{self._last // 1_000_000}.{self._last % 1_000_000:06d}"


class IdFactory:
    """Slack-looking ids: prefix + uppercase alphanumerics (``C0FAKE0001``)."""

    def __init__(self) -> None:
        self._counters: dict[str, int] = {}

    def next(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        return f"{prefix}0FAKE{n:04d}"


_CHANNEL_NAME_OK = re.compile(r"^[a-z0-9_-]+$")


def channel_name_error(name: str) -> str | None:
    """Slack's conversations.create name rules; returns the error code or None."""
    if not name:
        return "invalid_name_required"
    if len(name) > 80:
        return "invalid_name_maxlength"
    if not _CHANNEL_NAME_OK.match(name):
        return "invalid_name_specials"  # upper case, spaces, periods, other punctuation
    if not re.search(r"[a-z0-9]", name):
        return "invalid_name_punctuation"
    return None


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return str(value).strip().lower() in {"1", "true", "yes"}


def as_int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def split_ids(value: Any) -> list[str]:
    """A comma-separated string (what slack_sdk sends) or a JSON list → list of ids."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def decode_json_fields(args: JsonDict) -> JsonDict:
    """Decode fields such as ``blocks``/``view`` that arrive as JSON strings in form posts."""
    for key in JSON_STRING_FIELDS & args.keys():
        value = args[key]
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            with contextlib.suppress(json.JSONDecodeError):
                args[key] = json.loads(value)
    return args


def tz_offset_and_label(tz: str) -> tuple[int, str]:
    try:
        now = datetime.now(ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        return 0, tz
    offset = now.utcoffset()
    return (int(offset.total_seconds()) if offset else 0), (now.tzname() or tz)


def view_errors(view: Any, *, expected_types: tuple[str, ...]) -> list[str]:
    """The subset of Slack's view validation that catches common bot bugs.

    Returns ``response_metadata.messages``-style strings; empty when valid.
    """
    if not isinstance(view, dict):
        return ["[ERROR] missing required field: view"]
    errors: list[str] = []
    vtype = view.get("type")
    if vtype not in expected_types:
        errors.append(f"[ERROR] must be one of {list(expected_types)} [json-pointer:/view/type]")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        errors.append("[ERROR] missing required field: blocks [json-pointer:/view/blocks]")
    elif len(blocks) > 100:
        errors.append("[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]")
    if vtype == "modal":
        title = view.get("title")
        if not isinstance(title, dict) or not title.get("text"):
            errors.append("[ERROR] missing required field: title [json-pointer:/view/title]")
        for key in ("title", "submit", "close"):
            part = view.get(key)
            if isinstance(part, dict) and len(str(part.get("text", ""))) > 24:
                errors.append(
                    f"[ERROR] must be less than 25 characters [json-pointer:/view/{key}/text]"
                )
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if has_input and not view.get("submit"):
            errors.append(
                "[ERROR] must provide a submit property when using input blocks "
                "[json-pointer:/view]"
            )
    if len(str(view.get("private_metadata", ""))) > 3000:
        errors.append(
            "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]"
        )
    if len(str(view.get("callback_id", ""))) > 255:
        errors.append("[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]")
    return errors


def blocks_error(blocks: Any) -> str | None:
    """``invalid_blocks`` / ``invalid_blocks_format`` checks for chat.* methods."""
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        return "invalid_blocks_format"
    if len(blocks) > 50 or any(not isinstance(b, dict) or "type" not in b for b in blocks):
        return "invalid_blocks"
    return None


def find_element(blocks: Any, action_id: str) -> tuple[str | None, JsonDict | None]:
    """Locate an interactive element by ``action_id``: returns (block_id, element)."""
    if not isinstance(blocks, list):
        return None, None
    for block in blocks:
        if not isinstance(block, dict):
            continue
        candidates: list[Any] = []
        if isinstance(block.get("elements"), list):
            candidates.extend(block["elements"])
        candidates.extend(block.get(k) for k in ("accessory", "element"))
        for el in candidates:
            if isinstance(el, dict) and el.get("action_id") == action_id:
                return block.get("block_id"), el
    return None, None
