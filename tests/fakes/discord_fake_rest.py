"""REST plumbing shared by the fake Discord's route modules, plus the "core" routes.

Core routes: ``/gateway``, ``/gateway/bot``, users, DMs, application info and application
commands.  Channel/message routes live in :mod:`tests.fakes.discord_fake_rest_channels`, guild
routes in :mod:`tests.fakes.discord_fake_rest_guilds`, interaction callbacks and webhooks in
:mod:`tests.fakes.discord_fake_webhooks`.

Every handler mutates :class:`~tests.fakes.discord_fake_state.FakeState` and (when the fake's
``emit_gateway_events`` is on) pushes the gateway event real Discord would send, filtered by the
session's intents.  Permission checks (``enforce_permissions``) use the bot's computed guild or
channel permissions and the role hierarchy (position of the bot's highest role).
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes import discord_fake_commands as commands
from tests.fakes.discord_fake_gateway import GatewaySession, Intent, Transform
from tests.fakes.discord_fake_http import Call, json_response, no_content
from tests.fakes.discord_fake_interactions import UploadedFile
from tests.fakes.discord_fake_state import FakeState
from tests.fakes.discord_fake_types import JSON, ApiError, ChannelType, Perm

if TYPE_CHECKING:
    from tests.fakes.discord_fake import FakeDiscord

Route = tuple[str, str, "Handler"]


@dataclass
class Req:
    """A parsed request handed to a route handler."""

    call: Call
    params: dict[str, str]
    body: Any
    files: list[UploadedFile]
    request: web.Request

    def id(self, name: str) -> int:
        raw = self.params[name]
        if not raw.isdigit():
            raise ApiError.invalid_form(
                name, "NUMBER_TYPE_COERCE", f"Value {raw!r} is not snowflake."
            )
        return int(raw)

    @property
    def json(self) -> JSON:
        return self.body if isinstance(self.body, dict) else {}

    def query_int(self, name: str, default: int) -> int:
        raw = self.request.query.get(name)
        return int(raw) if raw and raw.lstrip("-").isdigit() else default


Handler = Callable[[Req], Awaitable[web.StreamResponse]]


class RestBase:
    """Helpers shared by all route groups."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    @property
    def st(self) -> FakeState:
        return self.fake.state

    def routes(self) -> list[Route]:
        raise NotImplementedError

    # ---------------------------------------------------------------- helpers
    async def emit(self, event: str, data: JSON, intent: int, **kw: Any) -> None:
        """Side-effect gateway event of a REST call (skipped if emit_gateway_events is off)."""
        if self.fake.emit_gateway_events:
            await self.fake.gateway.dispatch(event, data, intent=intent, require_client=False, **kw)

    def require(
        self, guild_id: int, *, all_of: int = 0, any_of: int = 0, channel_id: int | None = None
    ) -> None:
        if not self.fake.enforce_permissions:
            return
        bot = self.st.bot_user_id
        perms = (
            self.st.channel_permissions(channel_id, bot)
            if channel_id is not None
            else self.st.base_permissions(guild_id, bot)
        )
        if (perms & all_of) != all_of or (any_of and not perms & any_of):
            raise ApiError.missing_permissions()

    def require_below_bot(self, guild_id: int, role: JSON) -> None:
        if not self.fake.enforce_permissions:
            return
        guild = self.st.guild(guild_id)
        if guild.owner_id == self.st.bot_user_id:
            return
        if role["position"] >= self.st.top_role_position(guild_id, self.st.bot_user_id):
            raise ApiError.missing_permissions()

    @staticmethod
    async def no_content(req: Req) -> web.StreamResponse:
        return no_content()

    @staticmethod
    async def empty_list(req: Req) -> web.StreamResponse:
        return json_response([])

    def _guild_of(self, channel: JSON) -> int | None:
        return int(channel["guild_id"]) if "guild_id" in channel else None

    def _visible_channel(self, channel_id: int) -> JSON:
        channel = self.st.channel(channel_id)
        gid = self._guild_of(channel)
        if gid is not None and self.fake.enforce_permissions:
            perms = self.st.channel_permissions(channel_id, self.st.bot_user_id)
            if not perms & Perm.VIEW_CHANNEL:
                raise ApiError(403, 50001, "Missing Access")
        return channel

    # ------------------------------------------------------------- messages
    async def _emit_channel(self, event: str, channel: JSON) -> None:
        if "guild_id" not in channel:
            return
        if channel["type"] in ChannelType.THREADS:
            event = event.replace("CHANNEL", "THREAD")
        await self.emit(event, copy.deepcopy(channel), Intent.GUILDS)

    def attachments_from(self, files: list[UploadedFile]) -> list[JSON]:
        out = []
        for f in files:
            aid = self.st.next_id()
            url = f"{self.fake.base_url}/attachments/{aid}/{f.filename or 'file'}"
            self.fake.attachment_data[aid] = f.data
            out.append(
                {
                    "id": str(aid),
                    "filename": f.filename or "file",
                    "size": len(f.data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": f.content_type,
                }
            )
        return out

    @staticmethod
    def validate_message_body(body: JSON, files: list[UploadedFile]) -> None:
        content = body.get("content") or ""
        if len(content) > 2000:
            raise ApiError.invalid_form(
                "content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length."
            )
        if len(body.get("embeds") or []) > 10:
            raise ApiError.invalid_form(
                "embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
            )
        if not (
            content
            or body.get("embeds")
            or body.get("components")
            or files
            or body.get("attachments")
            or body.get("sticker_ids")
            or body.get("poll")
        ):
            raise ApiError(400, 50006, "Cannot send an empty message")

    def member_aware(self, message: JSON) -> Transform:
        """Per-session transform: hide content without MESSAGE_CONTENT, like Discord does."""
        bot = str(self.st.bot_user_id)

        def transform(data: JSON, session: GatewaySession) -> JSON:
            if session.intents & Intent.MESSAGE_CONTENT or "guild_id" not in data:
                return data
            if data["author"]["id"] == bot or any(m["id"] == bot for m in data["mentions"]):
                return data
            return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

        return transform

    async def emit_message_create(self, message: JSON, *, explicit: bool = False) -> None:
        """MESSAGE_CREATE with ``member`` and intent filtering; ``explicit`` = test-driven."""
        data = copy.deepcopy(message)
        if "guild_id" in data:
            gid = int(data["guild_id"])
            author = int(data["author"]["id"])
            if author in self.st.guild(gid).members:
                member = self.st.member_payload(gid, author)
                member.pop("user")
                data["member"] = member
            intent = Intent.GUILD_MESSAGES
        else:
            intent = Intent.DIRECT_MESSAGES
        transform = self.member_aware(data)
        if explicit:
            await self.fake.gateway.dispatch(
                "MESSAGE_CREATE", data, intent=intent, transform=transform
            )
        else:
            await self.emit("MESSAGE_CREATE", data, intent, transform=transform)


class CoreApi(RestBase):
    """Gateway discovery, users, DMs, application info and application commands."""

    def routes(self) -> list[Route]:
        app = "/applications/{application_id}"
        ag = f"{app}/guilds/{{guild_id}}"
        return [
            ("GET", "/gateway", self.get_gateway),
            ("GET", "/gateway/bot", self.get_gateway_bot),
            ("GET", "/users/@me", self.get_me),
            ("PATCH", "/users/@me", self.patch_me),
            ("GET", "/oauth2/applications/@me", self.get_application),
            ("GET", "/applications/@me", self.get_application),
            ("GET", "/users/{user_id}", self.get_user),
            ("POST", "/users/@me/channels", self.open_dm),
            ("DELETE", "/users/@me/guilds/{guild_id}", self.leave_guild),
            ("GET", f"{app}/commands", self.list_commands),
            ("PUT", f"{app}/commands", self.put_commands),
            ("POST", f"{app}/commands", self.post_command),
            ("GET", f"{app}/commands/{{command_id}}", self.get_command),
            ("PATCH", f"{app}/commands/{{command_id}}", self.patch_command),
            ("DELETE", f"{app}/commands/{{command_id}}", self.delete_command),
            ("GET", f"{ag}/commands/permissions", self.empty_list),
            ("GET", f"{ag}/commands", self.list_commands),
            ("PUT", f"{ag}/commands", self.put_commands),
            ("POST", f"{ag}/commands", self.post_command),
            ("GET", f"{ag}/commands/{{command_id}}", self.get_command),
            ("PATCH", f"{ag}/commands/{{command_id}}", self.patch_command),
            ("DELETE", f"{ag}/commands/{{command_id}}", self.delete_command),
        ]

    def _check_app(self, req: Req) -> int | None:
        if req.id("application_id") != self.st.application_id:
            raise ApiError.not_found("Application", 10002)
        return req.id("guild_id") if "guild_id" in req.params else None

    # --------------------------------------------------------- gateway/users
    async def get_gateway(self, req: Req) -> web.StreamResponse:
        return json_response({"url": self.fake.gateway_url})

    async def get_gateway_bot(self, req: Req) -> web.StreamResponse:
        return json_response(
            {
                "url": self.fake.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def get_me(self, req: Req) -> web.StreamResponse:
        return json_response(self.st.bot_user_payload())

    async def patch_me(self, req: Req) -> web.StreamResponse:
        if "username" in req.json:
            self.st.users[self.st.bot_user_id]["username"] = req.json["username"]
        return json_response(self.st.bot_user_payload())

    async def get_application(self, req: Req) -> web.StreamResponse:
        return json_response(self.fake.application_payload())

    async def get_user(self, req: Req) -> web.StreamResponse:
        return json_response(self.st.user(req.id("user_id")))

    async def open_dm(self, req: Req) -> web.StreamResponse:
        recipient = req.json.get("recipient_id")
        if recipient is None:
            raise ApiError.invalid_form("recipient_id", "BASE_TYPE_REQUIRED", "Required")
        return json_response(copy.deepcopy(self.st.open_dm(int(recipient))))

    async def leave_guild(self, req: Req) -> web.StreamResponse:
        await self.fake.leave_guild(req.id("guild_id"))
        return no_content()

    # ------------------------------------------------------------- commands
    async def list_commands(self, req: Req) -> web.StreamResponse:
        return json_response(self.st.commands(self._check_app(req)))

    async def put_commands(self, req: Req) -> web.StreamResponse:
        return json_response(commands.bulk_overwrite(self.st, self._check_app(req), req.body))

    async def post_command(self, req: Req) -> web.StreamResponse:
        cmd, created = commands.upsert(self.st, self._check_app(req), req.json)
        return json_response(cmd, status=201 if created else 200)

    async def get_command(self, req: Req) -> web.StreamResponse:
        return json_response(commands.get(self.st, self._check_app(req), req.id("command_id")))

    async def patch_command(self, req: Req) -> web.StreamResponse:
        guild_id = self._check_app(req)
        return json_response(commands.edit(self.st, guild_id, req.id("command_id"), req.json))

    async def delete_command(self, req: Req) -> web.StreamResponse:
        commands.delete(self.st, self._check_app(req), req.id("command_id"))
        return no_content()
