"""Direct messages to the app: mentor and mentee talking through the bot (F6).

Each mentorship is one thread in each person's app DM (``SlackPort.send_dm`` starts it
with a top-level message whose ts is also the thread's id). A member who replies in that
thread is relayed within its mentorship: the thread's ts is the relayed message the core
routes by (``reply_to``). A top-level DM goes to the member's only active mentorship, or
the core asks which one with buttons. Whatever the core answers (sent, refused, which
one?) is shown as an ephemeral message where the member wrote, so the conversation itself
holds only what the two people said.

Relayed: messages and file shares written by a person. Ignored: bots (the app's own
relays included), edits, deletions and other subtypes. Text arrives in Slack's escaped
form and becomes the core's portable text (mentions kept, ``<!channel>`` pings defused);
files travel as links (their permalinks).

Read receipts: Slack tells an app nothing about messages merely opened, so replying in
the thread (when the reply is passed on: the core's ``incoming_dm`` does both in one
transaction) or reacting to a relayed message marks the other side's messages read (so
does ``/mentor mentorship history``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from adapters.slack.blocks import Renderer
from adapters.slack.commands import from_slack
from adapters.slack.identity import Directory
from adapters.slack.replies import dedupe_key
from adapters.slack.workspaces import Workspaces
from core.apologies import apology, new_reference, refusal
from core.context import Invocation
from core.errors import UserError
from core.messages import Message, Reply
from core.service import Mentorbot
from core.usecases.threads import Attachment

log = logging.getLogger(__name__)

Body = Mapping[str, Any]
# A plain message, one with files, and a thread reply also sent to the conversation.
RELAYED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


@dataclass(frozen=True)
class DmOrigin:
    """Where a member wrote to the app: their DM channel, and the thread if any."""

    team_id: str
    user_id: str
    channel_id: str
    thread_ts: str | None


def attachments_of(event: Body) -> list[Attachment]:
    """Files shared with a message, as links (files without one, e.g. deleted, skipped)."""
    found = []
    for file in event.get("files") or []:
        url = file.get("permalink") or file.get("url_private")
        if url:
            name = file.get("name") or file.get("title") or "file"
            found.append(Attachment(str(url), str(name), file.get("mimetype")))
    return found


def is_relayable(event: Body) -> bool:
    return (
        event.get("channel_type") == "im"
        and bool(event.get("user"))
        and not event.get("bot_id")
        and event.get("subtype") in RELAYED_SUBTYPES
    )


def is_group_thread_reply(event: Body) -> bool:
    """A member's reply in a thread of a private channel (``message.groups``): possibly in
    a support-group post's thread. Top-level messages there are chatter, never read."""
    thread_ts = event.get("thread_ts")
    return (
        event.get("channel_type") == "group"
        and bool(event.get("user"))
        and not event.get("bot_id")
        and event.get("subtype") is None
        and bool(thread_ts)
        and thread_ts != event.get("ts")
    )


class DirectMessages:
    def __init__(
        self,
        service: Mentorbot,
        workspaces: Workspaces,
        render: Renderer,
        directory: Directory,
    ) -> None:
        self.service = service
        self.workspaces = workspaces
        self.render = render
        self.directory = directory

    def register(self, app: AsyncApp) -> None:
        app.event("message")(self.on_message)
        app.event("reaction_added")(self.on_reaction)

    async def on_message(self, body: Body, event: Body) -> None:
        if is_group_thread_reply(event):
            await self._group_thread_reply(body, event)
            return
        if not is_relayable(event):
            return
        team_id = str(body.get("team_id") or event.get("team") or "")
        thread_ts = event.get("thread_ts")
        origin = DmOrigin(team_id, str(event["user"]), str(event["channel"]), thread_ts)
        event_id = body.get("event_id") or f"{origin.channel_id}:{event.get('ts')}"
        key = dedupe_key(team_id, "event", event_id)
        try:
            invocation = await self.directory.invocation(team_id, origin.user_id, origin.channel_id)
            # Answering in the thread means having read it: the core records that with the
            # relay, and only if the relay went through.
            reply = await self.service.incoming_dm(
                invocation,
                from_slack(str(event.get("text") or "")),
                attachments=attachments_of(event),
                reply_to=thread_ts,
                dedupe_key=key,
            )
        except UserError as exc:
            reply = Reply(message=refusal(exc))
        except Exception:
            ref = new_reference()
            log.exception("relaying Slack DM %s failed (ref %s)", event.get("ts"), ref)
            reply = Reply(message=apology(ref))
        if reply is not None and reply.message is not None:
            await self._answer(origin, reply.message)

    async def _group_thread_reply(self, body: Body, event: Body) -> None:
        """Stored by the core if the thread is a group post's; nothing is said back."""
        team_id = str(body.get("team_id") or event.get("team") or "")
        event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
        try:
            invocation = await self.directory.invocation(
                team_id, str(event["user"]), str(event["channel"])
            )
            await self.service.group_thread_reply(
                invocation,
                str(event["thread_ts"]),
                from_slack(str(event.get("text") or "")),
                dedupe_key=dedupe_key(team_id, "event", event_id),
            )
        except Exception:
            log.exception("storing a group reply (%s) failed", event.get("ts"))

    async def _answer(self, origin: DmOrigin, message: Message) -> None:
        """Tell only the member, in the thread they wrote in (a plain post if that fails)."""
        text, blocks = self.render.fallback(message), self.render.blocks(message)
        client = (await self.workspaces.get(origin.team_id)).client
        try:
            await client.chat_postEphemeral(
                channel=origin.channel_id,
                user=origin.user_id,
                thread_ts=origin.thread_ts,
                text=text,
                blocks=blocks,
            )
            return
        except SlackApiError as exc:
            log.warning("ephemeral answer in %s failed (%s)", origin.channel_id, exc)
        try:
            await client.chat_postMessage(
                channel=origin.channel_id,
                thread_ts=origin.thread_ts,
                text=text,
                blocks=blocks,
                unfurl_links=False,
            )
        except SlackApiError:
            log.exception("could not answer %s in %s", origin.user_id, origin.channel_id)

    async def on_reaction(self, body: Body, event: Body) -> None:
        """A reaction in an app DM: if on a relayed message, that message has been read."""
        item = event.get("item") or {}
        channel = str(item.get("channel") or "")
        # DM conversation ids start with D; reactions elsewhere never touch the database.
        if item.get("type") != "message" or not channel.startswith("D") or not item.get("ts"):
            return
        team_id = str(body.get("team_id") or "")
        try:
            invocation = await self.directory.invocation(team_id, str(event["user"]), channel)
        except Exception:
            log.warning("could not identify who reacted to %s", item["ts"], exc_info=True)
            return
        await self._mark_read(invocation, str(item["ts"]))

    async def _mark_read(self, invocation: Invocation, platform_message_id: str) -> None:
        try:
            await self.service.mark_read(invocation, platform_message_id)
        except Exception:
            log.warning("could not record that %s was read", platform_message_id, exc_info=True)
