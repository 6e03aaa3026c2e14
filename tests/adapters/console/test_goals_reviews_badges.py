"""Issue 13 on the console: a goal ticked to completion with its chart as a file, a review
after the end shown on the card from three public ones, badges as labels, and sync."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.console.bot import ConsoleBot
from core.charts import HEIGHT_PX, WIDTH_PX, png_size
from core.clock import FakeClock

SETUP = (
    "/admin setup admin_role:@Admins admin_channel:#mentor-admin "
    "announcement_channel:#general default_timezone:UTC"
)


@pytest.fixture
async def community(console: ConsoleBot, clock: FakeClock, tmp_path: Path) -> ConsoleBot:
    """alice mentors dave (accepted), with up to five mentees."""
    clock.set(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    console.files_dir = tmp_path
    await console.handle("as @owner --admin")
    await console.handle(SETUP)
    await console.handle("as @alice")
    await console.handle(
        '/mentor apply bio:"Alice has mentored newcomers for years." expertise:giving '
        "availability:10 max_mentees:5 style:async languages:en timezone:UTC"
    )
    await console.handle("as @owner")
    await console.handle("click Approve")
    await mentorship(console, "dave")
    return console


async def mentorship(console: ConsoleBot, learner: str) -> None:
    await console.handle(f"as @{learner}")
    await console.handle("/mentee profile goals:learn_giving languages:en timezone:UTC")
    await console.handle("/mentor request mentor:@alice")
    await console.handle("as @alice")
    await console.handle("click Accept")


async def test_goal_ticked_by_buttons_charted_and_completed(
    community: ConsoleBot, tmp_path: Path
) -> None:
    await community.handle("as @dave")
    added = await community.say(
        '/goal add person:@alice title:"Fund a first loan" target_date:2027-01-15 '
        'milestones:"Read the guide;Pick a borrower;Lend 25;Write about it"'
    )
    assert "    ░░░░░░░░ 0%" in added
    ticked = await community.say('click "Read the guide"')
    assert "[edited message in DM of @dave]" in ticked
    assert "    ▓▓░░░░░░ 25%" in ticked
    assert "    ☑ Read the guide" in ticked
    assert "[DM → @alice]" in ticked  # the other side is told
    await community.handle('click "Pick a borrower"')
    charted = await community.say("click Chart")
    (attached,) = [line for line in charted if "📎" in line]
    path = Path(attached.split(" → ")[1])
    assert path.parent == tmp_path
    assert png_size(await asyncio.to_thread(path.read_bytes)) == (WIDTH_PX, HEIGHT_PX)
    assert any("Fund a first loan (active): 0% on" in line for line in charted)
    done = await community.say("click Complete")
    assert any("🎯 Fund a first loan · completed" in line for line in done)
    assert any("▓▓▓▓▓▓▓▓ 100%" in line for line in done)
    assert "[role] @dave +Goal Achieved" in done
    assert any("earned the **Goal Achieved** badge" in line for line in done)
    listed = await community.say("/goal list")
    assert any("Fund a first loan · completed · with alice" in line for line in listed)


async def test_review_on_end_updates_the_card_from_three_public(community: ConsoleBot) -> None:
    for learner in ("erin", "femi"):
        await mentorship(community, learner)
    for n, learner in enumerate(("dave", "erin", "femi")):
        await community.handle("as @alice")
        await community.handle(f"/mentorship end person:@{learner}")
        ended = await community.say('submit notes:"Goals met, well done."')
        assert f"[DM → @{learner}]" in ended
        assert any(line.strip() == "[1 ★] [2 ★] [3 ★] [4 ★] [5 ★]" for line in ended)
        await community.handle(f"as @{learner}")
        form = await community.say("click 5")
        assert "[form → @" + learner + "] Review: 5 of 5" in form
        saved = await community.say('submit comment:"Patient and clear." public:yes')
        assert any("Your review is saved" in line for line in saved)
        await community.handle("as @zed")
        card = await community.say("/mentor browse has_capacity:no")
        rated = any("Rating: 5.0 ★ from 3 public reviews" in line for line in card)
        assert rated == (n == 2)
    profile = await community.say("/mentor reviews mentor:@alice")
    assert any("3 review(s), page 1 of 1." in line for line in profile)


async def test_badges_show_as_labels_and_sync_repairs_a_removed_role(
    community: ConsoleBot,
) -> None:
    await community.handle("as @dave")
    shown = await community.say("/mentor badges")
    assert any("Mentorship Started" in line for line in shown)
    assert any("0 of 1 goals achieved to **Goal Achieved**" in line for line in shown)
    assert "Mentorship Started" in community.port.roles["dave"]
    community.port.roles["dave"].discard("Mentorship Started")  # someone removed it
    community.port.roles["zed"] = {"Mentorship Started"}  # someone gave it away
    await community.handle("as @owner")
    synced = await community.say("/admin badges sync")
    assert "[role] @dave +Mentorship Started" in synced
    assert "[role] @zed -Mentorship Started" in synced
    again = await community.say("/admin badges sync")
    assert not any(line.startswith("[role]") for line in again)  # nothing left to repair
    await community.handle("as @dave")
    refused = await community.say("/admin badges sync")
    assert any("only community admins" in line for line in refused)
