"""Group meetings (reminders, moves, notes, .ics), posts and replies, prompts (F8, F9)."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from core.clock import FakeClock
from core.context import Invocation
from core.models import (
    Delivery,
    GroupPromptUse,
    SupportGroupMeeting,
    SupportGroupPost,
    SupportGroupReply,
)
from core.prompts import shipped
from tests.adapters.console.test_groups import GROUP, ROOM, created, run


async def _meetings(factory: async_sessionmaker[AsyncSession]) -> list[SupportGroupMeeting]:
    async with factory() as session:
        rows = await session.execute(
            select(SupportGroupMeeting).order_by(SupportGroupMeeting.scheduled_at)
        )
        return list(rows.scalars())


async def test_reminders_are_posted_in_the_space_before_each_meeting(
    console: ConsoleBot, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 3, 16, 12, 0, tzinfo=UTC))
    await created(console)
    clock.set(datetime(2026, 3, 17, 19, 0, tzinfo=UTC))  # 24 h before the first meeting
    day_before = await run(console, "advance 1m")
    assert f"[#{ROOM}]" in day_before
    assert any("Reminder: New givers circle meets" in line for line in day_before)
    clock.set(datetime(2026, 3, 18, 18, 0, tzinfo=UTC))  # 1 h before
    hour_before = await run(console, "advance 1m")
    assert any("Reminder: New givers circle meets" in line for line in hour_before)
    clock.set(datetime(2026, 3, 18, 20, 0, tzinfo=UTC))  # it ended: notes prompt, window kept
    after = await run(console, "advance 1m")
    assert any("How did the New givers circle meeting go?" in line for line in after)
    await run(console, "as @fran", "click Record notes")
    await run(console, 'submit topic:Budgets notes:"Good talk" attendees:5')
    meetings = await _meetings(factory=console.service.factory)
    assert (meetings[0].topic, meetings[0].notes, meetings[0].attendee_count) == (
        "Budgets",
        "Good talk",
        5,
    )
    upcoming = [m for m in meetings if m.scheduled_at > clock.now()]
    assert len(upcoming) == 4  # the window moved on


async def test_moving_and_cancelling_one_meeting_moves_its_reminders_and_event(
    console: ConsoleBot, clock: FakeClock, factory: async_sessionmaker[AsyncSession]
) -> None:
    clock.set(datetime(2026, 3, 16, 12, 0, tzinfo=UTC))
    await created(console)
    moved = await run(
        console,
        "as @fran",
        f"/group move-meeting {GROUP} date:2026-03-25 to_date:2026-03-26 to_time:18:30",
    )
    assert any("[event moved]" in line for line in moved)
    assert any("moves to" in line for line in moved)
    await run(console, f"/group cancel-meeting {GROUP} date:2026-04-01")
    assert len(console.port.cancelled_events) == 1
    async with factory() as session:
        pending = (
            await session.execute(
                select(Delivery.idempotency_key, Delivery.due_at).where(
                    Delivery.kind == "group_post", Delivery.status == "pending"
                )
            )
        ).all()
    due = sorted(d for _, d in pending)
    # 26 March 18:30 GMT, reminded 24 h and 1 h before; the old 25 March ones are gone.
    assert datetime(2026, 3, 25, 18, 30, tzinfo=UTC) in due
    assert datetime(2026, 3, 26, 17, 30, tzinfo=UTC) in due
    assert datetime(2026, 3, 24, 19, 0, tzinfo=UTC) not in due
    assert datetime(2026, 3, 31, 18, 0, tzinfo=UTC) not in due  # cancelled 1 April
    bad = await run(console, f"/group move-meeting {GROUP} date:2026-05-01 to_date:x to_time:1")
    assert any("`date`: no upcoming meeting" in line for line in bad)
    skipped = await run(
        console, f"/group move-meeting {GROUP} date:2026-03-18 to_date:2026-03-29 to_time:01:30"
    )
    assert any("`to_time`: 01:30 does not exist" in line for line in skipped)


async def test_the_calendar_file_carries_the_series_rule_in_the_groups_zone(
    console: ConsoleBot, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 3, 16, 12, 0, tzinfo=UTC))
    await created(console)
    await run(console, "as @fran", f"/group cancel-meeting {GROUP} date:2026-03-25")
    await run(console, "as @amy", f"/group info {GROUP}", "click Calendar")
    shown = console.shown[-1].message
    (ics,) = shown.files
    calendar = icalendar.Calendar.from_ical(ics.data)
    (event,) = calendar.walk("VEVENT")
    assert event["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=WE"
    assert event["DTSTART"].params["TZID"] == "Europe/London"
    assert event.decoded("DTSTART").hour == 19
    assert calendar.walk("VTIMEZONE")
    assert b"EXDATE" in ics.data  # the cancelled meeting


async def test_posts_and_thread_replies_are_stored_and_chatter_is_not(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await created(console)
    await run(console, "as @amy", f"/group join {GROUP}")
    await run(console, "as @fran", f'/group post {GROUP} text:"How was your week?" pin:yes')
    await run(console, "as @amy", "in #new-givers-circle just chatting", 'thread "Good, thanks"')
    await run(console, "click Reply", 'submit text:"Also: I gave twice"')
    # Someone outside the group writing in the thread (e.g. an admin) is not kept either.
    thread = next(iter(console.port.threads))
    outsider = Invocation("console", "console", "bob", display_name="bob")
    assert not await console.service.group_thread_reply(outsider, thread, "not kept")
    assert not await console.service.group_thread_reply(outsider, "no-such-thread", "chatter")
    async with factory() as session:
        post = (await session.execute(select(SupportGroupPost))).scalar_one()
        replies = (await session.execute(select(SupportGroupReply.content))).scalars().all()
    assert (post.content, post.is_pinned, post.platform_thread_id) == (
        "How was your week?",
        True,
        post.platform_message_id,
    )
    assert sorted(replies) == ["Also: I gave twice", "Good, thanks"]
    in_thread = [s for s in console.shown if s.channel and "thread" in s.channel]
    assert [s.message.text for s in in_thread] == ["<@amy>: Also: I gave twice"]


async def test_prompts_do_not_repeat_until_the_library_is_used_up(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await created(console)
    library = len(shipped())
    for _ in range(library):
        await run(console, "as @fran", f"/group prompt {GROUP}")
    async with factory() as session:
        posted = (await session.execute(select(SupportGroupPost.prompt_id))).scalars().all()
    assert len(set(posted)) == library
    await run(console, f"/group prompt {GROUP}")  # a new round
    async with factory() as session:
        uses = (await session.execute(select(func.count()).select_from(GroupPromptUse))).scalar()
    assert uses == 1


async def test_a_filter_with_nothing_unseen_left_says_so(console: ConsoleBot) -> None:
    await created(console)
    icebreakers = sum(1 for p in shipped() if p.kind == "icebreaker")
    for _ in range(icebreakers):
        await run(console, "as @fran", f"/group prompt {GROUP} kind:icebreaker")
    out = await run(console, f"/group prompt {GROUP} kind:icebreaker")
    assert any("already seen every icebreaker" in line for line in out)


async def test_a_scheduled_prompt_posts_weekly_once_even_when_housekeeping_repeats(
    console: ConsoleBot, clock: FakeClock, factory: async_sessionmaker[AsyncSession]
) -> None:
    clock.set(datetime(2026, 3, 16, 12, 0, tzinfo=UTC))  # a Monday
    await created(console)
    out = await run(
        console, "as @fran", f"/group prompt-schedule {GROUP} day:monday time:09:00 kind:topic"
    )
    assert any("every Monday at 09:00" in line for line in out)
    clock.set(datetime(2026, 3, 23, 9, 30, tzinfo=UTC))
    await run(console, "advance 1m")
    await console.service.housekeeping()  # a second pass (e.g. after a restart)
    clock.set(datetime(2026, 3, 30, 8, 30, tzinfo=UTC))  # 09:30 BST
    await run(console, "advance 1m")
    async with factory() as session:
        posts = (await session.execute(select(SupportGroupPost.prompt_id))).scalars().all()
    assert len(posts) == 2
    assert all(p and p.startswith("top-") for p in posts)


async def test_a_new_schedule_replaces_the_future_meetings_and_their_events(
    console: ConsoleBot, clock: FakeClock, factory: async_sessionmaker[AsyncSession]
) -> None:
    clock.set(datetime(2026, 3, 16, 12, 0, tzinfo=UTC))
    await created(console)
    out = await run(
        console,
        "as @fran",
        f"/group schedule {GROUP} frequency:biweekly day:friday time:18:00",
    )
    assert any("every other Friday at 18:00" in line for line in out)
    assert len(console.port.cancelled_events) == 4
    meetings = await _meetings(factory)
    scheduled = [m.scheduled_at for m in meetings if m.status == "scheduled"]
    assert scheduled == [
        datetime(2026, 3, 20, 18, 0, tzinfo=UTC),  # 18:00 GMT
        datetime(2026, 4, 3, 17, 0, tzinfo=UTC),  # 18:00 BST
        datetime(2026, 4, 17, 17, 0, tzinfo=UTC),
        datetime(2026, 5, 1, 17, 0, tzinfo=UTC),
    ]
    assert len(console.port.events) == 8
