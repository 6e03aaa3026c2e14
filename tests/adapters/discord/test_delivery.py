"""Effects through the real dispatcher and DiscordPort: retries, permanent failures and the
one-time missing-permission notice."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.effects import DirectMessage, Effect, GrantRole
from core.messages import Message
from core.models import Delivery
from core.service import Mentorbot
from tests.adapters.discord.conftest import ALICE, BOB, BotFactory, World, embed_text
from tests.fakes.discord_fake import Perm

ROLE_GRANT = "/guilds/{g}/members/{u}/roles/{r}"


async def _queue(service: Mentorbot, world: World, *effects: Effect) -> None:
    community = await service.join_community("discord", str(world.id), "Givers")
    async with service.uow() as uow:
        for n, effect in enumerate(effects):
            await uow.outbox.add(community.id, effect, key=f"test:{n}")
        await uow.commit()


async def _deliveries(factory: async_sessionmaker[AsyncSession]) -> list[Delivery]:
    async with factory() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


def _mentor_role(world: World) -> int:
    (role,) = [r for r in world.fake.state.guild(world.id).roles.values() if r["name"] == "Mentor"]
    return int(role["id"])


async def test_a_grant_answered_500_then_429_is_delivered_once(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    fake = world.fake
    async with discord_bot() as bot:
        await _queue(service, world, GrantRole(str(ALICE), "mentor"))
        # discord.py retries a 500 after 1 + 2 * (attempt) seconds: first, so it waits 1 s.
        fake.fail_next("PUT", ROLE_GRANT, status=500)
        fake.fail_next("PUT", ROLE_GRANT, status=429, retry_after=0.05)

        assert await bot.deliver() == 1
        assert await bot.deliver() == 0

    assert [c.status for c in fake.calls_to("PUT", ROLE_GRANT)] == [500, 429, 204]
    assert fake.member_role_ids(world.id, ALICE).count(_mentor_role(world)) == 1
    (delivery,) = await _deliveries(factory)
    assert (delivery.status, delivery.attempts) == ("sent", 1)


async def test_a_grant_that_discord_py_gives_up_on_is_retried_by_the_queue(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> None:
    fake = world.fake
    async with discord_bot() as bot:
        await _queue(service, world, GrantRole(str(ALICE), "mentor"))
        fake.fail_next("PUT", ROLE_GRANT, status=429, retry_after=0.05)
        fake.fail_next("PUT", ROLE_GRANT, status=503)  # not retried by discord.py

        await bot.deliver()
        (waiting,) = await _deliveries(factory)
        assert (waiting.status, waiting.attempts) == ("pending", 1)
        assert "503" in (waiting.last_error or "")
        assert await bot.deliver() == 0  # not due yet
        clock.advance(minutes=5)
        assert await bot.deliver() == 1

    assert [c.status for c in fake.calls_to("PUT", ROLE_GRANT)] == [429, 503, 204]
    assert fake.member_role_ids(world.id, ALICE).count(_mentor_role(world)) == 1
    (sent,) = await _deliveries(factory)
    assert (sent.status, sent.attempts) == ("sent", 2)


async def test_missing_manage_roles_is_reported_once_to_the_admin_channel(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    fake = world.fake
    fake.set_bot_permissions(
        world.id, Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.EMBED_LINKS | Perm.ATTACH_FILES
    )
    async with discord_bot() as bot:
        await bot.set_up()
        await _queue(service, world, GrantRole(str(ALICE), "mentor"), GrantRole(str(BOB), "mentor"))
        await bot.deliver()

    failed = [d for d in await _deliveries(factory) if d.kind == "grant_role"]
    assert [d.status for d in failed] == ["failed", "failed"]
    (notice,) = bot.admin_messages()
    assert "Manage Roles" in embed_text(notice)
    assert not fake.calls_to("PUT", ROLE_GRANT)


async def test_a_member_who_refuses_dms_fails_the_dm_without_an_admin_notice(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    world.fake.add_user(3003, "shy", accepts_dms=False)
    async with discord_bot() as bot:
        await bot.set_up()
        await _queue(service, world, DirectMessage("3003", Message(text="Welcome!")))
        await bot.deliver()
        assert bot.admin_messages() == []
    (dm,) = await _deliveries(factory)
    assert dm.status == "failed"
    assert "does not accept direct messages" in (dm.last_error or "")
