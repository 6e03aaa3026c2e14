"""Answers to the member who acted: ephemeral replies, replaced cards, modals, the DM.

Where an answer goes depends on where the member acted (an ``Origin``): a slash command
or a button on a message answers through its response_url (ephemeral, or replacing the
message for a decided card); a button in App Home answers in a small modal and refreshes
the Home tab; when neither is possible (a response_url that expired while a long form
was open) the answer goes to the member's DM with the app.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.blocks import Renderer
from adapters.slack.client import MAX_FILE_BYTES, upload_files
from adapters.slack.home import AppHome
from adapters.slack.workspaces import Workspaces
from core.files import fit_message
from core.messages import Message, Reply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    """Where an interaction happened, and so where its answers go.

    It travels through a modal in ``private_metadata`` (which Slack keeps server-side, so
    members cannot alter it): the channel, the message whose button opened the modal, the
    response_url to answer through, and whether it came from App Home or an ephemeral
    message (which only its response_url can replace: ``chat.update`` cannot see it).
    """

    team_id: str
    user_id: str
    channel_id: str | None = None
    response_url: str | None = None
    trigger_id: str | None = None
    message_ts: str | None = None
    home: bool = False
    ephemeral: bool = False

    def metadata(self) -> str:
        data: dict[str, Any] = {"c": self.channel_id, "r": self.response_url, "m": self.message_ts}
        data = {k: v for k, v in data.items() if v}
        if self.home:
            data["h"] = 1
        if self.ephemeral:
            data["e"] = 1
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_metadata(
        cls, team_id: str, user_id: str, raw: str | None, trigger_id: str | None
    ) -> Origin:
        try:
            data = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        return cls(
            team_id,
            user_id,
            channel_id=data.get("c"),
            response_url=data.get("r"),
            trigger_id=trigger_id,
            message_ts=data.get("m"),
            home=bool(data.get("h")),
            ephemeral=bool(data.get("e")),
        )


def dedupe_key(team_id: str, kind: str, slack_id: str | None) -> str | None:
    """The core's dedupe key for a Slack event or interaction: a redelivery repeats it."""
    return f"slack:{team_id}:{kind}:{slack_id}" if slack_id else None


class Replies:
    def __init__(self, workspaces: Workspaces, render: Renderer, home: AppHome) -> None:
        self._workspaces = workspaces
        self._render = render
        self._home = home

    async def _client(self, origin: Origin) -> AsyncWebClient:
        """The Web API client of the workspace the interaction came from."""
        return (await self._workspaces.get(origin.team_id)).client

    async def show(self, origin: Origin, reply: Reply | None) -> None:
        """Everything a core reply asks for, in order: form, replaced origin, message."""
        if reply is None:
            return
        if reply.form is not None:
            if not origin.trigger_id:
                # Modal submissions open follow-up forms in their acknowledgement instead.
                raise ValueError(f"no trigger id to open the form {reply.form.action!r}")
            view = self._render.form_modal(reply.form, origin.metadata())
            await (await self._client(origin)).views_open(trigger_id=origin.trigger_id, view=view)
            origin = replace(origin, trigger_id=None)  # a trigger id opens one view
        if reply.update_origin is not None and not origin.home:
            await self.replace_origin(origin, reply.update_origin)
        if reply.message is not None:
            await self.say(origin, reply.message, private=reply.private)
        if origin.home:
            await self._home.publish(origin.team_id, origin.user_id)

    async def replace_origin(self, origin: Origin, message: Message) -> None:
        """Replace the message whose button was pressed (a page of mentors, a decided card)."""
        if origin.response_url and await self._respond(
            origin.response_url, message, replace_original=True
        ):
            return
        if origin.ephemeral:
            # Only a live response_url reaches an ephemeral message: say it anew instead.
            await self.say(replace(origin, response_url=None), message)
        elif origin.channel_id and origin.message_ts:
            await (await self._client(origin)).chat_update(
                channel=origin.channel_id,
                ts=origin.message_ts,
                text=self._render.fallback(message),
                blocks=self._render.blocks(message),
            )

    async def say(self, origin: Origin, message: Message, *, private: bool = True) -> None:
        """Tell the member; others see it only for a non-private reply to a command.

        Files can't travel with an ephemeral reply or a modal: they go to the member's DM
        with the app, and the reply says so.
        """
        message = fit_message(message, MAX_FILE_BYTES)
        shown = _noting_files(message) if message.files else message
        if origin.response_url and await self._respond(
            origin.response_url, shown, response_type="ephemeral" if private else "in_channel"
        ):
            pass
        elif origin.home and origin.trigger_id:
            await (await self._client(origin)).views_open(
                trigger_id=origin.trigger_id, view=self._render.notice_modal(shown)
            )
        else:
            await (await self._client(origin)).chat_postMessage(
                channel=origin.user_id,
                text=self._render.fallback(message),
                blocks=self._render.blocks(message),
                unfurl_links=False,
            )
        if message.files:
            client = await self._client(origin)
            opened = await client.conversations_open(users=origin.user_id)
            await upload_files(client, str(opened["channel"]["id"]), message.files)

    async def _respond(self, url: str, message: Message, **options: Any) -> bool:
        body = {
            "text": self._render.fallback(message),
            "blocks": self._render.blocks(message),
            "replace_original": False,
            **options,
        }
        try:
            sent = await AsyncWebhookClient(url).send_dict(body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("response_url post failed (%r); answering another way", exc)
            return False
        if sent.status_code != 200:
            log.warning(
                "response_url refused (%s %s); answering another way", sent.status_code, sent.body
            )
            return False
        return True


def _noting_files(message: Message) -> Message:
    names = ", ".join(f.name for f in message.files)
    note = f"📎 {names}: sent to your direct messages with the app"
    return replace(message, footer=f"{message.footer} · {note}" if message.footer else note)
