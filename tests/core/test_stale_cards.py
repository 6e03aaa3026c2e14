"""Issue 8 item 3: buttons and forms name the instance of the row they were made for.

An application sent again after a rejection, or a request asked again after a decline,
reuses its row; a card made for the earlier instance is refused as outdated and changes
nothing, whatever the row's state now.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import action_id
from core.clock import FakeClock
from core.errors import OutdatedCard
from core.models import Delivery, Mentor, Mentorship
from core.service import Mentorbot
from tests.core.test_bad_input import APPLICATION
from tests.core.test_connections import approved_mentor, inv, mentee, request
from tests.helpers import snapshot

OWNER = inv("owner", admin=True)
REASON = {"reason": "Please mentor a study group first."}


@pytest.fixture
def bot(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> Mentorbot:
    return Mentorbot(factory, clock)


async def _application(factory: async_sessionmaker[AsyncSession]) -> Mentor:
    async with factory() as session:
        return (await session.execute(select(Mentor))).scalar_one()


async def _rejected_and_sent_again(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> tuple[str, dict[str, str]]:
    """alice applies, is rejected and applies again; returns her mentor id and the first
    application's Approve and Reject ids, as its card and the admin's list showed them."""
    await bot.execute(OWNER, "admin setup", {"admin_role": "A", "admin_channel": "adm"})
    await bot.execute(inv("alice"), "mentor apply", APPLICATION)
    listed = await bot.execute(OWNER, "admin applications", {})
    assert listed is not None
    assert listed.message is not None
    old = {b.label: b.action for b in listed.message.buttons}
    form = await bot.press(OWNER, old["Reject"])
    assert form is not None
    assert form.form is not None
    old["reject form"] = form.form.action
    await bot.submit(OWNER, form.form.action, REASON)
    await bot.execute(inv("alice"), "mentor apply", APPLICATION)
    return (await _application(factory)).id, old


async def test_applying_again_raises_the_application_version_on_the_same_row(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id, old = await _rejected_and_sent_again(bot, factory)
    mentor = await _application(factory)
    assert (mentor.id, mentor.status, mentor.application_version) == (mentor_id, "pending", 2)
    assert old["Approve"] == action_id("approve", mentor_id, "1")
    listed = await bot.execute(OWNER, "admin applications", {})
    assert listed is not None
    assert listed.message is not None
    assert {b.action for b in listed.message.buttons} == {
        action_id("approve", mentor_id, "2"),
        action_id("reject", mentor_id, "2"),
    }
    home = await bot.home(OWNER)
    assert action_id("approve", mentor_id, "2") in {b.action for b in home.buttons}


async def test_the_first_applications_buttons_and_form_do_not_decide_the_second(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id, old = await _rejected_and_sent_again(bot, factory)
    before = await snapshot(factory)
    for press in (
        bot.press(OWNER, old["Approve"]),
        bot.press(OWNER, old["Reject"]),
        bot.submit(OWNER, old["reject form"], REASON),
        bot.press(OWNER, f"mb:approve:{mentor_id}"),  # a card from before versions
        bot.submit(OWNER, f"mb:reject:{mentor_id}", REASON),
    ):
        with pytest.raises(OutdatedCard, match="This card is outdated"):
            await press
    assert await snapshot(factory) == before
    assert (await _application(factory)).status == "pending"
    # The second application's own card still works.
    await bot.press(OWNER, action_id("approve", mentor_id, "2"))
    assert (await _application(factory)).status == "active"


async def test_a_stale_approve_is_outdated_even_when_nothing_is_pending(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    _, old = await _rejected_and_sent_again(bot, factory)
    await bot.execute(inv("alice"), "mentor retire", {})
    before = await snapshot(factory)
    with pytest.raises(OutdatedCard):
        await bot.press(OWNER, old["Approve"])
    assert await snapshot(factory) == before


async def _mentorship(factory: async_sessionmaker[AsyncSession], ms_id: str) -> Mentorship:
    async with factory() as session:
        found = await session.get(Mentorship, ms_id)
    assert found is not None
    return found


async def test_accept_and_decline_from_a_declined_request_do_not_answer_the_new_one(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    await mentee(bot, "dave")
    ms_id = await request(bot, "dave", mentor_id)
    await bot.press(inv("alice"), action_id("decline", ms_id, "1"))
    assert await request(bot, "dave", mentor_id) == ms_id  # the same row, reopened
    assert (await _mentorship(factory, ms_id)).request_version == 2
    before = await snapshot(factory)
    for custom_id in (
        action_id("accept", ms_id, "1"),
        action_id("decline", ms_id, "1"),
        f"mb:accept:{ms_id}",  # a card from before versions
    ):
        with pytest.raises(OutdatedCard):
            await bot.press(inv("alice"), custom_id)
    assert await snapshot(factory) == before
    assert (await _mentorship(factory, ms_id)).status == "pending"
    await bot.press(inv("alice"), action_id("accept", ms_id, "2"))
    assert (await _mentorship(factory, ms_id)).status == "active"


async def test_a_round_proposal_made_again_refuses_the_first_proposals_buttons(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await approved_mentor(bot, "alice")
    await mentee(bot, "dave")
    await bot.execute(OWNER, "admin match-round", {})
    async with factory() as session:
        ms = (await session.execute(select(Mentorship))).scalar_one()
    await bot.press(inv("dave"), action_id("decline", ms.id, "1"))
    await bot.execute(OWNER, "admin match-round", {})  # proposes the pair again
    assert (await _mentorship(factory, ms.id)).request_version == 2
    before = await snapshot(factory)
    with pytest.raises(OutdatedCard):
        await bot.press(inv("alice"), action_id("accept", ms.id, "1"))
    assert await snapshot(factory) == before
    await bot.press(inv("alice"), action_id("accept", ms.id, "2"))
    assert (await _mentorship(factory, ms.id)).mentor_accepted


async def test_an_end_form_for_another_instance_or_in_the_old_format_is_outdated(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    await mentee(bot, "dave")
    ms_id = await request(bot, "dave", mentor_id)
    await bot.press(inv("alice"), action_id("accept", ms_id, "1"))
    ask = await bot.execute(inv("dave"), "mentorship end", {"person": "alice"})
    assert ask is not None
    assert ask.form is not None
    assert ask.form.action == action_id("end", ms_id, "completed", "1")
    before = await snapshot(factory)
    notes = {"notes": "Learned a lot, thanks."}
    for custom_id in (action_id("end", ms_id, "completed", "7"), f"mb:end:{ms_id}:completed"):
        with pytest.raises(OutdatedCard):
            await bot.submit(inv("dave"), custom_id, notes)
    assert await snapshot(factory) == before
    await bot.submit(inv("dave"), ask.form.action, notes)
    assert (await _mentorship(factory, ms_id)).status == "completed"


async def test_editing_a_waiting_application_outdates_its_cards_and_posts_a_new_one(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await bot.execute(OWNER, "admin setup", {"admin_role": "A", "admin_channel": "adm"})
    await bot.execute(inv("alice"), "mentor apply", APPLICATION)
    mentor_id = (await _application(factory)).id
    new_bio = "I have funded 400 microloans and teach budgeting at the library."
    edited = await bot.execute(inv("alice"), "mentor edit", {"bio": new_bio})
    assert edited is not None
    assert edited.message is not None
    assert "The admins get your updated application." in edited.message.text
    async with factory() as session:
        cards = (
            (
                await session.execute(
                    select(Delivery.payload)
                    .where(Delivery.kind == "post")
                    .order_by(Delivery.idempotency_key)
                )
            )
            .scalars()
            .all()
        )
    assert [new_bio in card["message"]["text"] for card in cards] == [False, True]
    before = await snapshot(factory)
    with pytest.raises(OutdatedCard):
        await bot.press(OWNER, action_id("approve", mentor_id, "1"))
    assert await snapshot(factory) == before
    await bot.press(OWNER, action_id("approve", mentor_id, "2"))
    assert (await _application(factory)).status == "active"
