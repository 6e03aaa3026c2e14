"""The Slack adapter: slack-bolt's AsyncApp in Socket Mode or HTTP mode, wired to the core.

Socket Mode (default) needs no public URL: the app dials out with an app-level token
(``xapp-…``). HTTP mode serves ``POST /slack/events`` with aiohttp; every request must
carry a valid v0 signature from the signing secret and a timestamp under 5 minutes old,
or it gets 401 and nothing happens. The Web API base URL is a setting (``api_base_url``,
ending in ``/``) so the app can run through a proxy or against a local fake.

One workspace. The bot token belongs to one workspace, learnt from ``auth.test`` at start.
Until installation in several workspaces exists, a request from any other team (correctly
signed: the app's signing secret is the same everywhere) is refused before any listener
runs: no community, no reply beyond a short note acknowledging a slash command, one log
line per such team.

Bolt quirk handled here: in HTTP mode Bolt reads any form body containing the text
"payload" as an interactivity post, so a slash command whose text says "payload" (a
member's bio, say) would be dropped. Such commands are re-read as the form they are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.response import SocketModeResponse

from adapters.slack.blocks import Renderer
from adapters.slack.client import (
    configure,
    default_retry_handlers,
    delivery_retry_handlers,
    web_client,
)
from adapters.slack.commands import SlashCommands
from adapters.slack.dms import DirectMessages
from adapters.slack.home import AppHome
from adapters.slack.identity import Directory
from adapters.slack.listeners import RECEIVED_AT, AcksFirst, Listeners
from adapters.slack.port import SlackPort
from core.service import Mentorbot

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
OTHER_WORKSPACE = "Mentorbot is not installed for this workspace."


def bolt_request(
    raw_body: str, query: str, headers: dict[str, str], received: float | None = None
) -> AsyncBoltRequest:
    """An HTTP request as Bolt reads it, with slash commands mentioning "payload" intact,
    stamped with when it arrived (``received``, wall-clock seconds; default now)."""
    received = time.time() if received is None else received
    request = AsyncBoltRequest(body=raw_body, query=query, headers=headers)  # type: ignore[arg-type]
    if not request.body and request.content_type == FORM_CONTENT_TYPE:
        form = dict(parse_qsl(raw_body, keep_blank_values=True))
        if "command" in form and "payload" not in form:
            request.body = form
            request.context = build_async_context(AsyncBoltContext({}), form)
    request.context[RECEIVED_AT] = received
    return request


class SlackStartError(RuntimeError):
    """The adapter cannot start (bad token, unreachable API); the message says which."""


class SlackAdapter:
    """Mentorbot on one Slack workspace; ``port`` is what the delivery dispatcher calls."""

    def __init__(
        self,
        service: Mentorbot,
        *,
        bot_token: str,
        signing_secret: str | None,
        app_token: str | None,
        mode: Literal["socket", "http"],
        http_host: str,
        http_port: int,
        api_base_url: str,
        command: str = "/mentor",
        badge_usergroups: bool = False,
        retry_handlers: Sequence[AsyncRetryHandler] | None = None,
        server: web.Application | None = None,
    ) -> None:
        """``server``: the bot's shared HTTP server (bot/http.py), which then carries the
        HTTP mode's events route and is started by its owner; without it the adapter
        listens on ``http_host:http_port`` itself."""
        if mode == "http" and not signing_secret:
            raise ValueError("Slack HTTP mode needs the signing secret (SLACK_SIGNING_SECRET)")
        if mode == "socket" and not app_token:
            raise ValueError("Slack Socket Mode needs an app-level token (SLACK_APP_TOKEN)")
        self.service = service
        self.mode = mode
        self.http_host = http_host
        self.http_port = http_port
        self._app_token = app_token
        handlers = list(retry_handlers) if retry_handlers is not None else default_retry_handlers()
        # Bolt makes its client from the token: handed a client of ours while
        # SLACK_BOT_TOKEN is set (Bolt reads the variable itself), it warns at every start
        # that the token will be unused. Ours differs only in settings read per call.
        self.app = AsyncApp(
            token=bot_token,
            signing_secret=signing_secret or "",
            process_before_response=False,
            request_verification_enabled=mode == "http",
            logger=logging.getLogger("adapters.slack.bolt"),
            name="mentorbot",
        )
        self.client = configure(self.app.client, api_base_url, handlers)
        self.team_id: str | None = None  # the installed workspace, from auth.test
        self._refused_teams: set[str] = set()
        self.app.middleware(self._only_installed_workspace)
        self.render = Renderer(service.catalog.groups, command)
        self.commands = SlashCommands(service.catalog, command)
        self.directory = Directory(self.client, service)
        home = AppHome(self.client, service, self.directory, self.render)
        # The dispatcher's own client: it never sleeps through a rate limit.
        self.port = SlackPort(
            web_client(bot_token, api_base_url, delivery_retry_handlers(handlers)),
            service.factory,
            self.render,
            badge_usergroups=badge_usergroups,
        )
        self.listeners = Listeners(
            service, self.client, self.render, self.commands, self.directory, home
        )
        self.listeners.register(self.app)
        DirectMessages(service, self.client, self.render, self.directory).register(self.app)
        self._shared_server = server is not None and mode == "http"
        if server is not None and mode == "http":
            server.router.add_post(EVENTS_PATH, self._handle_http)
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None

    @property
    def request_url(self) -> str:
        """Where Slack posts in HTTP mode (the bound port once started)."""
        return f"http://{self.http_host}:{self.http_port}{EVENTS_PATH}"

    async def start(self) -> None:
        """Check the token, then connect (Socket Mode) or listen (HTTP); returns when ready."""
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            raise SlackStartError(
                f"Slack refused the bot token ({exc.response.get('error')}); check "
                "SLACK_BOT_TOKEN (xoxb-…)"
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SlackStartError(f"cannot reach Slack at {self.client.base_url}: {exc}") from exc
        self.directory.team_name = str(auth.get("team") or "")
        self.team_id = str(auth.get("team_id") or "") or None
        if self.mode == "socket":
            self._socket = AsyncSocketModeHandler(self.app, app_token=self._app_token)
            _count_envelopes(self._socket.client, self.listeners.acks_first)
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack: connected to %s in Socket Mode", self.directory.team_name)
            return
        if self._shared_server:
            return  # its owner starts the shared server
        server = web.Application()
        server.router.add_post(EVENTS_PATH, self._handle_http)
        self._runner = web.AppRunner(server, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.http_host, self.http_port).start()
        self.http_port = int(self._runner.addresses[0][1])
        log.info("Slack: listening on %s", self.request_url)

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _only_installed_workspace(
        self,
        context: AsyncBoltContext,
        body: Mapping[str, Any],
        next_: Callable[[], Awaitable[None]],
    ) -> BoltResponse | None:
        """Refuse, before any listener, a request from a workspace other than ours.

        Also the first code of ours a Socket Mode envelope meets: its receipt is stamped
        here (an HTTP request is stamped earlier, as it comes in)."""
        context.setdefault(RECEIVED_AT, time.time())
        team = None
        if self.team_id is not None:
            # Bolt's team (an event's installation) and the one listeners read from the body.
            team_ref = body.get("team")
            named = (
                context.team_id,
                body.get("team_id"),
                team_ref.get("id") if isinstance(team_ref, Mapping) else team_ref,
            )
            team = next((t for t in named if t and t != self.team_id), None)
        if team is None:
            await next_()
            return None
        if team not in self._refused_teams:
            self._refused_teams.add(team)
            log.warning(
                "Slack: refusing requests from workspace %s; the app is installed in %s "
                "(logged once per workspace)",
                team,
                self.team_id,
            )
        # A slash command's acknowledgement is shown to whoever typed it; nothing else is.
        return BoltResponse(status=200, body=OTHER_WORKSPACE if "command" in body else "")

    async def _handle_http(self, request: web.Request) -> web.Response:
        received = time.time()
        acks_first, key = self.listeners.acks_first, object()
        acks_first.received(key)
        try:
            bolt = bolt_request(
                await request.text(), request.query_string, dict(request.headers), received
            )
            return await to_aiohttp_response(await self.app.async_dispatch(bolt))
        finally:
            acks_first.acknowledged(key)


def _count_envelopes(client: AsyncBaseSocketModeClient, acks_first: AcksFirst) -> None:
    """Report each Socket Mode envelope to ``acks_first`` as it comes in (before Bolt
    sees it) and once its acknowledgement is sent."""

    async def came_in(_client: Any, message: dict[str, Any], _raw: str | None) -> None:
        if message.get("envelope_id"):
            acks_first.received(message["envelope_id"])

    client.message_listeners.insert(0, came_in)
    send = client.send_socket_mode_response

    async def answered(response: SocketModeResponse | dict[str, Any]) -> None:
        try:
            await send(response)
        finally:
            envelope = (
                response.envelope_id
                if isinstance(response, SocketModeResponse)
                else response.get("envelope_id")
            )
            acks_first.acknowledged(envelope)

    client.send_socket_mode_response = answered  # type: ignore[method-assign]
