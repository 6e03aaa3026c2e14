"""Issue 8 on Slack: `/mentor admin setup` takes only this workspace's channels and user
groups; requests from another workspace are refused without effect; a demoted admin loses
the rights at once; an incoming DM is relayed and marked read in one core call, and a
refused one writes nothing."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.slack.app import OTHER_WORKSPACE
from adapters.slack.identity import Recent
from core.models import Community, MentorMessage
from tests.adapters.slack.community import (
    ANA_MENTOR,
    become_mentee,
    connect,
    seed_mentors,
    thread_starter,
)
from tests.adapters.slack.conftest import (
    ADMIN_CHANNEL,
    ADMINS_GROUP,
    ANA,
    BOB,
    CAROL,
    GENERAL,
    OWNER,
    Slack,
    SlackHarness,
    texts,
)
from tests.helpers import count, snapshot

OTHER_TEAM = "T0ELSEWHERE"
ADMIN_ROLE = f"admin_role:<!subteam^{ADMINS_GROUP}|@mentor-admins>"


async def _refused(bot: SlackHarness, factory: async_sessionmaker[AsyncSession], text: str) -> str:
    """Run ``text`` as the owner; it must be refused, changing nothing."""
    before = await snapshot(factory)
    await bot.command(OWNER, text, GENERAL)
    answer = texts((await bot.reply())["blocks"])
    assert await snapshot(factory) == before
    return answer


# ----- 1, 2. channels and user groups that are not this workspace's ------------------------


async def test_a_channel_of_another_workspace_is_refused_naming_the_option(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    # Not a conversation this workspace's token can see (another workspace's channel).
    answer = await _refused(
        bot, factory, f"admin setup {ADMIN_ROLE} admin_channel:<#C0ELSEWHERE|their-admin>"
    )
    assert "`admin_channel`: must be a channel of this community" in answer
    answer = await _refused(
        bot,
        factory,
        f"admin setup admin_role:<!subteam^S0THEIRS|@theirs> admin_channel:<#{ADMIN_CHANNEL}>",
    )
    assert "`admin_role`: must be a role of this community" in answer
    assert await count(factory, Community, is_set_up=True) == 0


async def test_a_direct_message_or_a_user_as_channel_is_refused_naming_the_option(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    dm = bot.fake.dm_channel_id(OWNER)
    answer = await _refused(bot, factory, f"admin setup {ADMIN_ROLE} admin_channel:<#{dm}>")
    assert "`admin_channel`: must be a channel that holds messages" in answer
    answer = await _refused(bot, factory, f"admin setup {ADMIN_ROLE} admin_channel:<@{ANA}|ana>")
    assert "`admin_channel`: pick the channel from Slack's list" in answer
    await bot.set_up_community()
    answer = await _refused(bot, factory, f"admin setup group_category:<#{GENERAL}|general>")
    assert "`group_category`: must be a category" in answer


# ----- 5. requests from another workspace --------------------------------------------------


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_requests_from_another_workspace_are_refused_without_effect(
    slack: Slack,
    factory: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    caplog.set_level(logging.INFO, logger="adapters.slack")
    bot = await slack(mode)
    fake = bot.fake
    before = await snapshot(factory)
    calls = [c.method for c in fake.calls if c.method != "auth.test"]

    acks = []
    for _ in range(2):
        command = fake.slash_command_payload("/mentor", "help", user_id=ANA)
        acks.append(await bot.send("slash_command", {**command, "team_id": OTHER_TEAM}))
    event = fake.event_payload(fake.im_message_event(ANA, "Hello?"))
    event["event"]["team"] = event["team_id"] = event["authorizations"][0]["team_id"] = OTHER_TEAM
    await bot.send("event", event)

    assert acks == [{"text": OTHER_WORKSPACE}] * 2
    # The refusal is answered before any listener: nothing is written, said or asked.
    assert await snapshot(factory) == before
    assert fake.response_posts == []
    assert [c.method for c in fake.calls if c.method != "auth.test"] == calls
    logged = [r for r in caplog.records if OTHER_TEAM in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in logged]

    # The installed workspace is served as before.
    await bot.command(ANA, "help")
    assert "/mentor" in texts((await bot.reply())["blocks"])


# ----- 13. the admin cache -------------------------------------------------------------------


async def test_a_demoted_admin_loses_admin_rights_on_the_next_command(slack: Slack) -> None:
    bot = await slack()
    fake = bot.fake
    await bot.set_up_community()
    await bot.command(OWNER, "admin audit")
    assert "Audit log" in texts((await bot.reply())["blocks"])
    await bot.command(CAROL, "admin audit")  # in the admin user group
    assert "Audit log" in texts((await bot.reply())["blocks"])

    fake.users[OWNER].is_admin = False
    await bot.send(
        "event",
        fake.event_payload(
            {"type": "user_change", "user": fake.users[OWNER].to_api(), "event_ts": "1.0"}
        ),
    )
    fake.usergroups[ADMINS_GROUP].users.remove(CAROL)
    await bot.send(
        "event",
        fake.event_payload(
            {
                "type": "subteam_members_changed",
                "subteam_id": ADMINS_GROUP,
                "team_id": fake.team_id,
                "added_users": [],
                "removed_users": [CAROL],
                "event_ts": "2.0",
            }
        ),
    )

    for user in (OWNER, CAROL):
        await bot.command(user, "admin audit")
        assert "only community admins can do that" in texts((await bot.reply())["blocks"])


def test_the_cache_is_bounded_and_forgets_after_its_time() -> None:
    now = [0.0]
    cache: Recent[str, int] = Recent(2, 30.0, lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)
    now[0] = 30.0
    assert cache.get("a") is None
    assert len(cache) == 1


# ----- 14. an incoming DM --------------------------------------------------------------------


async def _relayed_to_bob(slack: Slack) -> SlackHarness:
    """Ana mentors Bob and wrote to him in their thread; delivered over HTTP."""
    bot = await slack()
    await bot.set_up_community()
    await seed_mentors(bot, (ANA_MENTOR,))
    await become_mentee(bot, BOB)
    await connect(bot, ANA, BOB)
    sent = await bot.dm(ANA, "Hello Bob, how is the budget?", thread_ts=thread_starter(bot, ANA).ts)
    assert f"Sent to <@{BOB}>" in texts(sent.blocks)
    await bot.deliver()
    return bot


async def _read(factory: async_sessionmaker[AsyncSession]) -> dict[str, bool]:
    async with factory() as session:
        stored = (await session.execute(select(MentorMessage))).scalars().all()
    return {m.content: m.read_at is not None for m in stored}


async def test_a_refused_reply_in_the_thread_is_not_marked_read_and_writes_nothing(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await _relayed_to_bob(slack)
    await bot.command(ANA, f"mentorship pause person:<@{BOB}|bob>")
    assert "Paused" in texts((await bot.reply())["blocks"])
    before = await snapshot(factory)
    refused = await bot.dm(BOB, "Are you there?", thread_ts=thread_starter(bot, BOB).ts)
    assert "is paused, so messages are not passed on" in texts(refused.blocks)
    assert await snapshot(factory) == before
    assert await _read(factory) == {"Hello Bob, how is the budget?": False}


async def test_a_dm_from_someone_without_a_mentorship_writes_nothing(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    await bot.set_up_community()
    before = await snapshot(factory)
    refused = await bot.dm(CAROL, "Hello?")
    assert "You have no active mentorship" in texts(refused.blocks)
    assert await snapshot(factory) == before


async def test_a_relayed_reply_in_the_thread_marks_the_other_side_read(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await _relayed_to_bob(slack)
    assert await _read(factory) == {"Hello Bob, how is the budget?": False}
    sent = await bot.dm(BOB, "Going well!", thread_ts=thread_starter(bot, BOB).ts)
    assert f"Sent to <@{ANA}>" in texts(sent.blocks)
    assert await _read(factory) == {"Hello Bob, how is the budget?": True, "Going well!": False}
