"""F11 in the core: invite on end, rate, one review per mentee (edited within the window,
then refused), the average kept, privacy, low ratings flagged."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import action_id
from core.clock import FakeClock
from core.errors import Conflict, InvalidValue, NotAllowed, NotFound
from core.models import Delivery, Mentor, MentorReview, MentorSession, Mentorship
from core.service import Mentorbot
from core.settings import CoreSettings
from core.usecases.discovery import MIN_PUBLIC_REVIEWS_FOR_RATING
from core.usecases.parties import load_party
from core.usecases.reviews import invite_review
from tests.core.test_connections import active_mentorship, approved_mentor, inv, mentee, request
from tests.helpers import snapshot


@pytest.fixture
def bot(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> Mentorbot:
    return Mentorbot(factory, clock)


async def ended(bot: Mentorbot, mentor_id: str, learner: str, *, outcome: str = "completed") -> str:
    await mentee(bot, learner)
    ms = await request(bot, learner, mentor_id)
    await bot.press(inv("alice"), action_id("accept", ms, "1"))
    await bot.submit(inv("alice"), action_id("end", ms, outcome, "1"), {"notes": "Good work."})
    return ms


async def review(bot: Mentorbot, learner: str, ms: str, rating: int, **values: str) -> str:
    form = await bot.press(inv(learner), action_id("rate", ms, str(rating)))
    assert form is not None
    assert form.form is not None
    done = await bot.submit(inv(learner), form.form.action, values)
    assert done is not None
    assert done.message is not None
    return done.message.text


async def average(factory: async_sessionmaker[AsyncSession], mentor_id: str) -> float | None:
    async with factory() as session:
        mentor = await session.get(Mentor, mentor_id)
        assert mentor is not None
        return mentor.avg_rating


async def test_ending_invites_the_mentee_with_five_rating_buttons(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    ms = await ended(bot, mentor_id, "dave")
    async with factory() as session:
        invites = (
            (
                await session.execute(
                    select(Delivery.payload).where(Delivery.idempotency_key.like("review-invite:%"))
                )
            )
            .scalars()
            .all()
        )
    assert len(invites) == 1
    assert invites[0]["user_id"] == "dave"
    actions = [b[1] for b in invites[0]["message"]["buttons"]]
    assert actions == [action_id("rate", ms, str(n)) for n in range(1, 6)]


async def test_a_review_updates_the_average_and_the_card_from_three_public(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice", max_mentees="5")
    ratings = [5, 4, 3]
    for n, rating in enumerate(ratings):
        ms = await ended(bot, mentor_id, f"d{n}")
        await review(bot, f"d{n}", ms, rating, comment=f"Review {n}", public="yes")
        assert await average(factory, mentor_id) == pytest.approx(sum(ratings[: n + 1]) / (n + 1))
        browse = await bot.execute(inv("zed"), "mentor browse", {})
        assert browse is not None
        assert browse.message is not None
        card = " ".join(f.value for f in browse.message.fields)
        if n + 1 < MIN_PUBLIC_REVIEWS_FOR_RATING:
            assert "Rating:" not in card
        else:
            assert "Rating: 4.0 ★ from 3 public reviews" in card


async def test_a_second_review_edits_within_the_window_then_is_refused(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    ms = await ended(bot, mentor_id, "dave")
    await review(bot, "dave", ms, 2, comment="Meh")
    assert "updated" in await review(bot, "dave", ms, 4, comment="Better on reflection")
    async with factory() as session:
        rows = (await session.execute(select(MentorReview))).scalars().all()
    assert [(r.rating, r.content) for r in rows] == [(4.0, "Better on reflection")]
    assert await average(factory, mentor_id) == 4.0
    clock.advance(hours=bot.settings.review_edit_window_hours + 1)
    with pytest.raises(Conflict, match="within 48 hours"):
        await bot.press(inv("dave"), action_id("rate", ms, "5"))


@pytest.mark.parametrize(
    ("who", "rating", "values", "error", "says"),
    [
        ("dave", "6", {}, InvalidValue, "`rating`: must be a whole number from 1 to 5"),
        ("dave", "0", {}, InvalidValue, "`rating`"),
        ("dave", "3", {"comment": "x" * 1001}, InvalidValue, "`comment`: must be at most 1000"),
        ("dave", "3", {"public": "maybe"}, InvalidValue, "`public`: must be yes or no"),
        ("alice", "5", {}, NotAllowed, "only its mentee reviews"),
        ("eve", "5", {}, NotFound, "mentorship"),
    ],
)
async def test_bad_reviews_are_refused_and_write_nothing(
    bot: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
    who: str,
    rating: str,
    values: dict[str, str],
    error: type[Exception],
    says: str,
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    ms = await ended(bot, mentor_id, "dave")
    await mentee(bot, "eve")  # eve exists, but is not in it
    before = await snapshot(factory)
    with pytest.raises(error, match=says.replace("`", ".")):
        await bot.submit(inv(who), action_id("review", ms, rating), values)
    assert await snapshot(factory) == before


async def test_an_active_mentorship_cannot_be_reviewed_yet(bot: Mentorbot) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    await mentee(bot, "dave")
    ms = await request(bot, "dave", mentor_id)
    await bot.press(inv("alice"), action_id("accept", ms, "1"))
    with pytest.raises(Conflict, match="once it has ended"):
        await bot.press(inv("dave"), action_id("rate", ms, "5"))


async def test_private_reviews_are_seen_only_by_the_mentor_and_the_reviewer(
    bot: Mentorbot,
) -> None:
    mentor_id = await approved_mentor(bot, "alice", max_mentees="3")
    ms = await ended(bot, mentor_id, "dave")
    await review(bot, "dave", ms, 5, comment="Secret thanks", public="no")
    ms2 = await ended(bot, mentor_id, "erin")
    await review(bot, "erin", ms2, 4, comment="Open thanks", public="yes")

    async def seen(user: str) -> str:
        reply = await bot.execute(inv(user), "mentor reviews", {"mentor": "alice"})
        assert reply is not None
        assert reply.message is not None
        return " ".join(f.value for f in reply.message.fields)

    assert "Secret thanks" in await seen("alice")
    assert "Secret thanks" in await seen("dave")
    assert "Secret thanks" not in await seen("zed")
    assert "Open thanks" in await seen("zed")


async def test_reviews_are_paged(bot: Mentorbot) -> None:
    mentor_id = await approved_mentor(bot, "alice", max_mentees="10")
    for n in range(bot.settings.reviews_page_size + 2):
        ms = await ended(bot, mentor_id, f"d{n}")
        await review(bot, f"d{n}", ms, 5, comment=f"c{n}", public="yes")
    first = await bot.execute(inv("zed"), "mentor reviews", {"mentor": "alice"})
    assert first is not None
    assert first.message is not None
    assert len(first.message.fields) == bot.settings.reviews_page_size
    assert "page 1 of 2" in first.message.text
    nxt = next(b for b in first.message.buttons if b.label.startswith("Next"))
    second = await bot.press(inv("zed"), nxt.action)
    assert second is not None
    assert second.update_origin is not None
    assert len(second.update_origin.fields) == 2


async def test_a_low_rating_is_flagged_to_admins_with_a_summary_button(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    ms = await ended(bot, mentor_id, "dave")
    await review(bot, "dave", ms, 1, comment="Never answered", public="no")
    async with factory() as session:
        posts = (
            (await session.execute(select(Delivery.payload).where(Delivery.kind == "post")))
            .scalars()
            .all()
        )
    flags = [p for p in posts if p["message"]["title"] == "Low rating"]
    assert len(flags) == 1
    assert flags[0]["channel_id"] == "adm"
    assert "Never answered" not in flags[0]["message"]["text"]  # private comment stays private
    summary_action = flags[0]["message"]["buttons"][0][1]
    with pytest.raises(NotAllowed):
        await bot.press(inv("dave"), summary_action)
    summary = await bot.press(inv("owner", admin=True), summary_action)
    assert summary is not None
    assert summary.message is not None
    names = [f.name for f in summary.message.fields]
    assert "Messages exchanged" in names
    assert summary.message.title == "Mentorship summary"


async def test_with_reviews_after_sessions_a_completed_session_opens_the_review(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    bot = Mentorbot(factory, clock, settings=CoreSettings(review_after_sessions=True))
    ms = await active_mentorship(bot, "alice", "dave")
    with pytest.raises(Conflict, match="once it has ended"):
        await bot.press(inv("dave"), action_id("rate", ms, "5"))
    async with bot.uow() as uow:
        party = await load_party(uow, (await uow.session.get(Mentorship, ms)).community_id, ms)
        uow.session.add(
            MentorSession(
                community_id=party.mentorship.community_id,
                mentorship_id=ms,
                mentor_id=party.mentor.id,
                title="First call",
                scheduled_at=uow.now(),
                duration=30,
                type="one_on_one",
                status="completed",
            )
        )
        await invite_review(uow, party, "session-1")
        await uow.commit()
    assert "saved" in await review(bot, "dave", ms, 5)
