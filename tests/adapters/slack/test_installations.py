"""One Slack app for many workspaces (issue 16): OAuth installation, isolation between
workspaces, uninstalling (deliveries stop, data erased after the grace period unless
installed again), token rotation, and the refusals of the redirect."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.slack.app import OTHER_WORKSPACE
from core import db
from core.clock import FakeClock
from core.models import Community, Delivery, Mentor
from core.usecases.community_erasure import erasure_tables
from tests.adapters.slack.conftest import (
    ADMIN_CHANNEL,
    ANA,
    APPLY_INLINE,
    BOB,
    GENERAL,
    OWNER,
    SETUP,
    Slack,
    texts,
)
from tests.adapters.slack.installs import OAuthBot, populate
from tests.fakes.slack_fake import FakeSlack
from tests.helpers import snapshot

TEAM_B = "T0SECONDTEAM"
NOT_INSTALLED = "T0NOTINSTALLED"

Start = Callable[..., Awaitable[OAuthBot]]


@pytest.fixture
async def oauth(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> AsyncIterator[tuple[FakeSlack, Start]]:
    """A fake Slack app with workspace A (the fake itself) and B, nothing installed yet;
    ``await start(token_rotation=False)`` runs the bot in OAuth mode."""
    started: list[OAuthBot] = []
    async with FakeSlack(strict_tokens=True) as fake:
        populate(fake)
        # In B, Ana is the workspace admin and Olga is not: admin checks must ask B.
        populate(fake.add_team(TEAM_B, team_domain="second-team"), admin=ANA)

        async def start(*, token_rotation: bool = False) -> OAuthBot:
            fake.token_rotation = token_rotation
            bot = OAuthBot(fake, factory, clock, token_rotation=token_rotation)
            await bot.start()
            started.append(bot)
            return bot

        yield fake, start
        for bot in started:
            await bot.stop()


async def _installs(factory: async_sessionmaker[AsyncSession], team: str) -> list[Any]:
    async with factory() as session:
        rows = await session.execute(
            text("SELECT bot_token, bot_refresh_token FROM slack_installations WHERE team_id = :t"),
            {"t": team},
        )
        return list(rows.all())


async def _community_rows(
    factory: async_sessionmaker[AsyncSession], community_id: str
) -> dict[str, int]:
    counts = {}
    async with factory() as session:
        for table in erasure_tables():
            counts[table.name] = int(
                await session.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(table.c.community_id == community_id)
                )
                or 0
            )
    return counts


async def test_two_workspaces_install_and_each_is_served_with_its_own_token(
    oauth: tuple[FakeSlack, Start], factory: async_sessionmaker[AsyncSession]
) -> None:
    fake, start = oauth
    team_b = fake.teams[TEAM_B]
    bot = await start()
    await bot.install(fake, OWNER)
    await bot.install(team_b, ANA)
    token_a, token_b = fake.tokens[fake.team_id].current, fake.tokens[TEAM_B].current
    assert token_a
    assert token_b
    assert token_a != token_b
    assert [r[0] for r in await _installs(factory, fake.team_id)] == [token_a]
    assert [r[0] for r in await _installs(factory, TEAM_B)] == [token_b]
    community_a, community_b = await bot.community(fake), await bot.community(team_b)
    assert community_a is not None
    assert community_b is not None
    assert (community_a.name, community_b.name) == (fake.team_domain, "second-team")

    a, b = bot.workspace(fake), bot.workspace(team_b)
    # Admin rights come from each workspace: Olga administers A, not B; Ana the reverse.
    await b.command(OWNER, SETUP, GENERAL)
    assert "only community admins" in texts((await b.reply())["blocks"])
    await a.set_up_community()
    await b.command(ANA, SETUP, GENERAL)
    assert "Mentorbot is set up" in texts((await b.reply())["blocks"])

    await a.apply(ANA)
    await b.command(BOB, APPLY_INLINE.replace("funded 40", "funded 7"))
    assert "Application sent" in texts((await b.reply())["blocks"])
    assert await a.deliver() == 2  # one application card in each admin channel

    [card_a] = [m for m in fake.messages(ADMIN_CHANNEL) if m.user == fake.bot_user_id]
    [card_b] = [m for m in team_b.messages(ADMIN_CHANNEL) if m.user == team_b.bot_user_id]
    assert "funded 40" in texts(card_a.blocks)
    assert "funded 7" in texts(card_b.blocks)
    # Every call the app made in B carried B's token; none in A did.
    assert team_b.calls
    assert {c.token for c in team_b.calls} == {token_b}
    a_calls = [c for c in fake.calls if c.token not in (token_b, None)]
    assert {c.token for c in a_calls} == {token_a}
    posts = {c.token: c.args["channel"] for c in fake.calls_to("chat.postMessage")}
    assert posts == {token_a: ADMIN_CHANNEL, token_b: ADMIN_CHANNEL}

    # Each sees only its own data: B's admins approve B's applicant, A has none waiting.
    async def statuses() -> dict[str, str]:
        async with factory() as session:
            found = await session.execute(
                select(Community.platform_id, Mentor.status).join(
                    Community, Community.id == Mentor.community_id
                )
            )
            return dict(found.all())

    async def approved() -> bool:
        return (await statuses()).get(TEAM_B) == "active"

    await b.click(ANA, "Approve")
    await b.until(approved)
    assert await statuses() == {fake.team_id: "pending", TEAM_B: "active"}
    assert "funded 7" not in await _answer(a.fake, a.command(OWNER, "browse"))
    assert "funded 7" in await _answer(b.fake, b.command(OWNER, "browse"))


async def test_a_workspace_without_an_installation_is_refused_with_no_effect(
    oauth: tuple[FakeSlack, Start], factory: async_sessionmaker[AsyncSession]
) -> None:
    fake, start = oauth
    elsewhere = fake.add_team(NOT_INSTALLED)
    populate(elsewhere)
    bot = await start()
    await bot.install(fake, OWNER)
    before, calls = await snapshot(factory), len(fake.calls)
    harness = bot.workspace(elsewhere)
    assert await harness.command(OWNER, "help") == {"text": OTHER_WORKSPACE}
    await harness.send("event", elsewhere.event_payload(elsewhere.im_message_event(ANA, "Hi")))
    assert await snapshot(factory) == before
    assert len(fake.calls) == calls
    assert elsewhere.response_posts == []


async def test_a_state_mismatch_or_a_replayed_code_installs_nothing(
    oauth: tuple[FakeSlack, Start], factory: async_sessionmaker[AsyncSession]
) -> None:
    fake, start = oauth
    team_b = fake.teams[TEAM_B]
    bot = await start()
    before = await snapshot(factory)

    # Another browser's state (the cookie is not the one this page set).
    page = await bot.install_page()
    redirect = fake.approve_install(page.authorize_url, team_b, ANA)
    other = await bot.install_page()
    refused = await bot.visit(redirect, other.state)
    assert refused.status == 400
    # No cookie at all, or a state no page issued.
    assert (await bot.visit(redirect, None)).status == 400
    forged = redirect.replace(page.state, "forged-state")
    assert (await bot.visit(forged, "forged-state")).status == 401
    assert await snapshot(factory) == before
    assert fake.calls_to("oauth.v2.access") == []

    # The genuine redirect installs once; the same redirect again is refused (its state
    # is used up), and so is its code with a fresh state (Slack: invalid_code).
    assert (await bot.visit(redirect, page.state)).status == 200
    installed = await _installs(factory, TEAM_B)
    assert len(installed) == 1
    assert (await bot.visit(redirect, page.state)).status == 401
    fresh = await bot.install_page()
    replayed = redirect.replace(page.state, fresh.state)
    assert (await bot.visit(replayed, fresh.state)).status == 401
    assert [c.error for c in fake.calls_to("oauth.v2.access")] == [None, "invalid_code"]
    assert await _installs(factory, TEAM_B) == installed
    assert fake.tokens[TEAM_B].issued == [installed[0][0]]


async def test_an_uninstalled_workspace_stops_and_is_erased_after_the_grace_period(
    oauth: tuple[FakeSlack, Start],
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    fake, start = oauth
    team_b = fake.teams[TEAM_B]
    bot = await start()
    await bot.install(fake, OWNER)
    await bot.install(team_b, ANA)
    a, b = bot.workspace(fake), bot.workspace(team_b)
    await a.set_up_community()
    await b.command(ANA, SETUP, GENERAL)
    await b.reply()
    await a.deliver()
    community_b = await bot.community(team_b)
    assert community_b is not None
    # Applications queued in both, not yet delivered.
    await a.apply(ANA)
    await b.command(BOB, APPLY_INLINE)
    await b.reply()
    kept_a = await snapshot_of(factory, fake)

    await b.send("event", fake.uninstall(team_b))
    await b.until(_uninstalled(factory, TEAM_B))
    assert await _installs(factory, TEAM_B) == []
    async with factory() as session:
        queued_b = (
            await session.execute(
                select(Delivery.status, Delivery.last_error).where(
                    Delivery.community_id == community_b.id, Delivery.status == "cancelled"
                )
            )
        ).all()
    assert set(queued_b) == {("cancelled", "uninstalled")}

    # Its members are refused; A goes on, and only A's card is delivered.
    assert await b.command(BOB, "help") == {"text": OTHER_WORKSPACE}
    b_calls = len(team_b.calls)
    assert await a.deliver() == 1
    assert len(team_b.calls) == b_calls
    assert [m for m in team_b.messages(ADMIN_CHANNEL) if m.user == team_b.bot_user_id] == []

    clock.advance(days=29)
    await bot.app.service.housekeeping()
    assert (await _community_rows(factory, community_b.id))["members"] > 0
    clock.advance(days=2)
    await bot.app.service.housekeeping()
    assert set((await _community_rows(factory, community_b.id)).values()) == {0}
    assert await bot.community(team_b) is None
    # A's data is as it was (its card since delivered).
    assert _without_deliveries(await snapshot_of(factory, fake)) == _without_deliveries(kept_a)


async def test_a_reinstall_within_the_grace_period_keeps_the_community(
    oauth: tuple[FakeSlack, Start],
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    fake, start = oauth
    team_b = fake.teams[TEAM_B]
    bot = await start()
    await bot.install(team_b, ANA)
    b = bot.workspace(team_b)
    await b.command(ANA, SETUP, GENERAL)
    await b.reply()
    before = await bot.community(team_b)
    # tokens_revoked naming the bot's token is an uninstall too.
    await b.send("event", fake.tokens_revoked_event(team_b))
    await b.until(_uninstalled(factory, TEAM_B))

    clock.advance(days=20)
    await bot.install(team_b, ANA)
    after = await bot.community(team_b)
    assert after is not None
    assert before is not None
    assert (after.id, after.uninstalled_at, after.is_set_up) == (before.id, None, True)
    clock.advance(days=20)
    await bot.app.service.housekeeping()
    assert await bot.community(team_b) is not None
    await b.command(OWNER, "help")
    assert "/mentor" in texts((await b.reply())["blocks"])
    assert {c.token for c in team_b.calls[-2:]} == {fake.tokens[TEAM_B].current}


async def test_token_rotation_renews_tokens_with_the_stored_refresh_token(
    oauth: tuple[FakeSlack, Start], factory: async_sessionmaker[AsyncSession]
) -> None:
    fake, start = oauth
    fake.token_lifetime = 3600  # under Bolt's 2 hours: due for renewal at once
    bot = await start(token_rotation=True)
    await bot.install(fake, OWNER)
    [(first, refresh)] = await _installs(factory, fake.team_id)
    assert first.startswith("xoxe.xoxb-")
    assert refresh.startswith("xoxe-1-")
    fake.expire_token(first)

    a = bot.workspace(fake)
    await a.set_up_community()  # Bolt's authorize renews before answering
    renewals = [c for c in fake.calls_to("oauth.v2.access") if c.args.get("grant_type")]
    assert renewals
    assert renewals[0].args["refresh_token"] == refresh
    await a.apply(ANA)
    assert await a.deliver() == 1
    [post] = fake.calls_to("chat.postMessage")
    assert post.ok
    assert post.token != first
    assert post.token in fake.tokens[fake.team_id].issued
    assert not any(c.token == first and c.ok for c in fake.calls if c.method != "auth.test")
    stored = await _installs(factory, fake.team_id)
    assert {row[0] for row in stored} <= set(fake.tokens[fake.team_id].issued)
    assert first not in {row[0] for row in stored}


async def test_the_store_tables_are_the_installed_slack_sdk_s(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    """Migration 0014 made them; a slack_sdk that changes its columns fails here."""
    expected = sqlalchemy.MetaData()
    SQLAlchemyInstallationStore.build_installations_table(expected, "slack_installations")
    SQLAlchemyInstallationStore.build_bots_table(expected, "slack_bots")
    SQLAlchemyOAuthStateStore.build_oauth_states_table(expected, "slack_oauth_states")

    def diff(conn: Connection) -> list[object]:
        def only_stores(name: str | None, type_: str, _parents: object) -> bool:
            return type_ != "table" or name in db.LIBRARY_TABLES

        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": only_stores}
        )
        return list(compare_metadata(context, expected))

    async with factory() as session:
        conn = await session.connection()
        assert await conn.run_sync(diff) == []


# ----- helpers --------------------------------------------------------------------------------


async def _answer(team: FakeSlack, sent: Awaitable[object]) -> str:
    """The text of the next response_url post in ``team`` after ``sent``."""
    seen = len(team.response_posts)
    await sent
    posts = await team.wait_for_response_posts(seen + 1, within=5.0)
    return texts(posts[seen].body.get("blocks"))


def _uninstalled(
    factory: async_sessionmaker[AsyncSession], team: str
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        async with factory() as session:
            found = await session.scalar(
                select(Community.uninstalled_at).where(Community.platform_id == team)
            )
            return found is not None

    return check


async def snapshot_of(
    factory: async_sessionmaker[AsyncSession], team: FakeSlack
) -> dict[str, list[tuple[Any, ...]]]:
    """One workspace's rows in every table holding community data."""
    async with factory() as session:
        community = await session.scalar(
            select(Community.id).where(Community.platform_id == team.team_id)
        )
        found = {}
        for table in erasure_tables():
            rows = await session.execute(
                select(table).where(table.c.community_id == community).order_by(*table.c)
            )
            found[table.name] = [tuple(map(repr, row)) for row in rows]
        return found


def _without_deliveries(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, Any]:
    return {name: found for name, found in rows.items() if name != "deliveries"}


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_one_workspace_mode_records_an_uninstall_and_a_working_token_brings_it_back(
    slack: Slack, factory: async_sessionmaker[AsyncSession], mode: str
) -> None:
    bot = await slack(mode)
    fake = bot.fake
    await bot.set_up_community()
    await bot.apply(ANA)  # its card is queued, not yet delivered
    await bot.send("event", fake.event_payload({"type": "app_uninstalled"}))
    await bot.until(_uninstalled(factory, fake.team_id))
    calls = len(fake.calls)
    assert await bot.command(BOB, "help") == {"text": OTHER_WORKSPACE}
    assert await bot.deliver() == 0  # the card was cancelled with the uninstall
    assert len(fake.calls) == calls
    async with factory() as session:
        cancelled = await session.scalar(
            select(func.count()).where(
                Delivery.status == "cancelled", Delivery.last_error == "uninstalled"
            )
        )
    assert cancelled

    # Reinstalled by hand: the bot restarts with a token that works again.
    await bot.restart()
    community = await bot.app.service.community("slack", fake.team_id)
    assert community is not None
    assert community.uninstalled_at is None
    await bot.command(BOB, "help")
    assert "/mentor" in texts((await bot.reply())["blocks"])
