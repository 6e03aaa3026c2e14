"""F1 end to end through the real Bolt app: modal, field errors, admin card, restart, approval.

Run over HTTP with signed requests and over Socket Mode, as the issue's acceptance asks.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import AuditEntry, Community, Mentor
from tests.adapters.slack.conftest import (
    ADMIN_CHANNEL,
    ANA,
    BOB,
    CAROL,
    GENERAL,
    Slack,
    application_form,
    buttons,
    texts,
)
from tests.helpers import count, snapshot


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_apply_in_a_modal_then_approve_after_a_restart(
    slack: Slack, mode: str, factory: async_sessionmaker[AsyncSession]
) -> None:
    # Badges as user groups over HTTP; as App Home labels (nothing on Slack) over Socket Mode.
    bot = await slack(mode, badge_usergroups=mode == "http")
    fake = bot.fake
    await bot.set_up_community()

    view_id = await bot.open_form(ANA, "apply")
    modal = fake.views[view_id].view
    assert modal["title"]["text"] == "Apply to mentor"
    assert [b["block_id"] for b in modal["blocks"]] == [
        "bio",
        "expertise",
        "availability",
        "style",
        "languages",
        "timezone",
        "max_mentees",
    ]
    timezone = modal["blocks"][5]["element"]
    assert timezone["initial_option"]["value"] == "Europe/Madrid"  # from Slack's profile

    before = await snapshot(factory)
    ack = await bot.send(
        "view_submission", user_id=ANA, view_id=view_id, values=application_form("Too short")
    )
    assert ack == {
        "response_action": "errors",
        "errors": {"bio": "Must be 20–1000 characters (it is 9)."},
    }
    assert await snapshot(factory) == before

    ack = await bot.send("view_submission", user_id=ANA, view_id=view_id, values=application_form())
    assert ack == {}
    assert "Application sent" in texts((await bot.reply())["blocks"])
    await bot.deliver()
    card = fake.messages(ADMIN_CHANNEL)[-1]
    assert "Mentor application: ana" in texts(card.blocks)
    assert set(buttons(card.blocks)) == {"Approve", "Reject"}

    await bot.restart()  # nothing in memory survives; the button carries what it acts on

    before = await snapshot(factory)
    await bot.click(BOB, "Approve")
    refusal = await bot.reply()
    assert refusal["response_type"] == "ephemeral"
    assert "only community admins can do that" in texts(refusal["blocks"])
    await bot.deliver()
    assert await snapshot(factory) == before  # still pending, no role, no DM queued, no audit
    assert await count(factory, Mentor, status="pending") == 1
    assert set(buttons(fake.messages(ADMIN_CHANNEL)[-1].blocks)) == {"Approve", "Reject"}
    assert fake.messages(ANA) == []

    await bot.click(CAROL, "Approve")  # an admin through the admin user group
    replaced = await bot.reply()
    assert replaced["replace_original"] is True
    assert "Approved by carol" in texts(replaced["blocks"])
    assert buttons(replaced["blocks"]) == {}
    assert "Approved" in texts((await bot.reply())["blocks"])
    assert buttons(fake.messages(ADMIN_CHANNEL)[-1].blocks) == {}

    await bot.deliver()
    [dm] = fake.messages(ANA)
    assert "You're a mentor now" in dm.text
    assert f"<@{CAROL}>" in texts(dm.blocks)
    assert "Please welcome our new mentor" in fake.messages(GENERAL)[-1].text
    async with factory() as session:
        mentor = (await session.execute(select(Mentor))).scalar_one()
        community = (await session.execute(select(Community))).scalar_one()
    assert mentor.status == "active"
    assert await count(factory, AuditEntry, action="mentor.approve") == 1
    role_id = community.roles["mentor"]["id"]
    if mode == "http":
        group = fake.usergroups[role_id]
        assert (group.name, group.users) == ("Mentor", [ANA])
    else:
        assert role_id == "mentorbot-mentor"
        assert [g.id for g in fake.usergroups.values()] == ["S0ADMINS"]


async def test_rejecting_asks_for_a_reason_in_a_modal(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    fake = bot.fake
    await bot.set_up_community()
    await bot.apply()
    await bot.deliver()

    await bot.click(CAROL, "Reject")
    [opened] = await fake.wait_for_calls("views.open")
    view_id = opened.response["view"]["id"]
    assert fake.views[view_id].callback_id.startswith("mb:reject:")

    ack = await bot.send(
        "view_submission", user_id=CAROL, view_id=view_id, values={"reason": {"reason": "No."}}
    )
    assert ack["errors"] == {"reason": "Must be 10–500 characters (it is 3)."}
    reason = "Please mentor a newcomer informally first, then apply again."
    ack = await bot.send(
        "view_submission", user_id=CAROL, view_id=view_id, values={"reason": {"reason": reason}}
    )
    assert ack == {}
    replaced = await bot.reply()
    assert replaced["replace_original"] is True
    assert "Rejected by carol" in texts(replaced["blocks"])
    assert "was told why" in texts((await bot.reply())["blocks"])

    await bot.deliver()
    [dm] = fake.messages(ANA)
    assert reason in texts(dm.blocks)
    assert await count(factory, Mentor, status="rejected") == 1


async def test_a_form_error_without_a_field_is_shown_over_the_form(slack: Slack) -> None:
    bot = await slack()
    view_id = await bot.open_form(ANA, "apply")  # the community is not set up yet
    ack = await bot.send("view_submission", user_id=ANA, view_id=view_id, values=application_form())
    assert ack["response_action"] == "push"
    assert "an admin needs to run `/mentor admin setup` first" in texts(ack["view"]["blocks"])
    assert ack["view"]["close"]["text"] == "Back to the form"
