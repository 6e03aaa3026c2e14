"""Discord shards split between processes: each adapter connects its own shards, gets
only their servers' events and delivers only their servers' effects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.discord.bot import DiscordAdapter, ShardedMentorbotClient
from bot.config import Config, DiscordConfig
from bot.wiring import build_dispatcher
from core.clock import FakeClock
from core.effects import ChannelPost
from core.messages import Message
from core.models import Community
from core.service import Mentorbot
from core.uow import UnitOfWork
from tests.adapters.discord.conftest import embed_text
from tests.fakes.discord_fake import FakeDiscord, FakeGuild

MEMBER = 3001


async def _guilds_on_both_shards(fake: FakeDiscord) -> dict[int, FakeGuild]:
    """Servers until each of 2 shards has one (a snowflake's shard is its millisecond's
    parity); returns shard -> its first server."""
    fake.add_user(MEMBER, "mia")
    found: dict[int, FakeGuild] = {}
    while len(found) < 2:
        guild = fake.add_guild(f"Server {len(fake.state.guilds)}")
        fake.add_member(guild.id, MEMBER, "mia")
        found.setdefault((guild.id >> 22) % 2, guild)
        await asyncio.sleep(0.002)
    return found


@contextlib.asynccontextmanager
async def _shard(
    fake: FakeDiscord, service: Mentorbot, shard_id: int
) -> AsyncIterator[DiscordAdapter]:
    adapter = DiscordAdapter(
        service,
        token="fake-bot-token",
        application_id=None,
        api_base_url=fake.api_base_url,
        gateway_url=fake.gateway_url,
        guild_ready_timeout=0.05,
        shard_count=2,
        shard_ids=[shard_id],
    )
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()


async def test_two_processes_split_the_servers_by_shard(
    fake: FakeDiscord,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    servers = await _guilds_on_both_shards(fake)
    service = Mentorbot(factory, clock)
    async with _shard(fake, service, 0) as first, _shard(fake, service, 1) as second:
        assert isinstance(first.client, ShardedMentorbotClient)
        assert sorted(i["shard"] for i in fake.gateway.identifies) == [[0, 2], [1, 2]]
        for adapter, shard in ((first, 0), (second, 1)):
            ids = {g.id for g in adapter.client.guilds}
            assert ids == {g.id for g in fake.state.guilds.values() if (g.id >> 22) % 2 == shard}
        # Every server got its community, each from the process that serves it.
        async with factory() as session:
            recorded = set((await session.scalars(select(Community.platform_id))).all())
        assert recorded == {str(g) for g in fake.state.guilds}

        # A command in a server on shard 1 reaches (and is answered by) that shard only.
        answer = await fake.interact(fake.slash_command(servers[1].id, MEMBER, "mentor help"))
        assert "/mentor apply" in embed_text(answer)

        # Each process's dispatcher delivers only its own shard's servers' effects.
        channels = {}
        async with UnitOfWork(factory, clock) as uow:
            for shard, guild in servers.items():
                channel = int(fake.add_text_channel(guild.id, "general")["id"])
                channels[shard] = channel
                community = await uow.session.scalar(
                    select(Community).where(Community.platform_id == str(guild.id))
                )
                assert community is not None
                post = ChannelPost(str(channel), Message(text=f"to shard {shard}"))
                await uow.outbox.add(community.id, post, key=f"post-{shard}")
            await uow.commit()
        config = Config(discord=DiscordConfig(shard_count=2, shard_ids=[1]))
        dispatcher = build_dispatcher(factory, {"discord": second.port}, config, clock)
        assert await dispatcher.drain() == 1
        assert [embed_text(m).strip() for m in fake.channel_messages(channels[1])] == ["to shard 1"]
        assert fake.channel_messages(channels[0]) == []
        config = Config(discord=DiscordConfig(shard_count=2, shard_ids=[0]))
        dispatcher = build_dispatcher(factory, {"discord": first.port}, config, clock)
        assert await dispatcher.drain() == 1
        assert [embed_text(m).strip() for m in fake.channel_messages(channels[0])] == ["to shard 0"]
