"""SlackPort: the core's platform port on Slack, called only by the delivery dispatcher.

Failures become ``RetryLater`` (rate limits, 5xx, timeouts: the queue tries again, not
before Retry-After) or ``PermanentFailure`` (a missing scope, an archived channel: the
queue gives up, and a missing scope is reported once to the admin channel, named).

Messages carry their effect's idempotency key in Slack message metadata
(``mentorbot_effect``). When an earlier attempt may have posted already
(``attempt.uncertain``), the conversation's recent messages are read first (the newest
:data:`LOOKBACK_MESSAGES`; in a thread, its replies of the last :data:`LOOKBACK_SECONDS`):
a message carrying the key is answered as if just sent, and only files not yet shared
after it are shared.

Badges and roles: with ``badge_usergroups`` on, each is a Slack user group, created or
re-enabled when needed (``usergroups.users.update`` takes the whole member list, so a
grant reads the list first). With it off — the default, as user groups need a paid plan —
``ensure_role`` answers a stable pseudo id (``mentorbot-<name>``) and grant/revoke change
nothing on Slack: the core still records and announces badges, and App Home shows them.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.slack.blocks import SLACK_USERGROUP_ID, Renderer
from adapters.slack.client import MAX_FILE_BYTES, delivering, upload_files
from adapters.slack.workspaces import NotInstalled, Workspaces
from core.files import fit_message
from core.messages import Field, Message, moment
from core.ports import Attempt, PermanentFailure, RetryLater, Sent, Target
from core.state import read_state, write_state
from core.uow import UNINSTALLED

log = logging.getLogger(__name__)

PSEUDO_ROLE_PREFIX = "mentorbot-"
MAX_CHANNEL_NAME = 80
MAX_TOPIC = 250
MAX_NAME_ATTEMPTS = 20
EFFECT_EVENT = "mentorbot_effect"
LOOKBACK_MESSAGES = 100
LOOKBACK_SECONDS = 86_400.0


def channel_name(name: str, attempt: int = 1) -> str:
    """A valid Slack channel name: lowercase a-z 0-9 - _, at most 80, ``-2`` … if taken."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_-]+", "-", ascii_name.lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-_") or "mentorbot-group"
    suffix = f"-{attempt}" if attempt > 1 else ""
    return slug[: MAX_CHANNEL_NAME - len(suffix)].rstrip("-_") + suffix


def state_key(kind: str, *parts: str) -> str:
    """A bot-state key (at most 200 characters) for facts about Slack objects."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"slack:{kind}:{digest}"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "badge"


def effect_metadata(key: str) -> dict[str, Any]:
    """Slack message metadata naming the effect a message delivers."""
    return {"event_type": EFFECT_EVENT, "event_payload": {"key": key}}


def _carries(message: dict[str, Any], key: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return metadata.get("event_type") == EFFECT_EVENT and payload.get("key") == key


@dataclass(frozen=True)
class _Earlier:
    """A message an earlier attempt posted, and the files shared after it."""

    ts: str
    shared: frozenset[str]


class SlackPort:
    platform = "slack"
    max_file_bytes: int | None = MAX_FILE_BYTES
    max_files: int | None = None

    def __init__(
        self,
        workspaces: Workspaces,
        factory: async_sessionmaker[AsyncSession],
        render: Renderer,
        *,
        badge_usergroups: bool = False,
    ) -> None:
        self._workspaces = workspaces
        self._factory = factory
        self._render = render
        self.badge_usergroups = badge_usergroups
        self._dm_channels: dict[tuple[str, str], str] = {}

    async def _client(self, target: Target) -> AsyncWebClient:
        """The delivery client of the effect's workspace, with that workspace's token."""
        try:
            return (await self._workspaces.get(target.platform_id)).delivery_client
        except NotInstalled as exc:
            raise PermanentFailure(f"{UNINSTALLED}: {exc}") from exc

    # ----- messages ---------------------------------------------------------------------

    async def send_dm(
        self, target: Target, user_id: str, message: Message, thread: str | None, attempt: Attempt
    ) -> Sent:
        """A DM from the app. Each mentorship is a thread in the person's app DM: a new one
        starts at a top-level message, whose ts is the ``thread_id`` the core hands back to
        continue it."""
        client = await self._client(target)
        channel = self._dm_channels.get((target.platform_id, user_id))
        if channel is None:
            async with delivering(f"opening a DM with {user_id}"):
                opened = await client.conversations_open(users=user_id)
            channel = str(opened["channel"]["id"])
            self._dm_channels[(target.platform_id, user_id)] = channel
        sent = await self._post(client, channel, message, attempt, thread_ts=thread)
        return {**sent, "thread_id": thread or sent["message_id"]}

    async def post(
        self, target: Target, channel_id: str, message: Message, pin: bool, attempt: Attempt
    ) -> Sent:
        client = await self._client(target)
        sent = await self._post(client, channel_id, message, attempt)
        if pin:
            try:
                async with delivering(f"pinning in {channel_id}", ignore=("already_pinned",)):
                    await client.pins_add(channel=channel_id, timestamp=sent["ts"])
            except RetryLater as exc:
                # The message is out; posting it again to get a pin would duplicate it.
                log.warning("message %s posted but not pinned: %s", sent["ts"], exc)
        return sent

    async def _post(
        self,
        client: AsyncWebClient,
        channel: str,
        message: Message,
        attempt: Attempt | None,
        *,
        thread_ts: str | None = None,
    ) -> Sent:
        message = fit_message(message, MAX_FILE_BYTES)
        earlier = None
        if attempt is not None and attempt.uncertain:
            earlier = await self._earlier(client, channel, attempt.key, thread_ts)
        if earlier is None:
            ts = await self._post_message(client, channel, message, attempt, thread_ts)
            files = message.files
        else:
            ts = earlier.ts
            files = tuple(f for f in message.files if f.name not in earlier.shared)
        if files:
            async with delivering(f"sharing files in {channel}"):
                await upload_files(client, channel, files, thread_ts=thread_ts)
        return {"channel": channel, "ts": ts, "message_id": ts}

    async def _post_message(
        self,
        client: AsyncWebClient,
        channel: str,
        message: Message,
        attempt: Attempt | None,
        thread_ts: str | None,
    ) -> str:
        invite = f"the app in <#{channel}> (type /invite there)"
        async with delivering(f"posting in {channel}", missing={"not_in_channel": invite}):
            result = await client.chat_postMessage(
                channel=channel,
                text=self._render.fallback(message),
                blocks=self._render.blocks(message),
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                metadata=effect_metadata(attempt.key) if attempt is not None else None,
            )
        return str(result["ts"])

    async def _earlier(
        self, client: AsyncWebClient, channel: str, key: str, thread_ts: str | None
    ) -> _Earlier | None:
        """The message carrying ``key`` among the conversation's recent ones, if any."""
        try:
            async with delivering(f"reading recent messages in {channel}"):
                if thread_ts is None:
                    listed = await client.conversations_history(
                        channel=channel, limit=LOOKBACK_MESSAGES, include_all_metadata=True
                    )
                else:
                    listed = await client.conversations_replies(
                        channel=channel,
                        ts=thread_ts,
                        oldest=f"{time.time() - LOOKBACK_SECONDS:.6f}",
                        limit=LOOKBACK_MESSAGES,
                        include_all_metadata=True,
                    )
        except PermanentFailure as exc:
            # Unreadable (a scope not granted yet, a public channel the app is not in):
            # posting again risks a duplicate, which beats never delivering.
            log.warning("cannot check %s for an earlier post of %s: %s", channel, key, exc)
            return None
        messages: list[dict[str, Any]] = list(listed.get("messages") or [])
        found = next((m for m in messages if _carries(m, key)), None)
        if found is None:
            return None
        log.info(
            "%s was posted in %s already (%s): not posting it again", key, channel, found["ts"]
        )
        after = [m for m in messages if float(m["ts"]) > float(found["ts"])]
        shared = frozenset(str(f.get("name")) for m in after for f in m.get("files") or [])
        return _Earlier(str(found["ts"]), shared)

    # ----- badges and roles ----------------------------------------------------------------

    async def ensure_role(self, target: Target, name: str, known_id: str | None) -> str:
        if not self.badge_usergroups:
            return PSEUDO_ROLE_PREFIX + slug(name)
        client = await self._client(target)
        groups = await self._groups(client)
        found = next((g for g in groups if known_id and g["id"] == known_id), None) or next(
            (g for g in groups if str(g["name"]).lower() == name.lower()), None
        )
        return str(found["id"]) if found is not None else await self._create_group(client, name)

    async def _create_group(self, client: AsyncWebClient, name: str) -> str:
        handles = [slug(name), f"mentorbot-{slug(name)}"]
        for handle in handles:
            async with delivering(
                f"creating the {name} user group", ignore=("handle_already_exists",)
            ):
                created = await client.usergroups_create(
                    name=name, handle=handle, description="Managed by Mentorbot"
                )
                return str(created["usergroup"]["id"])
        raise PermanentFailure(f"no free handle for the {name} user group (tried {handles})")

    async def grant_role(self, target: Target, user_id: str, role_id: str) -> None:
        if not SLACK_USERGROUP_ID.match(role_id):
            return  # badges without user groups: nothing to change on Slack
        client = await self._client(target)
        members, disabled = await self._group_members(client, role_id)
        if disabled:
            # Disabled when its last member left; the list Slack kept is stale.
            async with delivering(f"re-enabling user group {role_id}", ignore=("already_enabled",)):
                await client.usergroups_enable(usergroup=role_id)
            members = []
        if user_id not in members:
            await self._set_group_members(client, role_id, [*members, user_id])

    async def revoke_role(self, target: Target, user_id: str, role_id: str) -> None:
        if not SLACK_USERGROUP_ID.match(role_id):
            return
        client = await self._client(target)
        members, disabled = await self._group_members(client, role_id)
        if disabled or user_id not in members:
            return
        remaining = [m for m in members if m != user_id]
        if remaining:
            await self._set_group_members(client, role_id, remaining)
        else:
            # Slack refuses an empty member list; a group without members is disabled.
            async with delivering(f"disabling user group {role_id}", ignore=("already_disabled",)):
                await client.usergroups_disable(usergroup=role_id)

    async def role_holders(self, target: Target, role_id: str) -> list[str] | None:
        if not SLACK_USERGROUP_ID.match(role_id):
            return None  # badges without user groups: nothing held on Slack
        client = await self._client(target)
        members, disabled = await self._group_members(client, role_id)
        return [] if disabled else members

    async def _groups(self, client: AsyncWebClient) -> list[dict[str, Any]]:
        async with delivering("listing user groups"):
            listed = await client.usergroups_list(include_disabled=True, include_users=True)
        return list(listed["usergroups"])

    async def _group_members(self, client: AsyncWebClient, group_id: str) -> tuple[list[str], bool]:
        """The group's members and whether it is disabled."""
        group = next((g for g in await self._groups(client) if g["id"] == group_id), None)
        if group is None:
            raise PermanentFailure(f"user group {group_id} no longer exists")
        return [str(u) for u in group.get("users") or []], bool(group.get("date_delete"))

    async def _set_group_members(
        self, client: AsyncWebClient, group_id: str, users: list[str]
    ) -> None:
        async with delivering(f"updating user group {group_id}"):
            await client.usergroups_users_update(usergroup=group_id, users=users)

    # ----- private spaces (support groups) -------------------------------------------------

    async def create_private_space(
        self, target: Target, name: str, topic: str, user_ids: tuple[str, ...], attempt: Attempt
    ) -> str:
        """A private channel named by Slack's rules (a free ``-2`` … suffix when taken).

        A retry after a half-done attempt (created, but the invites failed) reuses the
        channel it created instead of making a second one.
        """
        client = await self._client(target)
        progress_key = state_key("space", target.platform_id, channel_name(name), *user_ids)
        progress = await read_state(self._factory, progress_key) or {}
        channel = progress.get("channel") or await self._create_channel(client, name)
        await write_state(self._factory, progress_key, {"channel": channel})
        if topic:
            async with delivering(f"setting the topic of {channel}"):
                await client.conversations_setTopic(channel=channel, topic=topic[:MAX_TOPIC])
        if user_ids:
            async with delivering(f"inviting members to {channel}", ignore=("already_in_channel",)):
                await client.conversations_invite(
                    channel=channel, users=",".join(user_ids), force=True
                )
        await write_state(self._factory, progress_key, {})
        return channel

    async def _create_channel(self, client: AsyncWebClient, name: str) -> str:
        for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
            async with delivering(
                f"creating #{channel_name(name, attempt)}", ignore=("name_taken",)
            ):
                created = await client.conversations_create(
                    name=channel_name(name, attempt), is_private=True
                )
                return str(created["channel"]["id"])
        raise PermanentFailure(f"every channel name like #{channel_name(name)} is taken")

    async def space_headroom(self, target: Target) -> int | None:
        return None  # no cap on private channels here

    async def set_space_member(
        self, target: Target, space_id: str, user_id: str, add: bool
    ) -> None:
        client = await self._client(target)
        if add:
            async with delivering(
                f"adding {user_id} to {space_id}", ignore=("already_in_channel",)
            ):
                await client.conversations_invite(channel=space_id, users=user_id)
        else:
            async with delivering(
                f"removing {user_id} from {space_id}", ignore=("not_in_channel",)
            ):
                await client.conversations_kick(channel=space_id, user=user_id)

    async def archive_space(self, target: Target, space_id: str) -> None:
        client = await self._client(target)
        async with delivering(f"archiving {space_id}", ignore=("already_archived",)):
            await client.conversations_archive(channel=space_id)

    async def create_scheduled_event(
        self,
        target: Target,
        space_id: str | None,
        title: str,
        description: str,
        start: datetime,
        end: datetime,
    ) -> str:
        """Slack has no calendar events: the meeting is announced in the group's channel,
        and the announcement (``channel:ts``, the event's id) is edited when it moves or is
        cancelled."""
        client = await self._client(target)
        if space_id is None:
            raise PermanentFailure(f"no channel to announce {title!r} in")
        sent = await self._post(
            client, space_id, _event_message(title, description, start, end), None
        )
        return f"{space_id}:{sent['ts']}"

    async def update_scheduled_event(
        self, target: Target, event_id: str, start: datetime, end: datetime
    ) -> None:
        client = await self._client(target)
        await self._edit_event(client, event_id, start, end, cancelled=False)

    async def cancel_scheduled_event(self, target: Target, event_id: str) -> None:
        client = await self._client(target)
        await self._edit_event(client, event_id, None, None, cancelled=True)

    async def _edit_event(
        self,
        client: AsyncWebClient,
        event_id: str,
        start: datetime | None,
        end: datetime | None,
        *,
        cancelled: bool,
    ) -> None:
        channel, _, ts = event_id.partition(":")
        if not ts:
            return  # an announcement from before ids named their channel
        async with delivering(f"reading the announcement {ts} in {channel}"):
            found = await client.conversations_history(
                channel=channel, latest=ts, inclusive=True, limit=1
            )
        messages = list(found.get("messages") or [])
        if not messages or messages[0].get("ts") != ts:
            return  # deleted: nothing to edit
        title = str(messages[0].get("text") or "Meeting").split("\n", 1)[0]
        if cancelled:
            message = Message(
                title=f"Cancelled: {title.removeprefix('Cancelled: ')}", tone="warning"
            )
        else:
            assert start is not None
            assert end is not None
            message = _event_message(title, "", start, end)
        async with delivering(f"editing the announcement {ts}", ignore=("message_not_found",)):
            await client.chat_update(
                channel=channel,
                ts=ts,
                text=self._render.fallback(message),
                blocks=self._render.blocks(message),
            )

    async def session_event(
        self,
        target: Target,
        event_id: str | None,
        title: str,
        description: str,
        start: datetime,
        end: datetime,
        location: str,
        cancel: bool,
    ) -> str | None:
        """Slack has no calendar events: a workshop's announcement post stands for it."""
        return None

    # ----- group post threads ---------------------------------------------------------------

    async def open_thread(self, target: Target, space_id: str, message_id: str, name: str) -> str:
        return message_id  # a Slack thread is its parent message's ts

    async def post_in_thread(
        self, target: Target, space_id: str, thread_id: str, message: Message, attempt: Attempt
    ) -> Sent:
        client = await self._client(target)
        return await self._post(client, space_id, message, attempt, thread_ts=thread_id)


def _event_message(title: str, description: str, start: datetime, end: datetime) -> Message:
    when = f"{moment(start, 'F')} – {moment(end, 't')}"
    return Message(title=title, text=description, fields=(Field("When", when),))
