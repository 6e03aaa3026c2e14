"""Installing and removing the app: OAuth v2 for many workspaces, and uninstalls in both modes.

OAuth (HTTP mode with ``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET``): Bolt's OAuth flow
serves ``GET /slack/install`` (the "Add to Slack" page; it sets a state cookie and puts
the same state in the authorize URL) and ``GET /slack/oauth_redirect`` (Slack sends the
installer back with a one-time code; a state that is not this browser's, expired or used
before, or a code Slack refuses, ends on a failure page and installs nothing). The
installation (bot token, and with token rotation its refresh token and expiry) is kept
by slack_sdk's async SQLAlchemy installation store, its OAuth states by the matching
state store, both on the bot's own database engine, in tables migration 0014 creates.
A completed installation creates the workspace's community by the same path as a first
command (or reactivates it, calling its erasure off), and each request is then
authorized by Bolt from the store: the listeners and the delivery port use that
workspace's token (adapters/slack/workspaces.py).

Removing (both modes): ``app_uninstalled``, and ``tokens_revoked`` naming the bot's
token, mark the community uninstalled (deliveries cancelled as ``uninstalled``; data
erased after the grace period, see core/usecases/installation.py); in OAuth mode the
workspace's installation rows are deleted as Bolt's built-in listeners do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.oauth.async_callback_options import AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.slack.identity import PLATFORM
from adapters.slack.workspaces import Workspaces
from core.service import Mentorbot

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
Body = dict[str, Any]


@dataclass(frozen=True)
class OAuthSettings:
    """The app's OAuth credentials and how installations are kept."""

    client_id: str
    client_secret: str
    # The public https URL of REDIRECT_PATH, as listed in the app's redirect URLs.
    redirect_uri: str | None = None
    # Token rotation on (the app's setting): tokens expire, refresh tokens renew them.
    token_rotation: bool = False
    # A rotating token is renewed once it has fewer minutes than this left.
    rotate_within_minutes: int = 120
    # How long an "Add to Slack" page's state stays usable.
    state_expiration_seconds: int = 600


@dataclass(frozen=True)
class OAuth:
    """What an OAuth-mode app is built from (see :func:`oauth_flow`)."""

    flow: AsyncOAuthFlow
    settings: AsyncOAuthSettings
    store: AsyncSQLAlchemyInstallationStore
    rotator: AsyncTokenRotator


def oauth_flow(
    oauth: OAuthSettings, engine: AsyncEngine, client: AsyncWebClient, scopes: Sequence[str]
) -> OAuth:
    """Bolt's OAuth flow on slack_sdk's SQLAlchemy stores, calling Slack through
    ``client`` (its base URL and retries); the success page is set by :class:`Installer`."""
    store = AsyncSQLAlchemyInstallationStore(
        client_id=oauth.client_id, engine=engine, logger=logging.getLogger(__name__)
    )
    states = AsyncSQLAlchemyOAuthStateStore(
        expiration_seconds=oauth.state_expiration_seconds,
        engine=engine,
        logger=logging.getLogger(__name__),
    )
    settings = AsyncOAuthSettings(
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        scopes=list(scopes),
        user_scopes=[],
        redirect_uri=oauth.redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=store,
        token_rotation_expiration_minutes=oauth.rotate_within_minutes,
        state_store=states,
        state_expiration_seconds=oauth.state_expiration_seconds,
        logger=logging.getLogger("adapters.slack.bolt"),
    )
    # Bolt's own authorize renews tokens through a client of its own making (slack.com,
    # whatever base URL is set): this one calls Slack through ours, and caches each
    # token's auth.test answer instead of asking again on every request.
    settings.authorize = AsyncInstallationStoreAuthorize(
        logger=logging.getLogger("adapters.slack.bolt"),
        installation_store=store,
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        token_rotation_expiration_minutes=oauth.rotate_within_minutes,
        cache_enabled=True,
        client=client,
    )
    rotator = AsyncTokenRotator(
        client_id=oauth.client_id, client_secret=oauth.client_secret, client=client
    )
    return OAuth(AsyncOAuthFlow(client=client, settings=settings), settings, store, rotator)


class Installer:
    """The OAuth routes (when installing by OAuth) and the uninstall events (always)."""

    def __init__(
        self, service: Mentorbot, workspaces: Workspaces, oauth: OAuth | None = None
    ) -> None:
        self.service = service
        self.workspaces = workspaces
        self.oauth = oauth
        if oauth is not None:
            oauth.flow.success_handler = self._installed
            oauth.flow.failure_handler = self._failed

    def add_routes(self, router: web.UrlDispatcher) -> None:
        if self.oauth is not None:
            router.add_get(INSTALL_PATH, self._install_page)
            router.add_get(REDIRECT_PATH, self._redirect)

    def register(self, app: AsyncApp) -> None:
        app.event("app_uninstalled")(self.on_app_uninstalled)
        app.event("tokens_revoked")(self.on_tokens_revoked)

    # ----- OAuth -----------------------------------------------------------------------------

    async def _install_page(self, request: web.Request) -> web.Response:
        assert self.oauth is not None
        return await to_aiohttp_response(
            await self.oauth.flow.handle_installation(_bolt_get(request))
        )

    async def _redirect(self, request: web.Request) -> web.Response:
        assert self.oauth is not None
        return await to_aiohttp_response(await self.oauth.flow.handle_callback(_bolt_get(request)))

    async def _installed(self, args: AsyncSuccessArgs) -> BoltResponse:
        """Stored: now the community, then the installer's "Thank you" page."""
        installation = args.installation
        team_id = installation.team_id
        if not team_id:
            # An org-wide (Enterprise Grid) install: the manifest does not offer one.
            return await self._failed(_failure(args, "org_wide_install_not_supported"))
        self.workspaces.forget(team_id)  # a reinstall's new token, not a cached old one
        try:
            await self.service.install_community(PLATFORM, team_id, installation.team_name or "")
        except Exception as exc:
            log.exception("Slack: installed in %s, but its community could not be saved", team_id)
            return await self._failed(_failure(args, "storage_error", exc))
        log.info("Slack: installed in %s (%s)", installation.team_name, team_id)
        return await args.default.success(args)

    async def _failed(self, args: AsyncFailureArgs) -> BoltResponse:
        log.warning("Slack: an installation failed (%s)", args.reason)
        return await args.default.failure(args)

    # ----- removal ---------------------------------------------------------------------------

    async def on_app_uninstalled(self, body: Body, context: AsyncBoltContext) -> None:
        team_id = str(context.team_id or body.get("team_id") or "")
        if self.oauth is not None:
            await self.oauth.store.async_delete_all(enterprise_id=None, team_id=team_id)
        await self._removed(team_id, "app_uninstalled")

    async def on_tokens_revoked(self, body: Body, event: Body, context: AsyncBoltContext) -> None:
        """A user's token revoked changes nothing here (none is used); the bot's is the
        app's only way to act in the workspace, so losing it is an uninstall."""
        team_id = str(context.team_id or body.get("team_id") or "")
        tokens = event.get("tokens") or {}
        if self.oauth is not None:
            for user_id in tokens.get("oauth") or []:
                await self.oauth.store.async_delete_installation(
                    enterprise_id=None, team_id=team_id, user_id=str(user_id)
                )
            if tokens.get("bot"):
                await self.oauth.store.async_delete_bot(enterprise_id=None, team_id=team_id)
                await self.oauth.store.async_delete_all(enterprise_id=None, team_id=team_id)
        if tokens.get("bot"):
            await self._removed(team_id, "tokens_revoked")

    async def _removed(self, team_id: str, why: str) -> None:
        self.workspaces.forget(team_id)
        cancelled = await self.service.uninstall_community(PLATFORM, team_id, why)
        log.warning(
            "Slack: removed from workspace %s (%s); %s",
            team_id,
            why,
            "it had no community"
            if cancelled is None
            else f"{cancelled} deliveries cancelled; its data is erased after the grace "
            "period unless it installs the app again",
        )


def _bolt_get(request: web.Request) -> AsyncBoltRequest:
    return AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))


def _failure(
    args: AsyncSuccessArgs, reason: str, error: Exception | None = None
) -> AsyncFailureArgs:
    return AsyncFailureArgs(
        request=args.request,
        reason=reason,
        error=error,
        suggested_status_code=500,
        settings=args.settings,
        default=args.default,
    )
