"""The Slack adapter: slack-bolt's AsyncApp in Socket Mode or HTTP mode, wired to the core.

Socket Mode (default) needs no public URL: the app dials out with an app-level token
(``xapp-…``). HTTP mode serves ``POST /slack/events`` with aiohttp; every request must
carry a valid v0 signature from the signing secret and a timestamp under 5 minutes old,
or it gets 401 and nothing happens. The Web API base URL is a setting (``api_base_url``,
ending in ``/``) so the app can run through a proxy or against a local fake.

Two ways to serve (adapters/slack/workspaces.py):

* One workspace: a bot token (``SLACK_BOT_TOKEN``), whose workspace ``auth.test`` names
  at start; Socket Mode or HTTP mode.
* Many workspaces (HTTP mode, ``SLACK_CLIENT_ID`` + ``SLACK_CLIENT_SECRET``): each
  installs the app through ``/slack/install`` (adapters/slack/installation.py), and each
  request is served with that workspace's own token.

A request from a workspace the app is not installed in (correctly signed: the app's
signing secret is the same everywhere) is refused before Bolt's authorize and before any
listener runs: no community, no reply beyond a short note acknowledging a slash command,
one log line per such team. ``app_uninstalled`` and ``tokens_revoked`` pass, so that a
removal is always recorded.

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
from sqlalchemy.ext.asyncio import AsyncEngine

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
from adapters.slack.identity import PLATFORM, Directory
from adapters.slack.installation import INSTALL_PATH, Installer, OAuthSettings, oauth_flow
from adapters.slack.listeners import RECEIVED_AT, AcksFirst, Listeners, received_at
from adapters.slack.manifest import bot_scopes
from adapters.slack.port import SlackPort
from adapters.slack.workspaces import (
    InstalledWorkspaces,
    NotInstalled,
    SingleWorkspace,
    Workspaces,
)
from core.logcontext import log_scope
from core.observe import NULL_OBSERVER, Observer
from core.service import Mentorbot

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
OTHER_WORKSPACE = "Mentorbot is not installed for this workspace."
# Events that always reach their listeners: a removal is recorded even for a workspace
# whose installation is already gone.
REMOVAL_EVENTS = frozenset({"app_uninstalled", "tokens_revoked"})


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


# Request types a member is waiting on: their acknowledgement is the first response.
INTERACTIVE_TYPES = frozenset({"block_actions", "view_submission", "block_suggestion"})


class ObservedApp(AsyncApp):
    """Bolt's app, each request dispatched inside a log scope (its workspace and trigger
    or event id, see core/logcontext.py) and, for what a member waits on (a command, a
    click, a form), the time to its acknowledgement reported as the first response.

    The listeners Bolt starts as tasks during the dispatch share the scope, so their log
    lines carry it; Bolt's global middleware cannot do this (it returns before them)."""

    observer: Observer = NULL_OBSERVER

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        req.context.setdefault(RECEIVED_AT, time.time())  # Socket Mode: from here
        body = req.body if isinstance(req.body, Mapping) else {}
        team_ref = body.get("team")
        team = body.get("team_id") or (
            team_ref.get("id") if isinstance(team_ref, Mapping) else None
        )
        with log_scope(
            platform="slack",
            community=str(team) if team else None,
            interaction=body.get("trigger_id") or body.get("event_id"),
        ):
            response = await super().async_dispatch(req)
        if "command" in body or body.get("type") in INTERACTIVE_TYPES:
            self.observer.first_response("slack", time.time() - received_at(req.context))
        return response


class SlackStartError(RuntimeError):
    """The adapter cannot start (bad token, unreachable API); the message says which."""


class SlackAdapter:
    """Mentorbot on Slack; ``port`` is what the delivery dispatcher calls."""

    def __init__(
        self,
        service: Mentorbot,
        *,
        bot_token: str | None,
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
        oauth: OAuthSettings | None = None,
        engine: AsyncEngine | None = None,
    ) -> None:
        """``server``: the bot's shared HTTP server (bot/http.py), which then carries the
        HTTP mode's routes and is started by its owner; without it the adapter listens on
        ``http_host:http_port`` itself. ``oauth``: install in many workspaces (HTTP mode,
        no bot token); the installations live on ``engine`` (default: the service's)."""
        if mode == "http" and not signing_secret:
            raise ValueError("Slack HTTP mode needs the signing secret (SLACK_SIGNING_SECRET)")
        if mode == "socket" and not app_token:
            raise ValueError("Slack Socket Mode needs an app-level token (SLACK_APP_TOKEN)")
        if oauth is not None and mode != "http":
            raise ValueError("installing by OAuth needs HTTP mode (the redirect is a web page)")
        if (oauth is None) == (not bot_token):
            raise ValueError(
                "Slack needs either a bot token (SLACK_BOT_TOKEN, one workspace) or OAuth "
                "credentials (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, many), not both"
            )
        self.service = service
        self.mode = mode
        self.http_host = http_host
        self.http_port = http_port
        self._app_token = app_token
        self.oauth = oauth
        handlers = list(retry_handlers) if retry_handlers is not None else default_retry_handlers()
        app_settings: dict[str, Any] = {
            "signing_secret": signing_secret or "",
            "process_before_response": False,
            "request_verification_enabled": mode == "http",
            "logger": logging.getLogger("adapters.slack.bolt"),
            "name": "mentorbot",
            "before_authorize": self._only_installed_workspace,
        }
        self.workspaces: Workspaces
        if oauth is None:
            assert bot_token is not None
            # Bolt makes its client from the token: handed a client of ours while
            # SLACK_BOT_TOKEN is set (Bolt reads the variable itself), it warns at every
            # start that the token will be unused. Ours differs only in settings read per call.
            self.app = ObservedApp(token=bot_token, **app_settings)
            self.client = configure(self.app.client, api_base_url, handlers)
            # The dispatcher's own client: it never sleeps through a rate limit.
            delivery = web_client(bot_token, api_base_url, delivery_retry_handlers(handlers))
            self.workspaces = self._single = SingleWorkspace(self.client, delivery)
            installer = Installer(service, self.workspaces)
        else:
            self.client = web_client(None, api_base_url, handlers)  # type: ignore[arg-type]
            engine = engine or service.factory.kw["bind"]
            built = oauth_flow(oauth, engine, self.client, bot_scopes(badge_usergroups))
            self.app = ObservedApp(
                client=self.client,
                oauth_settings=built.settings,
                oauth_flow=built.flow,
                **app_settings,
            )
            self.workspaces = InstalledWorkspaces(
                built.store,
                api_base_url,
                handlers,
                rotator=built.rotator if oauth.token_rotation else None,
                rotate_within_minutes=oauth.rotate_within_minutes,
            )
            installer = Installer(service, self.workspaces, built)
        self.app.observer = service.observer
        self._refused_teams: set[str] = set()
        self.render = Renderer(service.catalog.groups, command)
        self.commands = SlashCommands(service.catalog, command)
        self.directory = Directory(self.workspaces, service)
        home = AppHome(self.workspaces, service, self.directory, self.render)
        self.port = SlackPort(
            self.workspaces, service.factory, self.render, badge_usergroups=badge_usergroups
        )
        self.listeners = Listeners(
            service, self.workspaces, self.render, self.commands, self.directory, home
        )
        self.listeners.register(self.app)
        DirectMessages(service, self.workspaces, self.render, self.directory).register(self.app)
        installer.register(self.app)
        self.installer = installer
        self._shared_server = server is not None and mode == "http"
        if server is not None and mode == "http":
            self._add_routes(server)
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._serving = False  # HTTP mode: the events route is being served

    @property
    def request_url(self) -> str:
        """Where Slack posts in HTTP mode (the bound port once started)."""
        return f"http://{self.http_host}:{self.http_port}{EVENTS_PATH}"

    @property
    def install_url(self) -> str:
        """The "Add to Slack" page in OAuth mode (the bound port once started)."""
        return f"http://{self.http_host}:{self.http_port}{INSTALL_PATH}"

    @property
    def team_id(self) -> str | None:
        """The workspace of the bot token (one-workspace mode, once started)."""
        return self._single.team_id if self.oauth is None else None

    def _add_routes(self, server: web.Application) -> None:
        server.router.add_post(EVENTS_PATH, self._handle_http)
        self.installer.add_routes(server.router)

    async def start(self) -> None:
        """Check the token (one workspace), then connect (Socket Mode) or listen (HTTP);
        returns when ready."""
        if self.oauth is None:
            await self._check_token()
        if self.mode == "socket":
            self._socket = AsyncSocketModeHandler(self.app, app_token=self._app_token)
            _count_envelopes(self._socket.client, self.listeners.acks_first)
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack: connected to %s in Socket Mode", self._single.name)
            return
        if self._shared_server:
            self._serving = True  # on the shared server, which its owner starts
            return
        server = web.Application()
        self._add_routes(server)
        self._runner = web.AppRunner(server, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.http_host, self.http_port).start()
        self.http_port = int(self._runner.addresses[0][1])
        self._serving = True
        log.info("Slack: listening on %s", self.request_url)

    async def _check_token(self) -> None:
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            raise SlackStartError(
                f"Slack refused the bot token ({exc.response.get('error')}); check "
                "SLACK_BOT_TOKEN (xoxb-…)"
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SlackStartError(f"cannot reach Slack at {self.client.base_url}: {exc}") from exc
        team_id = str(auth.get("team_id") or "") or None
        self._single.bind(team_id, str(auth.get("team") or ""))
        if team_id is not None:
            # A token that works again after an uninstall: the workspace is back.
            community = await self.service.community(PLATFORM, team_id)
            if community is not None and community.uninstalled_at is not None:
                await self.service.install_community(PLATFORM, team_id, self._single.name)

    async def unready_reason(self) -> str | None:
        """Why Slack cannot be served now (for the health check), or None when ready."""
        if self.mode == "http":
            return None if self._serving else "the events endpoint is not being served"
        if self._socket is None:
            return "Socket Mode is not connected"
        if not await self._socket.client.is_connected():
            return "the Socket Mode connection is down (reconnecting)"
        return None

    async def stop(self) -> None:
        self._serving = False
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
        """Refuse, before Bolt's authorize and any listener, a request from a workspace
        the app is not installed in.

        Also the first code of ours a Socket Mode envelope meets: its receipt is stamped
        here (an HTTP request is stamped earlier, as it comes in)."""
        context.setdefault(RECEIVED_AT, time.time())
        event = body.get("event")
        if isinstance(event, Mapping) and event.get("type") in REMOVAL_EVENTS:
            await next_()
            return None
        # Bolt's team (an event's installation) and the one listeners read from the body.
        team_ref = body.get("team")
        named = {
            t
            for t in (
                context.team_id,
                body.get("team_id"),
                team_ref.get("id") if isinstance(team_ref, Mapping) else team_ref,
            )
            if t
        }
        refused = None
        for team in sorted(named):
            try:
                await self.workspaces.get(str(team))
            except NotInstalled:
                refused = str(team)
                break
        if refused is None:
            await next_()
            return None
        if refused not in self._refused_teams:
            self._refused_teams.add(refused)
            log.warning(
                "Slack: refusing requests from workspace %s: the app is not installed there "
                "(%s; logged once per workspace)",
                refused,
                f"installed in {self.team_id}" if self.oauth is None else "no installation",
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
