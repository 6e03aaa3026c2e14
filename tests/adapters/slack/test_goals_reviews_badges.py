"""Issue 13 on Slack: a goal added in a modal, ticked with buttons, charted as an upload
(files_upload_v2) and completed; a review invited on end, rated with buttons and a modal;
badges as user groups (when on), repaired by /mentor admin badges sync."""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime

from sqlalchemy import select

from core.charts import HEIGHT_PX, WIDTH_PX, png_size
from core.clock import FakeClock
from core.models import Mentor
from tests.adapters.slack.community import ANA_MENTOR, become_mentee, connect, seed_mentors
from tests.adapters.slack.conftest import (
    ANA,
    BOB,
    CAROL,
    OWNER,
    Slack,
    SlackHarness,
    buttons,
    texts,
)


async def _mentorship(bot: SlackHarness) -> None:
    await bot.set_up_community()
    await seed_mentors(bot, (ANA_MENTOR,))
    await become_mentee(bot, BOB)
    await connect(bot, ANA, BOB)


def _latest_ephemeral(bot: SlackHarness, user: str, label: str) -> str:
    found = next(e for e in reversed(bot.fake.ephemerals_for(user)) if label in buttons(e.blocks))
    return texts(found.blocks)


async def test_goal_modal_buttons_chart_upload_and_completion(
    slack: Slack, clock: FakeClock
) -> None:
    clock.set(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    bot = await slack()
    await _mentorship(bot)
    view_id = await bot.open_form(BOB, "goal add")
    ack = await bot.send(
        "view_submission",
        user_id=BOB,
        view_id=view_id,
        values={
            "person": {"person": ANA},
            "title": {"title": "Fund a first loan"},
            "target_date": {"target_date": "2027-01-15"},
            "milestones": {"milestones": "Read the guide\nPick a borrower"},
        },
    )
    assert ack == {}
    added = await bot.reply()
    assert "░░░░░░░░ 0%" in texts(added["blocks"])
    assert "☐ Read the guide" in buttons(added["blocks"])

    await bot.click_ephemeral(BOB, "☐ Read the guide")
    ticked = await bot.reply()
    assert ticked.get("replace_original") is True
    assert "▓▓▓▓░░░░ 50%" in texts(ticked["blocks"])
    await bot.deliver()
    assert any("ticked “Read the guide”" in m.text for m in bot.fake.messages(ANA))

    await asyncio.to_thread(importlib.import_module, "matplotlib.pyplot")
    await bot.click_ephemeral(BOB, "Chart")
    charted = await bot.reply()
    assert "📎 goal-progress.png: sent to your direct messages with the app" in texts(
        charted["blocks"]
    )
    await bot.fake.wait_for_calls("files.completeUploadExternal", 1)  # after the reply
    [shared] = [m for m in bot.fake.messages(BOB) if m.files]
    [png] = [f for f in bot.fake.files.values() if f.name == "goal-progress.png"]
    assert shared.files[0]["name"] == "goal-progress.png"
    assert png.data is not None
    assert png_size(png.data) == (WIDTH_PX, HEIGHT_PX)

    await bot.click_ephemeral(BOB, "Complete goal")
    done = await bot.reply()
    assert "▓▓▓▓▓▓▓▓ 100%" in texts(done["blocks"])


async def test_review_invite_rating_modal_and_average(slack: Slack) -> None:
    bot = await slack()
    await _mentorship(bot)
    view_id = await bot.open_form(ANA, f"mentorship end person:<@{BOB}>")
    ack = await bot.send(
        "view_submission", user_id=ANA, view_id=view_id, values={"notes": {"notes": "Goals met!"}}
    )
    assert ack == {}
    await bot.deliver()
    invite = next(m for m in bot.fake.messages(BOB) if "How was mentoring with ana?" in m.text)
    assert list(buttons(invite.blocks)) == ["1 ★", "2 ★", "3 ★", "4 ★", "5 ★"]
    before = len(bot.fake.calls_to("views.open"))
    await bot.click(BOB, "4 ★", channel=BOB)
    [*_, opened] = await bot.fake.wait_for_calls("views.open", before + 1)
    view = opened.response["view"]
    assert [b["block_id"] for b in view["blocks"]] == ["comment", "public"]
    ack = await bot.send(
        "view_submission",
        user_id=BOB,
        view_id=view["id"],
        values={"comment": {"comment": "Clear and kind"}, "public": {"public": "yes"}},
    )
    assert ack == {}
    async with bot.factory() as session:
        rating = (await session.execute(select(Mentor.avg_rating))).scalar_one()
    assert rating == 4.0


async def test_badges_as_user_groups_and_sync_repairs_a_removed_member(slack: Slack) -> None:
    bot = await slack(badge_usergroups=True)
    await _mentorship(bot)
    [group] = [g for g in bot.fake.usergroups.values() if g.name == "Mentorship Started"]
    assert group.users == [BOB]
    announced = [m.text for m in bot.fake.messages("C0GENERAL")]
    assert any("Mentorship Started" in t for t in announced)

    await bot.command(BOB, "badges")
    shown = texts((await bot.reply())["blocks"])
    assert "Mentorship Started" in shown
    assert "0 of 1 goals achieved to" in shown

    group.users = [u for u in group.users if u != BOB] + [CAROL]  # Bob out, Carol in
    await bot.command(BOB, "admin badges sync")
    assert "only community admins" in texts((await bot.reply())["blocks"])
    await bot.command(OWNER, "admin badges sync")
    assert "badge role" in texts((await bot.reply())["blocks"])
    await bot.deliver()
    assert group.users == [BOB]
