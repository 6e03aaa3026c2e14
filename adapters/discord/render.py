"""Core messages as Discord shows them: embeds, buttons, files and modals.

Every message is one embed in Mentorbot's palette (the colour says the tone) with the
footer "Mentorbot". Text tokens (``<t:unix:F>``, ``<@user>``, ``<#channel>``, ``<@&role>``)
are Discord's own syntax, so each reader sees times in their own zone. Discord renders
neither timestamps nor mentions in an embed *footer*, so the core's footer becomes the
last, small (``-#``) line of the description instead.

Buttons carry the core's action id as their ``custom_id``. A DM belongs to no server, so
a DM names the server it is about: its embed's author is the server, linking to it, and
each button's id gets the server id appended (``mb:accept:abc@123…``). The router finds
the community of a press again from the id (refusing one that differs from the author
link of the message pressed), and the DM relay from the author link.

Views and modals are handed to discord.py *finished* (stopped): it then keeps no
per-message state, and every press or form submission is routed by custom id alone
(see :mod:`adapters.discord.interactions`), which is what makes them survive restarts.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import discord

from core.files import fit_message
from core.messages import Form, Message

log = logging.getLogger(__name__)

BRAND = "Mentorbot"
# Discord's upload limits: 8 MiB a file is safe in every server and DM (boosted servers
# allow more), and 10 files a message.
MAX_FILE_BYTES = 8 * 2**20
MAX_FILES = 10
COLOURS = {
    "info": discord.Colour(0x5865F2),
    "success": discord.Colour(0x3BA55D),
    "warning": discord.Colour(0xFAA61A),
    "error": discord.Colour(0xED4245),
}
BUTTON_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
    "danger": discord.ButtonStyle.danger,
}
GUILD_SEPARATOR = "@"
CUSTOM_ID_MAX = 100

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
TITLE_MAX, DESCRIPTION_MAX, FIELDS_MAX = 256, 4096, 25
FIELD_NAME_MAX, FIELD_VALUE_MAX, EMBED_TOTAL_MAX = 256, 1024, 6000
BUTTONS_MAX, BUTTON_LABEL_MAX = 25, 80
MODAL_TITLE_MAX, MODAL_INPUTS_MAX, INPUT_LABEL_MAX, PLACEHOLDER_MAX = 45, 5, 45, 100


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def with_guild(custom_id: str, guild_id: str | None) -> str:
    """The custom id to send: the core's id, plus the guild where there is none (DMs)."""
    if guild_id is None:
        return custom_id
    combined = f"{custom_id}{GUILD_SEPARATOR}{guild_id}"
    if len(combined) > CUSTOM_ID_MAX:
        # Core ids are at most 100 characters but in practice far shorter; a press on
        # such a button in a DM is answered with "use it in the server".
        log.error("custom id %r too long to carry guild %s", custom_id, guild_id)
        return custom_id
    return combined


def split_guild(custom_id: str) -> tuple[str, str | None]:
    """(core custom id, guild id or None) from a custom id made by :func:`with_guild`."""
    action, sep, guild = custom_id.partition(GUILD_SEPARATOR)
    return (action, guild) if sep and guild.isdigit() else (custom_id, None)


SERVER_LINK = re.compile(r"/channels/(\d+)$")


@dataclass(frozen=True)
class Server:
    """The server (community) a DM is about."""

    id: str
    name: str

    @property
    def link(self) -> str:
        return f"https://discord.com/channels/{self.id}"


def server_of(message: discord.Message) -> str | None:
    """The server id a DM rendered with a :class:`Server` names, if it does."""
    for item in message.embeds:
        found = SERVER_LINK.search(item.author.url or "") if item.author else None
        if found:
            return found.group(1)
    return None


@dataclass
class Rendered:
    """Keyword arguments for discord.py's send / edit calls."""

    embed: discord.Embed | None
    view: discord.ui.View | None
    files: list[discord.File]

    def send_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.embed is not None:
            kwargs["embed"] = self.embed
        if self.view is not None:
            kwargs["view"] = self.view
        if self.files:
            kwargs["files"] = self.files
        return kwargs

    def edit_kwargs(self) -> dict[str, Any]:
        """Replace the whole message: embed, buttons (removed if none) and attachments."""
        kwargs: dict[str, Any] = {
            "content": None,
            "embeds": [self.embed] if self.embed is not None else [],
            "view": self.view,
        }
        if self.files:
            kwargs["attachments"] = self.files
        return kwargs


def embed(message: Message, *, server: Server | None = None) -> discord.Embed | None:
    lines = [message.text.strip()] if message.text.strip() else []
    if message.footer:
        lines.append("-# " + " ".join(message.footer.split()))
    if not (message.title or lines or message.fields):
        return None
    result = discord.Embed(
        title=clip(message.title, TITLE_MAX) if message.title else None,
        description=clip("\n\n".join(lines), DESCRIPTION_MAX) if lines else None,
        colour=COLOURS.get(message.tone, COLOURS["info"]),
    )
    result.set_footer(text=BRAND)
    if server is not None:
        result.set_author(name=clip(server.name or "Your server", 256), url=server.link)
    fields = [
        (
            clip(field.name.strip() or "\u200b", FIELD_NAME_MAX),
            clip(field.value.strip() or "—", FIELD_VALUE_MAX),
            field.inline,
        )
        for field in message.fields[:FIELDS_MAX]
    ]
    fitted = fit_fields(fields, EMBED_TOTAL_MAX - len(result))
    if fitted != fields:
        log.warning("embed %r shortened: over Discord's 6000-character total", message.title)
    for name, value, inline in fitted:
        result.add_field(name=name, value=value, inline=inline)
    return result


def fit_fields(fields: list[tuple[str, str, bool]], budget: int) -> list[tuple[str, str, bool]]:
    """Fields whose names and values fit in ``budget`` characters, shortened fairly.

    Every field keeps its name and a share of its value (short values stay whole; what
    they leave goes to the long ones), so ten mentor cards that are too long together
    show ten shorter cards, not the first seven: each has a button below. Fields are
    dropped from the end only if even their names do not fit.
    """
    kept: list[tuple[str, str, bool]] = []
    room = budget
    for field in fields:
        if len(field[0]) + 1 > room:
            break
        kept.append(field)
        room -= len(field[0]) + 1  # a value needs one character at least ("…")
    room += len(kept)
    limits = [0] * len(kept)
    waiting = len(kept)
    for i in sorted(range(len(kept)), key=lambda i: len(kept[i][1])):
        limits[i] = min(len(kept[i][1]), room // waiting)
        room -= limits[i]
        waiting -= 1
    return [
        (name, clip(value, limit), inline)
        for (name, value, inline), limit in zip(kept, limits, strict=True)
    ]


def view(message: Message, *, guild_id: str | None = None) -> discord.ui.View | None:
    """The message's buttons; ``guild_id`` is given for DMs (see :func:`with_guild`)."""
    if not message.buttons:
        return None
    result = discord.ui.View(timeout=None)
    for button in message.buttons[:BUTTONS_MAX]:
        result.add_item(
            discord.ui.Button(
                label=clip(button.label, BUTTON_LABEL_MAX),
                custom_id=with_guild(button.action, guild_id),
                style=BUTTON_STYLES.get(button.style, discord.ButtonStyle.secondary),
            )
        )
    result.stop()  # a payload only: presses are routed by custom id, not by this object
    return result


def files(message: Message) -> list[discord.File]:
    return [discord.File(io.BytesIO(f.data), filename=f.name) for f in message.files]


def render(message: Message, *, server: Server | None = None) -> Rendered:
    """``server`` is given for DMs (see the module docstring). Files over Discord's
    limits are compressed or split (``core.files``)."""
    message = fit_message(message, MAX_FILE_BYTES, MAX_FILES)
    guild_id = server.id if server is not None else None
    return Rendered(embed(message, server=server), view(message, guild_id=guild_id), files(message))


@dataclass(frozen=True)
class Input:
    """One text input of a modal."""

    name: str
    label: str
    long: bool = False
    required: bool = True
    min_length: int | None = None
    max_length: int | None = None
    placeholder: str | None = None


def modal(custom_id: str, title: str, inputs: Sequence[Input]) -> discord.ui.Modal:
    if not 1 <= len(inputs) <= MODAL_INPUTS_MAX:
        raise ValueError(f"a Discord modal holds 1 to {MODAL_INPUTS_MAX} inputs, not {len(inputs)}")
    result = discord.ui.Modal(title=clip(title, MODAL_TITLE_MAX), custom_id=custom_id)
    for item in inputs:
        result.add_item(
            discord.ui.TextInput(
                label=clip(item.label, INPUT_LABEL_MAX),
                custom_id=item.name,
                style=discord.TextStyle.paragraph if item.long else discord.TextStyle.short,
                required=item.required,
                min_length=item.min_length,
                max_length=item.max_length,
                placeholder=clip(item.placeholder, PLACEHOLDER_MAX) if item.placeholder else None,
            )
        )
    result.stop()  # as with views: the submission is routed by custom id
    return result


def form_modal(form: Form, *, guild_id: str | None = None) -> discord.ui.Modal:
    return modal(
        with_guild(form.action, guild_id),
        form.title,
        [
            Input(f.name, f.label, f.long, f.required, f.min_length, f.max_length, f.placeholder)
            for f in form.fields
        ],
    )


def modal_values(data: Mapping[str, Any]) -> dict[str, str]:
    """Text-input values of a modal submission, by input custom id.

    Discord nests inputs in action rows (type 1) or, in newer layouts, labels (type 18).
    """
    values: dict[str, str] = {}

    def walk(components: Sequence[Mapping[str, Any]]) -> None:
        for component in components:
            if component.get("type") == 1:
                walk(component.get("components") or [])
            elif component.get("type") == 18 and component.get("component"):
                walk([component["component"]])
            elif component.get("custom_id") is not None and "value" in component:
                values[str(component["custom_id"])] = str(component["value"] or "")

    walk(data.get("components") or [])
    return values
