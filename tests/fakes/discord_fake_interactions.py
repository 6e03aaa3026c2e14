"""Interaction vocabulary and response tracking for the fake Discord.

:class:`PendingInteraction` collects what the bot did with the interaction: the callback
(``POST /interactions/{id}/{token}/callback``), follow-ups and edits of the original response.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.discord_fake_types import JSON, ApiError, Perm


class InteractionType:
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType:
    PONG = 1
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9


class OptionType:
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10


EPHEMERAL = 1 << 6
DM_APP_PERMISSIONS = (
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
)


@dataclass
class UploadedFile:
    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class InteractionCallback:
    """One ``POST /interactions/{id}/{token}/callback`` body as sent by the bot."""

    type: int
    data: JSON | None
    files: list[UploadedFile] = field(default_factory=list)

    @property
    def flags(self) -> int:
        return int((self.data or {}).get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def content(self) -> str | None:
        return (self.data or {}).get("content")


@dataclass
class PendingInteraction:
    """Handle for an interaction the fake sent; await :meth:`wait_response` for the callback."""

    id: int
    token: str
    payload: JSON
    response: InteractionCallback | None = None
    original_message_id: int | None = None
    followups: list[JSON] = field(default_factory=list)
    original_edits: list[JSON] = field(default_factory=list)
    # time.monotonic() when the fake sent it and when the bot's callback arrived (bench/ack.py)
    sent_at: float = field(default_factory=time.monotonic)
    responded_at: float | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def type(self) -> int:
        return int(self.payload["type"])

    def _notify(self) -> None:
        self._changed.set()

    async def _wait_for(self, predicate: Any, what: str, timeout: float) -> None:  # noqa: ASYNC109
        async def waiter() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"bot did not {what} within {timeout}s for interaction {self.id} "
                f"({self.payload.get('data', {}).get('name') or self.payload.get('data')})"
            ) from None

    async def wait_response(self, timeout: float = 5.0) -> InteractionCallback:  # noqa: ASYNC109
        await self._wait_for(lambda: self.response is not None, "respond", timeout)
        assert self.response is not None
        return self.response

    async def wait_followup(self, count: int = 1, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        """Wait until ``count`` follow-up messages exist; returns the ``count``-th one."""
        await self._wait_for(lambda: len(self.followups) >= count, "send follow-ups", timeout)
        return self.followups[count - 1]

    async def wait_original_edit(self, count: int = 1, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109
        await self._wait_for(
            lambda: len(self.original_edits) >= count, "edit the original response", timeout
        )
        return self.original_edits[count - 1]


def new_token(interaction_id: int) -> str:
    return f"aW50ZXJhY3Rpb24{interaction_id}{secrets.token_hex(16)}"


def check_callback_allowed(pending: PendingInteraction, cb_type: int) -> None:
    if pending.response is not None:
        raise ApiError(400, 40060, "Interaction has already been acknowledged.")
    itype = pending.type
    allowed: dict[int, set[int]] = {
        InteractionType.PING: {CallbackType.PONG},
        InteractionType.APPLICATION_COMMAND: {
            CallbackType.CHANNEL_MESSAGE,
            CallbackType.DEFERRED_CHANNEL_MESSAGE,
            CallbackType.MODAL,
        },
        InteractionType.MESSAGE_COMPONENT: {
            CallbackType.CHANNEL_MESSAGE,
            CallbackType.DEFERRED_CHANNEL_MESSAGE,
            CallbackType.DEFERRED_UPDATE_MESSAGE,
            CallbackType.UPDATE_MESSAGE,
            CallbackType.MODAL,
        },
        InteractionType.AUTOCOMPLETE: {CallbackType.AUTOCOMPLETE_RESULT},
        InteractionType.MODAL_SUBMIT: {
            CallbackType.CHANNEL_MESSAGE,
            CallbackType.DEFERRED_CHANNEL_MESSAGE,
            CallbackType.DEFERRED_UPDATE_MESSAGE,
            CallbackType.UPDATE_MESSAGE,
        },
    }
    if cb_type not in allowed.get(itype, set()):
        raise ApiError.invalid_form(
            "type",
            "INTERACTION_RESPONSE_TYPE_INVALID",
            f"Callback type {cb_type} is not valid for interaction type {itype}",
        )
