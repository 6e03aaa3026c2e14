"""Rendering for Slack: core messages and forms as Block Kit, core text as Slack mrkdwn.

Text from the core is Discord-flavoured markdown with portable tokens (see
``core.messages``). Here it becomes Slack mrkdwn: ``**bold**`` → ``*bold*``; moments →
``<!date^unix^{date_short_pretty} {time}|fallback>`` so every reader sees their own
zone; ``<@U…>``, ``<#C…>`` and ``<@&S…>`` → Slack mentions; ``&``, ``<`` and ``>`` in
member-written text are escaped so nobody can smuggle an ``<!channel>`` ping into a card;
``[name](https://…)`` links (attachments in relayed messages) → ``<https://…|name>``.
Command references such as ``/admin setup`` become ``/mentor admin setup`` (Slack has
one slash command; the catalog's groups are its first word).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from core.messages import (
    CHANNEL_RE,
    MENTION_RE,
    MOMENT_RE,
    ROLE_RE,
    Button,
    Field,
    Form,
    FormField,
    Message,
    render_tokens,
)

Block = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_ACTIONS = 25
MAX_SECTION_FIELDS = 10
MAX_MODAL_TITLE = 24
MAX_LABEL = 2000
MAX_PLACEHOLDER = 150
MAX_FALLBACK_TEXT = 3000

# Slack date tokens per portable style (F full, f short, D date, d numeric, t/T time, R ago).
DATE_FORMATS = {
    "F": "{date_long_pretty} {time}",
    "f": "{date_short_pretty} {time}",
    "D": "{date_long}",
    "d": "{date_num}",
    "t": "{time}",
    "T": "{time_secs}",
    "R": "{ago}",
}
TONE_ICONS = {"success": "✅ ", "warning": "⚠️ ", "error": "❌ ", "info": ""}
BUTTON_STYLES = {"primary": "primary", "success": "primary", "danger": "danger"}

_TOKEN_RE = re.compile(
    "|".join(f"(?:{r.pattern})" for r in (MOMENT_RE, ROLE_RE, MENTION_RE, CHANNEL_RE))
)
_BOLD_RE = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
# A Markdown link, as the core writes attachments: [name](https://…) → <https://…|name>.
_LINK_RE = re.compile(r"\[([^\]\n]{1,300})\]\((https?://[^\s()<>|]+)\)")
_QUOTE_RE = re.compile(r"(^|\n)&gt;")
SLACK_USERGROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")


def plain(text: str, limit: int | None = None) -> Block:
    return {"type": "plain_text", "text": truncate(text, limit) if limit else text, "emoji": True}


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def moment(unix: int, style: str) -> str:
    fallback = datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{unix}^{DATE_FORMATS.get(style, DATE_FORMATS['f'])}|{fallback}>"


def role(role_id: str) -> str:
    # Badges without user groups carry pseudo ids (see SlackPort.ensure_role): plain names.
    if SLACK_USERGROUP_ID.match(role_id):
        return f"<!subteam^{role_id}>"
    return "@" + role_id.removeprefix("mentorbot-")


def _readable_moment(unix: int, style: str) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M UTC")


class Renderer:
    """Turns core messages and forms into Slack text, blocks and views."""

    def __init__(self, groups: Iterable[str], command: str = "/mentor") -> None:
        self.command = command
        self._groups = set(groups)
        self._command_ref = re.compile(r"(?<![\w/:.<])/([a-z]+)\b")

    # ----- text -----------------------------------------------------------------------

    def commands(self, text: str) -> str:
        """``/admin setup`` → ``/mentor admin setup``; ``/mentor apply`` keeps its words."""

        def swap(match: re.Match[str]) -> str:
            group = match.group(1)
            if group not in self._groups:
                return match.group(0)
            return self.command if group == "mentor" else f"{self.command} {group}"

        return self._command_ref.sub(swap, text)

    def text(self, value: str) -> str:
        """Core text as Slack mrkdwn (tokens and links rendered, member text escaped)."""
        value = _BOLD_RE.sub(r"*\1*", value)
        out: list[str] = []
        last = 0
        for match in _LINK_RE.finditer(value):
            out.append(self._tokens(value[last : match.start()]))
            label = match.group(1).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            out.append(f"<{match.group(2)}|{label}>")
            last = match.end()
        out.append(self._tokens(value[last:]))
        # A leading ">" is a quote in both dialects; keep it working after escaping.
        return _QUOTE_RE.sub(r"\1>", "".join(out))

    def _tokens(self, value: str) -> str:
        out: list[str] = []
        last = 0
        for match in _TOKEN_RE.finditer(value):
            out.append(self._literal(value[last : match.start()]))
            out.append(
                render_tokens(
                    match.group(0),
                    moment_fn=moment,
                    mention_fn=lambda user: f"<@{user}>",
                    channel_fn=lambda channel: f"<#{channel}>",
                    role_fn=role,
                )
            )
            last = match.end()
        out.append(self._literal(value[last:]))
        return "".join(out)

    def _literal(self, text: str) -> str:
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return self.commands(escaped)

    def plain_text(self, value: str) -> str:
        """Core text for plain_text places (headers, labels): tokens made readable."""
        value = render_tokens(
            _BOLD_RE.sub(r"\1", value),
            moment_fn=_readable_moment,
            mention_fn=lambda user: f"@{user}",
            channel_fn=lambda channel: f"#{channel}",
            role_fn=lambda role_id: "@" + role_id.removeprefix("mentorbot-"),
        )
        return self.commands(value)

    def fallback(self, message: Message) -> str:
        """The notification / screen-reader text of a message."""
        parts = [p for p in (message.title, message.text) if p]
        if not parts and message.fields:
            parts = [f"{message.fields[0].name}: {message.fields[0].value}"]
        icon = TONE_ICONS.get(message.tone, "")
        return truncate(icon + self.text("\n".join(parts) or "Mentorbot"), MAX_FALLBACK_TEXT)

    # ----- messages ---------------------------------------------------------------------

    def blocks(
        self, message: Message, *, buttons: bool = True, limit: int = MAX_MESSAGE_BLOCKS
    ) -> list[Block]:
        blocks: list[Block] = []
        icon = TONE_ICONS.get(message.tone, "")
        if message.title:
            if _TOKEN_RE.search(message.title):
                blocks.append(self._section(f"{icon}*{self.text(message.title)}*"))
            else:
                title = icon + self.plain_text(message.title)
                blocks.append({"type": "header", "text": plain(title, MAX_HEADER_TEXT)})
            icon = ""
        if message.text:
            text = icon + self.text(message.text)
            for start in range(0, len(text), MAX_SECTION_TEXT):
                blocks.append(self._section(text[start : start + MAX_SECTION_TEXT]))
        blocks.extend(self._fields(message.fields))
        if buttons and message.buttons:
            for start in range(0, len(message.buttons), MAX_ACTIONS):
                chunk = message.buttons[start : start + MAX_ACTIONS]
                blocks.append({"type": "actions", "elements": [self.button(b) for b in chunk]})
        if message.footer:
            footer = truncate(self.text(message.footer), MAX_SECTION_TEXT)
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
        if len(blocks) > limit:
            blocks = [*blocks[: limit - 1], self._section("_…and more (shortened for Slack)_")]
        return blocks

    def _section(self, mrkdwn: str) -> Block:
        return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}

    def _field_text(self, field: Field) -> str:
        text = f"*{self.text(field.name)}*\n{self.text(field.value)}"
        return truncate(text, MAX_FIELD_TEXT)

    def _fields(self, fields: tuple[Field, ...]) -> list[Block]:
        blocks: list[Block] = []
        row: list[Block] = []
        for field in fields:
            if field.inline:
                row.append({"type": "mrkdwn", "text": self._field_text(field)})
                if len(row) == MAX_SECTION_FIELDS:
                    blocks.append({"type": "section", "fields": row})
                    row = []
                continue
            if row:
                blocks.append({"type": "section", "fields": row})
                row = []
            blocks.append(self._section(truncate(self._field_text(field), MAX_SECTION_TEXT)))
        if row:
            blocks.append({"type": "section", "fields": row})
        return blocks

    def button(self, button: Button) -> Block:
        element: Block = {
            "type": "button",
            "text": plain(self.plain_text(button.label), MAX_BUTTON_TEXT),
            "action_id": button.action,
            "value": button.action,
        }
        if button.style in BUTTON_STYLES:
            element["style"] = BUTTON_STYLES[button.style]
        return element

    # ----- views --------------------------------------------------------------------------

    def home_view(self, message: Message) -> Block:
        return {"type": "home", "blocks": self.blocks(message, limit=MAX_VIEW_BLOCKS)}

    def notice_modal(self, message: Message, title: str = "Mentorbot") -> Block:
        """A read-only modal: answers to App Home buttons, errors over an open form."""
        return {
            "type": "modal",
            "title": plain(title, MAX_MODAL_TITLE),
            "close": plain("OK"),
            "blocks": self.blocks(message, buttons=False, limit=MAX_VIEW_BLOCKS),
        }

    def form_modal(self, form: Form, private_metadata: str) -> Block:
        """A core form (e.g. a rejection reason); its submission goes to ``form.action``."""
        return {
            "type": "modal",
            "callback_id": form.action,
            "private_metadata": private_metadata,
            "title": plain(self.plain_text(form.title), MAX_MODAL_TITLE),
            "submit": plain("Submit"),
            "close": plain("Cancel"),
            "blocks": [self._form_input(f) for f in form.fields],
        }

    def _form_input(self, field: FormField) -> Block:
        element: Block = {
            "type": "plain_text_input",
            "action_id": field.name,
            "multiline": field.long,
        }
        if field.min_length:
            element["min_length"] = field.min_length
        if field.max_length:
            element["max_length"] = min(field.max_length, 3000)
        if field.placeholder:
            element["placeholder"] = plain(field.placeholder, MAX_PLACEHOLDER)
        return input_block(field.name, field.label, element, optional=not field.required)


def input_block(
    block_id: str, label: str, element: Block, *, optional: bool, hint: str | None = None
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, MAX_LABEL),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, MAX_LABEL)
    return block
