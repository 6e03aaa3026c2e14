"""App Home: each member's dashboard, with buttons that work from the Home tab."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Community, Mentor
from tests.adapters.slack.conftest import ANA, BOB, CAROL, Slack, SlackHarness, buttons, texts
from tests.helpers import count, snapshot


async def open_home(bot: SlackHarness, user: str) -> dict[str, str]:
    """Open the Home tab as ``user``; returns its buttons (label → action id)."""
    published = len(bot.fake.calls_to("views.publish"))
    await bot.send("event", bot.fake.event_payload(bot.fake.app_home_opened_event(user)))
    await bot.fake.wait_for_calls("views.publish", published + 1)
    return buttons(bot.fake.home_views[user].view["blocks"])


async def press_in_home(bot: SlackHarness, user: str, action_id: str) -> None:
    home = bot.fake.home_views[user]
    published = len(bot.fake.calls_to("views.publish"))
    await bot.send("block_actions", user_id=user, action_id=action_id, view_id=home.id)
    await bot.fake.wait_for_calls("views.publish", published + 1)  # the tab is refreshed


async def test_home_shows_where_a_member_stands_and_what_to_do_next(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    assert await open_home(bot, BOB) == {}
    assert await count(factory, Community, platform="slack", name="fake-team") == 1  # first event
    home = texts(bot.fake.home_views[BOB].view["blocks"])
    assert "Hi bob! Here is where you stand." in home
    assert "Share what you know: `/mentor apply`." in home
    assert "`/mentor mentee profile goals:…`" in home


async def test_an_admin_approves_from_home_and_sees_the_answer_in_a_modal(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    await bot.set_up_community()
    await bot.apply()
    actions = await open_home(bot, CAROL)
    assert "Admin: 1 application(s) waiting" in texts(bot.fake.home_views[CAROL].view["blocks"])
    opened = len(bot.fake.calls_to("views.open"))
    await press_in_home(bot, CAROL, actions["Approve ana"])
    [notice] = (await bot.fake.wait_for_calls("views.open", opened + 1))[opened:]
    assert "Approved" in texts(notice.args["view"]["blocks"])
    assert await count(factory, Mentor, status="active") == 1
    assert "No mentor applications are waiting" in texts(bot.fake.home_views[CAROL].view["blocks"])


async def test_a_rejection_from_home_ends_in_the_modal_and_a_fresh_home(slack: Slack) -> None:
    bot = await slack()
    await bot.set_up_community()
    await bot.apply()
    actions = await open_home(bot, CAROL)
    await press_in_home(bot, CAROL, actions["Reject ana"])
    reason_form = bot.fake.calls_to("views.open")[-1].response["view"]["id"]
    answer = await bot.send(
        "view_submission",
        user_id=CAROL,
        view_id=reason_form,
        values={"reason": {"reason": "Mentor a newcomer informally first, please."}},
    )
    assert answer["response_action"] == "update"
    assert "was told why" in texts(answer["view"]["blocks"])
    await bot.fake.wait_until(
        lambda: (
            "No mentor applications are waiting" in texts(bot.fake.home_views[CAROL].view["blocks"])
        ),
        what="refreshed home",
    )


async def test_a_mentor_pauses_from_home(slack: Slack) -> None:
    bot = await slack()
    await bot.set_up_community()
    await bot.apply()
    await bot.deliver()
    await bot.click(CAROL, "Approve")
    await bot.reply()  # the approval is done (its card replaced) before Ana looks
    actions = await open_home(bot, ANA)
    await press_in_home(bot, ANA, actions["Pause mentoring"])
    assert set(buttons(bot.fake.home_views[ANA].view["blocks"])) == {"Resume mentoring"}
    assert "paused" in texts(bot.fake.home_views[ANA].view["blocks"])


async def test_a_refused_home_button_explains_privately(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    await bot.set_up_community()
    await bot.apply()
    actions = await open_home(bot, CAROL)
    await open_home(bot, BOB)
    opened = len(bot.fake.calls_to("views.open"))
    before = await snapshot(factory)
    # Bob presses an admin's button (a forged or replayed id): refused, in a modal.
    await bot.send(
        "block_actions",
        user_id=BOB,
        action_id=actions["Approve ana"],
        view_id=bot.fake.home_views[BOB].id,
        action={"action_id": actions["Approve ana"], "value": actions["Approve ana"]},
    )
    [notice] = (await bot.fake.wait_for_calls("views.open", opened + 1))[opened:]
    assert "only community admins can do that" in texts(notice.args["view"]["blocks"])
    assert await snapshot(factory) == before  # nothing decided, no effect queued
    assert await count(factory, Mentor, status="pending") == 1
    assert await count(factory, Mentor, status="active") == 0
