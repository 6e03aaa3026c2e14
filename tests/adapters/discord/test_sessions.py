"""Sessions (F7) through the real discord.py client on the fake Discord: the schedule form,
``<t:…>`` times, the .ics attachment, reminders with buttons, reschedule, cancel, complete,
no-show, and a workshop's Guild Scheduled Event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.models import MentorSession
from tests.adapters.discord.community import bot_dms, title
from tests.adapters.discord.conftest import (
    ALICE,
    BOB,
    Bot,
    BotFactory,
    button_ids,
    embed_of,
    embed_text,
)
from tests.adapters.discord.test_dms import _connect

JSON = dict[str, Any]
START = datetime(2026, 1, 8, 18, 30, tzinfo=UTC)
UNIX = int(START.timestamp())


async def _session(factory: async_sessionmaker[AsyncSession]) -> MentorSession:
    async with factory() as s:
        return (await s.execute(select(MentorSession))).scalars().all()[-1]


async def _calendar(bot: Bot, message: JSON) -> Calendar:
    (attachment,) = message["attachments"]
    assert attachment["filename"].endswith(".ics")
    data = bot.fake.attachment_data[int(attachment["id"])]
    return Calendar.from_ical(data)


async def _schedule(bot: Bot) -> None:
    """Bob schedules with Alice: slash options, then the form for the description."""
    form = await bot.command(
        BOB,
        "session schedule",
        {
            "person": ALICE,
            "title": "Budget review",
            "when": "2026-01-08 19:30",  # Bob is in Europe/Paris
            "link": "https://meet.example/abc",
        },
    )
    assert form.type == 9, form  # a modal
    assert form.data is not None
    done = await bot.submit(BOB, form.data["custom_id"], {"description": "Your first budget"})
    assert done.ephemeral, done
    assert "Scheduled: Budget review" in embed_text(done)
    await bot.deliver()


def _reminders(bot: Bot, user: int) -> list[JSON]:
    return [m for m in bot_dms(bot, user) if title(m).startswith("Reminder:")]


async def test_schedule_remind_reschedule_cancel_on_discord(
    discord_bot: BotFactory, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with discord_bot() as bot:
        await _connect(bot)
        await _schedule(bot)

        told = bot_dms(bot, ALICE)[-1]
        assert title(told) == "Session scheduled: Budget review"
        text = embed_text(told)
        # Discord renders these in each reader's own zone.
        assert f"<t:{UNIX}:F> (<t:{UNIX}:R>)" in text
        assert "https://meet.example/abc" in text
        calendar = await _calendar(bot, told)
        session = await _session(factory)
        (event,) = calendar.walk("VEVENT")
        assert calendar["METHOD"] == "REQUEST"
        assert str(event["UID"]) == f"session-{session.id}@mentorbot"
        assert event["SEQUENCE"] == 1
        assert event.decoded("DTSTART") == START
        assert title(bot_dms(bot, BOB)[-1]) == "Session scheduled: Budget review"

        clock.set(datetime(2026, 1, 7, 18, 29, tzinfo=UTC))
        await bot.deliver()
        assert _reminders(bot, ALICE) == []
        clock.set(datetime(2026, 1, 7, 18, 30, tzinfo=UTC))
        await bot.deliver()
        (reminder,) = _reminders(bot, ALICE)
        assert set(button_ids(reminder)) == {"Reschedule", "Cancel session"}

        # Alice moves it from the reminder: a form, then both are told with a new .ics.
        fake = bot.fake
        opened = await fake.interact(
            fake.button_click(None, ALICE, button_ids(reminder)["Reschedule"], int(reminder["id"]))
        )
        assert opened.type == 9, opened
        assert opened.data is not None
        moved = await fake.interact(
            fake.modal_submit(
                None,
                ALICE,
                opened.data["custom_id"],
                {"when": "2026-01-10 11:00"},  # Alice is in Europe/Madrid
                message_id=int(reminder["id"]),
            )
        )
        assert "Moved" in embed_text(moved), moved
        await bot.deliver()
        news = bot_dms(bot, BOB)[-1]
        assert title(news) == "Session moved: Budget review"
        assert (await _calendar(bot, news)).walk("VEVENT")[0]["SEQUENCE"] == 2

        # Past the old 15-minute reminder: nothing more for the old time.
        clock.set(datetime(2026, 1, 8, 18, 20, tzinfo=UTC))
        await bot.deliver()
        assert len(_reminders(bot, BOB)) == 1

        # Bob cancels from the card; Alice is told with a cancelling .ics; again: refused.
        cancel = button_ids(news)["Cancel session"]
        answer = await fake.interact(fake.button_click(None, BOB, cancel, int(news["id"])))
        assert answer.ephemeral
        await bot.deliver()
        gone = bot_dms(bot, ALICE)[-1]
        assert title(gone) == "Session cancelled: Budget review"
        assert (await _calendar(bot, gone))["METHOD"] == "CANCEL"
        again = await fake.interact(fake.button_click(None, BOB, cancel, int(news["id"])))
        assert "already cancelled" in embed_text(again)
        clock.set(datetime(2026, 1, 10, 9, 50, tzinfo=UTC))
        await bot.deliver()
        assert len(_reminders(bot, BOB)) == 1


async def test_complete_and_no_show_on_discord(
    discord_bot: BotFactory, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async with discord_bot() as bot:
        await _connect(bot)
        await _schedule(bot)
        session = await _session(factory)
        clock.set(datetime(2026, 1, 8, 19, 40, tzinfo=UTC))
        form = await bot.command(ALICE, "session complete", {"session": session.id})
        assert form.type == 9, form
        assert form.data is not None
        done = await bot.submit(
            ALICE, form.data["custom_id"], {"notes": "Budget drafted", "feedback": "Great"}
        )
        assert "Marked as held" in embed_text(done)
        form = await bot.command(
            BOB, "session schedule", {"person": ALICE, "title": "Next", "when": "2026-01-09 10:00"}
        )
        assert form.data is not None
        await bot.submit(BOB, form.data["custom_id"], {})
        second = await _session(factory)
        clock.set(datetime(2026, 1, 9, 10, 30, tzinfo=UTC))
        missed = await bot.command(BOB, "session no-show", {"session": second.id, "person": ALICE})
        assert "did not come" in embed_text(missed)
    async with factory() as s:
        first = await s.get(MentorSession, session.id)
        other = await s.get(MentorSession, second.id)
        assert first is not None
        assert other is not None
        assert (first.status, first.notes, first.feedback) == (
            "completed",
            "Budget drafted",
            "Great",
        )
        assert other.status == "no_show"


async def test_a_workshop_is_a_guild_scheduled_event_moved_and_cancelled_with_it(
    discord_bot: BotFactory, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    # The fake, like Discord, refuses events in the (real) past: a year from now.
    clock.set(datetime(datetime.now(UTC).year + 1, 1, 5, 12, tzinfo=UTC))
    year = clock.now().year
    async with discord_bot() as bot:
        await _connect(bot)
        form = await bot.command(
            ALICE,
            "session schedule",
            {
                "type": "workshop",
                "title": "Microloans 101",
                "when": f"{year}-01-08 19:30",
                "link": "https://meet.example/w",
                "capacity": 20,
            },
        )
        assert form.data is not None
        await bot.submit(ALICE, form.data["custom_id"], {"description": "For beginners"})
        await bot.deliver()
        events = bot.fake.state.guild(bot.world.id).scheduled_events
        (event,) = events.values()
        assert event["name"] == "Microloans 101"
        assert event["entity_metadata"]["location"] == "https://meet.example/w"
        posted = [m for m in bot.fake.channel_messages(bot.world.general) if m["embeds"]][-1]
        assert title(posted) == "Workshop: Microloans 101"
        rsvp = await bot.click(BOB, button_ids(posted)["I'll attend"], posted)
        assert "on the list" in embed_text(rsvp)
        await bot.deliver()
        assert title(bot_dms(bot, BOB)[-1]) == "You're attending: Microloans 101"

        session = await _session(factory)
        await bot.command(
            ALICE, "session reschedule", {"session": session.id, "when": f"{year}-01-09 19:30"}
        )
        await bot.deliver()
        (event,) = events.values()
        assert event["scheduled_start_time"].startswith(f"{year}-01-09T18:30")
        assert title(bot_dms(bot, BOB)[-1]) == "Session moved: Microloans 101"
        await bot.command(ALICE, "session cancel", {"session": session.id})
        await bot.deliver()
        (event,) = events.values()
        assert event["status"] == 4  # canceled
        assert embed_of(bot_dms(bot, BOB)[-1])["title"] == "Session cancelled: Microloans 101"


async def test_when_autocompletes_free_times_with_the_person_chosen(
    discord_bot: BotFactory, factory: async_sessionmaker[AsyncSession]
) -> None:
    async with discord_bot() as bot:
        await _connect(bot)
        await _schedule(bot)  # 2026-01-08 19:30 Paris is taken
        payload = bot.fake.autocomplete(
            bot.world.id, BOB, "session schedule", {"person": ALICE, "when": "08 Jan"}, "when"
        )
        answer = await bot.fake.interact(payload)
        assert answer.type == 8, answer
        assert answer.data is not None
        choices = answer.data["choices"]
        assert choices
        assert all(c["name"].startswith("Thu 08 Jan") for c in choices)
        assert all("(Europe/Paris)" in c["name"] for c in choices)
        assert "2026-01-08 19:30" not in [c["value"] for c in choices]  # their session
        # Without a person there is nobody to find a time with.
        alone = bot.fake.autocomplete(bot.world.id, BOB, "session schedule", {"when": ""}, "when")
        nothing = await bot.fake.interact(alone)
        assert nothing.data is not None
        assert nothing.data["choices"] == []
