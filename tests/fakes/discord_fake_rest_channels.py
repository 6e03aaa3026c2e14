"""Channel, message, pin, thread and permission-overwrite routes of the fake Discord."""

from __future__ import annotations

import copy

from aiohttp import web

from tests.fakes.discord_fake_gateway import Intent
from tests.fakes.discord_fake_http import json_response, no_content
from tests.fakes.discord_fake_rest import Req, RestBase, Route
from tests.fakes.discord_fake_types import (
    JSON,
    ApiError,
    ChannelType,
    Perm,
    iso,
    normalize_overwrite,
)


class ChannelApi(RestBase):
    def routes(self) -> list[Route]:
        c = "/channels/{channel_id}"
        m = f"{c}/messages/{{message_id}}"
        return [
            ("GET", c, self.get_channel),
            ("PATCH", c, self.patch_channel),
            ("DELETE", c, self.delete_channel),
            ("GET", f"{c}/messages", self.list_messages),
            ("POST", f"{c}/messages", self.post_message),
            ("GET", f"{c}/messages/pins", self.list_pins_new),
            ("PUT", f"{c}/messages/pins/{{message_id}}", self.pin),
            ("DELETE", f"{c}/messages/pins/{{message_id}}", self.unpin),
            ("GET", f"{c}/pins", self.list_pins_old),
            ("PUT", f"{c}/pins/{{message_id}}", self.pin),
            ("DELETE", f"{c}/pins/{{message_id}}", self.unpin),
            ("GET", m, self.get_message),
            ("PATCH", m, self.patch_message),
            ("DELETE", m, self.delete_message),
            ("PUT", f"{m}/reactions/{{emoji}}/@me", self.no_content),
            ("DELETE", f"{m}/reactions/{{emoji}}/{{who}}", self.no_content),
            ("POST", f"{m}/threads", self.thread_from_message),
            ("POST", f"{c}/threads", self.thread_without_message),
            ("PUT", f"{c}/thread-members/{{user_id}}", self.no_content),
            ("DELETE", f"{c}/thread-members/{{user_id}}", self.no_content),
            ("PUT", f"{c}/permissions/{{overwrite_id}}", self.put_overwrite),
            ("DELETE", f"{c}/permissions/{{overwrite_id}}", self.delete_overwrite),
            ("POST", f"{c}/typing", self.no_content),
            ("GET", "/guilds/{guild_id}/threads/active", self.active_threads),
        ]

    async def get_channel(self, req: Req) -> web.StreamResponse:
        return json_response(copy.deepcopy(self._visible_channel(req.id("channel_id"))))

    async def patch_channel(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        channel = self._visible_channel(cid)
        gid = self._guild_of(channel)
        body = req.json
        if gid is not None:
            if channel["type"] in ChannelType.THREADS:
                if int(channel["owner_id"]) != self.st.bot_user_id:
                    self.require(gid, all_of=Perm.MANAGE_THREADS, channel_id=cid)
            else:
                self.require(gid, all_of=Perm.MANAGE_CHANNELS, channel_id=cid)
        for key in ("name", "topic", "position", "nsfw", "rate_limit_per_user", "flags"):
            if key in body:
                channel[key] = body[key]
        if "parent_id" in body:
            channel["parent_id"] = None if body["parent_id"] is None else str(body["parent_id"])
        if "permission_overwrites" in body:
            channel["permission_overwrites"] = [
                normalize_overwrite(o) for o in body["permission_overwrites"]
            ]
        meta = channel.get("thread_metadata")
        if meta is not None:
            for key in ("archived", "locked", "auto_archive_duration", "invitable"):
                if key in body:
                    meta[key] = body[key]
            if "archived" in body:
                meta["archive_timestamp"] = iso()
        await self._emit_channel("CHANNEL_UPDATE", channel)
        return json_response(copy.deepcopy(channel))

    async def delete_channel(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        channel = self._visible_channel(cid)
        gid = self._guild_of(channel)
        if gid is not None:
            needed = (
                Perm.MANAGE_THREADS
                if channel["type"] in ChannelType.THREADS
                else Perm.MANAGE_CHANNELS
            )
            self.require(gid, all_of=needed, channel_id=cid)
        del self.st.channels[cid]
        for other in self.st.channels.values():
            if other.get("parent_id") == str(cid) and other["type"] not in ChannelType.THREADS:
                other["parent_id"] = None
        await self._emit_channel("CHANNEL_DELETE", channel)
        return json_response(copy.deepcopy(channel))

    async def put_overwrite(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        channel = self._visible_channel(cid)
        gid = self._guild_of(channel)
        if gid is None:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        self.require(gid, all_of=Perm.MANAGE_ROLES, channel_id=cid)
        ow = normalize_overwrite({**req.json, "id": req.params["overwrite_id"]})
        rest = [o for o in channel["permission_overwrites"] if o["id"] != ow["id"]]
        channel["permission_overwrites"] = [*rest, ow]
        await self._emit_channel("CHANNEL_UPDATE", channel)
        return no_content()

    async def delete_overwrite(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        channel = self._visible_channel(cid)
        gid = self._guild_of(channel)
        if gid is not None:
            self.require(gid, all_of=Perm.MANAGE_ROLES, channel_id=cid)
        oid = req.params["overwrite_id"]
        channel["permission_overwrites"] = [
            o for o in channel.get("permission_overwrites", []) if o["id"] != oid
        ]
        await self._emit_channel("CHANNEL_UPDATE", channel)
        return no_content()

    async def post_message(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        channel = self.st.channel(cid)
        gid = self._guild_of(channel)
        if gid is not None:
            send = (
                Perm.SEND_MESSAGES_IN_THREADS
                if channel["type"] in ChannelType.THREADS
                else Perm.SEND_MESSAGES
            )
            self.require(gid, all_of=Perm.VIEW_CHANNEL | send, channel_id=cid)
            if req.files:
                self.require(gid, all_of=Perm.ATTACH_FILES, channel_id=cid)
        else:
            recipient = self.st.dm_recipient(channel)
            if recipient is not None and recipient in self.st.dms_closed:
                raise ApiError(403, 50007, "Cannot send messages to this user")
        body = req.json
        self.validate_message_body(body, req.files)
        nonce = body.get("nonce")
        if isinstance(nonce, str) and len(nonce) > self.st.MAX_NONCE:
            raise ApiError.invalid_form(
                "nonce", "BASE_TYPE_MAX_LENGTH", f"Must be {self.st.MAX_NONCE} or fewer in length."
            )
        if nonce is not None and body.get("enforce_nonce"):
            # Discord: the earlier message is returned and nothing new is created or sent.
            earlier = self.st.message_with_nonce(self.st.bot_user_id, cid, str(nonce))
            if earlier is not None:
                return json_response(copy.deepcopy(earlier))
        message = self.st.create_message(
            cid, self.st.bot_user_id, body=body, attachments=self.attachments_from(req.files)
        )
        await self.emit_message_create(message)
        return json_response(copy.deepcopy(message))

    async def list_messages(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        channel = self._visible_channel(cid)
        gid = self._guild_of(channel)
        if gid is not None:
            self.require(gid, all_of=Perm.READ_MESSAGE_HISTORY, channel_id=cid)
        msgs = sorted(self.st.channel_messages(cid), key=lambda m: int(m["id"]), reverse=True)
        before = req.query_int("before", 0)
        after = req.query_int("after", 0)
        if before:
            msgs = [m for m in msgs if int(m["id"]) < before]
        if after:
            msgs = [m for m in msgs if int(m["id"]) > after]
        limit = max(1, min(100, req.query_int("limit", 50)))
        return json_response(copy.deepcopy(msgs[:limit]))

    async def get_message(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        self._visible_channel(cid)
        return json_response(copy.deepcopy(self.st.message(cid, req.id("message_id"))))

    async def patch_message(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        msg = self.st.message(cid, req.id("message_id"))
        if msg["author"]["id"] != str(self.st.bot_user_id) and set(req.json) - {"flags"}:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self.validate_message_body({**msg, **req.json}, req.files)
        for key in ("content", "embeds", "components", "flags", "allowed_mentions"):
            if key in req.json:
                msg[key] = (
                    req.json[key] if req.json[key] is not None else ("" if key == "content" else [])
                )
        if req.files:
            msg["attachments"] = [*msg["attachments"], *self.attachments_from(req.files)]
        msg["edited_timestamp"] = iso()
        await self.emit(
            "MESSAGE_UPDATE",
            copy.deepcopy(msg),
            Intent.GUILD_MESSAGES if "guild_id" in msg else Intent.DIRECT_MESSAGES,
        )
        return json_response(copy.deepcopy(msg))

    async def delete_message(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        mid = req.id("message_id")
        msg = self.st.message(cid, mid)
        gid = self._guild_of(self.st.channel(cid))
        if gid is not None and msg["author"]["id"] != str(self.st.bot_user_id):
            self.require(gid, all_of=Perm.MANAGE_MESSAGES, channel_id=cid)
        del self.st.messages[mid]
        data: JSON = {"id": str(mid), "channel_id": str(cid)}
        if gid is not None:
            data["guild_id"] = str(gid)
        await self.emit(
            "MESSAGE_DELETE",
            data,
            Intent.GUILD_MESSAGES if gid is not None else Intent.DIRECT_MESSAGES,
        )
        return no_content()

    async def pin(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        msg = self.st.message(cid, req.id("message_id"))
        gid = self._guild_of(self.st.channel(cid))
        if gid is not None:
            self.require(gid, any_of=Perm.MANAGE_MESSAGES | Perm.PIN_MESSAGES, channel_id=cid)
        if not msg["pinned"]:
            if sum(1 for m in self.st.channel_messages(cid) if m["pinned"]) >= 50:
                raise ApiError(400, 30003, "Maximum number of pins reached (50)")
            msg["pinned"] = True
            self.st.pinned_at[int(msg["id"])] = iso()
        return no_content()

    async def unpin(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        msg = self.st.message(cid, req.id("message_id"))
        gid = self._guild_of(self.st.channel(cid))
        if gid is not None:
            self.require(gid, any_of=Perm.MANAGE_MESSAGES | Perm.PIN_MESSAGES, channel_id=cid)
        msg["pinned"] = False
        self.st.pinned_at.pop(int(msg["id"]), None)
        return no_content()

    def _pinned(self, cid: int) -> list[JSON]:
        pinned = [m for m in self.st.channel_messages(cid) if m["pinned"]]
        return sorted(pinned, key=lambda m: self.st.pinned_at[int(m["id"])], reverse=True)

    async def list_pins_old(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        self._visible_channel(cid)
        return json_response(copy.deepcopy(self._pinned(cid)))

    async def list_pins_new(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        self._visible_channel(cid)
        items = [
            {"pinned_at": self.st.pinned_at[int(m["id"])], "message": copy.deepcopy(m)}
            for m in self._pinned(cid)
        ]
        return json_response({"items": items, "has_more": False})

    # -------------------------------------------------------------- threads
    async def _create_thread(
        self, req: Req, parent_id: int, *, thread_id: int | None, default_type: int
    ) -> web.StreamResponse:
        parent = self._visible_channel(parent_id)
        gid = self._guild_of(parent)
        if gid is None:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        body = req.json
        ttype = int(body.get("type", default_type))
        needed = (
            Perm.CREATE_PRIVATE_THREADS
            if ttype == ChannelType.PRIVATE_THREAD
            else Perm.CREATE_PUBLIC_THREADS
        )
        self.require(gid, all_of=needed, channel_id=parent_id)
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise ApiError.invalid_form("name", "BASE_TYPE_BAD_LENGTH", "Must be 1-100 long.")
        if thread_id is not None and thread_id in self.st.channels:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread = self.st.add_thread(
            parent_id,
            name,
            type=ttype,
            auto_archive_duration=int(body.get("auto_archive_duration", 1440)),
            thread_id=thread_id,
        )
        if thread_id is not None:
            self.st.messages[thread_id]["thread"] = copy.deepcopy(thread)
        await self.emit(
            "THREAD_CREATE", {**copy.deepcopy(thread), "newly_created": True}, Intent.GUILDS
        )
        return json_response(copy.deepcopy(thread), status=201)

    async def thread_from_message(self, req: Req) -> web.StreamResponse:
        cid = req.id("channel_id")
        mid = req.id("message_id")
        self.st.message(cid, mid)
        # Discord reuses the starter message's id as the thread id.
        return await self._create_thread(
            req, cid, thread_id=mid, default_type=ChannelType.PUBLIC_THREAD
        )

    async def thread_without_message(self, req: Req) -> web.StreamResponse:
        return await self._create_thread(
            req, req.id("channel_id"), thread_id=None, default_type=ChannelType.PRIVATE_THREAD
        )

    async def active_threads(self, req: Req) -> web.StreamResponse:
        gid = req.id("guild_id")
        threads = [
            copy.deepcopy(ch)
            for ch in self.st.guild_channels(gid)
            if ch["type"] in ChannelType.THREADS and not ch["thread_metadata"]["archived"]
        ]
        return json_response({"threads": threads, "members": []})
