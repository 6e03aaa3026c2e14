"""Start-up: minimal intents, READY, communities for joined servers, a welcome note, and
app commands synced only when the catalog changed (or when asked)."""

from __future__ import annotations

import discord
import discord.gateway
import discord.http
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.discord.bot import DiscordAdapter
from adapters.discord.sync import state_key
from core.catalog import Catalog
from core.clock import FakeClock
from core.commands import CATALOG
from core.service import Mentorbot
from core.state import read_state
from tests.adapters.discord.conftest import OWNER, BotFactory, World, embed_of
from tests.fakes.discord_fake import FakeDiscord

GLOBAL_COMMANDS = "/applications/{app}/commands"


async def test_start_identifies_with_minimal_intents_and_records_the_server(
    discord_bot: BotFactory, world: World, service: Mentorbot
) -> None:
    async with discord_bot() as bot:
        assert bot.adapter.client.is_ready()
        (identify,) = world.fake.identifies
        minimal = discord.Intents(guilds=True, dm_messages=True, dm_reactions=True)
        assert identify["intents"] == minimal.value
        welcome = await world.fake.wait_for_call("POST", "/channels/{c}/messages", ok=True)
        community = await service.community("discord", str(world.id))
    assert community is not None
    assert community.name == "Givers"
    assert not community.is_set_up
    assert welcome.json["embeds"][0]["title"] == "Thanks for adding Mentorbot"
    assert "/admin setup" in welcome.json["embeds"][0]["description"]
    assert welcome.path == f"/channels/{world.general}/messages"  # the first channel


async def test_joining_a_server_creates_its_community_and_greets_it_once(
    discord_bot: BotFactory, world: World, service: Mentorbot
) -> None:
    fake = world.fake
    later = fake.add_guild("Lenders", owner_id=OWNER, joined=False)
    lobby = int(fake.add_text_channel(later.id, "lobby")["id"])
    async with discord_bot():
        await fake.join_guild(later.id)
        greeting = await fake.wait_for_call("POST", f"/channels/{lobby}/messages", ok=True)
        assert await service.community("discord", str(later.id)) is not None
    assert embed_of(greeting.json)["title"] == "Thanks for adding Mentorbot"
    async with discord_bot():  # known servers are not greeted again after a restart
        pass
    assert len(fake.calls_to("POST", f"/channels/{lobby}/messages")) == 1


async def test_a_server_with_no_channel_to_post_in_gets_the_note_in_the_owners_dms(
    discord_bot: BotFactory, fake: FakeDiscord, world: World
) -> None:
    quiet = fake.add_guild("Quiet", owner_id=OWNER, joined=False)
    async with discord_bot():
        await fake.join_guild(quiet.id)
        await fake.wait_for_call("POST", "/channels/{c}/messages", ok=True, count=2)
    (note,) = fake.dm_messages(OWNER)
    assert embed_of(note)["title"] == "Thanks for adding Mentorbot"


async def test_commands_are_synced_only_when_the_catalog_changed(
    discord_bot: BotFactory,
    world: World,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    fake = world.fake
    async with discord_bot() as bot:
        application_id = fake.application_id
        assert len(fake.calls_to("PUT", GLOBAL_COMMANDS, ok=True)) == 1
        assert await bot.adapter.sync_commands() is False
    async with discord_bot():
        pass
    assert len(fake.calls_to("PUT", GLOBAL_COMMANDS)) == 1
    stored = await read_state(factory, state_key(application_id, None))
    assert stored is not None
    assert stored["commands"] == len(CATALOG.groups)

    fewer = Catalog([c for c in CATALOG if c.path != "admin audit"])
    changed = DiscordAdapter(
        Mentorbot(factory, clock, catalog=fewer),
        token="fake-bot-token",
        application_id=str(application_id),
        api_base_url=fake.api_base_url,
        gateway_url=fake.gateway_url,
        guild_ready_timeout=0.05,
    )
    await changed.start()
    await changed.stop()
    assert len(fake.calls_to("PUT", GLOBAL_COMMANDS, ok=True)) == 2
    admin = next(c for c in fake.commands() if c["name"] == "admin")
    assert "audit" not in {o["name"] for o in admin["options"]}


async def test_discord_sync_forces_a_sync_to_one_server_without_connecting(
    world: World, service: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    fake = world.fake
    adapter = DiscordAdapter(
        service,
        token="fake-bot-token",
        application_id=None,
        api_base_url=fake.api_base_url,
        gateway_url=fake.gateway_url,
    )
    try:
        assert await adapter.sync_commands(str(world.id), force=True) is True
        assert await adapter.sync_commands(str(world.id)) is False
        assert await adapter.sync_commands(str(world.id), force=True) is True
    finally:
        await adapter.stop()
    assert not fake.identifies
    assert len(fake.calls_to("PUT", "/applications/{app}/guilds/{g}/commands", ok=True)) == 2
    assert {c["name"] for c in fake.commands(world.id)} == set(CATALOG.groups)
    assert not fake.commands()  # nothing global
    assert await read_state(factory, state_key(fake.application_id, str(world.id))) is not None


async def test_the_adapter_points_discord_py_at_its_own_urls(service: Mentorbot) -> None:
    original = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    try:
        async with FakeDiscord(patch_discord_py=False) as fake:
            fake.add_guild("Elsewhere")
            adapter = DiscordAdapter(
                service,
                token="fake-bot-token",
                application_id=None,
                api_base_url=fake.api_base_url + "/",
                gateway_url=fake.gateway_url,
                guild_ready_timeout=0.05,
            )
            await adapter.start()
            await adapter.stop()
            assert fake.api_base_url == discord.http.Route.BASE
            assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
            assert len(fake.identifies) == 1
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = original
