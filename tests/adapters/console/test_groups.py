"""Support groups on the console (F8): create, join, leave, waitlist, archive, meetings."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from core.clock import FakeClock
from core.models import (
    AuditEntry,
    Delivery,
    SupportGroup,
    SupportGroupMeeting,
    SupportGroupMember,
)
from tests.helpers import snapshot

SETUP = "/admin setup admin_role:Admins admin_channel:mentor-admin default_timezone:Europe/London"
CREATE = (
    '/group create name:"New givers circle" type:new_givers facilitator:@fran '
    "frequency:weekly day:wednesday time:19:00 timezone:Europe/London max_members:3"
)
GROUP = 'group:"New givers circle"'
ROOM = "new-givers-circle"


async def run(console: ConsoleBot, *lines: str) -> list[str]:
    out: list[str] = []
    for line in lines:
        out += await console.say(line)
    assert console.parse_errors == 0, out
    return out


async def created(console: ConsoleBot) -> None:
    await run(console, "as @owner --admin", SETUP, "as @fran", "/mentor help", "as @owner", CREATE)


async def group_row(factory: async_sessionmaker[AsyncSession]) -> SupportGroup:
    async with factory() as session:
        return (await session.execute(select(SupportGroup))).scalar_one()


async def test_a_group_lives_from_creation_to_archive(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await created(console)
    assert console.port.spaces == {ROOM: {"fran"}}
    assert (await group_row(factory)).status == "forming"

    await run(console, "as @amy", "/group list", "click Join")
    await run(console, "as @bob", f"/group join {GROUP}")
    assert console.port.spaces[ROOM] == {"fran", "amy", "bob"}
    assert (await group_row(factory)).status == "full"

    full = await run(console, "as @cat", f"/group join {GROUP}")
    assert any("is full" in line for line in full)
    waiting = await run(console, "click waitlist")
    assert any("place 1" in line for line in waiting)
    assert "cat" not in console.port.spaces[ROOM]

    offered = await run(console, "as @amy", f"/group leave {GROUP}")
    assert "amy" not in console.port.spaces[ROOM]
    assert any("A place is free" in line for line in offered)
    # Nobody jumps the queue while the place is offered.
    jumped = await run(console, "as @dan", f"/group join {GROUP}")
    assert any("is full" in line for line in jumped)
    await run(console, "as @cat", "click Take")
    assert console.port.spaces[ROOM] == {"fran", "bob", "cat"}

    events_before = len(console.port.events)
    assert events_before == 4  # the rolling window
    await run(console, "as @fran", f"/group archive {GROUP}")
    assert ROOM in console.port.archived
    assert len(console.port.cancelled_events) == events_before
    group = await group_row(factory)
    assert group.status == "archived"
    async with factory() as session:
        reminders = (
            (await session.execute(select(Delivery).where(Delivery.kind == "group_post")))
            .scalars()
            .all()
        )
        meetings = (await session.execute(select(SupportGroupMeeting))).scalars().all()
    assert reminders
    assert {r.status for r in reminders} == {"cancelled"}
    assert {m.status for m in meetings} == {"cancelled"}
    listed = await run(console, "as @amy", "/group list")
    assert any("No support groups match" in line for line in listed)
    refused = await run(console, "as @amy", f"/group join {GROUP}")
    assert any("is archived" in line for line in refused)


async def test_an_unanswered_offer_passes_to_the_next_in_line(
    console: ConsoleBot, clock: FakeClock, factory: async_sessionmaker[AsyncSession]
) -> None:
    await created(console)
    await run(console, "as @amy", f"/group join {GROUP}", "as @bob", f"/group join {GROUP}")
    await run(console, "as @cat", f"/group join {GROUP}", "click waitlist")
    clock.advance(minutes=1)
    second = await run(console, "as @dan", f"/group join {GROUP}", "click waitlist")
    assert any("place 2" in line for line in second)
    await run(console, "as @amy", f"/group leave {GROUP}")
    clock.advance(hours=25)
    out = await run(console, "advance 1m")
    assert any("[DM → @cat]" in line for line in out)  # told the offer lapsed
    assert any("[DM → @dan]" in line for line in out)  # and dan is offered the place
    late = await run(console, "as @cat", "click Take")
    assert any("expired" in line for line in late), late
    await run(console, "as @dan", "click Take")
    assert "dan" in console.port.spaces[ROOM]


async def test_a_private_group_is_unlisted_and_asks_its_facilitator(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await run(console, "as @owner --admin", SETUP, "as @fran", "/mentor help", "as @owner")
    await run(console, CREATE.replace("max_members:3", "private:yes"))
    listed = await run(console, "as @amy", "/group list")
    assert not any("New givers" in line for line in listed)
    asked = await run(console, f"/group join {GROUP}")
    assert any("facilitator has been asked" in line for line in asked)
    await run(console, "as @fran", "click Approve")
    assert "amy" in console.port.spaces[ROOM]


async def test_the_facilitator_removes_a_member_with_a_reason_in_the_audit_log(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await created(console)
    await run(console, "as @amy", f"/group join {GROUP}")
    await run(console, "as @fran", f'/group remove {GROUP} member:@amy reason:"Asked to leave"')
    assert "amy" not in console.port.spaces[ROOM]
    async with factory() as session:
        entry = (
            await session.execute(
                select(AuditEntry).where(AuditEntry.action == "group.remove_member")
            )
        ).scalar_one()
        row = (
            await session.execute(
                select(SupportGroupMember).where(SupportGroupMember.status == "removed")
            )
        ).scalar_one()
    assert entry.details["reason"] == "Asked to leave"
    assert row.role == "member"


BAD = [
    (CREATE.replace('"New givers circle"', '"!!!"'), "`name`: must contain letters"),
    (CREATE.replace('"New givers circle"', '"   "'), "`name`"),
    (CREATE.replace('"New givers circle"', '"' + "x" * 81 + '"'), "`name`"),
    (CREATE.replace("max_members:3", "max_members:51"), "`max_members`: must be a whole number"),
    (CREATE.replace("max_members:3", "max_members:1"), "`max_members`"),
    (CREATE.replace("@fran", "@stranger"), "`facilitator`: must be a member"),
    (CREATE.replace("time:19:00", "time:25:00"), "`time`: must be a time of day"),
    (CREATE.replace("day:wednesday", "day:funday"), "`day`: must be one of"),
    (CREATE.replace("Europe/London", "Mars/Olympus"), "`timezone`: must be an IANA timezone"),
    (CREATE.replace("frequency:weekly", "frequency:monthly"), "`week`: a monthly meeting"),
    (CREATE.replace("type:new_givers", "type:chess"), "`type`: must be one of"),
]


async def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await run(console, "as @owner --admin", SETUP, "as @fran", "/mentor help", "as @owner")
    before = await snapshot(factory)
    for line, expected in BAD:
        out = await run(console, line)
        assert any(expected in o for o in out), (line, out)
    assert await snapshot(factory) == before


async def test_membership_mistakes_are_refused_privately(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await created(console)
    await run(console, "as @amy", f"/group join {GROUP}")
    before = await snapshot(factory)
    twice = await run(console, f"/group join {GROUP}")
    assert any("already in" in line for line in twice)
    post = await run(console, f"/group post {GROUP} text:hello")
    assert any("only its facilitator" in line for line in post)
    not_in = await run(console, "as @bob", f"/group leave {GROUP}")
    assert any("not in" in line for line in not_in)
    unknown = await run(console, '/group join group:"No such group"')
    assert any("doesn't exist" in line for line in unknown)
    remove = await run(console, f"/group remove {GROUP} member:@amy reason:because")
    assert any("only the group's facilitator or an admin" in line for line in remove)
    assert await snapshot(factory) == before


async def test_meetings_stay_at_local_time_across_the_clock_change(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    clock.set(datetime(2026, 3, 16, 12, 0, tzinfo=UTC))  # clocks go forward on 29 March
    await created(console)
    async with factory() as session:
        meetings = (
            (
                await session.execute(
                    select(SupportGroupMeeting).order_by(SupportGroupMeeting.scheduled_at)
                )
            )
            .scalars()
            .all()
        )
    starts = [m.scheduled_at for m in meetings]
    assert starts == [
        datetime(2026, 3, 18, 19, 0, tzinfo=UTC),  # 19:00 GMT
        datetime(2026, 3, 25, 19, 0, tzinfo=UTC),  # 19:00 GMT
        datetime(2026, 4, 1, 18, 0, tzinfo=UTC),  # 19:00 BST
        datetime(2026, 4, 8, 18, 0, tzinfo=UTC),  # 19:00 BST
    ]


async def test_a_time_the_clock_change_skips_is_moved_and_said(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    clock.set(datetime(2026, 3, 16, 12, 0, tzinfo=UTC))
    await run(console, "as @owner --admin", SETUP, "as @fran", "/mentor help", "as @owner")
    out = await run(
        console, CREATE.replace("day:wednesday", "day:sunday").replace("time:19:00", "time:01:30")
    )
    assert any("01:30 does not exist in Europe/London on 2026-03-29" in line for line in out)
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
    # 22 March 01:30 GMT; 29 March 01:30 does not exist: 02:30 BST (01:30 UTC); then 01:30 BST.
    assert starts[:3] == [
        datetime(2026, 3, 22, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2026, 4, 5, 0, 30, tzinfo=UTC),
    ]
    assert len(starts) == 4  # nothing dropped
