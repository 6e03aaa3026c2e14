"""In-memory Discord data model used by :mod:`tests.fakes.discord_fake`.

Everything is stored in Discord's own wire format (snowflakes as strings, ISO timestamps) so
payloads can be handed to discord.py unchanged.  Public helpers take and return plain ``int``
ids.  See the module docstring of :mod:`tests.fakes.discord_fake` for the overall picture.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

from tests.fakes.discord_fake_types import (
    DEFAULT_BOT_NAME,
    JSON,
    ApiError,
    ChannelType,
    Perm,
    SnowflakeFactory,
    iso,
    normalize_overwrite,
)


@dataclass
class FakeGuild:
    """A guild in the fake. ``roles``/``members`` hold wire-format dicts keyed by int id."""

    id: int
    name: str
    owner_id: int
    bot_role_id: int
    joined: bool = True
    created_at: str = field(default_factory=iso)
    roles: dict[int, JSON] = field(default_factory=dict)
    members: dict[int, JSON] = field(default_factory=dict)
    scheduled_events: dict[int, JSON] = field(default_factory=dict)


class FakeState:
    """Guilds, users, channels, messages and application commands of the fake Discord."""

    MAX_ROLES = 250
    MAX_CHANNELS_PER_CATEGORY = 50
    MAX_GUILD_CHANNELS = 500
    MAX_NONCE = 25

    def __init__(
        self, *, bot_user_id: int, application_id: int, bot_name: str = DEFAULT_BOT_NAME
    ) -> None:
        self.next_id = SnowflakeFactory()
        self.bot_user_id = bot_user_id
        self.application_id = application_id
        self.users: dict[int, JSON] = {}
        self.dms_closed: set[int] = set()
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, JSON] = {}
        self.dm_channel_by_user: dict[int, int] = {}
        self.messages: dict[int, JSON] = {}
        # ephemeral interaction messages: only reachable through the interaction webhook
        self.ephemeral_messages: dict[int, JSON] = {}
        self.pinned_at: dict[int, str] = {}
        self.global_commands: dict[int, JSON] = {}
        self.guild_commands: dict[int, dict[int, JSON]] = {}
        # enforce_nonce: (author, channel, nonce) -> (message id, monotonic time sent)
        self.nonces: dict[tuple[int, int, str], tuple[int, float]] = {}
        #: how long Discord remembers a nonce ("the past few minutes")
        self.nonce_window_seconds = 300.0
        self.add_user(bot_user_id, bot_name, bot=True)

    # ------------------------------------------------------------------ users
    def add_user(
        self,
        user_id: int | None = None,
        name: str | None = None,
        *,
        bot: bool = False,
        global_name: str | None = None,
        accepts_dms: bool = True,
    ) -> JSON:
        uid = self.next_id() if user_id is None else user_id
        username = name or f"user{uid % 100_000}"
        user: JSON = {
            "id": str(uid),
            "username": username,
            "discriminator": "0",
            "global_name": global_name if global_name is not None else username,
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
            "flags": 0,
        }
        self.users[uid] = user
        if not accepts_dms:
            self.dms_closed.add(uid)
        return user

    def user(self, user_id: int) -> JSON:
        try:
            return copy.deepcopy(self.users[user_id])
        except KeyError:
            raise ApiError.not_found("User", 10013) from None

    def ensure_user(self, user_id: int, name: str | None = None) -> JSON:
        if user_id not in self.users:
            return self.add_user(user_id, name)
        return self.users[user_id]

    def bot_user_payload(self) -> JSON:
        data = self.user(self.bot_user_id)
        data.update({"verified": True, "mfa_enabled": False, "locale": "en-US"})
        return data

    # ----------------------------------------------------------------- guilds
    def guild(self, guild_id: int) -> FakeGuild:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise ApiError.not_found("Guild", 10004) from None

    def add_guild(
        self,
        name: str,
        owner_id: int | None = None,
        *,
        bot_permissions: int = Perm.ADMINISTRATOR,
        everyone_permissions: int = Perm.DEFAULT_EVERYONE,
        joined: bool = True,
    ) -> FakeGuild:
        gid = self.next_id()
        if owner_id is None:
            owner_id = self.add_user(None, "guild-owner")["id"]
        owner_id = int(owner_id)
        self.ensure_user(owner_id, "guild-owner")
        guild = FakeGuild(id=gid, name=name, owner_id=owner_id, bot_role_id=0, joined=joined)
        self.guilds[gid] = guild
        guild.roles[gid] = self._role_dict(gid, "@everyone", everyone_permissions, 0)
        bot_role = self.add_role(gid, self.users[self.bot_user_id]["username"], bot_permissions)
        bot_role["managed"] = True
        bot_role["tags"] = {"bot_id": str(self.bot_user_id)}
        guild.bot_role_id = int(bot_role["id"])
        self.add_member(gid, owner_id)
        self.add_member(gid, self.bot_user_id, roles=[guild.bot_role_id])
        return guild

    def set_bot_permissions(self, guild_id: int, permissions: int) -> None:
        guild = self.guild(guild_id)
        guild.roles[guild.bot_role_id]["permissions"] = str(permissions)

    def guild_payload(self, guild_id: int) -> JSON:
        """REST ``GET /guilds/{id}`` shape."""
        g = self.guild(guild_id)
        return {
            "id": str(g.id),
            "name": g.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(g.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "preferred_locale": "en-US",
            "features": [],
            "roles": [copy.deepcopy(r) for r in g.roles.values()],
            "emojis": [],
            "stickers": [],
            "application_id": None,
            "max_members": 500_000,
        }

    def guild_create_payload(self, guild_id: int, *, unavailable_key: bool = True) -> JSON:
        """Gateway ``GUILD_CREATE`` shape (full guild incl. channels, members, events)."""
        g = self.guild(guild_id)
        data = self.guild_payload(guild_id)
        data.update(
            {
                "joined_at": g.created_at,
                "large": False,
                "member_count": len(g.members),
                "members": [self.member_payload(g.id, uid) for uid in g.members],
                "channels": [
                    self._strip_guild_id(c)
                    for c in self.guild_channels(g.id)
                    if c["type"] not in ChannelType.THREADS
                ],
                "threads": [
                    copy.deepcopy(c)
                    for c in self.guild_channels(g.id)
                    if c["type"] in ChannelType.THREADS
                ],
                "guild_scheduled_events": [copy.deepcopy(e) for e in g.scheduled_events.values()],
                "voice_states": [],
                "presences": [],
                "stage_instances": [],
                "soundboard_sounds": [],
            }
        )
        if unavailable_key:
            data["unavailable"] = False
        return data

    @staticmethod
    def _strip_guild_id(channel: JSON) -> JSON:
        data = copy.deepcopy(channel)
        data.pop("guild_id", None)
        return data

    # ------------------------------------------------------------------ roles
    @staticmethod
    def _role_dict(role_id: int, name: str, permissions: int, position: int) -> JSON:
        return {
            "id": str(role_id),
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": str(permissions),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def add_role(
        self,
        guild_id: int,
        name: str,
        permissions: int = 0,
        *,
        position: int | None = None,
        color: int = 0,
        hoist: bool = False,
        mentionable: bool = False,
        role_id: int | None = None,
    ) -> JSON:
        """Create a role. Like Discord, new roles land at position 1 (just above @everyone)."""
        g = self.guild(guild_id)
        if len(g.roles) >= self.MAX_ROLES:
            raise ApiError(400, 30005, f"Maximum number of guild roles reached ({self.MAX_ROLES})")
        pos = 1 if position is None else position
        for role in g.roles.values():
            if role["id"] != str(g.id) and role["position"] >= pos:
                role["position"] += 1
        rid = self.next_id() if role_id is None else role_id
        role = self._role_dict(rid, name, permissions, pos)
        role.update({"color": color, "hoist": hoist, "mentionable": mentionable})
        role["colors"]["primary_color"] = color
        g.roles[rid] = role
        return role

    def role(self, guild_id: int, role_id: int) -> JSON:
        try:
            return self.guild(guild_id).roles[role_id]
        except KeyError:
            raise ApiError.not_found("Role", 10011) from None

    def top_role_position(self, guild_id: int, user_id: int) -> int:
        g = self.guild(guild_id)
        member = self.member(guild_id, user_id)
        return max(
            (g.roles[int(r)]["position"] for r in member["roles"] if int(r) in g.roles), default=0
        )

    # ---------------------------------------------------------------- members
    def add_member(
        self,
        guild_id: int,
        user_id: int,
        name: str | None = None,
        roles: list[int] | None = None,
        *,
        nick: str | None = None,
    ) -> JSON:
        g = self.guild(guild_id)
        self.ensure_user(user_id, name)
        for rid in roles or []:
            self.role(guild_id, rid)
        member: JSON = {
            "roles": [str(r) for r in roles or []],
            "nick": nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        g.members[user_id] = member
        return member

    def member(self, guild_id: int, user_id: int) -> JSON:
        try:
            return self.guild(guild_id).members[user_id]
        except KeyError:
            raise ApiError.not_found("Member", 10007) from None

    def member_payload(self, guild_id: int, user_id: int) -> JSON:
        data = copy.deepcopy(self.member(guild_id, user_id))
        data["user"] = self.user(user_id)
        return data

    # ------------------------------------------------------------ permissions
    def base_permissions(self, guild_id: int, user_id: int) -> int:
        g = self.guild(guild_id)
        if user_id == g.owner_id:
            return Perm.ALL
        perms = int(g.roles[g.id]["permissions"])
        for rid in self.member(guild_id, user_id)["roles"]:
            role = g.roles.get(int(rid))
            if role is not None:
                perms |= int(role["permissions"])
        return Perm.ALL if perms & Perm.ADMINISTRATOR else perms

    def channel_permissions(self, channel_id: int, user_id: int) -> int:
        """Discord's permission algorithm incl. @everyone, role and member overwrites."""
        channel = self.channel(channel_id)
        if channel["type"] in ChannelType.THREADS:
            channel = self.channel(int(channel["parent_id"]))
        guild_id = int(channel["guild_id"])
        perms = self.base_permissions(guild_id, user_id)
        if perms & Perm.ADMINISTRATOR:
            return Perm.ALL
        overwrites = {int(o["id"]): o for o in channel.get("permission_overwrites", [])}
        everyone = overwrites.get(guild_id)
        if everyone:
            perms = (perms & ~int(everyone["deny"])) | int(everyone["allow"])
        allow = deny = 0
        for rid in self.member(guild_id, user_id)["roles"]:
            ow = overwrites.get(int(rid))
            if ow and ow.get("type", 0) == 0:
                allow |= int(ow["allow"])
                deny |= int(ow["deny"])
        perms = (perms & ~deny) | allow
        own = overwrites.get(user_id)
        if own and own.get("type", 1) == 1:
            perms = (perms & ~int(own["deny"])) | int(own["allow"])
        if not perms & Perm.VIEW_CHANNEL:
            return 0
        return perms

    # --------------------------------------------------------------- channels
    def channel(self, channel_id: int) -> JSON:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise ApiError.not_found("Channel", 10003) from None

    def guild_channels(self, guild_id: int) -> list[JSON]:
        gid = str(guild_id)
        return [c for c in self.channels.values() if c.get("guild_id") == gid]

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = ChannelType.GUILD_TEXT,
        parent_id: int | None = None,
        topic: str | None = None,
        permission_overwrites: list[JSON] | None = None,
        position: int | None = None,
    ) -> JSON:
        g = self.guild(guild_id)
        existing = [c for c in self.guild_channels(g.id) if c["type"] not in ChannelType.THREADS]
        if len(existing) >= self.MAX_GUILD_CHANNELS:
            raise ApiError(400, 30013, "Maximum number of guild channels reached (500)")
        if parent_id is not None:
            parent = self.channel(parent_id)
            if parent.get("guild_id") != str(g.id) or parent["type"] != ChannelType.GUILD_CATEGORY:
                raise ApiError.invalid_form(
                    "parent_id", "CHANNEL_PARENT_INVALID_TYPE", "Not a category"
                )
            children = [c for c in existing if c.get("parent_id") == str(parent_id)]
            if len(children) >= self.MAX_CHANNELS_PER_CATEGORY:
                raise ApiError.invalid_form(
                    "parent_id",
                    "CHANNEL_PARENT_MAX_CHANNELS",
                    "Maximum number of channels in category reached (50)",
                )
        cid = self.next_id()
        channel: JSON = {
            "id": str(cid),
            "type": type,
            "guild_id": str(g.id),
            "name": name,
            "position": len(existing) if position is None else position,
            "parent_id": None if parent_id is None else str(parent_id),
            "permission_overwrites": [normalize_overwrite(o) for o in permission_overwrites or []],
            "nsfw": False,
            "flags": 0,
        }
        if type == ChannelType.GUILD_TEXT:
            channel.update({"topic": topic, "rate_limit_per_user": 0, "last_message_id": None})
        elif type == ChannelType.GUILD_VOICE:
            channel.update({"bitrate": 64000, "user_limit": 0, "rtc_region": None})
        self.channels[cid] = channel
        return channel

    def add_thread(
        self,
        parent_id: int,
        name: str,
        *,
        owner_id: int | None = None,
        type: int = ChannelType.PUBLIC_THREAD,
        auto_archive_duration: int = 1440,
        thread_id: int | None = None,
    ) -> JSON:
        parent = self.channel(parent_id)
        tid = self.next_id() if thread_id is None else thread_id
        thread: JSON = {
            "id": str(tid),
            "type": type,
            "guild_id": parent["guild_id"],
            "parent_id": str(parent_id),
            "owner_id": str(owner_id or self.bot_user_id),
            "name": name,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive_duration,
                "archive_timestamp": iso(),
                "locked": False,
                "invitable": True,
                "create_timestamp": iso(),
            },
        }
        self.channels[tid] = thread
        return thread

    def open_dm(self, user_id: int) -> JSON:
        """Return the DM channel with ``user_id`` (created on first use, then reused)."""
        self.user(user_id)
        cid = self.dm_channel_by_user.get(user_id)
        if cid is None:
            cid = self.next_id()
            self.dm_channel_by_user[user_id] = cid
            self.channels[cid] = {
                "id": str(cid),
                "type": ChannelType.DM,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self.user(user_id)],
            }
        return self.channels[cid]

    def dm_recipient(self, channel: JSON) -> int | None:
        if channel["type"] != ChannelType.DM:
            return None
        return int(channel["recipients"][0]["id"])

    # --------------------------------------------------------------- messages
    def create_message(
        self,
        channel_id: int,
        author_id: int,
        content: str = "",
        *,
        body: JSON | None = None,
        attachments: list[JSON] | None = None,
        type: int = 0,
        extra: JSON | None = None,
        ephemeral: bool = False,
    ) -> JSON:
        """Store a message. ``body`` is a Discord create-message JSON body (content, embeds…)."""
        channel = self.channel(channel_id)
        body = body or {}
        mid = self.next_id()
        message: JSON = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": self.user(author_id),
            "content": body.get("content", content) or "",
            "timestamp": iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments or [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "reactions": [],
            "pinned": False,
            "type": 19 if body.get("message_reference") else type,
            "flags": int(body.get("flags") or 0),
        }
        if "guild_id" in channel:
            message["guild_id"] = channel["guild_id"]
        if body.get("message_reference"):
            message["message_reference"] = body["message_reference"]
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
            key = (author_id, channel_id, str(body["nonce"]))
            self.nonces[key] = (mid, time.monotonic())
        if extra:
            message.update(extra)
        if ephemeral:
            self.ephemeral_messages[mid] = message
            return message
        self.messages[mid] = message
        channel["last_message_id"] = str(mid)
        if channel["type"] in ChannelType.THREADS:
            channel["message_count"] += 1
        return message

    def message_with_nonce(self, author_id: int, channel_id: int, nonce: str) -> JSON | None:
        """The live message ``author_id`` sent with ``nonce`` in the channel within the
        nonce window, as Discord's ``enforce_nonce`` finds it."""
        seen = self.nonces.get((author_id, channel_id, nonce))
        if seen is None or time.monotonic() - seen[1] > self.nonce_window_seconds:
            return None
        return self.messages.get(seen[0])

    def message(self, channel_id: int | None, message_id: int) -> JSON:
        msg = self.messages.get(message_id)
        if msg is None or (channel_id is not None and msg["channel_id"] != str(channel_id)):
            raise ApiError.not_found("Message", 10008)
        return msg

    def any_message(self, message_id: int) -> JSON:
        """Channel or ephemeral message by id."""
        msg = self.messages.get(message_id) or self.ephemeral_messages.get(message_id)
        if msg is None:
            raise ApiError.not_found("Message", 10008)
        return msg

    def channel_messages(self, channel_id: int) -> list[JSON]:
        """Oldest first."""
        cid = str(channel_id)
        return [m for m in self.messages.values() if m["channel_id"] == cid]

    # ------------------------------------------------------------ app commands
    def commands(self, guild_id: int | None = None) -> list[JSON]:
        store = self.global_commands if guild_id is None else self.guild_commands.get(guild_id, {})
        return [copy.deepcopy(c) for c in store.values()]

    def find_command(self, name: str, guild_id: int | None, type: int = 1) -> JSON | None:
        stores: list[dict[int, JSON]] = []
        if guild_id is not None:
            stores.append(self.guild_commands.get(guild_id, {}))
        stores.append(self.global_commands)
        for store in stores:
            for cmd in store.values():
                if cmd["name"] == name and cmd.get("type", 1) == type:
                    return cmd
        return None
