"""The workspaces the app serves, and the Web API clients that act in each.

Every Slack call the adapter makes names the workspace it is for and uses that
workspace's bot token: the listeners' calls (answers, forms, App Home, the admin checks
and user look-ups of ``Directory``) and the delivery port's calls, whose workspace is
the effect's community. A workspace the app is not installed in gets no client at all
(``NotInstalled``), so nothing is done there.

Two ways to serve:

* ``SingleWorkspace``: one bot token (``SLACK_BOT_TOKEN``), whose workspace ``auth.test``
  names at start. Any other workspace is not installed.
* ``InstalledWorkspaces``: installed by OAuth (``/slack/install``), each workspace's bot
  token read from slack_sdk's installation store. With token rotation the token is
  refreshed (its refresh token, Slack's ``oauth.v2.access``) once it is within
  ``rotate_within_minutes`` of expiring, and the new pair saved, as Bolt's own authorize
  does for incoming requests. A workspace's token is kept for ``CACHE_SECONDS`` at most,
  and dropped at once when the app is uninstalled there (``forget``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.client import delivery_retry_handlers, web_client

CACHE_SECONDS = 30.0
MAX_CLIENTS = 1_000


@dataclass(frozen=True)
class Workspace:
    """One workspace the app is installed in: ``client`` for interactive calls (it waits
    out a short rate limit), ``delivery_client`` for the delivery port (it never does)."""

    team_id: str
    name: str
    client: AsyncWebClient
    delivery_client: AsyncWebClient


class NotInstalled(Exception):
    """The app is not installed in this workspace (never was, or was uninstalled)."""

    def __init__(self, team_id: str) -> None:
        super().__init__(f"the app is not installed in Slack workspace {team_id or '(none)'}")
        self.team_id = team_id


class Workspaces(Protocol):
    async def get(self, team_id: str) -> Workspace:
        """The workspace and its clients; raises ``NotInstalled``."""
        ...

    def forget(self, team_id: str) -> None:
        """The app was uninstalled there (or its token revoked): no more calls with it."""
        ...


class SingleWorkspace:
    """One bot token; its workspace is known once ``bind`` ran (``auth.test`` at start)."""

    def __init__(self, client: AsyncWebClient, delivery_client: AsyncWebClient) -> None:
        self._client = client
        self._delivery_client = delivery_client
        self.team_id: str | None = None
        self.name = ""
        self.uninstalled = False

    def bind(self, team_id: str | None, name: str) -> None:
        self.team_id, self.name = team_id, name
        self.uninstalled = False

    async def get(self, team_id: str) -> Workspace:
        if self.uninstalled or (self.team_id is not None and team_id != self.team_id):
            raise NotInstalled(team_id)
        return Workspace(team_id, self.name, self._client, self._delivery_client)

    def forget(self, team_id: str) -> None:
        if team_id == self.team_id:
            self.uninstalled = True


@dataclass(frozen=True)
class _Known:
    workspace: Workspace
    token: str
    expires_at: float | None  # the token's (Unix seconds), with token rotation
    read_at: float


class InstalledWorkspaces:
    """Workspaces installed by OAuth, each with the bot token its installation holds."""

    def __init__(
        self,
        store: AsyncInstallationStore,
        base_url: str,
        retry_handlers: Sequence[AsyncRetryHandler],
        *,
        rotator: AsyncTokenRotator | None = None,
        rotate_within_minutes: int = 120,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._base_url = base_url
        self._handlers = list(retry_handlers)
        self._rotator = rotator
        self._rotate_within = timedelta(minutes=rotate_within_minutes)
        self._now = now
        self._known: dict[str, _Known] = {}
        self._clients: dict[tuple[str, bool], AsyncWebClient] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, team_id: str) -> Workspace:
        known = self._known.get(team_id)
        if known is not None and self._fresh(known):
            return known.workspace
        # One look-up (and at most one rotation) per workspace at a time.
        lock = self._locks.setdefault(team_id, asyncio.Lock())
        async with lock:
            known = self._known.get(team_id)
            if known is None or not self._fresh(known):
                known = await self._look_up(team_id)
                self._known[team_id] = known
            return known.workspace

    def forget(self, team_id: str) -> None:
        known = self._known.pop(team_id, None)
        if known is not None:
            for delivery in (False, True):
                self._clients.pop((known.token, delivery), None)

    def _fresh(self, known: _Known) -> bool:
        if self._now() - known.read_at >= CACHE_SECONDS:
            return False
        return known.expires_at is None or (
            known.expires_at - time.time() > self._rotate_within.total_seconds()
        )

    async def _look_up(self, team_id: str) -> _Known:
        installation = await self._store.async_find_installation(
            enterprise_id=None, team_id=team_id
        )
        if installation is None or not installation.bot_token:
            self.forget(team_id)
            raise NotInstalled(team_id)
        if installation.bot_refresh_token and self._rotator is not None:
            refreshed = await self._rotator.perform_token_rotation(
                installation=installation,
                minutes_before_expiration=int(self._rotate_within.total_seconds() // 60),
            )
            if refreshed is not None:
                await self._store.async_save(refreshed)
                installation = refreshed
        token = str(installation.bot_token)
        expires = installation.bot_token_expires_at
        expires_at = float(expires) if expires is not None else None
        workspace = Workspace(
            team_id,
            installation.team_name or team_id,
            self._client(token, delivery=False),
            self._client(token, delivery=True),
        )
        return _Known(workspace, token, expires_at, self._now())

    def _client(self, token: str, *, delivery: bool) -> AsyncWebClient:
        client = self._clients.get((token, delivery))
        if client is None:
            if len(self._clients) >= MAX_CLIENTS:
                self._clients.clear()  # old tokens' clients (rotated); rebuilt on demand
            handlers = delivery_retry_handlers(self._handlers) if delivery else self._handlers
            client = self._clients[(token, delivery)] = web_client(token, self._base_url, handlers)
        return client
