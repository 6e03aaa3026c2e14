"""SlackPort: what the delivery queue asks of Slack, including when Slack says no."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.slack.port import channel_name
from core.messages import File, Message
from core.models import Delivery
from core.ports import Attempt, PermanentFailure, Target
from tests.adapters.slack.conftest import (
    ADMIN_CHANNEL,
    ANA,
    BOB,
    CAROL,
    GENERAL,
    Slack,
    SlackHarness,
    texts,
)
from tests.helpers import count

TARGET = Target("community-id", "slack", "T0FAKETEAM")


async def _approved(bot: SlackHarness, *applicants: str) -> None:
    """Applications from ``applicants``, approved by an admin, effects not yet delivered."""
    await bot.set_up_community()
    for user in applicants:
        await bot.apply(user)
    await bot.deliver()
    for _ in applicants:
        await bot.click(CAROL, "Approve")
        await bot.reply()
        await bot.reply()


async def test_a_429_goes_back_to_the_queue_a_500_is_retried_in_place_one_dm_arrives(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    await _approved(bot, ANA)
    fake = bot.fake
    dm_channel = fake.dm_channel_id(ANA)
    fake.fail_next("conversations.open", 429, retry_after=0)
    fake.fail_next("conversations.open", 500)
    fake.fail_next("chat.postMessage", 429, retry_after=0, channel=dm_channel)
    fake.fail_next("chat.postMessage", 500, channel=dm_channel)
    await bot.deliver()
    # Refused and handed back to the queue, not waited out in place.
    assert [c.status for c in fake.calls_to("conversations.open")] == [429]
    while await count(factory, Delivery, status="pending"):
        bot.clock.advance(hours=1)
        await bot.deliver()
    assert [c.status for c in fake.calls_to("conversations.open")] == [429, 500, 200]
    posts = [c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == dm_channel]
    assert [c.status for c in posts] == [429, 500, 200]
    [dm] = fake.messages(ANA)
    assert "You're a mentor now" in dm.text


async def test_what_still_fails_is_retried_by_the_queue_without_loss_or_duplicates(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    await _approved(bot, ANA)
    fake = bot.fake
    fake.fail_next("chat.postMessage", 500, times=4)  # more than the client retries in place
    await bot.deliver()
    assert fake.messages(ANA) == []
    async with factory() as session:
        waiting = await session.execute(select(Delivery).where(Delivery.status == "pending"))
        [row] = [d for d in waiting.scalars() if d.kind == "dm"]
    assert row.attempts == 1
    assert row.last_error == f"posting in {fake.dm_channel_id(ANA)}: fatal_error"
    bot.clock.advance(hours=1)
    await bot.deliver()
    assert len(fake.messages(ANA)) == 1
    assert await count(factory, Delivery, status="pending") == 0


async def test_a_long_retry_after_goes_back_to_the_queue_and_is_honoured(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    await _approved(bot, ANA)
    fake = bot.fake
    fake.fail_next("conversations.open", 429, retry_after=30)  # too long to wait in place
    await bot.deliver()
    assert [c.status for c in fake.calls_to("conversations.open")] == [429]
    async with factory() as session:
        rows = (await session.execute(select(Delivery).where(Delivery.kind == "dm"))).scalars()
        [dm] = [d for d in rows if d.status == "pending"]
    assert dm.due_at.replace(tzinfo=UTC) >= bot.clock.now() + timedelta(seconds=30)
    bot.clock.advance(seconds=31)
    await bot.deliver()
    assert len(fake.messages(ANA)) == 1


async def test_a_missing_scope_is_reported_once_naming_the_scope(slack: Slack) -> None:
    bot = await slack(badge_usergroups=True)
    bot.fake.revoke_scope("usergroups:write")
    await _approved(bot, ANA, BOB)
    await bot.deliver()
    notices = [m for m in bot.fake.messages(ADMIN_CHANNEL) if "missing a permission" in m.text]
    assert len(notices) == 1
    assert "the usergroups:write scope" in texts(notices[0].blocks)
    assert len(bot.fake.messages(ANA)) == len(bot.fake.messages(BOB)) == 1  # DMs still went


async def test_badges_as_user_groups_are_created_granted_and_revoked(slack: Slack) -> None:
    bot = await slack(badge_usergroups=True)
    port, fake = bot.app.port, bot.fake
    group = await port.ensure_role(TARGET, "Mentor", None)
    assert await port.ensure_role(TARGET, "Mentor", group) == group
    await port.grant_role(TARGET, ANA, group)
    await port.grant_role(TARGET, ANA, group)
    await port.grant_role(TARGET, BOB, group)
    assert fake.usergroups[group].users == [ANA, BOB]
    await port.revoke_role(TARGET, ANA, group)
    await port.revoke_role(TARGET, BOB, group)
    assert fake.usergroups[group].disabled  # Slack refuses empty groups
    assert await port.ensure_role(TARGET, "Mentor", group) == group
    await port.grant_role(TARGET, CAROL, group)
    assert (fake.usergroups[group].disabled, fake.usergroups[group].users) == (False, [CAROL])


async def test_without_user_groups_badges_change_nothing_on_slack(slack: Slack) -> None:
    bot = await slack(badge_usergroups=False)
    port, calls = bot.app.port, len(bot.fake.calls)
    role = await port.ensure_role(TARGET, "Dedicated Mentor", None)
    await port.grant_role(TARGET, ANA, role)
    await port.revoke_role(TARGET, ANA, role)
    assert role == "mentorbot-dedicated-mentor"
    assert bot.fake.calls[calls:] == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Budget Buddies: Café Edition!", "budget-buddies-cafe-edition"),
        ("New givers — Wednesday 19:00", "new-givers-wednesday-19-00"),
        ("x" * 100, "x" * 80),
        ("!!!", "mentorbot-group"),
    ],
)
def test_channel_names_follow_slack_rules(name: str, expected: str) -> None:
    assert channel_name(name) == expected
    assert len(channel_name(name, attempt=12)) <= 80


async def test_private_spaces_get_unique_names_members_and_archiving(slack: Slack) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    first = await port.create_private_space(
        TARGET, "New Givers", "Weekly on Wednesdays", (ANA,), Attempt("test-10")
    )
    second = await port.create_private_space(
        TARGET, "New Givers", "", (ANA, BOB), Attempt("test-11")
    )
    assert (fake.channels[first].name, fake.channels[second].name) == ("new-givers", "new-givers-2")
    assert fake.channels[first].is_private
    assert fake.channels[first].topic == "Weekly on Wednesdays"
    assert set(fake.channels[second].members) == {fake.bot_user_id, ANA, BOB}
    await port.set_space_member(TARGET, first, BOB, True)
    await port.set_space_member(TARGET, first, BOB, True)  # already in: nothing to do
    await port.set_space_member(TARGET, first, ANA, False)
    await port.set_space_member(TARGET, first, ANA, False)
    assert set(fake.channels[first].members) == {fake.bot_user_id, BOB}
    await port.archive_space(TARGET, first)
    await port.archive_space(TARGET, first)
    assert fake.channels[first].is_archived


async def test_a_half_created_space_is_finished_on_retry_not_duplicated(slack: Slack) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    fake.fail_next("conversations.invite", 503, times=4)
    with pytest.raises(Exception, match="inviting"):
        await port.create_private_space(TARGET, "Loan funders", "", (ANA,), Attempt("test-12"))
    channel = await port.create_private_space(
        TARGET, "Loan funders", "", (ANA,), Attempt("test-13")
    )
    assert [c.name for c in fake.channels.values() if c.name.startswith("loan")] == ["loan-funders"]
    assert ANA in fake.channels[channel].members


async def test_dms_of_one_mentorship_share_a_thread(slack: Slack) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    first = await port.send_dm(
        TARGET, ANA, Message(text="Bo accepted your request"), None, Attempt("test-14")
    )
    again = await port.send_dm(
        TARGET, ANA, Message(text="Hi Ana!"), first["thread_id"], Attempt("test-15")
    )
    assert again["thread_id"] == first["thread_id"] == first["message_id"]
    reply = fake.message(fake.dm_channel_id(ANA), again["message_id"])
    assert reply is not None
    assert reply.thread_ts == first["message_id"]


async def test_meetings_and_pinned_posts_land_in_the_channel(slack: Slack) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    start = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)
    event_id = await port.create_scheduled_event(
        TARGET, GENERAL, "New givers meetup", "Bring a question", start, start + timedelta(hours=1)
    )
    channel, _, ts = event_id.partition(":")  # the announcement is the event
    assert channel == GENERAL
    posted = fake.message(GENERAL, ts)
    assert posted is not None
    assert f"<!date^{int(start.timestamp())}^{{date_long_pretty}} {{time}}|" in texts(posted.blocks)
    sent = await port.post(TARGET, GENERAL, Message(text="Read me first"), True, Attempt("test-16"))
    pinned = fake.message(GENERAL, sent["ts"])
    assert pinned is not None
    assert pinned.pinned


async def test_a_channel_the_app_is_not_in_asks_an_admin_to_invite_it(slack: Slack) -> None:
    bot = await slack()
    private = bot.fake.add_channel("secret", is_private=True, bot_is_member=False)
    with pytest.raises(PermanentFailure) as failure:
        await bot.app.port.post(
            TARGET, private.id, Message(text="hello"), False, Attempt("test-17")
        )
    assert failure.value.missing_permission is None  # unknown to the app: channel_not_found
    bot.fake.channels[private.id].is_private = False
    with pytest.raises(PermanentFailure) as failure:
        await bot.app.port.post(
            TARGET, private.id, Message(text="hello"), False, Attempt("test-18")
        )
    assert failure.value.missing_permission == f"the app in <#{private.id}> (type /invite there)"


async def test_files_travel_with_dms_and_posts(slack: Slack) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    export = File("mentorship.json", b'{"messages": []}', "application/json")
    first = await port.send_dm(TARGET, ANA, Message(text="Hi"), None, Attempt("test-19"))
    await port.send_dm(
        TARGET,
        ANA,
        Message(text="Your export", files=(export,)),
        first["thread_id"],
        Attempt("test-20"),
    )
    shared = [m for m in fake.messages(ANA) if m.files]
    assert [(m.files[0]["name"], m.thread_ts) for m in shared] == [
        ("mentorship.json", first["message_id"])
    ]
    assert fake.files[shared[0].files[0]["id"]].data == export.data
    await port.post(
        TARGET, GENERAL, Message(text="Chart", files=(export,)), False, Attempt("test-21")
    )
    assert [m.files[0]["name"] for m in fake.messages(GENERAL) if m.files] == ["mentorship.json"]


async def test_a_meetings_announcement_is_edited_when_it_moves_or_is_cancelled(
    slack: Slack,
) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    start = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)
    event_id = await port.create_scheduled_event(
        TARGET, GENERAL, "Lenders meeting", "", start, start + timedelta(hours=1)
    )
    ts = event_id.partition(":")[2]
    later = start + timedelta(days=1)
    await port.update_scheduled_event(TARGET, event_id, later, later + timedelta(hours=1))
    moved = fake.message(GENERAL, ts)
    assert moved is not None
    assert f"<!date^{int(later.timestamp())}^" in texts(moved.blocks)
    await port.cancel_scheduled_event(TARGET, event_id)
    cancelled = fake.message(GENERAL, ts)
    assert cancelled is not None
    assert "Cancelled: Lenders meeting" in texts(cancelled.blocks)


async def test_a_group_posts_thread_is_the_post_and_replies_go_into_it(slack: Slack) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    sent = await port.post(
        TARGET, GENERAL, Message(text="How was your week?"), False, Attempt("p1")
    )
    thread = await port.open_thread(TARGET, GENERAL, sent["message_id"], "How was your week?")
    assert thread == sent["ts"]
    reply = await port.post_in_thread(TARGET, GENERAL, thread, Message(text="Good"), Attempt("r1"))
    stored = fake.message(GENERAL, reply["ts"])
    assert stored is not None
    assert stored.thread_ts == thread
