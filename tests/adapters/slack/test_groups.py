"""Support groups on Slack (F8): the real Bolt app against the fake Web API.

A group's space is a private channel named by Slack's rules (a suffix when the name is
taken), its members invited and removed; archiving archives it; replies in a post's
thread arrive as ``message.groups`` events and are stored, chatter is not.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.slack.port import channel_name
from core.clock import FakeClock
from core.models import SupportGroup, SupportGroupPost, SupportGroupReply
from tests.adapters.slack.conftest import ANA, BOB, CAROL, OWNER, Slack, SlackHarness, texts
from tests.fakes.slack_fake_models import FakeChannel

CREATE = (
    'group create name:"New Givers: Café & Co!" type:new_givers '
    f"facilitator:<@{ANA}|ana> frequency:weekly day:wednesday time:19:00 "
    'timezone:Europe/London max_members:2 description:"For people new to giving"'
)
GROUP = 'group:"New Givers: Café & Co!"'


def test_channel_names_follow_slacks_rules() -> None:
    assert channel_name("New Givers: Café & Co!") == "new-givers-cafe-co"
    assert channel_name("  ***  ") == "mentorbot-group"
    assert channel_name("x" * 100) == "x" * 80
    assert channel_name("x" * 100, 3) == "x" * 78 + "-3"
    assert channel_name("Loan funders", 2) == "loan-funders-2"


async def _space(bot: SlackHarness, factory: async_sessionmaker[AsyncSession]) -> FakeChannel:
    async with factory() as session:
        group = (await session.execute(select(SupportGroup))).scalar_one()
    assert group.channel_id is not None
    return bot.fake.channels[group.channel_id]


async def _said(bot: SlackHarness, user: str, text: str) -> str:
    await bot.command(user, text)
    return texts((await bot.reply())["blocks"])


async def test_a_group_lives_from_creation_to_archive_on_slack(
    slack: Slack, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    clock.set(datetime.now(UTC))
    bot = await slack()
    bot.fake.add_channel("new-givers-cafe-co", is_private=True)  # the name is taken
    await bot.set_up_community()
    await _said(bot, ANA, "help")
    assert "created" in await _said(bot, OWNER, CREATE)
    await bot.deliver()
    space = await _space(bot, factory)
    assert (space.name, space.is_private) == ("new-givers-cafe-co-2", True)
    assert ANA in space.members

    assert "You joined" in await _said(bot, BOB, f"group join {GROUP}")
    await bot.deliver()
    assert BOB in space.members

    assert "is full" in await _said(bot, CAROL, f"group join {GROUP}")
    await bot.click_ephemeral(CAROL, "Join the waitlist")
    assert "place 1" in texts((await bot.reply())["blocks"])

    assert "You left" in await _said(bot, BOB, f"group leave {GROUP}")
    await bot.deliver()
    assert BOB not in space.members
    await bot.click(CAROL, "Take the place", channel=CAROL)
    assert "You joined" in texts((await bot.reply())["blocks"])
    await bot.deliver()
    assert CAROL in space.members

    assert "archived" in await _said(bot, ANA, f"group archive {GROUP}")
    await bot.deliver()
    assert space.is_archived


async def test_thread_replies_are_stored_and_chatter_is_not_on_slack(
    slack: Slack, factory: async_sessionmaker[AsyncSession]
) -> None:
    bot = await slack()
    await bot.set_up_community()
    await _said(bot, ANA, "help")
    await _said(bot, OWNER, CREATE)
    await _said(bot, BOB, f"group join {GROUP}")
    assert "Posted" in await _said(bot, ANA, f'group post {GROUP} text:"How was your week?"')
    await bot.deliver()
    space = await _space(bot, factory)
    async with factory() as session:
        post = (await session.execute(select(SupportGroupPost))).scalar_one()
    assert post.platform_thread_id == post.platform_message_id  # a Slack thread is its parent

    def said(text: str, thread_ts: str | None) -> dict[str, object]:
        stored = bot.fake.store_message(space, text=text, user=BOB, thread_ts=thread_ts)
        event: dict[str, object] = {
            "type": "message",
            "channel": space.id,
            "user": BOB,
            "text": text,
            "ts": stored.ts,
            "channel_type": "group",
            "team": bot.fake.team_id,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return bot.fake.event_payload(event)

    await bot.send("event", said("just chatting", None))
    await bot.send("event", said("Good, thanks!", post.platform_thread_id))

    async def stored() -> bool:
        async with factory() as session:
            return bool((await session.execute(select(SupportGroupReply))).first())

    await bot.until(stored)
    async with factory() as session:
        replies = (await session.execute(select(SupportGroupReply.content))).scalars().all()
    assert replies == ["Good, thanks!"]
