"""Processes sharing the queue claim only what they can deliver: their platforms' effects
and, with Discord shards, those of their own shards' servers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config, DiscordConfig
from bot.wiring import build_dispatcher
from core.clock import FakeClock
from core.delivery import Dispatcher
from core.effects import DirectMessage
from core.messages import Message
from core.models import Delivery
from core.queue import ClaimScope
from core.service import Mentorbot
from core.uow import UnitOfWork
from tests.core.delivery_kit import recording_port


def _guild_on_shard(shard: int, count: int, n: int) -> str:
    """A snowflake whose Discord shard is ``shard`` of ``count``."""
    return str(((1000 + n) * count + shard) << 22 | n)


async def _queue_one_dm_each(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, places: list[tuple[str, str]]
) -> None:
    service = Mentorbot(factory, clock)
    communities = [await service.join_community(p, pid, pid) for p, pid in places]
    async with UnitOfWork(factory, clock) as uow:
        for (platform, platform_id), community in zip(places, communities, strict=True):
            effect = DirectMessage("u1", Message(text=f"{platform}:{platform_id}"))
            await uow.outbox.add(community.id, effect, key=f"k-{platform}-{platform_id}")
        await uow.commit()


async def _pending(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return len(
            (await session.scalars(select(Delivery.id).where(Delivery.status == "pending"))).all()
        )


async def test_a_dispatcher_takes_only_its_platforms_and_its_discord_shards(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    shard_0 = [_guild_on_shard(0, 3, n) for n in range(2)]
    shard_2 = [_guild_on_shard(2, 3, n) for n in range(2)]
    places = [("discord", g) for g in shard_0 + shard_2]
    places += [("console", "c1"), ("slack", "T1")]
    await _queue_one_dm_each(factory, clock, places)
    console, shown_console = recording_port()
    discord, shown_discord = recording_port()
    ports = {"console": console, "discord": discord}
    # This process runs Discord shards 1 and 2 of 3, and the console; no Slack.
    scoped = Dispatcher(
        factory, ports, clock, scope=ClaimScope(("console", "discord"), (3, (1, 2)))
    )
    assert await scoped.drain() == 3
    assert sorted(s.message.text for s in shown_discord) == sorted(f"discord:{g}" for g in shard_2)
    assert [s.message.text for s in shown_console] == ["console:c1"]
    # Shard 0's servers and the Slack workspace are left to the processes that serve them.
    assert await _pending(factory) == 3
    other = Dispatcher(
        factory, {"discord": discord}, clock, scope=ClaimScope(("discord",), (3, (0,)))
    )
    assert await other.drain() == 2
    assert await _pending(factory) == 1  # Slack's: no process here runs Slack


async def test_all_shards_in_one_process_take_every_discord_server(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _queue_one_dm_each(
        factory, clock, [("discord", _guild_on_shard(s, 2, 0)) for s in (0, 1)]
    )
    discord, shown = recording_port()
    scope = ClaimScope(("discord",), (2, (0, 1)))
    assert " % " not in scope.condition()  # no shard arithmetic when nothing is excluded
    assert await Dispatcher(factory, {"discord": discord}, clock, scope=scope).drain() == 2
    assert len(shown) == 2


def test_run_s_dispatcher_is_scoped_by_its_ports_and_configured_shards(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    port, _ = recording_port()
    config = Config(discord=DiscordConfig(shard_count=4, shard_ids=[3, 1]))
    dispatcher = build_dispatcher(factory, {"discord": port, "slack": port}, config, clock)
    assert dispatcher.scope == ClaimScope(("discord", "slack"), (4, (1, 3)))
    unsharded = build_dispatcher(factory, {"console": port}, Config(), clock)
    assert unsharded.scope == ClaimScope(("console",), None)
