"""F5/F6 on Discord after the request: a mentor with two mentees keeping the conversations
apart, decline, nudge and expiry, and ending with notes (then the JSON export)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.models import Mentee, MentorMessage, Mentorship
from core.service import Mentorbot
from tests.adapters.discord.community import (
    CAROL,
    Mentor,
    add_members,
    become_mentee,
    bot_dms,
    dm_the_bot,
    mentorships,
    press_in_dm,
    request_mentor,
    seed_mentors,
    title,
)
from tests.adapters.discord.conftest import (
    ALICE,
    BOB,
    Bot,
    BotFactory,
    World,
    button_ids,
    embed_of,
    embed_text,
)

JSON = dict[str, Any]
DAN = 3001
# Alice mentors in Madrid; Dan is a second mentor, suggested when Alice declines.
MENTORS = [
    Mentor(ALICE, "alice", expertise="giving,loans", languages="en,es", timezone="Europe/Madrid"),
    Mentor(DAN, "dan"),
]


@pytest.fixture
def people(world: World) -> None:
    world.fake.add_member(world.id, CAROL, "carol")
    add_members(world, MENTORS[1:])  # Alice is a member already


async def _community(bot: Bot, service: Mentorbot, world: World) -> dict[str, str]:
    await bot.set_up()
    ids = await seed_mentors(service, world, MENTORS)
    for mentee in (BOB, CAROL):
        await become_mentee(bot, mentee)
    await bot.deliver()
    return ids


async def test_a_mentor_with_two_mentees_keeps_the_conversations_apart(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    people: None,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with discord_bot() as bot:
        await _community(bot, service, world)
        for mentee in (BOB, CAROL):
            request = await request_mentor(bot, mentee, ALICE)
            accepted = await press_in_dm(bot, ALICE, "Accept", request)
            assert accepted["type"] == 7  # the request card now says it was accepted
            assert "mentorship with" in embed_text(accepted)
            await bot.deliver()
        starters = [m for m in bot_dms(bot, ALICE) if "started" in title(m)]
        assert [title(m) for m in starters] == [
            "Mentorship with bob started",
            "Mentorship with carol started",
        ]
        for mentee in (BOB, CAROL):
            (started,) = [m for m in bot_dms(bot, mentee) if "started" in title(m)]
            assert title(started) == "Mentorship with alice started"
            assert embed_of(started)["author"]["name"] == "Givers"

        # Each mentee writes a plain DM: each has one mentorship, so no question arises.
        await dm_the_bot(bot, BOB, "Bob here: how do I pick a charity?")
        await dm_the_bot(bot, CAROL, "Carol here: what is a microloan?")
        await bot.deliver()
        from_bob, from_carol = bot_dms(bot, ALICE)[-2:]
        # Headed by the mentorship, so Alice can tell her mentees apart.
        assert embed_of(from_bob)["title"] == "💬 bob (your mentee)"
        assert embed_of(from_carol)["title"] == "💬 carol (your mentee)"

        # A Discord reply goes to the mentee whose message it answers, or whose
        # mentorship the replied-to thread starter opened.
        answer = await dm_the_bot(bot, ALICE, "A loan you get back.", reply_to=from_carol)
        assert "Sent to <@2003>" in embed_text(answer)
        answer = await dm_the_bot(bot, ALICE, "Welcome, Bob!", reply_to=starters[0])
        assert "Sent to <@2002>" in embed_text(answer)
        await bot.deliver()
        assert embed_text(bot_dms(bot, CAROL)[-1]).endswith(
            "A loan you get back.\n\n-# Reply to this message to answer alice"
        )
        assert "Welcome, Bob!" in embed_text(bot_dms(bot, BOB)[-1])

        # A plain DM is ambiguous for Alice: she picks the mentee with a button.
        chooser = await dm_the_bot(bot, ALICE, "Both of you: see you Friday!")
        assert "Who is this message for?" in embed_text(chooser)
        assert list(button_ids(chooser)) == ["To bob", "To carol"]
        assert all(b.endswith(f"@{world.id}") for b in button_ids(chooser).values())
        sent = await press_in_dm(bot, ALICE, "To bob", chooser)
        assert sent["type"] == 7
        assert "Sent to <@2002>" in embed_text(sent)
        assert sent["components"] == []  # the chooser cannot send it twice
        await bot.deliver()
        assert "see you Friday!" in embed_text(bot_dms(bot, BOB)[-1])
        # Each DM found its server from the stored mentorships, not from DM history.
        assert bot.fake.calls_to("GET", "/channels/{c}/messages") == []

    async with factory() as session:
        rows = await session.execute(
            select(MentorMessage.content, Mentee.user_id)
            .join(Mentorship, Mentorship.id == MentorMessage.mentorship_id)
            .join(Mentee, Mentee.id == Mentorship.mentee_id)
        )
        stored: dict[str, str] = dict(rows.all())
    assert stored.keys() == {
        "Bob here: how do I pick a charity?",
        "Carol here: what is a microloan?",
        "A loan you get back.",
        "Welcome, Bob!",
        "Both of you: see you Friday!",
    }
    # Stored in the mentorship each message belongs to.
    bobs = stored["Bob here: how do I pick a charity?"]
    assert stored["Welcome, Bob!"] == stored["Both of you: see you Friday!"] == bobs
    assert stored["A loan you get back."] == stored["Carol here: what is a microloan?"]
    assert len(set(stored.values())) == 2


async def test_decline_tells_the_mentee_kindly_with_other_mentors_to_request(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    people: None,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with discord_bot() as bot:
        ids = await _community(bot, service, world)
        request = await request_mentor(bot, BOB, ALICE)
        declined = await press_in_dm(bot, ALICE, "Decline", request)
        assert declined["type"] == 7
        assert button_ids(declined) == {}
        await bot.deliver()
        told = bot_dms(bot, BOB)[-1]
        assert title(told) == "About your mentorship request"
        assert "not about you" in embed_text(told)
        assert "alice" not in [f["name"].split(" · ")[1] for f in embed_of(told)["fields"]]
        assert button_ids(told) == {"Request dan": f"mb:request:{ids['dan']}@{world.id}"}

        # The suggestion's button works from the DM: the note form, then Dan's request.
        fake = bot.fake
        form = await fake.interact(
            fake.button_click(None, BOB, button_ids(told)["Request dan"], int(told["id"]))
        )
        assert form.type == 9
        assert form.data is not None
        sent = await fake.interact(
            fake.modal_submit(
                None, BOB, form.data["custom_id"], {"note": ""}, message_id=int(told["id"])
            )
        )
        assert embed_of(sent)["title"] == "Request sent"
        await bot.deliver()
        assert title(bot_dms(bot, DAN)[-1]) == "Mentorship request from bob"
    statuses = {(m.mentor_id, m.status) for m in await mentorships(factory)}
    assert statuses == {(ids["alice"], "declined"), (ids["dan"], "pending")}


async def test_an_unanswered_request_is_nudged_then_expires_and_the_mentee_is_told(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    people: None,
    clock: FakeClock,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with discord_bot() as bot:
        await _community(bot, service, world)
        request = await request_mentor(bot, BOB, ALICE)
        clock.advance(days=service.settings.request_nudge_days, minutes=1)
        assert await service.housekeeping() == (1, 0)
        await bot.deliver()
        nudge = bot_dms(bot, ALICE)[-1]
        assert title(nudge) == "Reminder: a mentorship request is waiting"
        assert set(button_ids(nudge)) == {"Accept", "Decline"}

        clock.advance(days=service.settings.request_expiry_days)
        assert await service.housekeeping() == (0, 1)
        assert await bot.deliver() == 1
        expired = bot_dms(bot, BOB)[-1]
        assert title(expired) == "A request expired"
        assert embed_of(expired)["author"]["name"] == "Givers"
        assert "`/mentor suggest`" in embed_text(expired)

        late = await press_in_dm(bot, ALICE, "Accept", request)
        assert late["ephemeral"]
        assert "already expired" in embed_text(late)
    (ms,) = await mentorships(factory)
    assert ms.status == "expired"


async def test_ending_asks_for_notes_tells_both_and_the_history_exports_as_json(
    discord_bot: BotFactory,
    world: World,
    service: Mentorbot,
    people: None,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    async with discord_bot() as bot:
        await _community(bot, service, world)
        await press_in_dm(bot, ALICE, "Accept", await request_mentor(bot, BOB, ALICE))
        await bot.deliver()
        sent = await dm_the_bot(bot, BOB, "Thanks for everything!")
        assert "Sent to" in embed_text(sent)
        await bot.deliver()

        form = await bot.command(BOB, "mentorship end", {"person": ALICE})
        assert form.type == 9
        assert form.data is not None
        assert form.data["title"] == "End mentorship with alice"
        (notes,) = [row["components"][0] for row in form.data["components"]]
        assert (notes["custom_id"], notes["min_length"], notes["max_length"]) == ("notes", 5, 2000)

        too_short = await bot.submit(BOB, form.data["custom_id"], {"notes": "ok"})
        assert too_short.ephemeral
        assert "`notes`" in embed_text(too_short)
        ended = await bot.submit(
            BOB, form.data["custom_id"], {"notes": "I give monthly now. Next: a budget."}
        )
        assert ended.ephemeral
        assert "Mentorship completed" in embed_text(ended)
        await bot.deliver()
        to_alice = bot_dms(bot, ALICE)[-1]
        # The mentee (bob) also gets a review invitation (F11) and a badge (F12).
        bob_titles = [title(m) for m in bot_dms(bot, BOB)]
        assert title(to_alice) == "Mentorship completed"
        assert "Mentorship completed" in bob_titles
        assert "How was mentoring with alice?" in bob_titles
        assert "> I give monthly now. Next: a budget." in embed_text(to_alice)

        exported = await bot.command(BOB, "mentorship export", {"person": ALICE})
    assert exported.ephemeral
    assert "as JSON" in embed_text(exported)
    (upload,) = exported.files
    (ms,) = await mentorships(factory)
    assert upload.filename == f"mentorship-{ms.id}.json"
    document = json.loads(upload.data)
    assert document["mentorship"]["status"] == "completed"
    assert document["mentorship"]["completion_notes"] == "I give monthly now. Next: a budget."
    assert [(m["from"], m["content"]) for m in document["messages"]] == [
        ("bob", "Thanks for everything!")
    ]
