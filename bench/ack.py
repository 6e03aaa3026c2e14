"""Time to first response through the real adapters, at community scale (issue 10).

    .venv/bin/python bench/ack.py [--quick] [--platform discord|slack|both]

Seeds a Discord and a Slack community with ``bench/commands.py``'s bulk seeding (each
100,000 members, 10,000 mentors, 5,000 mentees; ``--quick``: its tiny sizes) in a
temporary SQLite file, then drives mixed interactions (``help``, ``browse``, ``suggest``
and the ``apply`` form: a Discord modal submission, a Slack view submission) through the
real ``DiscordAdapter`` (gateway + REST) and ``SlackAdapter`` (Socket Mode) against the
project's fakes (``tests/fakes``): 200 one at a time, then 200 and 400 at once. Each
interaction is timed from the moment the fake sends it to its first response (Discord's
interaction callback: an answer or a deferral; Slack's envelope acknowledgement), and
the run waits for every final answer before the next round. In the same run, on the
same fakes, the floor: a bare discord.py client answering every interaction with a
static message and a bare Bolt app that only acks, fed the same interactions one at a
time and at once; our p99 is printed as a ratio to it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import discord
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.discord.bot import DiscordAdapter, point_discord_py_at
from adapters.slack.app import SlackAdapter
from bench.commands import FULL, LANGS, QUICK, STYLES, Seeded, Sizes, seed
from bot.wiring import settle_memory
from core import db
from core.defaults import EXPERTISE_OPTIONS
from core.models import Community, Member
from core.service import Mentorbot
from tests.fakes.discord_fake import FakeDiscord
from tests.fakes.discord_fake_interactions import PendingInteraction, new_token
from tests.fakes.slack_fake import FakeSlack

DEADLINE_MS = 2_500
BIO = "Twenty years of household budgeting and community lending."
APPLY = {
    "expertise": "giving,loans",
    "availability": 6,
    "style": "async",
    "languages": "en,es",
    "timezone": "Europe/Madrid",
}
WAIT_FINAL_SECONDS = 180.0
DISCORD_TOKEN = "fake-bot-token"


@dataclass(frozen=True)
class Plan:
    sizes: Sizes
    serial: int
    bursts: tuple[int, ...]


PLANS = {
    "full": Plan(FULL, 200, (200, 400)),
    "quick": Plan(QUICK, 10, (10, 20)),
}


@dataclass
class Figures:
    ms: list[float]

    def p(self, q: float) -> float:
        s = sorted(self.ms)
        return s[min(len(s) - 1, int(len(s) * q))] if s else float("nan")

    def line(self, label: str) -> str:
        over = sum(m > DEADLINE_MS for m in self.ms)
        return (
            f"{label:<40} p50 {statistics.median(self.ms):8.1f} ms   p99 {self.p(0.99):8.1f} ms"
            f"   max {max(self.ms):8.1f} ms   over 2.5 s: {over}"
        )


# ----- seeding: bench/commands.py's community, moved to a platform ------------------------


async def seed_on(
    engine: AsyncEngine, plan: Plan, platform: str, user_prefix: str, seed_no: int
) -> Seeded:
    """One seeded community (``platform`` ids filled in later), members ``<prefix>NNNNNN``."""
    seeded = await seed(engine, plan.sizes, random.Random(seed_no))
    async with engine.begin() as conn:
        await conn.execute(
            update(Community)
            .where(Community.id == seeded.community_id)
            .values(platform=platform, platform_id=f"pending-{platform}")
        )
        await conn.execute(
            update(Member)
            .where(Member.community_id == seeded.community_id)
            .values(platform_user_id=user_prefix + func.substr(Member.platform_user_id, 2))
        )

    def moved(people: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(user_prefix + uid[1:], name) for uid, name in people]

    seeded.mentees = moved(seeded.mentees)
    seeded.applicants = moved(seeded.applicants)
    return seeded


async def name_community(engine: AsyncEngine, seeded: Seeded, platform_id: str, name: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(Community)
            .where(Community.id == seeded.community_id)
            .values(platform_id=platform_id, name=name)
        )


# ----- what members do ---------------------------------------------------------------------


@dataclass(frozen=True)
class Act:
    kind: str  # help | browse | suggest | apply
    user: tuple[str, str]
    options: dict[str, object]


class Acts:
    """Mixed interactions; each ``apply`` by a member who has not applied yet."""

    def __init__(self, seeded: Seeded, rng: random.Random) -> None:
        self.seeded, self.rng = seeded, rng
        self._applicants = iter(seeded.applicants)

    def take(self, n: int) -> list[Act]:
        acts = []
        for _ in range(n):
            kind = self.rng.choices(["help", "browse", "suggest", "apply"], [2, 4, 3, 1])[0]
            if kind == "apply":
                acts.append(Act(kind, next(self._applicants), {}))
                continue
            options: dict[str, object] = {}
            if kind == "browse":
                options["page"] = self.rng.randint(1, 20)
                pick = self.rng.random()
                if pick < 0.3:
                    options["expertise"] = self.rng.choice(EXPERTISE_OPTIONS)
                elif pick < 0.5:
                    options["language"] = self.rng.choice(LANGS)
                elif pick < 0.7:
                    options["style"] = self.rng.choice(STYLES)
            acts.append(Act(kind, self.rng.choice(self.seeded.mentees), options))
        return acts


# ----- Discord -----------------------------------------------------------------------------


class BareDiscord(discord.Client):
    """The floor: discord.py answering every interaction with a static message."""

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong", ephemeral=True)


class DiscordDriver:
    def __init__(self, fake: FakeDiscord, guild_id: int) -> None:
        self.fake, self.guild_id = fake, guild_id
        self.members: set[int] = set()

    def member(self, person: tuple[str, str]) -> int:
        uid = int(person[0])
        if uid not in self.members:
            self.fake.add_user(uid, person[1])
            self.fake.add_member(self.guild_id, uid)
            self.members.add(uid)
        return uid

    async def payloads(self, acts: list[Act]) -> list[dict[str, Any]]:
        """The interactions to send; a form's command is run first (not timed)."""
        out = []
        for act in acts:
            user = self.member(act.user)
            if act.kind == "apply":
                modal = await self.fake.interact(
                    self.fake.slash_command(self.guild_id, user, "mentor apply", APPLY)
                )
                assert modal.type == 9, modal
                assert modal.data is not None
                out.append(
                    self.fake.modal_submit(
                        self.guild_id, user, modal.data["custom_id"], {"bio": BIO}
                    )
                )
            else:
                out.append(
                    self.fake.slash_command(self.guild_id, user, f"mentor {act.kind}", act.options)
                )
        return out

    def sent_now(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` as Discord would send it now: with a new id (a snowflake carries its
        creation time, from which the adapter's 3 s clock runs) and token. Payloads are
        built ahead of a round (a form's command is answered first), and one built seconds
        before it was sent looked late to the adapter, which then deferred it at once
        without handling it: serial figures looked faster than handling was."""
        fresh = self.fake.state.next_id()
        return {**payload, "id": str(fresh), "token": new_token(fresh)}

    async def run(self, payloads: list[dict[str, Any]]) -> Figures:
        """Send all at once; first-response times; waits for every final answer."""
        pending: list[PendingInteraction] = []
        for payload in payloads:
            pending.append(await self.fake.send_interaction(self.sent_now(payload)))
        for p in pending:
            answer = await p.wait_response(WAIT_FINAL_SECONDS)
            if answer.type == 5:
                await p.wait_followup(1, WAIT_FINAL_SECONDS)
        return Figures([(p.responded_at - p.sent_at) * 1000 for p in pending])  # type: ignore[operator]


# ----- Slack -------------------------------------------------------------------------------


class SlackDriver:
    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.users: set[str] = set()

    def user(self, person: tuple[str, str]) -> str:
        if person[0] not in self.users:
            self.fake.add_user(person[0], person[1])
            self.users.add(person[0])
        return person[0]

    async def envelopes(self, acts: list[Act]) -> list[tuple[str, dict[str, Any]]]:
        """(kind, builder arguments) to push; a form is opened first (not timed)."""
        out: list[tuple[str, dict[str, Any]]] = []
        for act in acts:
            user = self.user(act.user)
            if act.kind == "apply":
                opened = len(self.fake.calls_to("views.open"))
                await self.push_and_ack(
                    "slash_command", command="/mentor", text="apply", user_id=user
                )
                [*_, call] = await self.fake.wait_for_calls("views.open", opened + 1)
                values = {
                    "bio": {"bio": BIO},
                    "expertise": {"expertise": ["giving", "loans"]},
                    "availability": {"availability": "6"},
                    "style": {"style": "async"},
                    "languages": {"mbac:languages": ["en", "es"]},
                    "timezone": {"mbac:timezones": "Europe/Madrid"},
                    "max_mentees": {"max_mentees": "2"},
                }
                view_id = call.response["view"]["id"]
                out.append(
                    ("view_submission", {"user_id": user, "view_id": view_id, "values": values})
                )
            else:
                text = " ".join([act.kind, *(f"{k}:{v}" for k, v in act.options.items())])
                out.append(("slash_command", {"command": "/mentor", "text": text, "user_id": user}))
        return out

    async def push_and_ack(self, kind: str, **kwargs: Any) -> None:
        envelope = await self.fake.socket_push(kind, **kwargs)
        await self.fake.wait_for_ack(envelope, WAIT_FINAL_SECONDS)

    async def run(self, envelopes: list[tuple[str, dict[str, Any]]], replies: bool) -> Figures:
        """Push all at once; ack latencies; with ``replies``, waits for every answer."""
        posted = len(self.fake.response_posts)
        ids = [await self.fake.socket_push(kind, **kwargs) for kind, kwargs in envelopes]
        await self.fake.wait_until(
            lambda: all(i in self.fake.socket_acks for i in ids), WAIT_FINAL_SECONDS, "acks"
        )
        if replies:
            want = posted + len(ids)
            await self.fake.wait_until(
                lambda: len(self.fake.response_posts) >= want, WAIT_FINAL_SECONDS, "answers"
            )
        return Figures([self.fake.socket_acks[i].latency * 1000 for i in ids])


# ----- the run -----------------------------------------------------------------------------


async def serially(run: Callable[[list[Any]], Awaitable[Figures]], items: list[Any]) -> Figures:
    ms: list[float] = []
    for item in items:
        ms += (await run([item])).ms
    return Figures(ms)


async def discord_rounds(engine: AsyncEngine, plan: Plan, seeded: Seeded) -> None:
    service = Mentorbot(db.session_factory(engine))
    acts = Acts(seeded, random.Random(3))
    async with FakeDiscord() as fake:
        guild = fake.add_guild("Givers")
        await name_community(engine, seeded, str(guild.id), "Givers")
        driver = DiscordDriver(fake, guild.id)
        adapter = DiscordAdapter(
            service,
            token=DISCORD_TOKEN,
            application_id=None,
            api_base_url=fake.api_base_url,
            gateway_url=fake.gateway_url,
            guild_ready_timeout=0.05,
        )
        await adapter.start()
        rounds: dict[int, list[dict[str, Any]]] = {}
        try:
            await driver.run(await driver.payloads(acts.take(20)))  # warm-up, not counted
            settle_memory()  # as `mentorbot run` does once it is up
            serial = await driver.payloads(acts.take(plan.serial))
            ours = {0: await serially(driver.run, serial)}
            for n in plan.bursts:
                rounds[n] = await driver.payloads(acts.take(n))
                ours[n] = await driver.run(rounds[n])
        finally:
            await adapter.stop()
        bare = BareDiscord(intents=discord.Intents.none())
        point_discord_py_at(fake.api_base_url, fake.gateway_url)
        await bare.login(DISCORD_TOKEN)
        connection = asyncio.create_task(bare.connect())
        await bare.wait_until_ready()
        try:
            floor = {0: await serially(driver.run, serial)}
            floor |= {n: await driver.run(rounds[n]) for n in plan.bursts}
        finally:
            await bare.close()
            connection.cancel()
    report("Discord", ours, floor)


async def slack_rounds(engine: AsyncEngine, plan: Plan, seeded: Seeded) -> None:
    service = Mentorbot(db.session_factory(engine))
    acts = Acts(seeded, random.Random(4))
    async with FakeSlack() as fake:
        adapter = SlackAdapter(
            service,
            bot_token=fake.bot_token,
            signing_secret=fake.signing_secret,
            app_token=fake.app_token,
            mode="socket",
            http_host="127.0.0.1",
            http_port=0,
            api_base_url=fake.api_base_url,
        )
        driver = SlackDriver(fake)
        await adapter.start()
        team_name = (await adapter.workspaces.get(fake.team_id)).name
        await name_community(engine, seeded, fake.team_id, team_name)
        rounds: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        try:
            await driver.run(await driver.envelopes(acts.take(20)), replies=True)  # warm-up
            settle_memory()  # as `mentorbot run` does once it is up
            serial = await driver.envelopes(acts.take(plan.serial))
            ours = {0: await serially(lambda e: driver.run(e, replies=True), serial)}
            for n in plan.bursts:
                rounds[n] = await driver.envelopes(acts.take(n))
                ours[n] = await driver.run(rounds[n], replies=True)
        finally:
            await adapter.stop()
        bare = AsyncApp(
            client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_base_url),
            signing_secret=fake.signing_secret,
            request_verification_enabled=False,
        )

        async def just_ack(ack: Callable[[], Awaitable[None]]) -> None:
            await ack()

        bare.command("/mentor")(just_ack)
        bare.view(re.compile(".*"))(just_ack)
        handler = AsyncSocketModeHandler(bare, app_token=fake.app_token)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        try:
            floor = {0: await serially(lambda e: driver.run(e, replies=False), serial)}
            floor |= {n: await driver.run(rounds[n], replies=False) for n in plan.bursts}
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
    report("Slack", ours, floor)


def report(platform: str, ours: dict[int, Figures], floor: dict[int, Figures]) -> None:
    print(ours[0].line(f"{platform}: one at a time"))
    print(floor[0].line(f"{platform} floor (bare): one at a time"))
    for n, figures in ours.items():
        if n:
            print(figures.line(f"{platform}: {n} at once"))
            print(floor[n].line(f"{platform} floor (bare): {n} at once"))
            ratio = figures.p(0.99) / floor[n].p(0.99)
            print(f"{platform}: p99 / floor p99 at {n} at once: {ratio:.1f}x")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument(
        "--platform", choices=("discord", "slack", "both"), default="both", help="default: both"
    )
    args = parser.parse_args()
    plan = PLANS["quick" if args.quick else "full"]
    platforms = ("discord", "slack") if args.platform == "both" else (args.platform,)
    with tempfile.TemporaryDirectory() as tmp:
        url = db.normalise_url(f"sqlite:///{tmp}/ack.db")
        await db.upgrade_async(url)
        engine = db.create_engine(url)
        started = time.perf_counter()
        seeded = {
            name: await seed_on(engine, plan, name, prefix, n)
            for name, prefix, n in (("discord", "9", 1), ("slack", "U", 2))
            if name in platforms
        }
        sizes = plan.sizes
        print(
            f"SQLite: seeded {len(seeded)} communit{'ies' if len(seeded) > 1 else 'y'} of "
            f"{sizes.members:,} members, {sizes.mentors:,} mentors, {sizes.mentees:,} mentees "
            f"in {time.perf_counter() - started:.1f} s (not counted)"
        )
        if "discord" in seeded:
            await discord_rounds(engine, plan, seeded["discord"])
        if "slack" in seeded:
            await slack_rounds(engine, plan, seeded["slack"])
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
