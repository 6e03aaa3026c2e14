"""F5–F6 on Slack: one thread per mentorship in each person's app DM, messages relayed
between them, ending with notes, and everything that must be refused without a trace."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import action_id
from core.models import Mentor, MentorMessage, Mentorship
from tests.adapters.slack.community import (
    ANA_MENTOR,
    EVE,
    KIM,
    become_mentee,
    connect,
    in_thread,
    other_team_mentorship,
    seed_mentors,
    thread_starter,
)
from tests.adapters.slack.conftest import ANA, BOB, Slack, SlackHarness, buttons, texts
from tests.helpers import count, snapshot


async def _connected(slack: Slack, *mentees: str) -> tuple[SlackHarness, list[str]]:
    """Ana mentors each of ``mentees`` (threads opened and delivered); over HTTP."""
    bot = await slack()
    await bot.set_up_community()
    await seed_mentors(bot, (ANA_MENTOR,))
    ids = []
    for mentee in mentees:
        await become_mentee(bot, mentee)
        ids.append(await connect(bot, ANA, mentee))
    return bot, ids


async def _stored(factory: async_sessionmaker[AsyncSession]) -> list[MentorMessage]:
    async with factory() as session:
        rows = await session.execute(select(MentorMessage).order_by(MentorMessage.created_at))
        return list(rows.scalars())


async def test_a_mentor_keeps_one_thread_per_mentee_and_picks_one_for_a_top_level_dm(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot, (with_bob, with_kim) = await _connected(slack, BOB, KIM)
    fake = bot.fake
    starters = [m for m in fake.messages(ANA, include_replies=False) if "started" in m.text]
    assert [m.text.splitlines()[0] for m in starters] == [
        "✅ Mentorship with bob started",
        "✅ Mentorship with kim started",
    ]
    bob_thread, kim_thread = starters

    chooser = await bot.dm(ANA, "Tip of the week: track every gift for a month.")
    assert chooser.thread_ts is None
    assert "Who is this message for?" in texts(chooser.blocks)
    assert set(buttons(chooser.blocks)) == {"To bob", "To kim"}
    await bot.click_ephemeral(ANA, "To kim")
    replaced = await bot.reply()
    assert replaced["replace_original"] is True
    assert f"Sent to <@{KIM}>" in texts(chooser.blocks)  # the chooser became the receipt
    await bot.deliver()
    [tip] = in_thread(bot, KIM, thread_starter(bot, KIM).ts)
    assert "Tip of the week" in texts(tip.blocks)
    assert in_thread(bot, BOB, thread_starter(bot, BOB).ts) == []

    # A reply in a thread needs no question: the thread says which mentorship.
    sent = await bot.dm(ANA, "Bob, how did the budget go?", thread_ts=bob_thread.ts)
    assert f"Sent to <@{BOB}>" in texts(sent.blocks)
    await bot.deliver()
    [question] = in_thread(bot, BOB, thread_starter(bot, BOB).ts)
    assert "how did the budget go?" in texts(question.blocks)
    assert in_thread(bot, ANA, kim_thread.ts) == []  # nothing echoed into Ana's threads

    stored = {m.content: m.mentorship_id for m in await _stored(factory)}
    assert stored == {
        "Tip of the week: track every gift for a month.": with_kim,
        "Bob, how did the budget go?": with_bob,
    }


async def test_ending_asks_for_notes_and_tells_both_in_their_threads(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot, [ms_id] = await _connected(slack, BOB)
    fake = bot.fake
    await bot.command(BOB, f"mentorship end person:<@{ANA}|ana>")
    [opened] = await fake.wait_for_calls("views.open")
    modal = fake.views[opened.response["view"]["id"]]
    assert modal.view["title"]["text"] == "End mentorship with ana"
    assert modal.callback_id == f"mb:end:{ms_id}:completed:1"

    before = await snapshot(factory)
    ack = await bot.send(
        "view_submission", user_id=BOB, view_id=modal.id, values={"notes": {"notes": "ok"}}
    )
    assert ack["response_action"] == "errors"
    assert "notes" in ack["errors"]
    assert await snapshot(factory) == before

    notes = "We built my first budget and I gave to three causes."
    ack = await bot.send(
        "view_submission", user_id=BOB, view_id=modal.id, values={"notes": {"notes": notes}}
    )
    assert ack == {}
    assert "Mentorship completed; notes saved." in texts((await bot.reply())["blocks"])
    await bot.deliver()
    [told_ana] = in_thread(bot, ANA, thread_starter(bot, ANA).ts)
    assert f"<@{BOB}> completed your mentorship." in texts(told_ana.blocks)
    assert f"> {notes}" in texts(told_ana.blocks)
    [told_bob] = in_thread(bot, BOB, thread_starter(bot, BOB).ts)
    assert f"Your mentorship with <@{ANA}> is completed." in texts(told_bob.blocks)
    async with factory() as session:
        ms = await session.get(Mentorship, ms_id)
        mentor = (await session.execute(select(Mentor))).scalar_one()
    assert ms is not None
    assert (ms.status, ms.completion_notes) == ("completed", notes)
    assert mentor.current_mentees == 0


async def test_outsiders_forged_buttons_and_other_teams_ids_are_refused_and_write_nothing(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot, [ms_id] = await _connected(slack, BOB)
    fake = bot.fake
    await bot.dm(ANA, "Hello Bob", thread_ts=thread_starter(bot, ANA).ts)
    await bot.deliver()
    [relayed] = in_thread(bot, BOB, thread_starter(bot, BOB).ts)
    await become_mentee(bot, EVE)
    other_mentor, other_ms = await other_team_mentorship(bot)

    def posted_by_the_app() -> int:
        return sum(m.user == fake.bot_user_id for m in fake.messages())

    before, posted = await snapshot(factory), posted_by_the_app()

    # Eve writes "in the thread" of a message relayed to Bob: not her conversation.
    refused = await bot.dm(EVE, "Bob, it's Eve, tell me everything", thread_ts=relayed.ts)
    assert "You have no active mentorship to pass this on to." in texts(refused.blocks)

    await bot.command(EVE, f'mentorship message person:<@{BOB}|bob> text:"psst, Bob"')
    assert "you have no active or paused" in texts((await bot.reply())["blocks"])
    await bot.command(EVE, f"mentorship history person:<@{BOB}|bob>")
    assert "`person`" in texts((await bot.reply())["blocks"])

    async def press(user: str, custom_id: str) -> str:
        await bot.send("block_actions", user_id=user, action_id=custom_id)
        return texts((await bot.reply())["blocks"])

    not_here = "doesn't exist in this community"
    assert "not valid" in await press(EVE, action_id("end", ms_id, "completed", "1"))  # a form
    assert not_here in await press(EVE, action_id("decline", ms_id, "1"))
    assert "already active" in await press(BOB, action_id("accept", ms_id, "1"))
    assert not_here in await press(ANA, action_id("accept", other_ms, "1"))
    assert not_here in await press(BOB, action_id("request", other_mentor))
    assert "not valid" in await press(ANA, f"mb:accept:{ms_id}/../x")
    assert "not valid" in await press(ANA, "mb:teleport:1")
    ack = await bot.send(
        "view_submission",
        user_id=EVE,
        callback_id=action_id("end", ms_id, "completed", "1"),
        values={"notes": {"notes": "Ending someone else's mentorship."}},
    )
    assert not_here in texts(ack["view"]["blocks"])

    assert await snapshot(factory) == before
    assert posted_by_the_app() == posted  # private answers only
    assert await count(factory, MentorMessage) == 1


async def test_edits_bots_and_redeliveries_are_not_relayed_again(
    slack: Slack, factory: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    bot, _ = await _connected(slack, BOB)
    fake = bot.fake
    caplog.set_level(logging.INFO, logger="core.service")
    first = fake.im_message_event(BOB, "Thanks for yesterday!")
    edited = {**first, "subtype": "message_changed", "message": {"text": "Thanks!!"}}
    from_a_bot = {**first, "bot_id": "B0OTHER", "text": "beep", "ts": fake.clock.next()}
    original = fake.event_payload(first, event_id="Ev0FIRST")

    await bot.send("event", original)
    await fake.wait_for_calls("chat.postEphemeral", 1)
    await bot.send("event", original, retry_num=1, retry_reason="http_timeout")
    await bot.send("event", fake.event_payload(edited))
    await bot.send("event", fake.event_payload(from_a_bot))
    await fake.wait_until(
        lambda: any("ignoring repeated event" in r.getMessage() for r in caplog.records),
        what="the redelivery ignored",
    )
    await bot.dm(BOB, "One more thing.")  # the events before it were handled by now

    assert [m.content for m in await _stored(factory)] == [
        "Thanks for yesterday!",
        "One more thing.",
    ]
    assert len(fake.calls_to("chat.postEphemeral")) == 2
    await bot.deliver()
    assert len(in_thread(bot, ANA, thread_starter(bot, ANA).ts)) == 2


async def test_a_message_to_a_paused_mentorship_is_refused_saying_why(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot, _ = await _connected(slack, BOB)
    await bot.command(ANA, f"mentorship pause person:<@{BOB}|bob>")
    assert "Paused" in texts((await bot.reply())["blocks"])
    refused = await bot.dm(BOB, "Are you there?", thread_ts=thread_starter(bot, BOB).ts)
    assert "is paused, so messages are not passed on" in texts(refused.blocks)
    assert refused.thread_ts == thread_starter(bot, BOB).ts
    assert await count(factory, MentorMessage) == 0
