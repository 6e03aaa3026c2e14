"""Support-group rules in the core: ids from elsewhere, archived groups, a failed space."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from core.actions import action_id
from core.clock import FakeClock
from core.context import Invocation
from core.errors import Conflict, NotAllowed, NotFound
from core.models import (
    Delivery,
    SupportGroup,
    SupportGroupMeeting,
    SupportGroupMember,
    SupportGroupPost,
)
from core.ports import PermanentFailure
from core.service import Mentorbot
from tests.helpers import snapshot

GROUP = {
    "name": "Lenders",
    "type": "loan_funders",
    "facilitator": "fay",
    "frequency": "monthly",
    "week": "last",
    "day": "thursday",
    "time": "7pm",
    "timezone": "America/New_York",
    "max_members": 2,
}


def _inv(community: str, user: str, *, admin: bool = False) -> Invocation:
    return Invocation("console", community, user, user, is_platform_admin=admin)


@pytest.fixture
async def bot(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> Mentorbot:
    service = Mentorbot(factory, clock)
    for guild in ("guild-a", "guild-b"):
        owner = _inv(guild, "owner", admin=True)
        await service.execute(owner, "admin setup", {"admin_role": "A", "admin_channel": "a"})
        await service.execute(_inv(guild, "fay"), "mentor help", {})
        await service.execute(owner, "group create", GROUP)
    return service


async def _rows(factory: async_sessionmaker[AsyncSession], guild: str) -> tuple[str, str, str]:
    """(group id, a meeting id, the facilitator's membership id) of ``guild``'s group."""
    async with factory() as session:
        group = (
            (
                await session.execute(
                    select(SupportGroup)
                    .where(SupportGroup.description == "")
                    .order_by(SupportGroup.created_at)
                )
            )
            .scalars()
            .all()
        )
        chosen = group[0] if guild == "guild-a" else group[1]
        meeting = (
            (
                await session.execute(
                    select(SupportGroupMeeting.id).where(SupportGroupMeeting.group_id == chosen.id)
                )
            )
            .scalars()
            .first()
        )
        row = (
            await session.execute(
                select(SupportGroupMember.id).where(SupportGroupMember.group_id == chosen.id)
            )
        ).scalar_one()
    assert meeting is not None
    return chosen.id, meeting, row


async def test_a_monthly_schedule_meets_on_the_last_weekday(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with factory() as session:
        starts = (
            (
                await session.execute(
                    select(SupportGroupMeeting.scheduled_at).order_by(
                        SupportGroupMeeting.scheduled_at
                    )
                )
            )
            .scalars()
            .all()
        )
    # January 2026's last Thursday is the 29th: 19:00 EST is 00:00 UTC the next day.
    assert starts[0].isoformat() == "2026-01-30T00:00:00+00:00"


async def test_ids_of_another_communitys_group_are_refused_and_change_nothing(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    group_b, meeting_b, row_b = await _rows(factory, "guild-b")
    before = await snapshot(factory)
    someone = _inv("guild-a", "amy")
    admin = _inv("guild-a", "owner", admin=True)
    for presser, custom_id in (
        (someone, action_id("gjoin", group_b)),
        (someone, action_id("gwait", group_b)),
        (someone, action_id("gics", group_b)),
        (someone, action_id("gtake", row_b, "1")),
        (admin, action_id("gapprove", row_b, "1")),
        (admin, action_id("gnotes", meeting_b)),
    ):
        with pytest.raises(NotFound):
            await bot.press(presser, custom_id)
    with pytest.raises(NotFound):
        await bot.submit(admin, action_id("gnotes", meeting_b), {"notes": "x"})
    with pytest.raises(NotFound):
        await bot.execute(someone, "group join", {"group": group_b})
    assert await snapshot(factory) == before


async def test_only_the_offered_member_takes_a_place_and_archived_groups_refuse(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    group_a, _, fay_row = await _rows(factory, "guild-a")
    with pytest.raises(NotAllowed):
        await bot.press(_inv("guild-a", "amy"), action_id("gtake", fay_row, "1"))
    await bot.execute(_inv("guild-a", "fay"), "group archive", {"group": "Lenders"})
    before = await snapshot(factory)
    for path, options in (
        ("group post", {"group": "Lenders", "text": "hello"}),
        ("group prompt", {"group": "Lenders"}),
        ("group remove", {"group": "Lenders", "member": "amy", "reason": "because"}),
        ("group archive", {"group": "Lenders"}),
    ):
        with pytest.raises(Conflict, match="archived"):
            await bot.execute(_inv("guild-a", "fay"), path, options)
    with pytest.raises(Conflict, match="archived"):
        await bot.press(_inv("guild-a", "amy"), action_id("gjoin", group_a))
    assert await snapshot(factory) == before


async def test_a_space_the_platform_refused_leaves_the_group_retryable(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    console.port.fail_next(PermanentFailure("Missing Access", missing_permission="Manage Channels"))
    for line in (
        "as @owner --admin",
        # Badges off: the facilitator's badge role would be the first effect to fail.
        "/admin setup admin_role:A admin_channel:admins badges:no",
        "as @fay",
        "/mentor help",
        "as @owner",
        "/group create name:Lenders type:loan_funders facilitator:@fay frequency:weekly "
        "day:monday time:18:00 timezone:UTC",
        "as @amy",
        "/group join group:Lenders",
        "as @fay",
        '/group post group:Lenders text:"Welcome"',
    ):
        await console.handle(line)
    assert console.port.spaces == {}
    async with factory() as session:
        failed = (
            await session.execute(select(Delivery).where(Delivery.status == "failed"))
        ).scalar_one()
        group = (await session.execute(select(SupportGroup))).scalar_one()
        post = (await session.execute(select(SupportGroupPost))).scalar_one()
    assert failed.kind == "create_space"
    assert (group.status, group.channel_id, post.platform_thread_id) == ("forming", None, None)
    # The group works meanwhile; once an admin retries, the space comes with everyone in
    # it and what waited for it (the member, the post) follows.
    await console.handle("as @owner")
    await console.handle("/admin deliveries")
    await console.handle("click Retry")
    await console.handle("advance 1m")
    assert console.port.spaces == {"lenders": {"fay", "amy"}}
    async with factory() as session:
        post = (await session.execute(select(SupportGroupPost))).scalar_one()
    assert post.platform_thread_id is not None
