"""A local fake of Discord (REST API v10 + gateway) for running the real discord.py client.

Usage::

    async with FakeDiscord() as fake:               # starts 127.0.0.1:<random port>
        guild = fake.add_guild("Mentors")          # @everyone + bot role (Administrator)
        fake.add_member(guild.id, 42, "alice")
        client = discord.Client(intents=discord.Intents.default())
        async with fake.running(client):           # login + connect + wait for on_ready
            pending = await fake.send_interaction(fake.slash_command(guild.id, 42, "ping"))
            reply = await pending.wait_response()
            assert reply.content == "pong"

``FakeDiscord`` points discord.py at itself on enter (``discord.http.Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY``; restored on exit; disable with
``patch_discord_py=False`` and call :meth:`FakeDiscord.point_discord_py_here` yourself).  Only one
fake can be "pointed at" per process at a time.  Nothing leaves 127.0.0.1.  Close clients before
the fake stops (:meth:`FakeDiscord.running` does); state lives in the fake, so a new client
started against the same fake (a "restart") sees the same guilds, messages and commands.

A crash inside a fake handler is answered with a non-retryable ``400`` (code ``-1``, message
``FakeDiscord internal error: ...``), logged, collected in ``fake.internal_errors`` and re-raised
when the ``async with`` block exits without another exception - a fake bug never hides behind
discord.py's multi-second 5xx retries.  Methods with a ``timeout`` parameter raise an
``AssertionError`` naming what the bot failed to do.

Modules: ``discord_fake_types`` (constants, errors, snowflakes), ``discord_fake_state`` (data
model, permission maths), ``discord_fake_commands`` (app-command validation/storage),
``discord_fake_builders`` (interaction payloads), ``discord_fake_interactions`` (response
tracking), ``discord_fake_http`` (call records, faults), ``discord_fake_gateway``,
``discord_fake_rest`` / ``_rest_channels`` / ``_rest_guilds`` / ``discord_fake_webhooks`` (routes).

What it covers
--------------
* Gateway: HELLO, HEARTBEAT/ACK, IDENTIFY (recorded in ``fake.identifies``), READY (with
  ``resume_gateway_url`` pointing back at the fake), GUILD_CREATE per joined guild (roles,
  channels, threads, members incl. the bot with its role, scheduled events), RESUME with replay
  of missed events, REQUEST_GUILD_MEMBERS -> GUILD_MEMBERS_CHUNK, arbitrary :meth:`dispatch`,
  server-side disconnect / RECONNECT.  Side-effect events of REST calls (CHANNEL_CREATE,
  GUILD_ROLE_CREATE, GUILD_MEMBER_UPDATE, MESSAGE_CREATE, ...) are sent, filtered by intents
  (turn off with ``emit_gateway_events=False``); as on Discord, the bot's own messages come back
  as MESSAGE_CREATE, and guild message content is blanked for clients without the
  MESSAGE_CONTENT intent unless the bot is mentioned.
* REST: users, DMs, application commands (stored, validated, ids kept across re-syncs),
  channels, messages (JSON and multipart with files; ``nonce`` + ``enforce_nonce``: a repeat
  from the same author in the same channel within ``state.nonce_window_seconds`` returns the
  first message and creates nothing), pins (old and new routes), threads,
  permission overwrites, guild channels (50-per-category cap -> 50035), roles (250 cap -> 30005,
  hierarchy), members and member roles, scheduled events, ``/gateway(/bot)``.  Every request is
  recorded in :attr:`FakeDiscord.calls`; unknown routes answer 404/405 and are recorded in
  :attr:`FakeDiscord.unhandled`.  :meth:`FakeDiscord.wait_for_call` waits for a call the bot
  makes on its own (e.g. a message it posts after a gateway event), without sleeping.
* Interactions: builders for slash commands (subcommands/groups, typed options with resolved
  users/roles/channels), user context menus, autocomplete, buttons, selects and modal submits, in
  guilds and DMs; callback, follow-ups and ``@original`` edits are tracked per interaction
  (:class:`PendingInteraction`).  Answering twice -> 400/40060; follow-up before the callback ->
  404/10015; the first follow-up after a type-5 defer edits the "thinking" message (as Discord).
  Sending an interaction while no client is connected raises ``RuntimeError``.
* Permissions: the bot's guild/channel permissions (roles + overwrites) and role hierarchy are
  enforced with Discord's 403/50013 (turn off with ``enforce_permissions=False``).
* Fault injection: :meth:`FakeDiscord.fail_next` for 429 (with the headers discord.py needs to
  retry; per route, so per channel; or as a Cloudflare ban), 5xx, 403, 404, ...

What it does not cover
----------------------
Voice, presences, reactions storage, webhooks other than interaction webhooks, audit logs,
invites, bans, emojis/stickers, forum channels, guild creation over REST, sharding, zlib/zstd
transport compression, the 3-second interaction deadline and the 15-minute token expiry, and real
rate-limit buckets (only injected 429s).  Interaction ``member.permissions`` are computed from
roles and overwrites; ``app_permissions`` likewise for the bot.

discord.py pitfalls handled (verified against discord.py 2.7 source)
--------------------------------------------------------------------
* ``Client.connect`` never calls ``GET /gateway/bot``; it uses ``DiscordWebSocket.DEFAULT_GATEWAY``
  and after READY the ``resume_gateway_url`` -> both are pointed at the fake.
* ``on_ready`` fires ``guild_ready_timeout`` (default 2 s) after the last GUILD_CREATE;
  :meth:`FakeDiscord.running` lowers it to 0.1 s.  Tests building clients themselves should pass
  ``guild_ready_timeout=0.1``.
* ``json_or_text`` requires ``Content-Type`` to equal ``application/json`` exactly.
* Interaction callbacks are sent with ``?with_response=1`` and the JSON answer is parsed.
* Interaction payloads need ``attachment_size_limit`` (KeyError otherwise).
* 429 needs ``Via`` + JSON ``retry_after``; 500/502/504/524 are retried by ``HTTPClient`` after
  sleeping ``1 + 2*attempt`` s (5 attempts), 503 is *not* retried (``DiscordServerError``), while
  the webhook adapter (interaction callbacks/follow-ups) retries every 5xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.discord_fake_builders import InteractionBuilders
from tests.fakes.discord_fake_gateway import Gateway, Intent, Op
from tests.fakes.discord_fake_http import (
    Call,
    FaultRule,
    compile_path_pattern,
    error_response,
    json_response,
    ratelimit_headers,
    read_body,
)
from tests.fakes.discord_fake_interactions import (
    InteractionCallback,
    PendingInteraction,
    UploadedFile,
)
from tests.fakes.discord_fake_rest import CoreApi, Handler, Req, RestBase
from tests.fakes.discord_fake_rest_channels import ChannelApi
from tests.fakes.discord_fake_rest_guilds import GuildApi
from tests.fakes.discord_fake_state import FakeGuild, FakeState
from tests.fakes.discord_fake_types import (
    DEFAULT_BOT_NAME,
    DEFAULT_BOT_USER_ID,
    JSON,
    ApiError,
    ChannelType,
    Perm,
)
from tests.fakes.discord_fake_webhooks import WebhookApi

if TYPE_CHECKING:
    import discord

__all__ = [
    "DEFAULT_BOT_USER_ID",
    "ApiError",
    "Call",
    "ChannelType",
    "FakeDiscord",
    "FakeGuild",
    "FaultRule",
    "Intent",
    "InteractionCallback",
    "PendingInteraction",
    "Perm",
]

_log = logging.getLogger(__name__)
_Route = tuple[str, re.Pattern[str], str, Handler, bool]


class FakeDiscord(InteractionBuilders):
    """Fake Discord server; see the module docstring."""

    def __init__(
        self,
        *,
        bot_user_id: int = DEFAULT_BOT_USER_ID,
        application_id: int | None = None,
        bot_name: str = DEFAULT_BOT_NAME,
        token: str | None = None,
        patch_discord_py: bool = True,
        emit_gateway_events: bool = True,
        enforce_permissions: bool = True,
        send_ratelimit_headers: bool = True,
        application_flags: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.state = FakeState(
            bot_user_id=bot_user_id,
            application_id=application_id or bot_user_id,
            bot_name=bot_name,
        )
        self.app_owner_id = int(self.state.add_user(None, "app-owner")["id"])
        self.token = token
        self.patch_discord_py = patch_discord_py
        self.emit_gateway_events = emit_gateway_events
        self.enforce_permissions = enforce_permissions
        self.send_ratelimit_headers = send_ratelimit_headers
        self.application_flags = application_flags
        self.host = host
        self.port = 0
        self.calls: list[Call] = []
        self.unhandled: list[Call] = []
        self.internal_errors: list[BaseException] = []
        self.faults: list[FaultRule] = []
        self.pending_interactions: dict[int, PendingInteraction] = {}
        self.pending_by_token: dict[str, PendingInteraction] = {}
        self.attachment_data: dict[int, bytes] = {}
        self.gateway = Gateway(self)
        self._channel_api = ChannelApi(self)
        groups: list[tuple[bool, RestBase]] = [
            (False, CoreApi(self)),
            (False, self._channel_api),
            (False, GuildApi(self)),
            (True, WebhookApi(self)),  # public: no Authorization header needed
        ]
        self._routes: list[_Route] = [
            (method, compile_path_pattern(tpl), tpl, handler, is_public)
            for is_public, group in groups
            for method, tpl, handler in group.routes()
        ]
        self._runner: web.AppRunner | None = None
        self._calls_changed = asyncio.Condition()
        self._patches: list[tuple[Any, str, Any]] = []

    # ------------------------------------------------------------ lifecycle
    @property
    def bot_user_id(self) -> int:
        return self.state.bot_user_id

    @property
    def application_id(self) -> int:
        return self.state.application_id

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def identifies(self) -> list[JSON]:
        """IDENTIFY payloads received (token, intents, properties, ...)."""
        return self.gateway.identifies

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        await self.stop()
        if exc_type is None and self.internal_errors:
            raise RuntimeError(
                f"FakeDiscord had {len(self.internal_errors)} internal error(s)"
            ) from self.internal_errors[0]

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._serve_attachment)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._handle_rest)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        if self.patch_discord_py:
            self.point_discord_py_here()

    async def stop(self) -> None:
        try:
            await self.gateway.shutdown()
            if self._runner is not None:
                await self._runner.cleanup()
                self._runner = None
        finally:
            self.restore_discord_py()

    def point_discord_py_here(self) -> None:
        """Make discord.py's REST (incl. webhooks) and gateway URLs point at this fake."""
        import discord.gateway
        import discord.http
        import yarl

        self._patch(discord.http.Route, "BASE", self.api_base_url)
        self._patch(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(self.gateway_url))

    def _patch(self, obj: Any, attr: str, value: Any) -> None:
        self._patches.append((obj, attr, getattr(obj, attr)))
        setattr(obj, attr, value)

    def restore_discord_py(self) -> None:
        while self._patches:
            obj, attr, old = self._patches.pop()
            setattr(obj, attr, old)

    @contextlib.asynccontextmanager
    async def running(
        self,
        client: discord.Client,
        *,
        token: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
        guild_ready_timeout: float | None = 0.1,
    ) -> AsyncIterator[discord.Client]:
        """Log ``client`` in, connect it, wait for ``on_ready``; close it on exit."""
        if guild_ready_timeout is not None:
            # same attribute the documented Client(guild_ready_timeout=...) option sets
            client._connection.guild_ready_timeout = guild_ready_timeout
        await client.login(token or self.token or "fake-bot-token")
        connect = asyncio.create_task(client.connect(reconnect=True), name="fake-discord-connect")
        ready = asyncio.create_task(client.wait_until_ready(), name="fake-discord-ready")
        try:
            done, _ = await asyncio.wait(
                {connect, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if connect in done:
                connect.result()  # raises the connection error, if any
                raise RuntimeError("discord.py client stopped before becoming ready")
            if ready not in done:
                raise TimeoutError(f"discord.py client not ready after {timeout}s")
            yield client
        finally:
            ready.cancel()
            await client.close()
            try:
                await asyncio.wait_for(connect, timeout)
            finally:
                with contextlib.suppress(asyncio.CancelledError):
                    await ready

    async def wait_until_ready(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        identifies: int | None = None,
    ) -> None:
        """Wait until a client identified (and got READY + GUILD_CREATEs).

        ``identifies=n`` waits for the n-th IDENTIFY overall (e.g. 2 for a restarted client).
        """
        await self.gateway.wait_until_ready(timeout, identifies)

    # ------------------------------------------------------------ REST core
    async def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        data = self.attachment_data.get(int(request.match_info["attachment_id"]))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    def _auth_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bot "):
            return False
        return self.token is None or header == f"Bot {self.token}"

    async def _handle_rest(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._answer_rest(request)
        finally:
            async with self._calls_changed:
                self._calls_changed.notify_all()

    async def _answer_rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method
        call = Call(method, path, None, dict(request.query), [], dict(request.headers))
        self.calls.append(call)
        try:
            call.json, call.files = await read_body(request)
        except ApiError as err:
            call.status = err.status
            return error_response(err)
        for rule in self.faults:
            if rule.matches(method, path):
                rule.remaining -= 1
                rule.hits.append(call)
                call.status = rule.status
                return rule.response()
        route, params, path_known = None, {}, False
        for r_method, regex, template, handler, public in self._routes:
            match = regex.fullmatch(path)
            if match is None:
                continue
            path_known = True
            if r_method == method:
                route, params = (template, handler, public), match.groupdict()
                break
        if route is None:
            self.unhandled.append(call)
            status = 405 if path_known else 404
            call.status = status
            return json_response({"message": f"{status}: Not Found", "code": 0}, status=status)
        template, handler, public = route
        call.route = template
        if not public and not self._auth_ok(request):
            call.status = 401
            return json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        try:
            response = await handler(Req(call, params, call.json, call.files, request))
        except ApiError as err:
            response = error_response(err)
        except Exception as exc:  # a bug in the fake: fail fast, never a retryable 5xx
            _log.exception("FakeDiscord handler crashed on %s %s", method, path)
            self.internal_errors.append(exc)
            response = json_response(
                {"message": f"FakeDiscord internal error: {exc!r}", "code": -1}, status=400
            )
        if self.send_ratelimit_headers:
            response.headers.update(ratelimit_headers(f"{method} {template}"))
        call.status = response.status
        return response

    # ------------------------------------------------------------ recording
    def calls_to(
        self, method: str, pattern: str, *, status: int | None = None, ok: bool | None = None
    ) -> list[Call]:
        """Recorded calls whose path fully matches ``pattern`` (``{x}`` = one segment, ``*``).

        ``method="*"`` matches any method; filter by exact ``status`` or ``ok`` (2xx).
        """
        regex = compile_path_pattern(pattern)
        return [
            c
            for c in self.calls
            if method in ("*", c.method)
            and regex.fullmatch(c.path)
            and (status is None or c.status == status)
            and (ok is None or c.ok == ok)
        ]

    async def wait_for_call(
        self,
        method: str,
        pattern: str,
        *,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
        ok: bool | None = None,
    ) -> Call:
        """Wait until ``count`` calls match (as :meth:`calls_to`) and were answered; return
        the ``count``-th. For what the bot does on its own, e.g. after a gateway event."""

        def arrived() -> bool:
            return len(self.calls_to(method, pattern, ok=ok)) >= count

        async with self._calls_changed:
            try:
                await asyncio.wait_for(self._calls_changed.wait_for(arrived), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"the bot did not call {method} {pattern} {count} time(s) within {timeout}s"
                ) from None
        return self.calls_to(method, pattern, ok=ok)[count - 1]

    def clear_calls(self) -> None:
        self.calls.clear()
        self.unhandled.clear()

    def assert_no_unhandled(self) -> None:
        assert not self.unhandled, "unexpected Discord API calls: " + ", ".join(
            f"{c.method} {c.path}" for c in self.unhandled
        )

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int = 429,
        *,
        retry_after: float = 0.05,
        times: int = 1,
        code: int | None = None,
        message: str | None = None,
        is_global: bool = False,
        body: JSON | None = None,
        cloudflare: bool = False,
    ) -> FaultRule:
        """Answer the next ``times`` matching requests with an error instead of handling them.

        A path naming one channel (``/channels/123/messages``) limits a 429 to that channel,
        as Discord's per-channel buckets do. ``cloudflare=True`` answers a 429 the way a
        Cloudflare ban does (HTML, ``Retry-After`` only), which discord.py does not retry.
        """
        rule = FaultRule(
            method=method.upper(),
            pattern=path_pattern,
            status=status,
            remaining=times,
            retry_after=retry_after,
            code=code,
            message=message,
            is_global=is_global,
            body=body,
            cloudflare=cloudflare,
        )
        self.faults.append(rule)
        return rule

    # ---------------------------------------------------------------- state
    def add_user(
        self,
        user_id: int | None = None,
        name: str | None = None,
        *,
        bot: bool = False,
        accepts_dms: bool = True,
    ) -> JSON:
        return self.state.add_user(user_id, name, bot=bot, accepts_dms=accepts_dms)

    def add_guild(
        self,
        name: str,
        owner_id: int | None = None,
        *,
        bot_permissions: int = Perm.ADMINISTRATOR,
        everyone_permissions: int = Perm.DEFAULT_EVERYONE,
        joined: bool = True,
    ) -> FakeGuild:
        """New guild with @everyone (id == guild id) and a managed bot role at the top."""
        return self.state.add_guild(
            name,
            owner_id,
            bot_permissions=bot_permissions,
            everyone_permissions=everyone_permissions,
            joined=joined,
        )

    def set_bot_permissions(self, guild_id: int, permissions: int) -> None:
        self.state.set_bot_permissions(guild_id, permissions)

    def add_role(self, guild_id: int, name: str, permissions: int = 0, **kw: Any) -> JSON:
        return self.state.add_role(guild_id, name, permissions, **kw)

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        name: str | None = None,
        roles: list[int] | None = None,
        *,
        nick: str | None = None,
    ) -> JSON:
        return self.state.add_member(guild_id, user_id, name, roles, nick=nick)

    def add_text_channel(
        self,
        guild_id: int,
        name: str,
        parent_id: int | None = None,
        *,
        overwrites: list[JSON] | None = None,
        topic: str | None = None,
    ) -> JSON:
        return self.state.add_channel(
            guild_id, name, parent_id=parent_id, permission_overwrites=overwrites, topic=topic
        )

    def add_category(
        self, guild_id: int, name: str, *, overwrites: list[JSON] | None = None
    ) -> JSON:
        return self.state.add_channel(
            guild_id, name, type=ChannelType.GUILD_CATEGORY, permission_overwrites=overwrites
        )

    def add_thread(self, parent_id: int, name: str, **kw: Any) -> JSON:
        return self.state.add_thread(parent_id, name, **kw)

    def member_role_ids(self, guild_id: int, user_id: int) -> list[int]:
        return [int(r) for r in self.state.member(guild_id, user_id)["roles"]]

    def channel_messages(self, channel_id: int) -> list[JSON]:
        return self.state.channel_messages(channel_id)

    def dm_channel_id(self, user_id: int) -> int | None:
        return self.state.dm_channel_by_user.get(user_id)

    def dm_messages(self, user_id: int) -> list[JSON]:
        cid = self.dm_channel_id(user_id)
        return [] if cid is None else self.state.channel_messages(cid)

    def commands(self, guild_id: int | None = None) -> list[JSON]:
        return self.state.commands(guild_id)

    def application_payload(self) -> JSON:
        return {
            "id": str(self.application_id),
            "name": self.state.users[self.bot_user_id]["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.state.user(self.bot_user_id),
            "owner": self.state.user(self.app_owner_id),
            "team": None,
            "verify_key": "0" * 64,
            "flags": self.application_flags,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
            "integration_types_config": {"0": {}},
        }

    # ------------------------------------------------------ gateway helpers
    async def dispatch(self, event: str, data: JSON) -> int:
        """Push a raw gateway DISPATCH to all sessions; returns the number of live deliveries."""
        return await self.gateway.dispatch(event, data)

    async def join_guild(self, guild_id: int) -> None:
        """Bot joins an existing fake guild: GUILD_CREATE -> ``on_guild_join``."""
        self.state.guild(guild_id).joined = True
        await self.gateway.dispatch(
            "GUILD_CREATE", self.state.guild_create_payload(guild_id, unavailable_key=False)
        )

    async def leave_guild(self, guild_id: int) -> None:
        """Bot is removed from a guild: GUILD_DELETE -> ``on_guild_remove``."""
        self.state.guild(guild_id).joined = False
        await self.gateway.dispatch("GUILD_DELETE", {"id": str(guild_id)}, require_client=False)

    async def member_join(
        self, guild_id: int, user_id: int, name: str | None = None, roles: list[int] | None = None
    ) -> JSON:
        """Add a member and send GUILD_MEMBER_ADD (delivered only with the members intent)."""
        self.state.add_member(guild_id, user_id, name, roles)
        data = self.state.member_payload(guild_id, user_id)
        data["guild_id"] = str(guild_id)
        await self.gateway.dispatch(
            "GUILD_MEMBER_ADD", data, intent=Intent.GUILD_MEMBERS, require_client=False
        )
        return data

    async def remove_member(self, guild_id: int, user_id: int) -> None:
        """Remove a member and send GUILD_MEMBER_REMOVE (members intent)."""
        self.state.member(guild_id, user_id)
        del self.state.guild(guild_id).members[user_id]
        await self.gateway.dispatch(
            "GUILD_MEMBER_REMOVE",
            {"guild_id": str(guild_id), "user": self.state.user(user_id)},
            intent=Intent.GUILD_MEMBERS,
            require_client=False,
        )

    async def user_sends_message(
        self,
        author_id: int,
        content: str,
        *,
        channel_id: int | None = None,
        mentions_bot: bool = False,
        files: dict[str, bytes] | None = None,
        **body: Any,
    ) -> JSON:
        """A user posts a message (DM with the bot if ``channel_id`` is None) -> MESSAGE_CREATE.

        ``files`` (name -> bytes) become attachments served by the fake at their ``url``."""
        self.state.user(author_id)
        cid = channel_id if channel_id is not None else int(self.state.open_dm(author_id)["id"])
        extra: JSON = {}
        if mentions_bot:
            extra["mentions"] = [self.state.user(self.bot_user_id)]
            content = f"<@{self.bot_user_id}> {content}"
        uploads = [
            UploadedFile(f"files[{n}]", name, mimetypes.guess_type(name)[0], data)
            for n, (name, data) in enumerate((files or {}).items())
        ]
        message = self.state.create_message(
            cid,
            author_id,
            body={"content": content, **body},
            attachments=self._channel_api.attachments_from(uploads),
            extra=extra,
        )
        await self._channel_api.emit_message_create(message, explicit=True)
        return message

    async def disconnect_clients(self, *, code: int = 4000, resumable: bool = True) -> int:
        """Close all gateway sockets server-side; clients reconnect (RESUME if ``resumable``).

        A non-resumable disconnect makes discord.py re-IDENTIFY, which it delays by 5 s.
        """
        return await self.gateway.close_connections(code, resumable=resumable)

    async def reconnect_clients(self) -> None:
        """Send op 7 RECONNECT; discord.py reconnects and RESUMEs."""
        await self.gateway.send_op(Op.RECONNECT, None)

    # ----------------------------------------------------------- interactions
    async def send_interaction(self, payload: JSON) -> PendingInteraction:
        """Dispatch INTERACTION_CREATE; returns a handle to await the bot's response."""
        pending = PendingInteraction(id=int(payload["id"]), token=payload["token"], payload=payload)
        self.pending_interactions[pending.id] = pending
        self.pending_by_token[pending.token] = pending
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return pending

    async def interact(self, payload: JSON, timeout: float = 5.0) -> InteractionCallback:  # noqa: ASYNC109
        """``send_interaction`` + ``wait_response``."""
        pending = await self.send_interaction(payload)
        return await pending.wait_response(timeout)
