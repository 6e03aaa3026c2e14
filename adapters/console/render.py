"""Console rendering: a core Message as indented plain-text lines."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from core.messages import Message, render_tokens

_STYLES = {
    "F": "%A, %d %B %Y %H:%M",
    "f": "%d %B %Y %H:%M",
    "D": "%d %B %Y",
    "d": "%Y-%m-%d",
    "t": "%H:%M",
    "T": "%H:%M:%S",
}
_TONE_MARK = {"success": "✓ ", "warning": "! ", "error": "✗ ", "info": ""}
# Console ids are member, role and channel names, which may be in any script; the core's
# token patterns cover Discord's and Slack's ASCII ids, so the rest is rendered here.
_NAMED_TOKEN = re.compile(r"<(@&|@!?|#)([^\s<>@&#!][^\s<>]*)>")


def text(value: str, tz: str, now: datetime) -> str:
    zone = ZoneInfo(tz)

    def moment(unix: int, style: str) -> str:
        when = datetime.fromtimestamp(unix, UTC)
        if style == "R":
            minutes = round((when - now).total_seconds() / 60)
            if abs(minutes) < 1:
                return "now"
            size = abs(minutes)
            if size < 120:
                span = f"{size} min"
            elif size < 48 * 60:
                span = f"{size // 60} h"
            else:
                span = f"{size // (24 * 60)} days"
            return f"in {span}" if minutes > 0 else f"{span} ago"
        local = when.astimezone(zone)
        return f"{local.strftime(_STYLES.get(style, _STYLES['f']))} {local.tzname()}"

    rendered = render_tokens(
        value,
        moment_fn=moment,
        mention_fn=lambda user: f"@{user}",
        channel_fn=lambda channel: f"#{channel}",
        role_fn=lambda role: f"@{role}",
    )
    return _NAMED_TOKEN.sub(lambda m: m.group(1)[0] + m.group(2), rendered)


def message_lines(message: Message, tz: str, now: datetime, paths: Sequence[str] = ()) -> list[str]:
    """The message as lines; ``paths`` are where its files were saved, in order."""
    lines: list[str] = []
    mark = _TONE_MARK.get(message.tone, "")
    if message.title:
        lines.append(f"{mark}**{text(message.title, tz, now)}**")
        mark = ""
    if message.text:
        body = text(message.text, tz, now).splitlines()
        lines.extend([mark + body[0], *body[1:]] if body else [])
    for field in message.fields:
        value = text(field.value, tz, now).replace("\n", "\n    ")
        lines.append(f"  {text(field.name, tz, now)}: {value}")
    if message.footer:
        lines.append(f"  — {text(message.footer, tz, now)}")
    for n, file in enumerate(message.files):
        where = paths[n] if n < len(paths) else file.name
        lines.append(f"  📎 {where} ({len(file.data)} bytes, {file.content_type})")
    if message.buttons:
        lines.append("  " + " ".join(f"[{b.label}]" for b in message.buttons))
    return lines
