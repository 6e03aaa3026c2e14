"""A server with mentors for the F3–F6 tests: profiles seeded through the core directly
(``Mentorbot.execute`` / ``press`` with Discord invocations), so each test drives only
the part it is about through discord.py and the fake."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import action_id
from core.context import Invocation
from core.models import Member, Mentorship
from core.models import Mentor as MentorRow
from core.service import Mentorbot
from tests.adapters.discord.conftest import OWNER, Bot, World, button_ids, embed_of, embed_text
from tests.fakes.discord_fake import InteractionCallback

JSON = dict[str, Any]
CAROL = 2003
MENTEE_PROFILE = {"goals": "learn_giving", "timezone": "Europe/London", "languages": "en"}


@dataclass(frozen=True)
class Mentor:
    """A mentor to seed: a member of the fake server with this profile."""

    user: int
    name: str
    expertise: str = "giving"
    languages: str = "en"
    style: str = "async"
    timezone: str = "Europe/London"
    max_mentees: int = 3

    def application(self) -> dict[str, object]:
        return {
            "bio": f"{self.name.capitalize()} has mentored new givers for years.",
            "expertise": self.expertise,
            "availability": 8,
            "style": self.style,
            "languages": self.languages,
            "timezone": self.timezone,
            "max_mentees": self.max_mentees,
        }


def member(world: World, user: int, name: str = "", *, admin: bool = False) -> Invocation:
    """What the Discord adapter would tell the core about ``user`` acting in ``world``."""
    return Invocation(
        platform="discord",
        community_platform_id=str(world.id),
        user_id=str(user),
        display_name=name,
        is_platform_admin=admin,
    )


def add_members(world: World, mentors: list[Mentor]) -> None:
    """Make the mentors members of the fake server (before the bot starts, so they are in
    its GUILD_CREATE)."""
    for mentor in mentors:
        world.fake.add_member(world.id, mentor.user, mentor.name)


async def seed_mentors(service: Mentorbot, world: World, mentors: list[Mentor]) -> dict[str, str]:
    """Apply and approve each mentor through the core; returns mentor ids by name.

    The community must be set up (``bot.set_up()``)."""
    owner = member(world, OWNER, admin=True)
    ids = {}
    for mentor in mentors:
        await service.execute(
            member(world, mentor.user, mentor.name), "mentor apply", mentor.application()
        )
        ids[mentor.name] = await mentor_id(service.factory, mentor.user)
        await service.press(owner, action_id("approve", ids[mentor.name], "1"))
    return ids


async def mentor_id(factory: async_sessionmaker[AsyncSession], user: int) -> str:
    async with factory() as session:
        return (
            await session.execute(
                select(MentorRow.id)
                .join(Member, Member.id == MentorRow.user_id)
                .where(Member.platform_user_id == str(user))
            )
        ).scalar_one()


async def mentorships(factory: async_sessionmaker[AsyncSession]) -> list[Mentorship]:
    async with factory() as session:
        rows = await session.execute(select(Mentorship).order_by(Mentorship.created_at))
        return list(rows.scalars())


async def become_mentee(bot: Bot, user: int, **profile: str) -> InteractionCallback:
    return await bot.command(user, "mentee profile", {**MENTEE_PROFILE, **profile})


def bot_dms(bot: Bot, user: int) -> list[JSON]:
    """What the bot sent ``user`` in their DM with it, oldest first."""
    return [m for m in bot.fake.dm_messages(user) if int(m["author"]["id"]) == bot.fake.bot_user_id]


async def dm_the_bot(bot: Bot, user: int, text: str, reply_to: JSON | None = None) -> JSON:
    """``user`` DMs the bot (as a Discord reply to ``reply_to`` if given); returns the
    bot's answer in that DM."""
    extra: JSON = {}
    if reply_to is not None:
        extra["message_reference"] = {
            "message_id": reply_to["id"],
            "channel_id": reply_to["channel_id"],
        }
    posts = f"/channels/{bot.fake.state.open_dm(user)['id']}/messages"
    answered = len(bot.fake.calls_to("POST", posts, ok=True)) + 1
    sent = await bot.fake.user_sends_message(user, text, **extra)
    await bot.fake.wait_for_call("POST", posts, ok=True, count=answered)
    return next(m for m in bot_dms(bot, user) if int(m["id"]) > int(sent["id"]))


def title(message: JSON) -> str:
    """The title of a bot message's one embed ("" if it has none)."""
    (embed,) = message["embeds"]
    return str(embed.get("title") or "")


async def request_mentor(bot: Bot, mentee: int, mentor: int) -> JSON:
    """``mentee`` asks ``mentor`` with /mentor request; returns the mentor's request DM."""
    asked = await bot.command(mentee, "mentor request", {"mentor": mentor, "note": "Hello!"})
    assert embed_of(asked)["title"] == "Request sent", embed_text(asked)
    await bot.deliver()
    return bot_dms(bot, mentor)[-1]


async def press_in_dm(bot: Bot, user: int, label: str, message: JSON) -> JSON:
    """``user`` presses ``label`` on a DM from the bot; returns the interaction's answer."""
    fake = bot.fake
    pressed = await fake.interact(
        fake.button_click(None, user, button_ids(message)[label], int(message["id"]))
    )
    assert pressed.data is not None
    return {"type": pressed.type, "ephemeral": pressed.ephemeral, **pressed.data}
