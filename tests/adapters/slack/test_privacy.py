"""Privacy (F15) on Slack: the export uploaded into the member's DM with the app, deletion
confirmed with a button, and a deactivated member (``user_change`` with ``deleted: true``)
starting the same deletion, cancelled by ``team_join`` or reactivation in time. A mentor
who leaves is out of browse at once."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Member, Mentor, MentorMessage
from core.usecases.privacy.forget import FORMER_NAME, TOMBSTONE
from tests.adapters.slack.community import (
    ANA_MENTOR,
    become_mentee,
    connect,
    member,
    seed_mentors,
)
from tests.adapters.slack.conftest import ANA, BOB, Slack, SlackHarness, buttons, texts
from tests.privacy_checks import assert_export_holds, rows_naming, rows_pointing_at

QUINN, QUINN_NAME = "U0QUINNXYZ", "quinnelle"


async def connected(bot: SlackHarness) -> None:
    await bot.set_up_community()
    await seed_mentors(bot, (ANA_MENTOR,))
    bot.fake.add_user(QUINN, QUINN_NAME, tz="Europe/Paris")
    await become_mentee(bot, QUINN)
    await connect(bot, ANA, QUINN)
    service = bot.app.service
    await service.execute(
        await member(bot, QUINN), "mentorship message", {"person": ANA, "text": "Hola!"}
    )
    await service.execute(
        await member(bot, ANA), "mentorship message", {"person": QUINN, "text": "Bienvenida."}
    )
    await bot.deliver()


async def quinn_row(factory: async_sessionmaker[AsyncSession]) -> Member | None:
    async with factory() as session:
        return await session.scalar(select(Member).where(Member.platform_user_id == QUINN))


async def user_event(bot: SlackHarness, kind: str, user: str, *, deleted: bool) -> None:
    bot.fake.users[user].deleted = deleted
    event = {"type": kind, "user": bot.fake.users[user].to_api(), "event_ts": "1.0"}
    await bot.send("event", bot.fake.event_payload(event))


async def test_export_is_uploaded_into_the_members_dm(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    await connected(bot)
    await bot.command(QUINN, "privacy export")
    answer = texts((await bot.reply())["blocks"])
    assert "Only you received this file" in answer
    assert "sent to your direct messages" in answer
    await bot.fake.wait_for_calls("files.completeUploadExternal", 1)  # after the reply
    (upload,) = [f for f in bot.fake.files.values() if f.name.startswith("mentorbot-my-data")]
    document = json.loads(upload.data)
    quinn = await quinn_row(factory)
    assert quinn is not None
    assert_export_holds(document, await rows_pointing_at(factory, quinn.id))
    assert {m["content"] for m in document["tables"]["mentor_messages"]} == {
        "Hola!",
        "Bienvenida.",
    }
    assert [m for m in bot.fake.messages(QUINN) if m.files]  # in quinnelle's DM with the app
    assert not [m for m in bot.fake.messages(ANA) if m.files]


async def test_delete_asks_to_confirm_and_a_second_request_says_when(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    await connected(bot)
    await bot.command(QUINN, "privacy delete")
    asked = (await bot.reply())["blocks"]
    assert "Delete my data" in buttons(asked)
    await bot.click_ephemeral(QUINN, "Delete my data")
    # The card is replaced, and the member is told: two posts to the response_url.
    for _ in range(2):
        assert "Done. On <!date^" in texts((await bot.reply())["blocks"])
    quinn = await quinn_row(factory)
    assert quinn is not None
    assert quinn.deletion_reason == "request"
    await bot.command(QUINN, "privacy delete")
    again = texts((await bot.reply())["blocks"])
    assert "You asked for this already" in again
    assert f"<!date^{int(quinn.deletion_due_at.timestamp())}^" in again  # type: ignore[union-attr]
    await bot.command(QUINN, "privacy cancel")
    assert "Cancelled: your data stays" in texts((await bot.reply())["blocks"])
    await bot.command(QUINN, "privacy cancel")
    assert "nothing to cancel" in texts((await bot.reply())["blocks"])


async def test_a_deactivated_member_is_forgotten_after_the_grace_period_unless_back(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    await connected(bot)

    async def left() -> bool:
        row = await quinn_row(factory)
        return row is not None and row.deletion_reason == "left"

    async def back() -> bool:
        row = await quinn_row(factory)
        return row is not None and row.deletion_reason is None and row.left_at is None

    await user_event(bot, "user_change", QUINN, deleted=True)
    await bot.until(left)
    await user_event(bot, "team_join", QUINN, deleted=False)
    await bot.until(back)
    await user_event(bot, "user_change", QUINN, deleted=True)
    await bot.until(left)
    await user_event(bot, "user_change", QUINN, deleted=False)  # reactivated
    await bot.until(back)

    await user_event(bot, "user_change", QUINN, deleted=True)
    await bot.until(left)
    bot.clock.advance(days=7, hours=1)
    await bot.app.service.housekeeping()
    await bot.deliver()
    await bot.app.service.housekeeping()
    assert await rows_naming(factory, QUINN, QUINN_NAME) == []
    assert any("Mentorship ended" in m.text + texts(m.blocks) for m in bot.fake.messages(ANA))
    async with factory() as session:
        assert await session.scalar(select(Member).where(Member.display_name == FORMER_NAME))
        contents = (
            await session.execute(select(MentorMessage.content).order_by(MentorMessage.created_at))
        ).scalars()
        assert sorted(contents) == sorted([TOMBSTONE, "Bienvenida."])  # same instant
        ana = await session.scalar(select(Mentor))
        assert ana is not None
        assert ana.current_mentees == 0


async def test_a_mentor_who_leaves_is_out_of_browse_at_once(slack: Slack) -> None:
    bot = await slack()
    await bot.set_up_community()
    await seed_mentors(bot, (ANA_MENTOR,))
    await become_mentee(bot, BOB)
    service = bot.app.service
    shown = await service.execute(await member(bot, BOB), "mentor browse", {})
    assert shown is not None
    assert "ana" in str(shown.message)
    await user_event(bot, "user_change", ANA, deleted=True)

    async def gone() -> bool:
        found = await service.execute(await member(bot, BOB), "mentor browse", {})
        return found is not None and "ana" not in str(found.message)

    await bot.until(gone)
