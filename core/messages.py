"""What the core says, independent of any platform: messages, buttons, forms, replies.

Text may carry four portable tokens that every adapter renders natively (see
:func:`render_tokens`): ``<t:UNIX:STYLE>`` a moment (each reader sees it in their own
zone), ``<@USER_ID>`` a member mention, ``<@&ROLE_ID>`` a role and ``<#CHANNEL_ID>`` a
channel. They are Discord's own syntax; Slack and the console translate them.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Tone = Literal["info", "success", "warning", "error"]
ButtonStyle = Literal["primary", "secondary", "success", "danger"]

MOMENT_RE = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
MENTION_RE = re.compile(r"<@!?([A-Za-z0-9_.\-]+)>")
CHANNEL_RE = re.compile(r"<#([A-Za-z0-9_.\-]+)>")


def moment(when: datetime, style: str = "F") -> str:
    """A portable timestamp token: F full, f short, D date, t time, R relative."""
    return f"<t:{int(when.timestamp())}:{style}>"


def mention(platform_user_id: str) -> str:
    return f"<@{platform_user_id}>"


@dataclass(frozen=True)
class Button:
    label: str
    action: str  # the namespaced custom_id, e.g. "mb:approve:abc123"
    style: ButtonStyle = "secondary"


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class File:
    """A file sent with a message (an export, a calendar entry, a chart)."""

    name: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Message:
    text: str = ""
    title: str | None = None
    fields: tuple[Field, ...] = ()
    buttons: tuple[Button, ...] = ()
    footer: str | None = None
    tone: Tone = "info"
    files: tuple[File, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # Every queued message is stored this way and read back before it is sent: parts
        # at their defaults are left out (from_dict restores them), which makes a plain
        # message's row about half as long to write and to parse.
        stored: dict[str, Any] = {"text": self.text, "title": self.title}
        if self.fields:
            stored["fields"] = [[f.name, f.value, f.inline] for f in self.fields]
        if self.buttons:
            stored["buttons"] = [[b.label, b.action, b.style] for b in self.buttons]
        if self.footer is not None:
            stored["footer"] = self.footer
        if self.tone != "info":
            stored["tone"] = self.tone
        if self.files:
            stored["files"] = [
                [f.name, base64.b64encode(f.data).decode(), f.content_type] for f in self.files
            ]
        return stored

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        # Read for every queued message the dispatcher sends; most have no fields,
        # buttons or files, so those are only built when present.
        fields, buttons, files = data.get("fields"), data.get("buttons"), data.get("files")
        return cls(
            data.get("text", ""),
            data.get("title"),
            tuple(Field(n, v, bool(i)) for n, v, i in fields) if fields else (),
            tuple(Button(lbl, a, s) for lbl, a, s in buttons) if buttons else (),
            data.get("footer"),
            data.get("tone", "info"),
            tuple(File(n, base64.b64decode(d), t) for n, d, t in files) if files else (),
        )


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    long: bool = False
    required: bool = True
    min_length: int | None = None
    max_length: int | None = None
    placeholder: str | None = None


@dataclass(frozen=True)
class Form:
    """A form (Discord modal, Slack modal, console prompt) whose submission goes to ``action``."""

    action: str
    title: str
    fields: tuple[FormField, ...]


@dataclass(frozen=True)
class Reply:
    """What a use case hands back to the member who acted.

    ``private`` replies are ephemeral where the platform allows; ``form`` asks the
    platform to open a form instead; ``update_origin`` replaces the message whose
    button was pressed (e.g. an application card once it is decided).
    """

    message: Message | None = None
    private: bool = True
    form: Form | None = None
    update_origin: Message | None = None


def say(text: str, *, tone: Tone = "info", title: str | None = None, private: bool = True) -> Reply:
    return Reply(message=Message(text=text, tone=tone, title=title), private=private)


ROLE_RE = re.compile(r"<@&([A-Za-z0-9_.\-]+)>")


def render_tokens(
    text: str,
    *,
    moment_fn: Any,
    mention_fn: Any,
    channel_fn: Any,
    role_fn: Any,
) -> str:
    """Replace the portable tokens in ``text`` using one function per token kind.

    ``moment_fn(unix: int, style: str)``, ``mention_fn(user_id)``, ``channel_fn(channel_id)``
    and ``role_fn(role_id)`` each return the platform's rendering.
    """
    text = MOMENT_RE.sub(lambda m: moment_fn(int(m.group(1)), m.group(2) or "f"), text)
    text = ROLE_RE.sub(lambda m: role_fn(m.group(1)), text)
    text = MENTION_RE.sub(lambda m: mention_fn(m.group(1)), text)
    return CHANNEL_RE.sub(lambda m: channel_fn(m.group(1)), text)
