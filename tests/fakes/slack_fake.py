"""A local fake of Slack for tests: Web API over HTTP plus a Socket Mode websocket.

The real ``slack_sdk.web.async_client.AsyncWebClient``, ``slack_bolt.async_app.AsyncApp`` and
``slack_bolt.adapter.socket_mode.async_handler.AsyncSocketModeHandler`` run against it
unmodified: point the client at ``fake.api_base_url`` and everything stays on 127.0.0.1::

    async with FakeSlack() as fake:
        fake.add_user("U1", "ana")
        client = AsyncWebClient(base_url=fake.api_base_url, token=fake.bot_token)
        await client.chat_postMessage(channel="U1", text="hi")
        assert fake.messages("U1")[0].text == "hi"

Covered
    * Web API (GET or POST ``/api/{method}``; arguments merged from query string, form,
      multipart and JSON bodies; JSON-string ``blocks``/``view``… decoded): auth.test,
      users.info/list, conversations.open/create/info/members/invite/kick/archive/unarchive/
      setTopic/history/replies (``metadata`` only with ``include_all_metadata``),
      chat.postMessage (with message ``metadata``)/postEphemeral/update/delete/getPermalink,
      views.open/push/update/publish, usergroups.create/list/update/users.update/users.list/
      disable/enable, reactions.add, pins.add, files.getUploadURLExternal + upload URL +
      files.completeUploadExternal (what ``files_upload_v2`` does), apps.connections.open.
      Slack's error codes for the usual mistakes (channel name rules, name_taken,
      not_in_channel, already_in_channel, invalid_blocks, modal title > 24 chars,
      hash_conflict, invalid/used trigger ids, …).
      Unknown methods answer ``unknown_method`` and land in ``fake.unhandled``.
    * Token and scope checks: ``not_authed``, ``not_allowed_token_type`` (xapp vs xoxb),
      ``missing_scope`` with ``needed``/``provided`` after ``revoke_scope``.
    * Fault injection (``fail_next``): 429 + Retry-After (``ratelimited``), 5xx, or any
      ``ok: false`` error, for every call of a method or only those naming one channel;
      ``hold(method)`` keeps that method's answers waiting until ``release(method)`` (to
      prove an app acknowledged Slack before its slow work).
    * Every API call recorded (``calls``, ``calls_to``) with merged args and the answer.
    * ``response_url``s served by the fake; posts recorded and applied (ephemeral, in_channel,
      replace_original, delete_original — of a stored or of an ephemeral message).
    * Signed Slack → app requests (slash commands, block_actions on stored or ephemeral
      messages, block_suggestion, view_submission, view_closed, Events API callbacks such as
      DMs with files and reaction_added, url_verification) over HTTP
      (``send_to_app``, ``post_to_app``) or in-process (``dispatch``), with retry headers
      and bad signatures.
    * Socket Mode: hello, envelopes, acks (with payloads and latency), ping/pong, disconnect
      requests, clean close.

    * Several workspaces of one app on one server (``add_team``), OAuth v2 installation
      (``approve_install`` + ``oauth.v2.access``, one-time codes), token rotation
      (refresh tokens, ``token_expired``) and uninstalling (``uninstall``): see
      slack_fake_oauth.py.

Not covered
    * Enterprise Grid (org-wide installs), other files.* methods, search.*, calls,
      workflows, RTM.
    * Real rate limiting (only injected), automatic event delivery when state changes
      (tests push events explicitly), Events API/Socket Mode automatic re-delivery on slow
      acks (use ``retry_num``/``retry_attempt`` to simulate), response_url use limits/expiry.
    * Exact error-code fidelity for rare errors; payloads carry the commonly used fields only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

# Importing the handler modules registers their Web API methods.
from tests.fakes import slack_fake_api_conversations, slack_fake_api_views  # noqa: F401
from tests.fakes.slack_fake_models import (
    ApiCall,
    AppResponse,
    EphemeralMessage,
    Fault,
    JsonDict,
    ResponseUrlPost,
    ResponseUrlTarget,
    SlackError,
    SocketAck,
    SocketEnvelope,
    decode_json_fields,
)
from tests.fakes.slack_fake_oauth import CLIENT_AUTH_METHODS, Installations
from tests.fakes.slack_fake_payloads import SlackPayloads
from tests.fakes.slack_fake_workspace import APP_TOKEN_METHODS, HANDLERS, Workspace, api_method

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp
    from slack_bolt.response import BoltResponse

__all__ = ["ApiCall", "AppResponse", "FakeSlack", "serve_bolt_app"]

# socket_push kind → (envelope type, payload builder kind or None)
_ENVELOPES: dict[str, tuple[str, str | None]] = {
    "slash_commands": ("slash_commands", "slash_command"),
    "slash_command": ("slash_commands", "slash_command"),
    "interactive": ("interactive", None),
    "block_actions": ("interactive", "block_actions"),
    "view_submission": ("interactive", "view_submission"),
    "view_closed": ("interactive", "view_closed"),
    "block_suggestion": ("interactive", "block_suggestion"),
    "events_api": ("events_api", "event"),
    "event": ("events_api", "event"),
}


class FakeSlack(SlackPayloads, Installations):
    """Fake Slack server. Use as ``async with FakeSlack() as fake:`` (see module docstring)."""

    def __init__(
        self,
        *,
        signing_secret: str = "fake-signing-secret",
        bot_token: str = "xoxb-fake-bot-token",
        app_token: str = "xapp-1-A0FAKEAPP-1-fake-app-token",
        strict_tokens: bool = False,
        host: str = "127.0.0.1",
        **workspace: Any,
    ) -> None:
        super().__init__(signing_secret=signing_secret, **workspace)
        self.bot_token = bot_token
        self.app_token = app_token
        #: True: only ``bot_token``/``app_token`` are accepted (others → invalid_auth).
        self.strict_tokens = strict_tokens
        self.revoked_tokens: set[str] = set()
        self.host = host
        self.port = 0
        self.calls: list[ApiCall] = []
        self.unhandled: list[ApiCall] = []
        self.response_posts: list[ResponseUrlPost] = []
        self.envelopes: list[SocketEnvelope] = []
        self.socket_acks: dict[str, SocketAck] = {}
        self.socket_messages: list[Any] = []  # client frames that were not acks
        self.socket_connections_total = 0
        self.socket_pings_received = 0
        self.socket_pongs_received = 0
        self._faults: dict[str, deque[Fault]] = {}
        self._held: dict[str, asyncio.Event] = {}
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._activity = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._init_installations()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Serve on ``host`` at a free port."""
        app = web.Application()
        app.router.add_route("GET", "/api/{method}", self._handle_api)
        app.router.add_route("POST", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{rid}", self._handle_response_url)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_get("/socket-mode", self._handle_socket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.base_url = f"http://{self.host}:{self.port}"
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        """Close websockets (going away), the outgoing session and the server."""
        for method in list(self._held):
            self.release(method)
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"fake slack stopping")
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base_url(self) -> str:
        """Value for ``AsyncWebClient(base_url=...)`` (ends with "/")."""
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------------ inspection & waiting

    def calls_to(self, method: str) -> list[ApiCall]:
        """Recorded calls of one Web API method (including failed/faulted ones)."""
        return [c for c in self.calls if c.method == method]

    def ephemerals_for(self, user_id: str) -> list[EphemeralMessage]:
        return [e for e in self.ephemerals if e.user == user_id]

    def _notify(self) -> None:
        self._activity.set()

    async def wait_until(
        self, predicate: Callable[[], bool], within: float = 2.0, what: str = "condition"
    ) -> None:
        """Wait up to ``within`` seconds for ``predicate()``; rechecked on activity / 50 ms."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"FakeSlack: no {what} within {within}s")
            self._activity.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._activity.wait(), min(remaining, 0.05))

    async def wait_for_calls(
        self, method: str, count: int = 1, within: float = 2.0
    ) -> list[ApiCall]:
        """Wait until ``method`` was called ``count`` times; returns those calls."""
        await self.wait_until(
            lambda: len(self.calls_to(method)) >= count, within, f"{count} x {method}"
        )
        return self.calls_to(method)

    async def wait_for_response_posts(
        self, count: int = 1, within: float = 2.0
    ) -> list[ResponseUrlPost]:
        """Wait until ``count`` response_url posts arrived; returns all of them."""
        await self.wait_until(
            lambda: len(self.response_posts) >= count, within, f"{count} response_url posts"
        )
        return list(self.response_posts)

    # ------------------------------------------------------------------ faults & scopes

    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int | str = 1,
        times: int = 1,
        error: str | None = None,
        body: JsonDict | None = None,
        channel: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` ("*" = any) fail.

        429 → ``Retry-After`` header + ``ratelimited``; 5xx → ``fatal_error`` JSON;
        ``status=200, error="x"`` → ``{"ok": false, "error": "x"}``. slack_sdk's
        AsyncRateLimitErrorRetryHandler sleeps ``int(Retry-After) + random()`` seconds and
        raises ValueError on a fractional value, so use ``retry_after=0`` to keep tests fast.
        ``channel`` limits the failure to calls naming that channel (Slack rate-limits
        chat.postMessage per channel); other calls of the method go through.
        """
        queue = self._faults.setdefault(method, deque())
        for _ in range(times):
            queue.append(
                Fault(
                    status=status, retry_after=retry_after, error=error, body=body, channel=channel
                )
            )

    def hold(self, method: str) -> None:
        """Keep calls of ``method`` waiting (recorded, unanswered) until ``release``."""
        self._held.setdefault(method, asyncio.Event())

    def release(self, method: str) -> None:
        gate = self._held.pop(method, None)
        if gate is not None:
            gate.set()

    def revoke_scope(self, *scopes: str) -> None:
        """Remove scopes from the bot (and app) token: calls needing them → missing_scope."""
        self.bot_scopes.difference_update(scopes)
        self.app_scopes.difference_update(scopes)

    def grant_scope(self, *scopes: str) -> None:
        self.bot_scopes.update(scopes)

    # ------------------------------------------------------------------ Web API plumbing

    @staticmethod
    async def _merge_args(request: web.Request) -> JsonDict:
        args: JsonDict = dict(request.query)
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise SlackError("invalid_json")
                args.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                for key, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        args[key] = {
                            "filename": value.filename,
                            "content_type": value.content_type,
                            "content": value.file.read(),
                        }
                    else:
                        args[key] = value if isinstance(value, str) else bytes(value)
        return decode_json_fields(args)

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        auth = request.headers.get("Authorization", "")
        token: str | None = auth[7:].strip() if auth.startswith("Bearer ") else None
        call = ApiCall(method, {}, request.method, token, request.content_type)
        client_auth = auth if auth.startswith("Basic ") else ""
        self.calls.append(call)
        gate = self._held.get(method)
        if gate is not None:
            self._notify()
            await gate.wait()
        headers: dict[str, str] = {}
        try:
            args = await self._merge_args(request)
            form_token = args.pop("token", None)
            if method in CLIENT_AUTH_METHODS:
                args["client_id"], args["client_secret"] = self.client_credentials(
                    client_auth, args
                )
            call.args = args
            call.token = token = token or (str(form_token) if form_token else None)
            status, body = self._answer(call, headers)
        except SlackError as err:
            status, body = 200, err.to_body()
        except (json.JSONDecodeError, UnicodeDecodeError):
            status, body = 200, {"ok": False, "error": "invalid_json"}
        except Exception as exc:  # a bug in the fake: answer JSON so slack_sdk reports it
            status, body = 500, {"ok": False, "error": "fake_internal_error", "detail": repr(exc)}
        call.status, call.response = status, body
        self._notify()
        return web.json_response(body, status=status, headers=headers)

    def _answer(self, call: ApiCall, headers: dict[str, str]) -> tuple[int, JsonDict]:
        fault = self._pop_fault(call.method, call.args)
        if fault is not None:
            return self._fault_response(fault, headers)
        handler = HANDLERS.get(call.method)
        if handler is None:
            self.unhandled.append(call)
            return 200, {"ok": False, "error": "unknown_method"}
        if call.method in CLIENT_AUTH_METHODS:
            try:
                return 200, handler(self, call.args)
            except SlackError as err:
                return 200, err.to_body()
        token = call.token
        if not token:
            return 200, {"ok": False, "error": "not_authed"}
        if token in self.revoked_tokens:
            return 200, {"ok": False, "error": "token_revoked"}
        if self.token_expired(token):
            return 200, {"ok": False, "error": "token_expired"}
        # The workspace the token belongs to answers (tokens not issued here: this one).
        ws = self.workspace_for(token)
        if ws is None and self.strict_tokens and token not in (self.bot_token, self.app_token):
            return 200, {"ok": False, "error": "invalid_auth"}
        ws = ws or self
        if ws is not self:
            ws.calls.append(call)
        is_app_token = token.startswith("xapp-")
        if is_app_token != (call.method in APP_TOKEN_METHODS):
            return 200, {"ok": False, "error": "not_allowed_token_type"}
        provided = ws.app_scopes if is_app_token else ws.bot_scopes
        needed = ws.required_scope(call.method, call.args)
        headers["X-OAuth-Scopes"] = ",".join(sorted(provided))
        headers["X-Accepted-OAuth-Scopes"] = needed or ""
        if needed and needed not in provided:
            return 200, {
                "ok": False,
                "error": "missing_scope",
                "needed": needed,
                "provided": ",".join(sorted(provided)),
            }
        try:
            return 200, handler(ws, call.args)
        except SlackError as err:
            return 200, err.to_body()

    def _pop_fault(self, method: str, args: JsonDict) -> Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key) or deque()
            for fault in queue:
                if fault.channel is None or fault.channel == args.get("channel"):
                    queue.remove(fault)
                    return fault
        return None

    @staticmethod
    def _fault_response(fault: Fault, headers: dict[str, str]) -> tuple[int, JsonDict]:
        if fault.status == 429:
            headers["Retry-After"] = str(fault.retry_after)
            return 429, fault.body or {"ok": False, "error": fault.error or "ratelimited"}
        return fault.status, fault.body or {"ok": False, "error": fault.error or "fatal_error"}

    # ------------------------------------------------------------------ file uploads

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """Step 2 of files_upload_v2: the bytes, posted to the URL getUploadURLExternal gave."""
        file_id = request.match_info["file_id"]
        owner = next((t for t in self.teams.values() if file_id in t.files), self)
        file = owner.files.get(file_id)
        if file is None or file.data is not None:
            return web.Response(status=404, text="unknown or used upload URL")
        file.data = await request.read()
        self._notify()
        return web.Response(text=f"OK - {len(file.data)}")

    # ------------------------------------------------------------------ response_url

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        # The workspace whose interaction issued the URL records and applies the post.
        owner = next((t for t in self.teams.values() if rid in t.response_targets), self)
        target = owner.response_targets.get(rid)
        if target is None:
            return web.json_response({"ok": False, "error": "expired_url"}, status=404)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = {"text": await request.text()}
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        owner.response_posts.append(
            ResponseUrlPost(
                response_id=rid,
                url=str(request.url),
                body=body,
                channel_id=target.channel_id,
                user_id=target.user_id,
                message_ts=target.message_ts,
            )
        )
        owner._apply_response(target, body)
        self._notify()
        return web.json_response({"ok": True})

    def _apply_response(self, target: ResponseUrlTarget, body: JsonDict) -> None:
        channel, ts = target.channel_id, target.message_ts
        original = self.message(channel, ts) if channel and ts else None
        ephemeral = self.ephemeral(channel, ts) if channel and ts else None
        blocks = body.get("blocks") if isinstance(body.get("blocks"), list) else None
        if ephemeral is not None and (body.get("replace_original") or body.get("delete_original")):
            # An ephemeral message is changed only through its response_url.
            if body.get("delete_original"):
                self.ephemerals.remove(ephemeral)
            else:
                ephemeral.text = str(body.get("text") or "")
                ephemeral.blocks = list(blocks or [])
        elif body.get("delete_original") and original is not None:
            original.deleted = True
        elif body.get("replace_original") and original is not None:
            original.text = str(body.get("text") or "")
            original.blocks = list(blocks or [])
        elif body.get("response_type") == "in_channel" and target.channel_id in self.channels:
            self.store_message(
                self.channels[target.channel_id],
                text=str(body.get("text") or ""),
                user=self.bot_user_id,
                blocks=blocks,
                thread_ts=body.get("thread_ts"),
            )
        elif target.channel_id:
            self.ephemerals.append(
                EphemeralMessage(
                    channel=target.channel_id,
                    user=target.user_id,
                    ts=self.clock.next(),
                    text=str(body.get("text") or ""),
                    blocks=list(blocks or []),
                )
            )

    # ------------------------------------------------------------------ delivering to apps

    async def post_to_app(self, app_url: str, body: bytes, headers: dict[str, str]) -> AppResponse:
        """POST a (signed) body to an app's Request URL; returns status, headers and text."""
        assert self._session is not None, "FakeSlack is not started"
        async with self._session.post(app_url, data=body, headers=headers) as resp:
            text = await resp.text()
            return AppResponse(resp.status, dict(resp.headers), text)

    async def send_to_app(
        self, app_url: str, kind: str, payload: JsonDict | None = None, **kwargs: Any
    ) -> AppResponse:
        """``signed_request(kind, payload, **kwargs)`` then ``post_to_app``."""
        body, headers = self.signed_request(kind, payload, **kwargs)
        return await self.post_to_app(app_url, body, headers)

    async def dispatch(
        self, app: AsyncApp, kind: str, payload: JsonDict | None = None, **kwargs: Any
    ) -> BoltResponse:
        """In-process route: signed request → ``AsyncBoltRequest`` → ``app.async_dispatch``."""
        from slack_bolt.request.async_request import AsyncBoltRequest

        body, headers = self.signed_request(kind, payload, **kwargs)
        bolt_headers: dict[str, str | Sequence[str]] = dict(headers)
        return await app.async_dispatch(AsyncBoltRequest(body=body.decode(), headers=bolt_headers))

    # ------------------------------------------------------------------ Socket Mode

    def open_socket_url(self) -> str:
        """Issue a websocket URL (what apps.connections.open returns)."""
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return f"ws://{self.host}:{self.port}/socket-mode?ticket={ticket}&app_id={self.app_id}"

    @property
    def socket_connected(self) -> int:
        """Number of currently open Socket Mode connections."""
        return len(self._sockets)

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=False, timeout=2.0)
        await ws.prepare(request)
        self._sockets.append(ws)
        self.socket_connections_total += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {
                    "host": "applink-fake",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        self._notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_socket_text(msg.data)
                elif msg.type == WSMsgType.PING:
                    self.socket_pings_received += 1
                    await ws.pong(msg.data)
                elif msg.type == WSMsgType.PONG:
                    self.socket_pongs_received += 1
                self._notify()
        finally:
            self._sockets.remove(ws)
            self._notify()
        return ws

    def _on_socket_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            self.socket_messages.append(data)
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        sent = next((e for e in self.envelopes if e.envelope_id == envelope_id), None)
        if sent is None:
            self.socket_messages.append(message)
            return
        payload = message.get("payload")
        self.socket_acks[sent.envelope_id] = SocketAck(
            sent.envelope_id,
            payload if isinstance(payload, dict) else None,
            time.monotonic() - sent.sent_at,
        )

    async def socket_push(
        self,
        kind: str,
        payload: JsonDict | None = None,
        *,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        accepts_response_payload: bool | None = None,
        connect_timeout: float = 5.0,
        **builder_kwargs: Any,
    ) -> str:
        """Send an envelope over the newest Socket Mode connection; returns its envelope_id.

        ``kind`` is an envelope type (slash_commands, interactive, events_api) or a payload
        kind (slash_command, block_actions, view_submission, view_closed, event) whose
        builder is called with ``builder_kwargs`` when ``payload`` is None. Events API
        envelopes carry ``retry_attempt`` (default 0) and ``retry_reason`` like Slack's.
        """
        if kind not in _ENVELOPES:
            raise ValueError(f"unknown envelope kind {kind!r}; expected {sorted(_ENVELOPES)}")
        envelope_type, builder = _ENVELOPES[kind]
        if payload is None:
            if builder is None:
                raise ValueError("an 'interactive' envelope needs an explicit payload")
            payload = self.build_payload(builder, **builder_kwargs)
        if envelope_type == "events_api" and retry_attempt is None:
            retry_attempt, retry_reason = 0, retry_reason or ""
        if accepts_response_payload is None:
            wants_reply = payload.get("type") in ("view_submission", "block_suggestion")
            accepts_response_payload = envelope_type == "slash_commands" or wants_reply
        await self.wait_until(lambda: bool(self._sockets), connect_timeout, "socket connection")
        envelope = SocketEnvelope(
            envelope_id=str(uuid.uuid4()),
            type=envelope_type,
            payload=payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
            sent_at=time.monotonic(),
        )
        self.envelopes.append(envelope)
        await self._sockets[-1].send_str(json.dumps(envelope.to_wire()))
        return envelope.envelope_id

    async def wait_for_ack(self, envelope_id: str, within: float = 2.0) -> JsonDict:
        """Wait for the app's ack of ``envelope_id``; returns its payload ({} if none)."""
        await self.wait_until(lambda: envelope_id in self.socket_acks, within, "ack")
        return self.socket_acks[envelope_id].payload or {}

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask connected clients to reconnect, as Slack does every few hours."""
        for ws in list(self._sockets):
            await ws.send_json(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
            )

    async def socket_ping(self, data: bytes = b"fake-ping") -> None:
        """Server-initiated ping; the client's pong is counted in ``socket_pongs_received``."""
        for ws in list(self._sockets):
            await ws.ping(data)


@api_method("apps.connections.open", "connections:write")
def _apps_connections_open(ws: Workspace, args: JsonDict) -> JsonDict:
    assert isinstance(ws, FakeSlack)
    return {"ok": True, "url": ws.open_socket_url()}


@api_method("oauth.v2.access")
def _oauth_v2_access(ws: Workspace, args: JsonDict) -> JsonDict:
    assert isinstance(ws, FakeSlack)
    return ws.oauth_access(args)


@contextlib.asynccontextmanager
async def serve_bolt_app(
    app: AsyncApp, path: str = "/slack/events", host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """Serve a Bolt ``AsyncApp`` over HTTP (its aiohttp ``web_app()``) at a free port.

    Yields the Request URL, e.g. ``http://127.0.0.1:PORT/slack/events``.
    """
    runner = web.AppRunner(app.web_app(path=path), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0)
        await site.start()
        yield f"http://{host}:{runner.addresses[0][1]}{path}"
    finally:
        await runner.cleanup()
