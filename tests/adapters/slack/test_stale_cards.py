"""Issue 8 item 3 on Slack: a stale Approve in App Home decides nothing about a new application."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Mentor
from tests.adapters.slack.conftest import CAROL, OWNER, Slack, buttons, texts
from tests.adapters.slack.test_home import open_home
from tests.helpers import snapshot


async def test_approve_left_in_app_home_from_the_rejected_application_is_refused(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    fake = bot.fake
    await bot.set_up_community()
    await bot.apply()
    await bot.deliver()
    # Carol's Home tab shows the first application's buttons and is not opened again ...
    old_approve = (await open_home(bot, CAROL))["Approve ana"]
    # ... while Olga rejects that application from the admin channel and Ana applies again.
    await bot.click(OWNER, "Reject")
    [*_, opened] = await fake.wait_for_calls("views.open")
    reason = "Please mentor a newcomer informally first, then apply again."
    await bot.send(
        "view_submission",
        user_id=OWNER,
        view_id=opened.response["view"]["id"],
        values={"reason": {"reason": reason}},
    )
    assert "Rejected by olga" in texts((await bot.reply())["blocks"])  # the card, replaced
    assert "was told why" in texts((await bot.reply())["blocks"])
    async with factory() as session:
        assert (await session.execute(select(Mentor.status))).scalar_one() == "rejected"
    await bot.apply()
    await bot.deliver()
    assert buttons(fake.messages("C0ADMIN")[-1].blocks)["Approve"] != old_approve
    before = await snapshot(factory)
    notices = len(fake.calls_to("views.open"))

    await bot.send(
        "block_actions", user_id=CAROL, action_id=old_approve, view_id=fake.home_views[CAROL].id
    )

    [notice] = (await fake.wait_for_calls("views.open", notices + 1))[notices:]
    assert "This card is outdated" in texts(notice.args["view"]["blocks"])
    assert await snapshot(factory) == before
    async with factory() as session:
        mentor = (await session.execute(select(Mentor))).scalar_one()
    assert (mentor.status, mentor.application_version) == ("pending", 2)
