"""One app installed in several workspaces by OAuth (issue 16), against the fake Slack.

``OAuthBot`` runs the adapter in OAuth mode (no bot token) on the test database; each
workspace is a ``SlackHarness`` over its own fake workspace sharing that one adapter, so
the usual ``command``/``reply``/``deliver`` helpers act in that workspace. ``install``
goes through the browser's steps: the "Add to Slack" page (its state cookie and the
authorize URL), the installer's "Allow" at Slack, and the redirect back with the code.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.slack.app import SlackAdapter
from adapters.slack.client import default_retry_handlers
from adapters.slack.installation import REDIRECT_PATH, OAuthSettings
from core.clock import FakeClock
from core.models import Community
from core.service import Mentorbot
from tests.adapters.slack.conftest import (
    ADMIN_CHANNEL,
    ADMINS_GROUP,
    ANA,
    BOB,
    CAROL,
    GENERAL,
    OWNER,
    SlackHarness,
)
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.slack_fake_models import FakeUsergroup

PUBLIC = "https://mentorbot.example.org"
STATE_COOKIE = "slack-app-oauth-state"


@dataclass
class Visit:
    """What the installer's browser got back from the redirect."""

    status: int
    text: str


@dataclass
class InstallPage:
    authorize_url: str
    state: str
    cookie: str


class OAuthBot:
    def __init__(
        self,
        fake: FakeSlack,
        factory: async_sessionmaker[AsyncSession],
        clock: FakeClock,
        *,
        token_rotation: bool = False,
    ) -> None:
        self.fake = fake
        self.factory = factory
        self.clock = clock
        self.token_rotation = token_rotation
        self.adapter: SlackAdapter | None = None

    @property
    def app(self) -> SlackAdapter:
        assert self.adapter is not None, "start() first"
        return self.adapter

    async def start(self) -> SlackAdapter:
        self.adapter = SlackAdapter(
            Mentorbot(self.factory, self.clock),
            bot_token=None,
            oauth=OAuthSettings(
                client_id=self.fake.client_id,
                client_secret=self.fake.client_secret,
                redirect_uri=PUBLIC + REDIRECT_PATH,
                token_rotation=self.token_rotation,
            ),
            signing_secret=self.fake.signing_secret,
            app_token=None,
            mode="http",
            http_host="127.0.0.1",
            http_port=0,
            api_base_url=self.fake.api_base_url,
            retry_handlers=default_retry_handlers(FixedValueRetryIntervalCalculator(0.01)),
        )
        await self.adapter.start()
        return self.adapter

    async def stop(self) -> None:
        if self.adapter is not None:
            await self.adapter.stop()
            self.adapter = None

    def workspace(self, team: FakeSlack) -> SlackHarness:
        """The harness helpers, acting in ``team`` through this one adapter."""
        harness = SlackHarness(team, self.factory, self.clock, "http", False)
        harness.adapter = self.app
        return harness

    # ----- the installer's browser ------------------------------------------------------

    async def install_page(self) -> InstallPage:
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
            http.get(self.app.install_url) as page,
        ):
            assert page.status == 200, await page.text()
            body = await page.text()
            cookie = page.headers["Set-Cookie"]
        link = re.search(r'<a href="([^"]+)"><img alt="Add to Slack"', body)
        assert link is not None, body
        state = re.search(STATE_COOKIE + r"=([^;]+)", cookie)
        assert state is not None, cookie
        return InstallPage(html.unescape(link.group(1)), state.group(1), cookie)

    async def visit(self, redirect_url: str, state_cookie: str | None) -> Visit:
        """Follow Slack's redirect to the app (its path and query, on our server)."""
        parts = urlsplit(redirect_url)
        assert parts.path == REDIRECT_PATH
        local = f"http://127.0.0.1:{self.app.http_port}{parts.path}?{parts.query}"
        headers = {"Cookie": f"{STATE_COOKIE}={state_cookie}"} if state_cookie else {}
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
            http.get(local, headers=headers, allow_redirects=False) as answer,
        ):
            return Visit(answer.status, await answer.text())

    async def install(self, team: FakeSlack, installer: str = OWNER) -> str:
        """Install the app in ``team`` through the pages; returns the redirect it took."""
        page = await self.install_page()
        redirect = self.fake.approve_install(page.authorize_url, team, installer)
        visit = await self.visit(redirect, page.state)
        assert visit.status == 200, visit.text
        assert "Thank you!" in visit.text
        return redirect

    async def community(self, team: FakeSlack) -> Community | None:
        async with self.factory() as session:
            return (
                await session.execute(
                    select(Community).where(Community.platform_id == team.team_id)
                )
            ).scalar_one_or_none()


def populate(team: FakeSlack, *, admin: str = OWNER) -> None:
    """The usual members and channels in ``team``; ``admin`` is its workspace admin (the
    same user ids in every workspace: each workspace's answers must stay its own)."""
    for user, name, tz in (
        (OWNER, "olga", "Europe/London"),
        (ANA, "ana", "Europe/Madrid"),
        (BOB, "bob", "America/New_York"),
        (CAROL, "carol", "Asia/Tokyo"),
    ):
        team.add_user(user, name, tz=tz, is_admin=user == admin)
    team.add_channel(
        "mentor-admin", channel_id=ADMIN_CHANNEL, is_private=True, members=[OWNER, CAROL]
    )
    team.add_channel("general", channel_id=GENERAL, members=[OWNER, ANA, BOB, CAROL])
    team.usergroups[ADMINS_GROUP] = FakeUsergroup(
        id=ADMINS_GROUP,
        team_id=team.team_id,
        name="Mentor admins",
        handle="mentor-admins",
        created_by=admin,
        date_create=int(time.time()),
        users=[CAROL],
    )
