"""A workspace with mentors for the F3–F6 tests.

Profiles, approvals and (where a test is not about them) connections are seeded through
the core directly, with the invocations the adapter itself would build (its ``Directory``,
so names match what Slack says and nothing changes when the same people later act through
Slack). Each test then drives only the part it is about through Bolt and the fake.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import action_id
from core.context import Invocation
from core.models import Community, Member, Mentor, Mentorship
from tests.adapters.slack.conftest import ANA, OWNER, SlackHarness
from tests.fakes.slack_fake_models import StoredMessage

DINA, EMIL, FERN, GUS, HANA, IVAN, JO = (
    "U0DINA",
    "U0EMIL",
    "U0FERN",
    "U0GUS",
    "U0HANA",
    "U0IVAN",
    "U0JO",
)
EVE, KIM = "U0EVE", "U0KIM"  # a mentee with no mentorship; the one who fills Gus
OTHER_TEAM = "T0OTHERTEAM"
# Bob's clock is Paris (UTC+1 on the fake clock's January date).
MENTEE_PROFILE = {"goals": "learn_giving", "timezone": "Europe/Paris", "languages": "en"}


@dataclass(frozen=True)
class MentorProfile:
    user: str
    name: str
    expertise: str
    languages: str
    style: str
    timezone: str
    max_mentees: int = 3

    def application(self) -> dict[str, object]:
        return {
            "bio": f"{self.name.capitalize()} has helped new members give and lend for years.",
            "expertise": self.expertise,
            "availability": 8,
            "style": self.style,
            "languages": self.languages,
            "timezone": self.timezone,
            "max_mentees": self.max_mentees,
        }


ANA_MENTOR = MentorProfile(ANA, "ana", "giving,loans", "en,es", "async", "Europe/Madrid", 2)
# With Ana: seven mentors with free places (two pages of five) and Gus, who is full.
MENTORS = (
    ANA_MENTOR,
    MentorProfile(DINA, "dina", "giving", "en", "async", "Europe/London"),
    MentorProfile(EMIL, "emil", "loans", "de,en", "scheduled", "Europe/Berlin"),
    MentorProfile(FERN, "fern", "financial", "en", "casual", "America/New_York"),
    MentorProfile(GUS, "gus", "community", "en,fr", "async", "Europe/Paris", 1),
    MentorProfile(HANA, "hana", "giving,financial", "ja,en", "scheduled", "Asia/Tokyo"),
    MentorProfile(IVAN, "ivan", "loans", "es,en", "casual", "America/Mexico_City"),
    MentorProfile(JO, "jo", "community,giving", "en", "async", "Australia/Sydney"),
)


async def member(bot: SlackHarness, user: str) -> Invocation:
    """What the adapter tells the core about ``user`` acting in this workspace."""
    return await bot.app.directory.invocation(bot.fake.team_id, user)


async def seed_mentors(
    bot: SlackHarness, mentors: tuple[MentorProfile, ...] = MENTORS
) -> dict[str, str]:
    """Apply and approve each mentor (workspace members, added to the fake if new), and
    deliver what that sends. The community must be set up. Returns mentor ids by name."""
    service = bot.app.service
    owner = await member(bot, OWNER)
    ids = {}
    for profile in mentors:
        if profile.user not in bot.fake.users:
            bot.fake.add_user(profile.user, profile.name, tz=profile.timezone)
        await service.execute(
            await member(bot, profile.user), "mentor apply", profile.application()
        )
        ids[profile.name] = await mentor_id(service.factory, bot.fake.team_id, profile.user)
        await service.press(owner, action_id("approve", ids[profile.name], "1"))
    await bot.deliver()
    return ids


async def become_mentee(bot: SlackHarness, user: str, **profile: str) -> None:
    if user not in bot.fake.users:
        bot.fake.add_user(user, user.removeprefix("U0").lower())
    await bot.app.service.execute(
        await member(bot, user), "mentee profile", {**MENTEE_PROFILE, **profile}
    )


async def connect(bot: SlackHarness, mentor: str, mentee: str) -> str:
    """``mentee`` requests ``mentor``, who accepts; the request card and both thread
    starters are delivered. Returns the mentorship id."""
    service = bot.app.service
    await service.execute(await member(bot, mentee), "mentor request", {"mentor": mentor})
    ms = (await mentorships(service.factory))[-1]
    await service.press(await member(bot, mentor), action_id("accept", ms.id, "1"))
    await bot.deliver()
    return ms.id


async def other_team_mentorship(bot: SlackHarness) -> tuple[str, str]:
    """A mentor and an active mentorship in another workspace served by the same bot;
    returns (mentor id, mentorship id). Its effects are never delivered: the app is not
    installed in that team (its token belongs to the fake team)."""
    service = bot.app.service

    def someone(user: str, name: str) -> Invocation:
        return Invocation("slack", OTHER_TEAM, user, name, is_platform_admin=user == "U1OWNER")

    await service.execute(
        someone("U1OWNER", "otto"),
        "admin setup",
        {"admin_role": "S1ADMINS", "admin_channel": "C1ADMIN"},
    )
    zed = replace(MENTORS[1], user="U1ZED", name="zed")
    await service.execute(someone(zed.user, zed.name), "mentor apply", zed.application())
    mentor = await mentor_id(service.factory, OTHER_TEAM, zed.user)
    await service.press(someone("U1OWNER", "otto"), action_id("approve", mentor, "1"))
    await service.execute(someone("U1YAN", "yan"), "mentee profile", MENTEE_PROFILE)
    await service.execute(someone("U1YAN", "yan"), "mentor request", {"mentor": zed.user})
    ms = (await mentorships(service.factory))[-1]
    await service.press(someone(zed.user, zed.name), action_id("accept", ms.id, "1"))
    return mentor, ms.id


async def mentor_id(factory: async_sessionmaker[AsyncSession], team: str, user: str) -> str:
    async with factory() as session:
        found = await session.execute(
            select(Mentor.id)
            .join(Member, Member.id == Mentor.user_id)
            .join(Community, Community.id == Member.community_id)
            .where(Community.platform_id == team, Member.platform_user_id == user)
        )
        return found.scalar_one()


async def mentorships(factory: async_sessionmaker[AsyncSession]) -> list[Mentorship]:
    async with factory() as session:
        rows = await session.execute(select(Mentorship).order_by(Mentorship.created_at))
        return list(rows.scalars())


def thread_starter(bot: SlackHarness, user: str) -> StoredMessage:
    """The top-level DM that opened ``user``'s thread of their (newest) mentorship."""
    return next(
        m
        for m in reversed(bot.fake.messages(user, include_replies=False))
        if "started" in m.text and m.user == bot.fake.bot_user_id
    )


def in_thread(bot: SlackHarness, user: str, thread_ts: str) -> list[StoredMessage]:
    """What the app posted in one thread of ``user``'s DM with it, oldest first."""
    return [
        m
        for m in bot.fake.messages(user)
        if m.thread_ts == thread_ts and m.ts != thread_ts and m.user == bot.fake.bot_user_id
    ]
