"""F3–F5 on Slack through the real Bolt app: browse with filters and paging, suggestions
with their reasons, a request from a card to an accepted mentorship, decline, expiry."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import MentorMessage, Mentorship
from tests.adapters.slack.community import (
    ANA_MENTOR,
    GUS,
    KIM,
    become_mentee,
    connect,
    in_thread,
    mentorships,
    seed_mentors,
    thread_starter,
)
from tests.adapters.slack.conftest import ANA, BOB, GENERAL, Slack, SlackHarness, buttons, texts
from tests.helpers import count

FIRST_PAGE = ["dina", "emil", "fern", "hana", "ivan"]  # three places each, by name


async def _workspace(slack: Slack) -> SlackHarness:
    """Eight approved mentors (Gus full), Bob a mentee in Paris; over HTTP."""
    bot = await slack()
    await bot.set_up_community()
    await seed_mentors(bot)
    await become_mentee(bot, KIM)
    await connect(bot, GUS, KIM)
    await bot.command(BOB, 'mentee profile goals:learn_giving timezone:"Europe/Paris" languages:en')
    assert "Mentee profile created" in texts((await bot.reply())["blocks"])
    return bot


def _names(blocks: list[dict[str, object]]) -> list[str]:
    """The mentors on a page of cards, in order (each card's heading starts with the name)."""
    return [
        str(block["text"]["text"]).strip("*").split(" · ")[0]  # type: ignore[index]
        for block in blocks
        if block.get("type") == "section" and " · " in str(block.get("text", {}))
    ]


async def _browse(bot: SlackHarness, options: str = "") -> dict[str, object]:
    await bot.command(BOB, f"browse {options}".strip(), GENERAL)
    answer = await bot.reply()
    assert answer["response_type"] == "ephemeral"
    return answer


async def test_browse_pages_with_buttons_that_replace_the_list(slack: Slack) -> None:
    bot = await _workspace(slack)
    fake = bot.fake
    first = await _browse(bot)
    assert "Mentors (7 found, page 1 of 2)" in texts(first["blocks"])
    assert _names(first["blocks"]) == FIRST_PAGE
    assert set(buttons(first["blocks"])) == {*(f"Request {n}" for n in FIRST_PAGE), "Next ▶"}
    card = texts(first["blocks"])
    assert "Emil has helped new members" in card  # bio
    assert "Languages: German (de), English (en) · Style:" in card
    assert "Local time: 13:00 (Europe/Berlin, UTC+01:00) · 3 of 3 places free" in card
    [shown] = fake.ephemerals_for(BOB)[-1:]

    await bot.click_ephemeral(BOB, "Next ▶")
    second = await bot.reply()
    assert second["replace_original"] is True
    assert "page 2 of 2" in texts(second["blocks"])
    assert _names(second["blocks"]) == ["jo", "ana"]  # fewer free places come last
    assert set(buttons(second["blocks"])) == {"Request jo", "Request ana", "◀ Previous"}
    assert fake.ephemerals_for(BOB)[-1] is shown  # replaced in place, not a second list
    assert "page 2 of 2" in texts(shown.blocks)

    await bot.click_ephemeral(BOB, "◀ Previous")
    assert _names((await bot.reply())["blocks"]) == FIRST_PAGE
    assert _names(shown.blocks) == FIRST_PAGE


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("expertise:financial", ["fern", "hana"]),
        ("language:es", ["ivan", "ana"]),
        ("style:casual", ["fern", "ivan"]),
        ("max_tz_distance:1", ["dina", "emil", "ana"]),
        ("expertise:community", ["jo"]),
        ("expertise:community has_capacity:no", ["jo", "gus"]),
        ("style:scheduled language:ja", ["hana"]),
    ],
)
async def test_browse_filters(slack: Slack, options: str, expected: list[str]) -> None:
    bot = await _workspace(slack)
    answer = await _browse(bot, options)
    assert _names(answer["blocks"]) == expected
    if "has_capacity:no" in options:
        assert "0 of 1 place free" in texts(answer["blocks"])


async def test_browse_refuses_an_unknown_expertise_naming_it(slack: Slack) -> None:
    bot = await _workspace(slack)
    answer = texts((await _browse(bot, "expertise:astrology"))["blocks"])
    assert "`expertise`" in answer
    assert "giving" in answer


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_suggest_request_accept_then_a_message_each_way_in_the_threads(
    slack: Slack, mode: str, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack(mode)
    fake = bot.fake
    await bot.set_up_community()
    await seed_mentors(bot, (ANA_MENTOR,))
    await bot.command(BOB, 'mentee profile goals:learn_giving timezone:"Europe/Paris" languages:en')
    await bot.reply()

    await bot.command(BOB, "suggest")
    suggested = texts((await bot.reply())["blocks"])
    assert "/100 · ana · giving, loans" in suggested
    assert "Why this match:" in suggested
    assert "Expertise 100%: covers 1 of your 1 goals (giving, loans)" in suggested
    assert "Language 100%: you both speak en" in suggested

    await bot.click_ephemeral(BOB, "Request ana")
    [opened] = await fake.wait_for_calls("views.open")
    modal = fake.views[opened.response["view"]["id"]]
    assert modal.view["title"]["text"] == "Ask ana to mentor you"
    assert [(b["block_id"], b["optional"]) for b in modal.view["blocks"]] == [("note", True)]
    note = "I want to learn to give well."
    ack = await bot.send(
        "view_submission", user_id=BOB, view_id=modal.id, values={"note": {"note": note}}
    )
    assert ack == {}
    assert "Request sent" in texts((await bot.reply())["blocks"])

    await bot.deliver()
    request = fake.messages(ANA)[-1]
    assert "Mentorship request from bob" in request.text
    assert f"&gt; {note}" not in texts(request.blocks)  # a quote, not escaped text
    assert f"> {note}" in texts(request.blocks)
    assert "Compatibility" in texts(request.blocks)
    await bot.click(ANA, "Accept", ANA)
    replaced = await bot.reply()
    assert replaced["replace_original"] is True
    assert f"Accepted: mentorship with <@{BOB}> started." in texts(replaced["blocks"])
    assert "are connected" in texts((await bot.reply())["blocks"])
    assert buttons(request.blocks) == {}

    await bot.deliver()
    ana_thread, bob_thread = thread_starter(bot, ANA), thread_starter(bot, BOB)
    assert "Mentorship with bob started" in ana_thread.text
    assert "Mentorship with ana started" in bob_thread.text

    welcome = "Welcome Bob! What would you like to learn first?"
    sent = await bot.dm(ANA, welcome, thread_ts=ana_thread.ts)
    assert sent.thread_ts == ana_thread.ts
    assert f"Sent to <@{BOB}>" in texts(sent.blocks)
    await bot.deliver()
    [relayed] = in_thread(bot, BOB, bob_thread.ts)
    assert "💬 ana (your mentor)" in texts(relayed.blocks)
    assert welcome in texts(relayed.blocks)

    # Slack sends text escaped; the core stores what Bob typed.
    answer = "Budgets, please! Here is mine & my <questions>."
    await bot.dm(
        BOB,
        "Budgets, please! Here is mine &amp; my &lt;questions&gt;.",
        thread_ts=bob_thread.ts,
        files=[{"name": "budget.xlsx", "mimetype": "application/vnd.ms-excel"}],
    )
    await bot.deliver()
    [back] = in_thread(bot, ANA, ana_thread.ts)
    shown = texts(back.blocks)
    assert "💬 bob (your mentee)" in shown
    assert "Budgets, please! Here is mine &amp; my &lt;questions&gt;." in shown
    [file] = [m for m in fake.messages(BOB) if m.user == BOB][-1].files
    assert f"📎 <{file['permalink']}|budget.xlsx>" in shown

    stored = {m.content: m for m in await _messages(factory)}
    assert set(stored) == {welcome, answer}
    [ms] = await mentorships(factory)
    assert {m.mentorship_id for m in stored.values()} == {ms.id}
    assert stored[answer].attachments == [
        {
            "url": file["permalink"],
            "filename": "budget.xlsx",
            "content_type": "application/vnd.ms-excel",
        }
    ]
    # Bob answered in the thread, so he has read Ana's message; Ana has not read his yet.
    assert stored[welcome].read_at is not None
    assert stored[answer].read_at is None
    await bot.react(ANA, back)

    async def ana_read_it() -> bool:
        return any(m.read_at for m in await _messages(factory) if m.content == answer)

    await bot.until(ana_read_it)


async def _messages(factory: async_sessionmaker[AsyncSession]) -> list[MentorMessage]:
    async with factory() as session:
        return list((await session.execute(select(MentorMessage))).scalars())


async def test_a_declined_request_is_told_kindly_with_other_mentors(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await _workspace(slack)
    await bot.command(BOB, f'request mentor:<@{ANA}|ana> note:"Could you help me start?"')
    assert "Request sent" in texts((await bot.reply())["blocks"])
    await bot.deliver()
    await bot.click(ANA, "Decline", ANA)
    replaced = await bot.reply()
    assert replaced["replace_original"] is True
    assert "Declined." in texts(replaced["blocks"])
    assert "they were told kindly" in texts((await bot.reply())["blocks"])

    await bot.deliver()
    told = bot.fake.messages(BOB)[-1]
    shown = texts(told.blocks)
    assert "About your mentorship request" in shown
    assert "ana can't take you on right now. That is about their time, not about you" in shown
    offered = set(buttons(told.blocks))
    assert offered
    assert offered <= {f"Request {name}" for name in ("dina", "emil", "fern", "hana", "ivan", "jo")}
    assert await count(factory, Mentorship, status="declined") == 1


async def test_an_unanswered_request_is_nudged_then_expires(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    await bot.set_up_community()
    await seed_mentors(bot, (ANA_MENTOR,))
    await become_mentee(bot, BOB)
    await bot.command(BOB, f"request mentor:<@{ANA}|ana>")
    await bot.reply()
    await bot.deliver()
    service = bot.app.service

    bot.clock.advance(days=4)
    assert await service.housekeeping() == (1, 0)
    await bot.deliver()
    reminder = bot.fake.messages(ANA)[-1]
    assert "Reminder: a mentorship request is waiting" in reminder.text
    assert set(buttons(reminder.blocks)) == {"Accept", "Decline"}

    bot.clock.advance(days=4)
    assert await service.housekeeping() == (0, 1)
    await bot.deliver()
    expired = bot.fake.messages(BOB)[-1]
    assert "A request expired" in expired.text
    assert "ana did not answer in 7 days" in texts(expired.blocks)
    assert await count(factory, Mentorship, status="expired") == 1

    await bot.click(ANA, "Accept", ANA)  # too late, from the reminder
    assert "already expired; nothing changed" in texts((await bot.reply())["blocks"])
    assert await count(factory, Mentorship, status="active") == 0
