"""Interaction payload builders for the fake Discord (mixed into ``FakeDiscord``).

The builders produce complete ``INTERACTION_CREATE`` payloads: everything discord.py's
``Interaction.__init__`` reads, including the non-obvious required ``attachment_size_limit``,
``member.permissions`` / ``app_permissions`` computed from roles and overwrites, the channel
object, ``authorizing_integration_owners`` and ``context``.  Slash-command payloads take the
command id and guild scope from commands synced to the fake, so ``CommandTree`` finds them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from tests.fakes.discord_fake_interactions import (
    DM_APP_PERMISSIONS,
    InteractionType,
    OptionType,
    new_token,
)
from tests.fakes.discord_fake_state import FakeState
from tests.fakes.discord_fake_types import ATTACHMENT_SIZE_LIMIT, JSON, ChannelType, Perm

Scope = Literal["auto", "guild", "global"]


class InteractionBuilders:
    """Public ``slash_command``/``button_click``/... builders; needs ``self.state``."""

    state: FakeState

    def slash_command(
        self,
        guild_id: int | None,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | Sequence[JSON] | None = None,
        *,
        channel_id: int | None = None,
        scope: Scope = "auto",
        locale: str = "en-US",
    ) -> JSON:
        """Chat-input command payload. ``name`` may be ``"group sub command"``.

        ``options`` maps option name -> value (types taken from the synced command, else
        inferred; user/role/channel values are ids and get ``resolved`` data) or is a raw list.
        The command id and guild scope come from commands synced to the fake ("auto": guild
        command for ``guild_id`` first, then global; unsynced -> global).
        """
        data = self._command_data(guild_id, name, options, scope=scope)
        return self._base(
            InteractionType.APPLICATION_COMMAND,
            guild_id,
            user_id,
            data=data,
            channel_id=channel_id,
            locale=locale,
        )

    def user_command(
        self,
        guild_id: int | None,
        user_id: int,
        name: str,
        target_user_id: int,
        *,
        channel_id: int | None = None,
        scope: Scope = "auto",
    ) -> JSON:
        """User context-menu command payload targeting ``target_user_id``."""
        data = self._command_data(
            guild_id, name, None, scope=scope, command_type=2, target_id=target_user_id
        )
        resolved: JSON = {}
        self._resolve_value(6, target_user_id, guild_id, resolved)
        data["resolved"] = resolved
        return self._base(
            InteractionType.APPLICATION_COMMAND,
            guild_id,
            user_id,
            data=data,
            channel_id=channel_id,
        )

    def autocomplete(
        self,
        guild_id: int | None,
        user_id: int,
        name: str,
        options: Mapping[str, Any],
        focused: str,
        *,
        channel_id: int | None = None,
        scope: Scope = "auto",
    ) -> JSON:
        """Autocomplete payload; ``focused`` names the option being typed (value sent as str)."""
        data = self._command_data(guild_id, name, options, scope=scope, focused=focused)
        return self._base(
            InteractionType.AUTOCOMPLETE, guild_id, user_id, data=data, channel_id=channel_id
        )

    def _component_channel(
        self, guild_id: int | None, user_id: int, message_id: int | None, channel_id: int | None
    ) -> int:
        if channel_id is not None:
            return channel_id
        if message_id is not None:
            stored = self.state.messages.get(message_id) or self.state.ephemeral_messages.get(
                message_id
            )
            if stored is not None:
                return int(stored["channel_id"])
        if guild_id is None:
            return int(self.state.open_dm(user_id)["id"])
        return self._default_channel(guild_id)

    def button_click(
        self,
        guild_id: int | None,
        user_id: int,
        custom_id: str,
        message_id: int | None = None,
        channel_id: int | None = None,
    ) -> JSON:
        """Button press on ``message_id`` (need not exist in the fake: persistent views)."""
        return self.component(guild_id, user_id, custom_id, message_id, channel_id)

    def select_menu(
        self,
        guild_id: int | None,
        user_id: int,
        custom_id: str,
        values: list[str],
        message_id: int | None = None,
        channel_id: int | None = None,
        *,
        component_type: int = 3,
    ) -> JSON:
        """Select-menu interaction (3 = string select; 5/6/7/8 = user/role/mentionable/channel)."""
        return self.component(
            guild_id,
            user_id,
            custom_id,
            message_id,
            channel_id,
            component_type=component_type,
            values=values,
        )

    def component(
        self,
        guild_id: int | None,
        user_id: int,
        custom_id: str,
        message_id: int | None = None,
        channel_id: int | None = None,
        *,
        component_type: int = 2,
        values: list[str] | None = None,
    ) -> JSON:
        cid = self._component_channel(guild_id, user_id, message_id, channel_id)
        data: JSON = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
        return self._base(
            InteractionType.MESSAGE_COMPONENT,
            guild_id,
            user_id,
            data=data,
            channel_id=cid,
            message=self._component_message(cid, message_id, guild_id),
        )

    def modal_submit(
        self,
        guild_id: int | None,
        user_id: int,
        custom_id: str,
        fields: Mapping[str, str],
        *,
        channel_id: int | None = None,
        message_id: int | None = None,
        layout: Literal["action_row", "label"] = "action_row",
    ) -> JSON:
        """Modal submit; ``fields`` maps text-input custom_id -> value."""
        data = {
            "custom_id": custom_id,
            "components": self._modal_components(fields, layout),
        }
        message = None
        if message_id is not None:
            cid = self._component_channel(guild_id, user_id, message_id, channel_id)
            channel_id = cid
            message = self._component_message(cid, message_id, guild_id)
        return self._base(
            InteractionType.MODAL_SUBMIT,
            guild_id,
            user_id,
            data=data,
            channel_id=channel_id,
            message=message,
        )

    # ------------------------------------------------------------ internals
    def _default_channel(self, guild_id: int) -> int:
        for c in self.state.guild_channels(guild_id):
            if c["type"] == ChannelType.GUILD_TEXT:
                return int(c["id"])
        return int(self.state.add_channel(guild_id, "general")["id"])

    def _base(
        self,
        type: int,
        guild_id: int | None,
        user_id: int,
        *,
        data: JSON | None,
        channel_id: int | None = None,
        message: JSON | None = None,
        locale: str = "en-US",
    ) -> JSON:
        st = self.state
        iid = st.next_id()
        payload: JSON = {
            "id": str(iid),
            "application_id": str(st.application_id),
            "type": type,
            "token": new_token(iid),
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if data is not None:
            payload["data"] = data
        if guild_id is not None:
            st.member(guild_id, user_id)
            cid = channel_id or self._default_channel(guild_id)
            channel = dict(st.channel(cid))
            channel["permissions"] = str(st.channel_permissions(cid, user_id))
            member = st.member_payload(guild_id, user_id)
            member["permissions"] = str(st.channel_permissions(cid, user_id))
            payload.update(
                {
                    "guild_id": str(guild_id),
                    "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "channel_id": str(cid),
                    "channel": channel,
                    "member": member,
                    "app_permissions": str(st.channel_permissions(cid, st.bot_user_id)),
                    "authorizing_integration_owners": {"0": str(guild_id)},
                    "context": 0,
                }
            )
        else:
            dm = st.open_dm(user_id) if channel_id is None else st.channel(channel_id)
            payload.update(
                {
                    "channel_id": dm["id"],
                    "channel": dict(dm),
                    "user": st.user(user_id),
                    "app_permissions": str(DM_APP_PERMISSIONS),
                    "authorizing_integration_owners": {"0": "0"},
                    "context": 1,
                }
            )
        if message is not None:
            payload["message"] = message
        return payload

    # ---------------------------------------------------------- app commands
    def _resolve_value(self, otype: int, value: Any, guild_id: int | None, resolved: JSON) -> Any:
        st = self.state
        if otype in (OptionType.USER, OptionType.MENTIONABLE) and (
            otype == OptionType.USER or int(value) in st.users
        ):
            uid = int(value)
            resolved.setdefault("users", {})[str(uid)] = st.user(uid)
            if guild_id is not None and uid in st.guild(guild_id).members:
                member = st.member_payload(guild_id, uid)
                member.pop("user")
                member["permissions"] = str(st.base_permissions(guild_id, uid))
                resolved.setdefault("members", {})[str(uid)] = member
            return str(uid)
        if otype in (OptionType.ROLE, OptionType.MENTIONABLE):
            assert guild_id is not None, "role options need a guild"
            rid = int(value)
            resolved.setdefault("roles", {})[str(rid)] = dict(st.role(guild_id, rid))
            return str(rid)
        if otype == OptionType.CHANNEL:
            cid = int(value)
            ch = dict(st.channel(cid))
            # resolved channels carry the invoker's permissions; the fake grants everything
            ch["permissions"] = str(Perm.ALL)
            resolved.setdefault("channels", {})[str(cid)] = ch
            return str(cid)
        if otype == OptionType.INTEGER:
            return int(value)
        if otype == OptionType.NUMBER:
            return float(value)
        if otype == OptionType.BOOLEAN:
            return bool(value)
        return str(value)

    @staticmethod
    def _infer_type(value: Any) -> int:
        if isinstance(value, bool):
            return OptionType.BOOLEAN
        if isinstance(value, int):
            return OptionType.INTEGER
        if isinstance(value, float):
            return OptionType.NUMBER
        return OptionType.STRING

    def _leaf_options(
        self,
        values: Mapping[str, Any] | Sequence[JSON],
        definitions: list[JSON],
        guild_id: int | None,
        resolved: JSON,
        focused: str | None,
    ) -> list[JSON]:
        if not isinstance(values, Mapping):
            return [dict(o) for o in values]
        by_name = {d["name"]: d for d in definitions}
        out: list[JSON] = []
        for name, value in values.items():
            definition = by_name.get(name)
            otype = definition["type"] if definition else self._infer_type(value)
            opt: JSON = {"name": name, "type": otype}
            if name == focused:
                opt["value"] = str(value)
                opt["focused"] = True
            else:
                opt["value"] = self._resolve_value(otype, value, guild_id, resolved)
            out.append(opt)
        return out

    def _command_data(
        self,
        guild_id: int | None,
        name: str,
        options: Mapping[str, Any] | Sequence[JSON] | None,
        *,
        scope: Scope = "auto",
        focused: str | None = None,
        command_type: int = 1,
        target_id: int | None = None,
    ) -> JSON:
        path = name.split() if command_type == 1 else [name]  # context menus: free-form
        top = path[0]
        definition: JSON | None = None
        if scope in ("auto", "guild") and guild_id is not None:
            definition = self._find_in(
                self.state.guild_commands.get(guild_id, {}), top, command_type
            )
        if definition is None and scope in ("auto", "global"):
            definition = self._find_in(self.state.global_commands, top, command_type)
        cmd_guild = guild_id if scope == "guild" else None
        if definition is not None and "guild_id" in definition:
            cmd_guild = int(definition["guild_id"])
        resolved: JSON = {}
        defs: list[JSON] = (definition or {}).get("options") or []
        nested: list[tuple[str, int]] = []
        for depth, part in enumerate(path[1:], start=1):
            sub = next((d for d in defs if d["name"] == part), None)
            if sub is not None:
                kind = sub["type"]
            elif depth == len(path) - 1:
                kind = OptionType.SUB_COMMAND
            else:
                kind = OptionType.SUB_COMMAND_GROUP
            nested.append((part, kind))
            defs = (sub or {}).get("options") or []
        leaf = self._leaf_options(options or {}, defs, guild_id, resolved, focused)
        for part, kind in reversed(nested):
            leaf = [{"name": part, "type": kind, "options": leaf}]
        data: JSON = {
            "id": definition["id"] if definition else str(self.state.next_id()),
            "name": top,
            "type": command_type,
            "options": leaf,
        }
        if cmd_guild is not None:
            data["guild_id"] = str(cmd_guild)
        if resolved:
            data["resolved"] = resolved
        if target_id is not None:
            data["target_id"] = str(target_id)
        return data

    @staticmethod
    def _find_in(store: Mapping[int, JSON], name: str, command_type: int) -> JSON | None:
        for cmd in store.values():
            if cmd["name"] == name and cmd.get("type", 1) == command_type:
                return cmd
        return None

    # ------------------------------------------------------------- components
    def _component_message(
        self, channel_id: int, message_id: int | None, guild_id: int | None
    ) -> JSON:
        st = self.state
        if message_id is not None:
            # Discord includes the message in the payload, ephemeral ones too.
            stored = st.messages.get(message_id) or st.ephemeral_messages.get(message_id)
            if stored is not None:
                return dict(stored)
        msg: JSON = {
            "id": str(message_id or st.next_id()),
            "channel_id": str(channel_id),
            "author": st.user(st.bot_user_id),
            "content": "",
            "timestamp": "2024-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        if guild_id is not None:
            msg["guild_id"] = str(guild_id)
        return msg

    @staticmethod
    def _modal_components(
        fields: Mapping[str, str], layout: Literal["action_row", "label"]
    ) -> list[JSON]:
        if layout == "label":
            return [
                {"type": 18, "id": i + 1, "component": {"type": 4, "custom_id": k, "value": v}}
                for i, (k, v) in enumerate(fields.items())
            ]
        return [
            {"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]}
            for k, v in fields.items()
        ]
