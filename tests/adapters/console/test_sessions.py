"""Sessions (F7) on the console: schedule → told with own times and an .ics → reminders at
their moments → reschedule (no old reminder) → cancel → complete and no-show; daylight
saving, a restart, workshops, check-ins, free times and the feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from bot.config import Config
from bot.wiring import build_console
from core import db
from core.clock import FakeClock
from core.context import Invocation
from core.errors import UserError
from core.models import Delivery, Member, MentorSession, Mentorship
from tests.adapters.console.test_issue8_core import _connected
from tests.helpers import snapshot

SCHEDULE = (
    '/session schedule person:@alice title:"Budget review" when:"2026-01-08 18:30" '
    "link:https://meet.example/abc"
)


async def _session(factory: async_sessionmaker[AsyncSession]) -> MentorSession:
    async with factory() as s:
        return (
            (await s.execute(select(MentorSession).order_by(MentorSession.created_at)))
            .scalars()
            .all()[-1]
        )


def _calendars(console: ConsoleBot, user: str) -> list[Calendar]:
    return [
        Calendar.from_ical(f.data)
        for shown in console.shown
        if shown.audience == user and shown.where == "dm"
        for f in shown.message.files
        if f.name.endswith(".ics")
    ]


def _reminders(console: ConsoleBot) -> list[tuple[str | None, str]]:
    return [
        (s.audience, s.message.text)
        for s in console.shown
        if s.where == "dm" and (s.message.title or "").startswith("Reminder:")
    ]


async def test_both_are_told_in_their_own_zone_with_a_calendar_file(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _connected(console)  # alice (Europe/Madrid) mentors dave (Europe/London)

    out = "\n".join(await console.say(SCHEDULE))

    assert "[DM → @dave]" in out
    assert "[DM → @alice]" in out
    assert "Thursday, 08 January 2026 18:30 GMT" in out  # dave's zone
    assert "Thursday, 08 January 2026 19:30 CET" in out  # alice's zone
    session = await _session(factory)
    assert session.scheduled_at == datetime(2026, 1, 8, 18, 30, tzinfo=UTC)
    for user in ("dave", "alice"):
        (calendar,) = _calendars(console, user)
        assert calendar["METHOD"] == "REQUEST"
        (event,) = calendar.walk("VEVENT")
        assert str(event["UID"]) == f"session-{session.id}@mentorbot"
        assert event["SEQUENCE"] == 1
        assert event.decoded("DTSTART") == datetime(2026, 1, 8, 18, 30, tzinfo=UTC)
        assert event.decoded("DTEND") == datetime(2026, 1, 8, 19, 30, tzinfo=UTC)
        assert str(event["SUMMARY"]) == "Budget review"
        assert str(event["URL"]) == "https://meet.example/abc"


async def test_a_member_who_has_not_acted_in_this_console_is_told_in_their_own_zone(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _connected(console)  # alice (Europe/Madrid) mentors dave (Europe/London)
    # A console started afresh on the same database: alice has not acted in it, so her
    # zone is read from her member row when a DM to her is shown.
    fresh = build_console(factory, Config(), clock=clock)
    await fresh.handle("as @dave")

    out = "\n".join(await fresh.say(SCHEDULE))

    assert "[DM → @alice]" in out
    assert "Thursday, 08 January 2026 19:30 CET" in out  # alice's zone
    assert "Thursday, 08 January 2026 18:30 GMT" in out  # dave's zone


async def test_reminders_arrive_at_their_moments_in_each_readers_zone(
    console: ConsoleBot, clock: FakeClock
) -> None:
    await _connected(console)
    await console.handle(SCHEDULE)  # 2026-01-08 18:30 UTC; the clock is at 01-05 12:00

    clock.set(datetime(2026, 1, 7, 18, 29, tzinfo=UTC))
    await console.deliver()
    assert _reminders(console) == []

    out = "\n".join(await console.say("advance 1m"))  # 24 h before, to the minute
    assert sorted(user or "" for user, _ in _reminders(console)) == ["alice", "dave"]
    assert "19:30 CET" in out
    assert "18:30 GMT" in out
    assert "https://meet.example/abc" in out
    assert "[Reschedule] [Cancel session]" in out

    await console.say("advance 23h45m")  # 15 min before
    assert len(_reminders(console)) == 4


async def test_a_rescheduled_session_never_sends_an_old_reminder(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _connected(console)
    await console.handle(SCHEDULE)
    await console.handle("as @alice")

    assert any("[form → @alice]" in line for line in await console.say("click Reschedule"))
    out = "\n".join(await console.say('submit when:"2026-01-10 11:00"'))  # alice: Madrid

    assert "Session moved: Budget review" in out
    assert "Saturday, 10 January 2026 10:00 GMT" in out
    session = await _session(factory)
    assert (session.scheduled_at, session.version) == (datetime(2026, 1, 10, 10, tzinfo=UTC), 2)
    (_, moved) = _calendars(console, "dave")
    assert moved["METHOD"] == "REQUEST"
    assert moved.walk("VEVENT")[0]["SEQUENCE"] == 2

    # Past both old moments (01-07 18:30 and 01-08 18:15): nothing.
    clock.set(datetime(2026, 1, 8, 20, 0, tzinfo=UTC))
    await console.deliver()
    assert _reminders(console) == []
    # The new ones, 24 h and 15 min before 01-10 10:00.
    clock.set(datetime(2026, 1, 9, 10, 0, tzinfo=UTC))
    await console.deliver()
    assert len(_reminders(console)) == 2
    clock.set(datetime(2026, 1, 10, 9, 45, tzinfo=UTC))
    await console.deliver()
    assert len(_reminders(console)) == 4
    async with factory() as s:
        old = (
            await s.execute(
                select(Delivery.status).where(
                    Delivery.kind == "reminder", Delivery.due_at < datetime(2026, 1, 9, tzinfo=UTC)
                )
            )
        ).scalars()
        assert set(old) == {"cancelled"}


async def test_a_cancelled_session_reminds_nobody_and_the_other_is_told(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _connected(console)
    await console.handle(SCHEDULE)

    out = "\n".join(await console.say("click Cancel session"))  # dave cancels

    assert "[DM → @alice]" in out
    assert "@dave cancelled this session." in out
    cancel = _calendars(console, "alice")[-1]
    assert cancel["METHOD"] == "CANCEL"
    assert cancel.walk("VEVENT")[0]["STATUS"] == "CANCELLED"
    assert cancel.walk("VEVENT")[0]["SEQUENCE"] == 2
    # Pressed again: told privately, nothing changes.
    before = await snapshot(factory)
    again = "\n".join(await console.say("click Cancel session"))
    assert "already cancelled" in again
    assert await snapshot(factory) == before
    clock.set(datetime(2026, 1, 9, tzinfo=UTC))
    await console.deliver()
    assert _reminders(console) == []


async def test_complete_with_notes_and_mark_a_no_show(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _connected(console)
    await console.handle(SCHEDULE)
    first = await _session(factory)
    early = "\n".join(await console.say(f'/session complete session:{first.id} notes:"Went well"'))
    assert "has not started yet" in early

    clock.set(datetime(2026, 1, 8, 19, 35, tzinfo=UTC))
    out = "\n".join(
        await console.say(
            f'/session complete session:{first.id} notes:"Budget done" feedback:"Clear and kind"'
        )
    )
    assert "Marked as held" in out
    assert "[DM → @alice]" in out
    await console.handle(
        '/session schedule person:@alice title:"Follow-up" when:"2026-01-09 18:30"'
    )
    second = await _session(factory)
    clock.set(datetime(2026, 1, 9, 19, 0, tzinfo=UTC))
    out = "\n".join(await console.say(f"/session no-show session:{second.id} person:@alice"))
    assert "did not come" in out
    async with factory() as s:
        done = await s.get(MentorSession, first.id)
        missed = await s.get(MentorSession, second.id)
        assert done is not None
        assert missed is not None
        assert (done.status, done.notes, done.feedback) == (
            "completed",
            "Budget done",
            "Clear and kind",
        )
        alice = (
            await s.execute(select(Member.id).where(Member.platform_user_id == "alice"))
        ).scalar_one()
        assert (missed.status, missed.no_show_id) == ("no_show", alice)


async def test_daylight_saving_keeps_the_wall_clock_and_the_reminder_24_real_hours_before(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _connected(console)  # dave's zone: Europe/London
    # Scheduled on 20 October (BST, UTC+1) for 25 October 18:30, after the clocks go back
    # at 02:00 BST that morning (GMT, UTC+0).
    clock.set(datetime(2026, 10, 20, 12, 0, tzinfo=UTC))
    out = "\n".join(
        await console.say(
            '/session schedule person:@alice title:"After the change" when:"2026-10-25 18:30"'
        )
    )
    assert "Sunday, 25 October 2026 18:30 GMT" in out
    session = await _session(factory)
    assert session.scheduled_at == datetime(2026, 10, 25, 18, 30, tzinfo=UTC)
    async with factory() as s:
        dues = sorted(
            (
                await s.execute(
                    select(Delivery.due_at).where(
                        Delivery.kind == "reminder", Delivery.destination == "user:dave"
                    )
                )
            ).scalars()
        )
    assert dues[0] == session.scheduled_at - timedelta(hours=24)  # 19:30 BST on the 24th
    clock.set(dues[0] - timedelta(minutes=1))
    await console.deliver()
    assert _reminders(console) == []
    out = "\n".join(await console.say("advance 1m"))
    assert [u for u, _ in _reminders(console)] == ["dave", "alice"]
    assert "Your session starts in 24 h." in out
    assert "Sunday, 25 October 2026 18:30 GMT" in out


async def test_a_reminder_survives_a_restart_and_arrives_exactly_once(
    database_url: str, clock: FakeClock
) -> None:
    engine = db.create_engine(database_url)
    first = build_console(db.session_factory(engine), Config(), clock=clock)
    await _connected(first)
    await first.handle(SCHEDULE)
    await engine.dispose()  # the process stops; only the database remains

    clock.set(datetime(2026, 1, 7, 18, 30, tzinfo=UTC))
    engine = db.create_engine(database_url)
    try:
        second = build_console(db.session_factory(engine), Config(), clock=clock)
        await second.deliver()
        await second.deliver()
        assert sorted(u or "" for u, _ in _reminders(second)) == ["alice", "dave"]
        assert _reminders(first) == []
    finally:
        await engine.dispose()


async def test_a_reminder_made_for_an_older_version_is_dropped_at_send_time(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """Even a reminder that escaped being cancelled (say, claimed by another process at
    that moment) is never sent once its session moved."""
    await _connected(console)
    await console.handle(SCHEDULE)
    await console.handle(
        f'/session reschedule session:{(await _session(factory)).id} when:"2026-01-20 18:30"'
    )
    async with factory() as s, s.begin():
        for row in (
            await s.execute(select(Delivery).where(Delivery.status == "cancelled"))
        ).scalars():
            row.status = "pending"
    clock.set(datetime(2026, 1, 9, tzinfo=UTC))
    await console.deliver()
    assert _reminders(console) == []
    async with factory() as s:
        stale = (
            await s.execute(
                select(Delivery.status, Delivery.last_error).where(
                    Delivery.kind == "reminder", Delivery.due_at < datetime(2026, 1, 9, tzinfo=UTC)
                )
            )
        ).all()
    assert stale
    assert all(status == "cancelled" for status, _ in stale)
    assert all("moved, cancelled or held" in (error or "") for _, error in stale)


BAD = {
    'when:"2026-01-01 10:00"': "`when`: must be in the future",
    'when:"2028-01-01 10:00"': "`when`: must be at most 365 days ahead",
    'when:"next blursday"': "`when`: “next blursday” is not a date and time",
    'when:"tomorrow 18:30" duration:14': "`duration`: must be a whole number from 15 to 480",
    'when:"tomorrow 18:30" duration:481': "`duration`: must be a whole number from 15 to 480",
    'when:"tomorrow 18:30" link:javascript:alert(1)': "`link`: must be a web link",
    'when:"tomorrow 18:30" description:' + "x" * 1001: "`description`: must be at most 1000",
}


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _connected(console)
    before = await snapshot(factory)
    for rest, expected in BAD.items():
        out = "\n".join(await console.say(f'/session schedule person:@alice title:"Budget" {rest}'))
        assert expected in out, (rest, out)
    out = "\n".join(
        await console.say(f'/session schedule person:@alice title:{"t" * 101} when:"tomorrow 9am"')
    )
    assert "`title`: must be 1–100 characters" in out
    out = "\n".join(
        await console.say('/session schedule person:@zed title:"Budget" when:"tomorrow 9am"')
    )
    assert "`person`:" in out
    assert await snapshot(factory) == before


async def test_only_the_two_participants_may_change_a_session(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _connected(console)
    await console.handle(SCHEDULE)
    session = await _session(factory)
    await console.handle("as @mallory")
    before = await snapshot(factory)
    out = "\n".join(await console.say(f"/session cancel session:{session.id}"))
    assert "only the session's two participants" in out
    out = "\n".join(await console.say("/session cancel session:nosuchsession"))
    assert "That session doesn't exist in this community." in out
    assert await snapshot(factory) == before


async def test_agenda_and_mentorship_list_show_what_is_next(console: ConsoleBot) -> None:
    await _connected(console)
    await console.handle(SCHEDULE)
    out = "\n".join(await console.say("/session agenda"))
    assert "Budget review · with alice" in out
    assert "18:30 GMT" in out
    out = "\n".join(await console.say("/mentorship list"))
    assert "next session: Budget review" in out


async def test_own_reminder_times_move_queued_reminders(
    console: ConsoleBot, clock: FakeClock
) -> None:
    await _connected(console)
    await console.handle(SCHEDULE)
    out = "\n".join(await console.say("/session reminders times:2h"))
    assert "reminded 2 h before" in out
    clock.set(datetime(2026, 1, 8, 16, 29, tzinfo=UTC))
    await console.deliver()
    assert [u for u, _ in _reminders(console)] == ["alice"]  # alice kept 24 h
    await console.say("advance 1m")
    assert [u for u, _ in _reminders(console)] == ["alice", "dave"]
    out = "\n".join(await console.say("/session reminders times:sometimes"))
    assert "`times`:" in out


async def test_suggested_free_times_fit_both_daytimes_and_schedule_with_a_press(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _connected(console)
    before = await snapshot(factory)
    out = "\n".join(await console.say("/session suggest-times person:@alice duration:60"))
    assert await snapshot(factory) == before  # a read: nothing written
    assert "Free times with alice" in out
    assert "[Schedule slot 1]" in out
    await console.handle("click Schedule slot 1")
    session = await _session(factory)
    for zone in ("Europe/London", "Europe/Madrid"):
        local = session.scheduled_at.astimezone(ZoneInfo(zone))
        end = local + timedelta(minutes=60)
        assert local.hour >= 8
        assert (end.hour, end.minute) <= (21, 0)


async def test_a_quiet_mentorship_is_nudged_once_per_gap(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await _connected(console)
    out = "\n".join(await console.say("advance 15d"))
    assert out.count("Time for a check-in?") == 2
    out = "\n".join(await console.say("advance 1d"))
    assert "Time for a check-in?" not in out
    async with factory() as s:
        ms = (await s.execute(select(Mentorship))).scalar_one()
        assert ms.next_check_in == clock.now() - timedelta(days=1) + timedelta(days=14)


async def test_a_workshop_is_announced_with_rsvp_and_attendees_get_reminders(
    console: ConsoleBot, clock: FakeClock
) -> None:
    await _connected(console)
    await console.handle("as @alice")
    out = "\n".join(
        await console.say(
            '/session schedule type:workshop title:"Intro to microloans" '
            'when:"2026-01-08 18:30" capacity:1 link:https://meet.example/w'
        )
    )
    assert "[#general]" in out
    assert "[I'll attend]" in out
    assert "[event 1]" in out
    await console.handle("as @dave")
    out = "\n".join(await console.say("click attend"))
    assert "You're on the list" in out
    assert "[DM → @dave]" in out
    await console.handle("as @erin")
    out = "\n".join(await console.say("click attend"))
    assert "This workshop is full (1 places)." in out
    clock.set(datetime(2026, 1, 7, 18, 30, tzinfo=UTC))
    await console.deliver()
    assert sorted(u or "" for u, _ in _reminders(console)) == ["alice", "dave"]
    await console.handle("as @alice")
    out = "\n".join(await console.say("/session agenda"))
    await console.handle("click Cancel session")
    assert "[event 1 cancelled]" in "\n".join(console.lines)


async def test_a_session_ahead_postpones_the_check_in(
    console: ConsoleBot, clock: FakeClock
) -> None:
    await _connected(console)
    await console.handle('/session schedule person:@alice title:"Later" when:"2026-01-25 10:00"')
    out = "\n".join(await console.say("advance 15d"))
    assert "Time for a check-in?" not in out  # next_check_in: 14 days after that session


async def test_a_forged_button_from_someone_else_changes_nothing(
    console: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await _connected(console)
    await console.handle(SCHEDULE)
    session = await _session(factory)
    mallory = Invocation("console", "console", "mallory", "mallory")
    other_place = Invocation("console", "elsewhere", "dave", "dave")
    before = await snapshot(factory)
    for who in (mallory, other_place):
        for action in (f"mb:scancel:{session.id}:1", f"mb:smove:{session.id}:1"):
            with pytest.raises(UserError):
                await console.service.press(who, action)
    with pytest.raises(UserError):
        await console.service.press(mallory, f"mb:sslot:{session.mentorship_id}:1893456000:60")
    after = await snapshot(factory)
    # Only the members and the other community those presses introduced are new.
    assert {k: v for k, v in after.items() if k not in ("members", "communities")} == {
        k: v for k, v in before.items() if k not in ("members", "communities")
    }
