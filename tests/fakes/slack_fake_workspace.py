"""In-memory Slack workspace behind the fake server (entry point: ``slack_fake.FakeSlack``).

Holds users, channels, messages, views, user groups and trigger ids, plus the lookups the
Web API handlers share. Handlers live in ``slack_fake_api_*.py`` and register themselves with
``api_method``; no I/O happens here.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tests.fakes.slack_fake_models import (
    EphemeralMessage,
    FakeChannel,
    FakeFile,
    FakeUser,
    FakeUsergroup,
    FakeView,
    IdFactory,
    JsonDict,
    SlackError,
    StoredMessage,
    TsClock,
)

Handler = Callable[["Workspace", JsonDict], JsonDict]
ScopeRule = str | Callable[["Workspace", JsonDict], str | None]

HANDLERS: dict[str, Handler] = {}
SCOPES: dict[str, ScopeRule] = {}
# Methods that must be called with an app-level (xapp-) token; all others refuse one.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})

DEFAULT_BOT_SCOPES = frozenset(
    {
        "chat:write",
        "commands",
        "channels:read",
        "channels:history",
        "channels:manage",
        "groups:read",
        "groups:history",
        "groups:write",
        "im:read",
        "im:history",
        "im:write",
        "mpim:write",
        "users:read",
        "users:read.email",
        "usergroups:read",
        "usergroups:write",
        "reactions:write",
        "pins:write",
        "files:write",
    }
)
DEFAULT_APP_SCOPES = frozenset({"connections:write"})


def api_method(name: str, scope: ScopeRule | None = None) -> Callable[[Handler], Handler]:
    """Register a Web API handler (and the scope it needs) under its Slack method name."""

    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        if scope is not None:
            SCOPES[name] = scope
        return fn

    return register


def scope_by_channel(public: str, private: str, im: str) -> ScopeRule:
    """Scope rule for conversations.* methods: depends on the kind of ``args["channel"]``."""

    def rule(ws: Workspace, args: JsonDict) -> str:
        channel = ws.channels.get(str(args.get("channel", "")))
        if channel is None:
            return public
        if channel.is_im or channel.is_mpim:
            return im
        return private if channel.is_private else public

    return rule


@dataclass
class _Trigger:
    user_id: str
    issued_at: float
    used: bool = False


class Workspace:
    """One Slack team with one installed bot. ``FakeSlack`` inherits all of this."""

    def __init__(
        self,
        *,
        team_id: str = "T0FAKETEAM",
        team_domain: str = "fake-team",
        bot_user_id: str = "U0FAKEBOT",
        bot_id: str = "B0FAKEBOT",
        app_id: str = "A0FAKEAPP",
        bot_name: str = "mentorbot",
        bot_scopes: Iterable[str] = DEFAULT_BOT_SCOPES,
        app_scopes: Iterable[str] = DEFAULT_APP_SCOPES,
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.bot_scopes: set[str] = set(bot_scopes)
        self.app_scopes: set[str] = set(app_scopes)
        #: False makes usergroups.create answer ``paid_teams_only`` like a free workspace.
        self.paid_plan = True
        #: True: views.open/push only accept trigger ids the fake issued, once each.
        self.strict_trigger_ids = True
        #: Seconds a trigger id stays valid (Slack: 3 s); None = never expires.
        self.trigger_ttl: float | None = None

        self.ids = IdFactory()
        self.clock = TsClock()
        self.users: dict[str, FakeUser] = {}
        self.channels: dict[str, FakeChannel] = {}
        self.views: dict[str, FakeView] = {}
        self.home_views: dict[str, FakeView] = {}
        self.modal_stacks: dict[str, list[str]] = {}
        self.usergroups: dict[str, FakeUsergroup] = {}
        self.files: dict[str, FakeFile] = {}
        self.ephemerals: list[EphemeralMessage] = []
        self._messages: dict[str, list[StoredMessage]] = {}
        self._dm_by_user: dict[str, str] = {}
        self._triggers: dict[str, _Trigger] = {}
        self.users[bot_user_id] = FakeUser(
            id=bot_user_id, name=bot_name, team_id=team_id, is_bot=True, tz="UTC"
        )

    # ------------------------------------------------------------------ public helpers

    def add_user(
        self,
        user_id: str,
        name: str,
        tz: str = "Europe/Madrid",
        is_admin: bool = False,
        *,
        real_name: str = "",
        email: str | None = None,
        is_owner: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
    ) -> FakeUser:
        """Create (or replace) a workspace member."""
        user = FakeUser(
            id=user_id,
            name=name,
            team_id=self.team_id,
            real_name=real_name,
            tz=tz,
            is_admin=is_admin,
            is_owner=is_owner,
            is_bot=is_bot,
            deleted=deleted,
            email=email,
        )
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        name: str,
        *,
        channel_id: str | None = None,
        is_private: bool = False,
        members: Iterable[str] = (),
        bot_is_member: bool = True,
        topic: str = "",
    ) -> FakeChannel:
        """Create a channel directly (no API call recorded)."""
        cid = channel_id or self.ids.next("C")
        member_list = list(dict.fromkeys(members))
        if bot_is_member and self.bot_user_id not in member_list:
            member_list.insert(0, self.bot_user_id)
        channel = FakeChannel(
            id=cid,
            name=name,
            created=int(time.time()),
            is_private=is_private,
            members=member_list,
            creator=self.bot_user_id,
            topic=topic,
        )
        self.channels[cid] = channel
        return channel

    def dm_channel_id(self, user_id: str) -> str:
        """The stable IM channel id ("D…") between the bot and ``user_id`` (opened on demand)."""
        existing = self._dm_by_user.get(user_id)
        if existing:
            return existing
        cid = self.ids.next("D")
        self.channels[cid] = FakeChannel(
            id=cid,
            name=cid,
            created=int(time.time()),
            is_im=True,
            members=[user_id, self.bot_user_id],
            user=user_id,
        )
        self._dm_by_user[user_id] = cid
        return cid

    def messages(
        self, channel: str | None = None, *, include_replies: bool = True
    ) -> list[StoredMessage]:
        """Stored (not deleted) messages, oldest first; ``channel`` may be a user id (→ DM)."""
        if channel is not None and channel in self._dm_by_user:
            channel = self._dm_by_user[channel]
        pools = [self._messages.get(channel, [])] if channel else list(self._messages.values())
        found = [m for pool in pools for m in pool if not m.deleted]
        if not include_replies:
            found = [m for m in found if not m.is_reply or m.reply_broadcast]
        return sorted(found, key=lambda m: float(m.ts))

    def message(self, channel: str, ts: str) -> StoredMessage | None:
        return next((m for m in self._messages.get(channel, []) if m.ts == ts), None)

    def ephemeral(self, channel: str, ts: str) -> EphemeralMessage | None:
        """The ephemeral message ``ts`` in ``channel`` (still shown), if any."""
        return next((e for e in self.ephemerals if (e.channel, e.ts) == (channel, ts)), None)

    def issue_trigger_id(self, user_id: str) -> str:
        """A trigger id as carried by interactions; views.open/push accept it once."""
        trigger = f"{int(time.time())}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"
        self._triggers[trigger] = _Trigger(user_id=user_id, issued_at=time.monotonic())
        return trigger

    def required_scope(self, method: str, args: JsonDict) -> str | None:
        rule = SCOPES.get(method)
        if rule is None or isinstance(rule, str):
            return rule
        return rule(self, args)

    # ------------------------------------------------------------------ handler helpers

    def get_channel(self, channel_id: object) -> FakeChannel:
        channel = self.channels.get(str(channel_id or ""))
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def get_user(self, user_id: object) -> FakeUser:
        user = self.users.get(str(user_id or ""))
        if user is None:
            raise SlackError("user_not_found")
        return user

    def readable_channel(self, channel_id: object) -> FakeChannel:
        """Channel the bot may read: private/IM ones only when it is a member."""
        channel = self.get_channel(channel_id)
        if (channel.is_private or channel.is_im) and self.bot_user_id not in channel.members:
            raise SlackError("channel_not_found")
        return channel

    def member_channel(self, channel_id: object) -> FakeChannel:
        """Channel the bot must be a member of (history, invite, post…)."""
        channel = self.readable_channel(channel_id)
        if self.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    def post_target(self, channel_id: object) -> FakeChannel:
        """chat.* ``channel`` argument: a conversation id, or a user id meaning the bot DM."""
        raw = str(channel_id or "")
        if raw in self.users and raw not in self.channels:
            return self.channels[self.dm_channel_id(raw)]
        channel = self.member_channel(raw)
        if channel.is_archived:
            raise SlackError("is_archived")
        return channel

    def store_message(
        self,
        channel: FakeChannel,
        *,
        text: str,
        user: str,
        blocks: list[JsonDict] | None = None,
        attachments: list[JsonDict] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        metadata: JsonDict | None = None,
        ts: str | None = None,
    ) -> StoredMessage:
        is_bot = user == self.bot_user_id
        msg = StoredMessage(
            channel=channel.id,
            ts=ts or self.clock.next(),
            text=text,
            user=user,
            blocks=list(blocks or []),
            attachments=list(attachments or []),
            thread_ts=thread_ts,
            bot_id=self.bot_id if is_bot else None,
            app_id=self.app_id if is_bot else None,
            metadata=metadata,
            reply_broadcast=reply_broadcast,
        )
        self._messages.setdefault(channel.id, []).append(msg)
        if thread_ts:
            parent = self.message(channel.id, thread_ts)
            if parent is not None and parent.ts != msg.ts:
                parent.thread_ts = parent.ts
                parent.reply_count += 1
                parent.latest_reply = msg.ts
                if user not in parent.reply_users:
                    parent.reply_users.append(user)
        return msg

    def existing_message(self, channel_id: str, ts: object) -> StoredMessage:
        msg = self.message(channel_id, str(ts or ""))
        if msg is None or msg.deleted:
            raise SlackError("message_not_found")
        return msg

    def consume_trigger(self, trigger_id: object) -> str | None:
        """Validate a trigger id for views.open/push; returns its user (None if unknown)."""
        raw = str(trigger_id or "")
        if not raw:
            raise SlackError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]},
            )
        trigger = self._triggers.get(raw)
        if trigger is None:
            if self.strict_trigger_ids:
                raise SlackError("invalid_trigger_id")
            return None
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.trigger_ttl is not None and time.monotonic() - trigger.issued_at > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger.user_id
