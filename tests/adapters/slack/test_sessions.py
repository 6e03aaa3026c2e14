"""Sessions (F7) through the real Bolt app on the fake Slack: ``<!date^…>`` times, the .ics
shared with files_upload_v2 into the DM, reminders with buttons, the reschedule modal,
cancel (twice), complete and no-show, and the agenda on the App Home."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.context import Invocation
from core.models import MentorSession
from tests.adapters.slack.community import ANA_MENTOR, become_mentee, connect, seed_mentors
from tests.adapters.slack.conftest import ANA, BOB, Slack, SlackHarness, texts

START = datetime(2026, 1, 8, 18, 30, tzinfo=UTC)
UNIX = int(START.timestamp())


async def _ready(slack: Slack) -> SlackHarness:
    bot = await slack()
    await bot.set_up_community()
    await seed_mentors(bot, (ANA_MENTOR,))
    await become_mentee(bot, BOB)  # Europe/Paris
    await connect(bot, ANA, BOB)
    return bot


async def _session(factory: async_sessionmaker[AsyncSession]) -> MentorSession:
    async with factory() as s:
        return (await s.execute(select(MentorSession))).scalars().all()[-1]


async def _until_session(
    factory: async_sessionmaker[AsyncSession], status: str, version: int
) -> None:
    """Wait for a press or form handled after Slack's ack to have committed."""
    for _ in range(200):
        session = await _session(factory)
        if (session.status, session.version) == (status, version):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"the session never became {status} v{version}")


def _calendars(bot: SlackHarness, user: str) -> list[Calendar]:
    channel = bot.fake.dm_channel_id(user)
    return [
        Calendar.from_ical(f.data)
        for f in bot.fake.files.values()
        if f.name.endswith(".ics") and channel in f.channels and f.data
    ]


def _dm_texts(bot: SlackHarness, user: str) -> list[str]:
    return [texts(m.blocks) for m in bot.fake.messages(user) if m.user == bot.fake.bot_user_id]


def _reminders(bot: SlackHarness, user: str) -> list[str]:
    return [t for t in _dm_texts(bot, user) if "Reminder: Budget review" in t]


async def test_schedule_remind_reschedule_cancel_on_slack(
    slack: Slack, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    bot = await _ready(slack)
    await bot.command(
        BOB,
        f'session schedule person:<@{ANA}> title:"Budget review" when:"2026-01-08 19:30" '
        "link:https://meet.example/abc",
    )
    assert "Scheduled: Budget review" in texts((await bot.reply())["blocks"])
    await bot.deliver()

    told = next(t for t in _dm_texts(bot, ANA) if "Session scheduled: Budget review" in t)
    # Slack renders the date token in each reader's own zone.
    assert f"<!date^{UNIX}^" in told
    assert "https://meet.example/abc" in told
    (calendar,) = _calendars(bot, ANA)
    session = await _session(factory)
    (event,) = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == f"session-{session.id}@mentorbot"
    assert event["SEQUENCE"] == 1
    assert event.decoded("DTSTART") == START

    clock.set(datetime(2026, 1, 7, 18, 29, tzinfo=UTC))
    await bot.deliver()
    assert _reminders(bot, ANA) == []
    clock.set(datetime(2026, 1, 7, 18, 30, tzinfo=UTC))
    await bot.deliver()
    assert len(_reminders(bot, ANA)) == 1
    assert len(_reminders(bot, BOB)) == 1

    # Ana moves it from the reminder: Slack's modal, then both told with a new .ics.
    before = len(bot.fake.calls_to("views.open"))
    await bot.click(ANA, "Reschedule", channel=ANA)
    opened = await bot.fake.wait_for_calls("views.open", before + 1)
    view_id = opened[-1].response["view"]["id"]
    bad = await bot.send(
        "view_submission", user_id=ANA, view_id=view_id, values={"when": {"when": "next blursday"}}
    )
    assert "next blursday" in bad["errors"]["when"]
    await bot.send(
        "view_submission",
        user_id=ANA,
        view_id=view_id,
        values={"when": {"when": "2026-01-10 11:00"}},  # Ana is in Europe/Madrid
    )
    await _until_session(factory, "scheduled", 2)
    await bot.deliver()
    assert any("Session moved: Budget review" in t for t in _dm_texts(bot, BOB))
    assert _calendars(bot, BOB)[-1].walk("VEVENT")[0]["SEQUENCE"] == 2

    clock.set(datetime(2026, 1, 8, 18, 20, tzinfo=UTC))  # past the old 15-minute moment
    await bot.deliver()
    assert len(_reminders(bot, BOB)) == 1

    await bot.click(BOB, "Cancel session", channel=BOB)
    await _until_session(factory, "cancelled", 3)
    await bot.deliver()
    assert any("Session cancelled: Budget review" in t for t in _dm_texts(bot, ANA))
    assert _calendars(bot, ANA)[-1]["METHOD"] == "CANCEL"
    clock.set(datetime(2026, 1, 10, 9, 50, tzinfo=UTC))
    await bot.deliver()
    assert len(_reminders(bot, BOB)) == 1


async def test_complete_no_show_and_the_home_tab_on_slack(
    slack: Slack, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    bot = await _ready(slack)
    await bot.command(
        BOB, f'session schedule person:<@{ANA}> title:"First" when:"2026-01-08 19:30"'
    )
    await bot.reply()
    home = await bot.app.service.home(await _member(bot, BOB))
    assert any("First" in f.value for f in home.fields)

    first = await _session(factory)
    clock.set(datetime(2026, 1, 8, 19, 40, tzinfo=UTC))
    await bot.command(ANA, f'session complete session:{first.id} notes:"Budget drafted"')
    assert "Marked as held" in texts((await bot.reply())["blocks"])
    await bot.command(
        BOB, f'session schedule person:<@{ANA}> title:"Second" when:"2026-01-09 10:00"'
    )
    await bot.reply()
    second = await _session(factory)
    clock.set(datetime(2026, 1, 9, 9, 30, tzinfo=UTC))
    await bot.command(BOB, f"session no-show session:{second.id} person:<@{ANA}>")
    assert "did not come" in texts((await bot.reply())["blocks"])
    async with factory() as s:
        done = await s.get(MentorSession, first.id)
        missed = await s.get(MentorSession, second.id)
    assert done is not None
    assert missed is not None
    assert (done.status, done.notes) == ("completed", "Budget drafted")
    assert missed.status == "no_show"


async def _member(bot: SlackHarness, user: str) -> Invocation:
    return await bot.app.directory.invocation(bot.fake.team_id, user)
