"""F10 in the core: goals with milestones, ticked by buttons, progress and its history,
the chart, completion, nudges, and refusals that write nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.charts import HEIGHT_PX, WIDTH_PX, png_size
from core.clock import FakeClock
from core.errors import Conflict, InvalidValue, NotFound
from core.messages import Message, Reply
from core.models import BadgeAward, Delivery, GoalProgress, MenteeGoal, MenteeMilestone
from core.service import Mentorbot
from core.usecases.goals import bar
from tests.core.test_connections import active_mentorship, inv
from tests.helpers import snapshot


@pytest.fixture
def bot(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> Mentorbot:
    clock.set(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    return Mentorbot(factory, clock)


async def pair(bot: Mentorbot, mentor: str = "alice", learner: str = "dave") -> str:
    return await active_mentorship(bot, mentor, learner)


GOAL = {
    "person": "alice",
    "title": "Fund a first loan",
    "target_date": "2027-01-15",
    "milestones": "Read the guide\nPick a borrower\nLend 25\nWrite about it",
}


def card(reply: Reply | None) -> Message:
    assert reply is not None
    message = reply.update_origin or reply.message
    assert message is not None
    return message


def press(message: Message, label: str) -> str:
    return next(b.action for b in message.buttons if label in b.label)


async def test_a_goal_with_milestones_ticks_to_completion(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await pair(bot)
    shown = card(await bot.execute(inv("dave"), "goal add", GOAL))
    assert "░░░░░░░░ 0%" in shown.text
    assert [b.label for b in shown.buttons][:4] == [
        "☐ Read the guide",
        "☐ Pick a borrower",
        "☐ Lend 25",
        "☐ Write about it",
    ]
    clock.advance(days=2)
    shown = card(await bot.press(inv("dave"), press(shown, "Read the guide")))
    assert "▓▓░░░░░░ 25%" in shown.text
    assert "☑ Read the guide" in shown.text
    clock.advance(days=3)
    shown = card(await bot.press(inv("alice"), press(shown, "Pick a borrower")))  # either side
    assert "▓▓▓▓░░░░ 50%" in shown.text
    # Unticked again, then ticked: progress follows.
    clock.advance(hours=1)
    shown = card(await bot.press(inv("dave"), press(shown, "☑ Pick a borrower")))
    assert "25%" in shown.text
    clock.advance(hours=1)
    shown = card(await bot.press(inv("dave"), press(shown, "☐ Pick a borrower")))
    async with factory() as session:
        history = (
            await session.execute(
                select(GoalProgress.change, GoalProgress.progress).order_by(
                    GoalProgress.at, GoalProgress.id
                )
            )
        ).all()
        told = (
            (
                await session.execute(
                    select(Delivery.payload).where(Delivery.idempotency_key.like("milestone:%"))
                )
            )
            .scalars()
            .all()
        )
    assert [c for c, _ in history] == ["created", "milestone", "milestone", "unticked", "milestone"]
    assert [p for _, p in history] == [0, 25, 50, 25, 50]
    # The other side hears of each tick (not of the untick).
    assert sorted(t["user_id"] for t in told) == ["alice", "alice", "dave"]

    chart = card(await bot.press(inv("dave"), press(shown, "Chart")))
    assert len(chart.files) == 1
    assert chart.files[0].content_type == "image/png"
    assert png_size(chart.files[0].data) == (WIDTH_PX, HEIGHT_PX)
    assert "Fund a first loan (active): 0% on 29 Nov 2026, 50% on 04 Dec 2026" in chart.text
    assert "“Read the guide” ticked 01 Dec" in chart.text

    done = card(await bot.press(inv("dave"), press(shown, "Complete goal")))
    assert "completed" in (done.title or "")
    assert done.buttons == ()
    async with factory() as session:
        goal = (await session.execute(select(MenteeGoal))).scalar_one()
        badges = (await session.execute(select(BadgeAward.badge))).scalars().all()
    assert (goal.status, goal.progress) == ("completed", 100)
    assert "goal_achieved" in badges
    with pytest.raises(Conflict, match="completed"):
        await bot.press(inv("dave"), press(shown, "Lend 25"))


async def test_progress_set_by_hand_stops_following_milestones(bot: Mentorbot) -> None:
    await pair(bot)
    shown = card(await bot.execute(inv("dave"), "goal add", GOAL))
    by_hand = card(
        await bot.execute(inv("alice"), "goal progress", {"goal": "fund", "progress": "70"})
    )
    assert "70% (set by hand)" in by_hand.text
    ticked = card(await bot.press(inv("dave"), press(shown, "Read the guide")))
    assert "70%" in ticked.text


async def test_goal_list_shows_bars_and_opens_a_goal(bot: Mentorbot, clock: FakeClock) -> None:
    await pair(bot)
    await bot.execute(inv("dave"), "goal add", GOAL)
    clock.advance(minutes=1)
    await bot.execute(inv("alice"), "goal add", {"person": "dave", "title": "Budget"})
    listed = card(await bot.execute(inv("alice"), "goal list", {}))
    assert [f.name for f in listed.fields] == [
        "Fund a first loan · active · with dave",
        "Budget · active · with dave",
    ]
    assert "░░░░░░░░ 0%" in listed.fields[0].value
    assert "☐ Lend 25" in listed.fields[0].value
    opened = card(await bot.press(inv("alice"), press(listed, "Open: Budget")))
    assert opened.title == "🎯 Budget"


def test_the_text_bar() -> None:
    assert bar(50) == "▓▓▓▓░░░░ 50%"
    assert bar(0) == "░░░░░░░░ 0%"
    assert bar(100) == "▓▓▓▓▓▓▓▓ 100%"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"title": ""}, "`title`: is required"),
        ({"title": "x" * 101}, "`title`: must be 1–100 characters"),
        ({"milestones": ";".join(f"m{n}" for n in range(21))}, "`milestones`: may list at most 20"),
        ({"target_date": "2026-11-01"}, "`target_date`: must be in the future"),
        ({"target_date": "2028-06-01"}, "`target_date`: must be within a year"),
        ({"target_date": "next week"}, "`target_date`: must be a date written YYYY-MM-DD"),
        ({"person": "zed"}, "`person`"),
    ],
)
async def test_bad_goals_are_refused_and_write_nothing(
    bot: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
    changes: dict[str, str],
    says: str,
) -> None:
    await pair(bot)
    before = await snapshot(factory)
    with pytest.raises(InvalidValue, match=says.replace("`", ".")):
        await bot.execute(inv("dave"), "goal add", {**GOAL, **changes})
    assert await snapshot(factory) == before


async def test_a_milestone_of_another_mentorship_or_community_is_refused(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await pair(bot)
    shown = card(await bot.execute(inv("dave"), "goal add", GOAL))
    await pair(bot, "bruno", "erin")
    tick = press(shown, "Read the guide")
    before = await snapshot(factory)
    with pytest.raises(NotFound):
        await bot.press(inv("erin"), tick)  # another mentorship's milestone
    with pytest.raises(NotFound):
        await bot.press(inv("dave", guild="guild-b"), tick)  # another community
    with pytest.raises(NotFound):
        await bot.press(inv("erin"), press(shown, "Complete goal"))
    assert await snapshot(factory) == before
    async with factory() as session:
        assert not any(
            m.is_completed for m in (await session.execute(select(MenteeMilestone))).scalars()
        )


async def test_nudges_go_before_the_target_and_once_when_it_passes(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await pair(bot)
    await bot.execute(inv("dave"), "goal add", {**GOAL, "target_date": "2026-12-10"})

    async def nudges() -> list[tuple[str, str]]:
        async with factory() as session:
            rows = await session.execute(
                select(Delivery.idempotency_key, Delivery.payload).where(
                    Delivery.idempotency_key.like("goal-%"),
                    Delivery.idempotency_key.not_like("goal-added:%"),
                )
            )
            return sorted((k.split(":")[0], p["user_id"]) for k, p in rows)

    await bot.housekeeping()
    assert await nudges() == []
    clock.set(datetime(2026, 12, 8, 12, 0, tzinfo=UTC))  # within 3 days
    await bot.housekeeping()
    await bot.housekeeping()
    assert await nudges() == [("goal-soon", "alice"), ("goal-soon", "dave")]
    clock.advance(days=3)
    await bot.housekeeping()
    await bot.housekeeping()
    assert await nudges() == [
        ("goal-overdue", "alice"),
        ("goal-overdue", "dave"),
        ("goal-soon", "alice"),
        ("goal-soon", "dave"),
    ]
    assert clock.now() > datetime(2026, 12, 10, tzinfo=UTC) + timedelta(hours=1)
