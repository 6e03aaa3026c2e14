"""Guild, guild-channel, role, member and scheduled-event routes of the fake Discord."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from aiohttp import web

from tests.fakes.discord_fake_gateway import Intent
from tests.fakes.discord_fake_http import json_response, no_content
from tests.fakes.discord_fake_rest import Req, RestBase, Route
from tests.fakes.discord_fake_types import JSON, ApiError, ChannelType, Perm


def _parse_time(value: Any) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise ApiError.invalid_form(
            "scheduled_start_time", "DATE_TIME_TYPE_PARSE", "Could not parse date"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class GuildApi(RestBase):
    def routes(self) -> list[Route]:
        g = "/guilds/{guild_id}"
        ev = f"{g}/scheduled-events"
        return [
            ("GET", g, self.get_guild),
            ("GET", f"{g}/channels", self.list_guild_channels),
            ("POST", f"{g}/channels", self.create_guild_channel),
            ("PATCH", f"{g}/channels", self.no_content),
            ("GET", f"{g}/roles", self.list_roles),
            ("POST", f"{g}/roles", self.create_role),
            ("PATCH", f"{g}/roles", self.list_roles),
            ("GET", f"{g}/roles/{{role_id}}", self.get_role),
            ("PATCH", f"{g}/roles/{{role_id}}", self.patch_role),
            ("DELETE", f"{g}/roles/{{role_id}}", self.delete_role),
            ("GET", f"{g}/members", self.list_members),
            ("PATCH", f"{g}/members/@me", self.patch_me_member),
            ("GET", f"{g}/members/{{user_id}}", self.get_member),
            ("PATCH", f"{g}/members/{{user_id}}", self.patch_member),
            ("DELETE", f"{g}/members/{{user_id}}", self.kick_member),
            ("PUT", f"{g}/members/{{user_id}}/roles/{{role_id}}", self.add_member_role),
            ("DELETE", f"{g}/members/{{user_id}}/roles/{{role_id}}", self.remove_member_role),
            ("GET", ev, self.list_events),
            ("POST", ev, self.create_event),
            ("GET", f"{ev}/{{event_id}}", self.get_event),
            ("PATCH", f"{ev}/{{event_id}}", self.patch_event),
            ("DELETE", f"{ev}/{{event_id}}", self.delete_event),
            ("GET", f"{ev}/{{event_id}}/users", self.empty_list),
        ]

    # --------------------------------------------------------------- guilds
    async def get_guild(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        data = self.st.guild_payload(gid)
        if req.request.query.get("with_counts") in ("true", "1", "True"):
            n = len(self.st.guild(gid).members)
            data.update({"approximate_member_count": n, "approximate_presence_count": 0})
        return json_response(data)

    async def list_guild_channels(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        return json_response(
            [
                copy.deepcopy(ch)
                for ch in self.st.guild_channels(gid)
                if ch["type"] not in ChannelType.THREADS
            ]
        )

    async def create_guild_channel(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        self.require(gid, all_of=Perm.MANAGE_CHANNELS)
        body = req.json
        ctype = int(body.get("type", ChannelType.GUILD_TEXT))
        if ctype not in (0, 2, 4, 5, 13, 15, 16):
            raise ApiError.invalid_form("type", "BASE_TYPE_CHOICES", "Value must be one of ...")
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise ApiError.invalid_form("name", "BASE_TYPE_BAD_LENGTH", "Must be 1-100 long.")
        parent = body.get("parent_id")
        if parent is not None and ctype == ChannelType.GUILD_CATEGORY:
            raise ApiError.invalid_form(
                "parent_id", "CHANNEL_PARENT_INVALID_TYPE", "Categories cannot be nested"
            )
        overwrites = body.get("permission_overwrites") or []
        if overwrites:
            self.require(gid, all_of=Perm.MANAGE_ROLES)
        channel = self.st.add_channel(
            gid,
            name,
            type=ctype,
            parent_id=None if parent is None else int(parent),
            topic=body.get("topic"),
            permission_overwrites=overwrites,
            position=body.get("position"),
        )
        await self._emit_channel("CHANNEL_CREATE", channel)
        return json_response(copy.deepcopy(channel), status=201)

    # ---------------------------------------------------------------- roles
    async def list_roles(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        if req.call.method == "PATCH":
            self.require(gid, all_of=Perm.MANAGE_ROLES)
            for item in req.body or []:
                role = self.st.role(gid, int(item["id"]))
                self.require_below_bot(gid, role)
                if item.get("position") is not None:
                    role["position"] = int(item["position"])
        roles = sorted(self.st.guild(gid).roles.values(), key=lambda r: r["position"])
        return json_response(copy.deepcopy(roles))

    async def get_role(self, req: Req) -> web.StreamResponse:
        return json_response(copy.deepcopy(self.st.role(req.id("guild_id"), req.id("role_id"))))

    def _check_grantable(self, gid: int, permissions: int) -> None:
        if not self.fake.enforce_permissions:
            return
        bot_perms = self.st.base_permissions(gid, self.st.bot_user_id)
        if permissions & ~bot_perms:
            raise ApiError.missing_permissions()

    async def create_role(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        self.require(gid, all_of=Perm.MANAGE_ROLES)
        body = req.json
        perms = int(body.get("permissions") or 0)
        self._check_grantable(gid, perms)
        colors = body.get("colors") or {}
        role = self.st.add_role(
            gid,
            str(body.get("name") or "new role"),
            perms,
            color=int(body.get("color") or colors.get("primary_color") or 0),
            hoist=bool(body.get("hoist", False)),
            mentionable=bool(body.get("mentionable", False)),
        )
        await self.emit(
            "GUILD_ROLE_CREATE", {"guild_id": str(gid), "role": copy.deepcopy(role)}, Intent.GUILDS
        )
        return json_response(copy.deepcopy(role))

    async def patch_role(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        self.require(gid, all_of=Perm.MANAGE_ROLES)
        role = self.st.role(gid, req.id("role_id"))
        self.require_below_bot(gid, role)
        body = req.json
        if "permissions" in body and body["permissions"] is not None:
            self._check_grantable(gid, int(body["permissions"]))
            role["permissions"] = str(int(body["permissions"]))
        for key in ("name", "hoist", "mentionable", "icon", "unicode_emoji"):
            if key in body:
                role[key] = body[key]
        if "color" in body:
            role["color"] = int(body["color"] or 0)
            role["colors"]["primary_color"] = role["color"]
        await self.emit(
            "GUILD_ROLE_UPDATE", {"guild_id": str(gid), "role": copy.deepcopy(role)}, Intent.GUILDS
        )
        return json_response(copy.deepcopy(role))

    async def delete_role(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        rid = req.id("role_id")
        self.require(gid, all_of=Perm.MANAGE_ROLES)
        role = self.st.role(gid, rid)
        if rid == gid or role.get("managed"):
            raise ApiError(400, 50028, "Invalid role")
        self.require_below_bot(gid, role)
        guild = self.st.guild(gid)
        del guild.roles[rid]
        for member in guild.members.values():
            if str(rid) in member["roles"]:
                member["roles"].remove(str(rid))
        await self.emit(
            "GUILD_ROLE_DELETE", {"guild_id": str(gid), "role_id": str(rid)}, Intent.GUILDS
        )
        return no_content()

    # -------------------------------------------------------------- members
    async def emit_member_update(self, gid: int, uid: int) -> None:
        data = self.st.member_payload(gid, uid)
        data["guild_id"] = str(gid)
        await self.emit("GUILD_MEMBER_UPDATE", data, Intent.GUILD_MEMBERS)

    async def list_members(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        after = req.query_int("after", 0)
        limit = max(1, min(1000, req.query_int("limit", 1)))
        ids = sorted(u for u in self.st.guild(gid).members if u > after)[:limit]
        return json_response([self.st.member_payload(gid, u) for u in ids])

    async def get_member(self, req: Req) -> web.StreamResponse:
        return json_response(self.st.member_payload(req.id("guild_id"), req.id("user_id")))

    async def patch_member(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        uid = req.id("user_id")
        member = self.st.member(gid, uid)
        body = req.json
        if "nick" in body:
            self.require(gid, all_of=Perm.MANAGE_NICKNAMES)
            member["nick"] = body["nick"]
        if "roles" in body and body["roles"] is not None:
            self.require(gid, all_of=Perm.MANAGE_ROLES)
            new = {str(r) for r in body["roles"]}
            for rid in new.symmetric_difference(member["roles"]):
                self.require_below_bot(gid, self.st.role(gid, int(rid)))
            member["roles"] = sorted(new)
        if "communication_disabled_until" in body:
            self.require(gid, all_of=Perm.MODERATE_MEMBERS)
            member["communication_disabled_until"] = body["communication_disabled_until"]
        await self.emit_member_update(gid, uid)
        return json_response(self.st.member_payload(gid, uid))

    async def patch_me_member(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        member = self.st.member(gid, self.st.bot_user_id)
        if "nick" in req.json:
            member["nick"] = req.json["nick"]
        await self.emit_member_update(gid, self.st.bot_user_id)
        return json_response(self.st.member_payload(gid, self.st.bot_user_id))

    async def kick_member(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        uid = req.id("user_id")
        self.require(gid, all_of=Perm.KICK_MEMBERS)
        self.st.member(gid, uid)
        await self.fake.remove_member(gid, uid)
        return no_content()

    async def _member_role(self, req: Req, add: bool) -> web.StreamResponse:
        gid = req.id("guild_id")
        uid = req.id("user_id")
        rid = req.id("role_id")
        self.require(gid, all_of=Perm.MANAGE_ROLES)
        member = self.st.member(gid, uid)
        role = self.st.role(gid, rid)
        self.require_below_bot(gid, role)
        if add and str(rid) not in member["roles"]:
            member["roles"].append(str(rid))
        elif not add and str(rid) in member["roles"]:
            member["roles"].remove(str(rid))
        await self.emit_member_update(gid, uid)
        return no_content()

    async def add_member_role(self, req: Req) -> web.StreamResponse:
        return await self._member_role(req, add=True)

    async def remove_member_role(self, req: Req) -> web.StreamResponse:
        return await self._member_role(req, add=False)

    # ------------------------------------------------------ scheduled events
    def _event(self, req: Req) -> JSON:
        gid = req.id("guild_id")
        try:
            return self.st.guild(gid).scheduled_events[req.id("event_id")]
        except KeyError:
            raise ApiError.not_found("Guild Scheduled Event", 10070) from None

    def _validate_event(self, ev: JSON, *, creating: bool) -> None:
        etype = ev.get("entity_type")
        if etype not in (1, 2, 3):
            raise ApiError.invalid_form("entity_type", "BASE_TYPE_CHOICES", "Invalid entity type")
        start = _parse_time(ev.get("scheduled_start_time"))
        if creating and start < dt.datetime.now(dt.UTC):
            raise ApiError.invalid_form(
                "scheduled_start_time",
                "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
                "Cannot schedule event in the past.",
            )
        if etype == 3:
            if not (ev.get("entity_metadata") or {}).get("location"):
                raise ApiError.invalid_form(
                    "entity_metadata.location", "BASE_TYPE_REQUIRED", "This field is required"
                )
            if not ev.get("scheduled_end_time"):
                raise ApiError.invalid_form(
                    "scheduled_end_time", "BASE_TYPE_REQUIRED", "This field is required"
                )
            if ev.get("channel_id") is not None:
                raise ApiError.invalid_form(
                    "channel_id", "BASE_TYPE_INVALID", "External events have no channel"
                )
        elif ev.get("channel_id") is None:
            raise ApiError.invalid_form("channel_id", "BASE_TYPE_REQUIRED", "Required")
        end = ev.get("scheduled_end_time")
        if end and _parse_time(end) <= start:
            raise ApiError.invalid_form(
                "scheduled_end_time", "BASE_TYPE_INVALID", "End must be after start"
            )

    async def list_events(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        return json_response(copy.deepcopy(list(self.st.guild(gid).scheduled_events.values())))

    async def get_event(self, req: Req) -> web.StreamResponse:
        return json_response(copy.deepcopy(self._event(req)))

    async def create_event(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        self.require(gid, any_of=Perm.MANAGE_EVENTS | Perm.CREATE_EVENTS)
        body = req.json
        self._validate_event(body, creating=True)
        eid = self.st.next_id()
        event: JSON = {
            "id": str(eid),
            "guild_id": str(gid),
            "channel_id": None if body.get("channel_id") is None else str(body["channel_id"]),
            "creator_id": str(self.st.bot_user_id),
            "creator": self.st.user(self.st.bot_user_id),
            "name": body.get("name"),
            "description": body.get("description"),
            "scheduled_start_time": body["scheduled_start_time"],
            "scheduled_end_time": body.get("scheduled_end_time"),
            "privacy_level": body.get("privacy_level", 2),
            "status": 1,
            "entity_type": body["entity_type"],
            "entity_id": None,
            "entity_metadata": body.get("entity_metadata"),
            "user_count": 0,
            "image": None,
            "recurrence_rule": body.get("recurrence_rule"),
        }
        self.st.guild(gid).scheduled_events[eid] = event
        await self.emit(
            "GUILD_SCHEDULED_EVENT_CREATE", copy.deepcopy(event), Intent.GUILD_SCHEDULED_EVENTS
        )
        return json_response(copy.deepcopy(event))

    async def patch_event(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        self.require(gid, any_of=Perm.MANAGE_EVENTS)
        event = self._event(req)
        merged = {**event, **req.json}
        self._validate_event(merged, creating=False)
        event.update(req.json)
        await self.emit(
            "GUILD_SCHEDULED_EVENT_UPDATE", copy.deepcopy(event), Intent.GUILD_SCHEDULED_EVENTS
        )
        return json_response(copy.deepcopy(event))

    async def delete_event(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        self.require(gid, any_of=Perm.MANAGE_EVENTS)
        event = self._event(req)
        del self.st.guild(gid).scheduled_events[int(event["id"])]
        await self.emit(
            "GUILD_SCHEDULED_EVENT_DELETE", copy.deepcopy(event), Intent.GUILD_SCHEDULED_EVENTS
        )
        return no_content()
