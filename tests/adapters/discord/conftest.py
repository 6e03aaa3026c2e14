"""The Discord adapter under test: the real discord.py client against the local fake Discord.

``world`` is one server (the fake's guild) with an owner, an admin-role holder, two
members and the channels setup needs; ``discord_bot`` starts ``DiscordAdapter`` against
the fake on a migrated database and returns a harness that sends interactions, reads the
answers and delivers queued effects through the real dispatcher with the adapter's port.
Starting a second adapter on the same fake and database is a restart.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.discord.bot import DiscordAdapter
from core.clock import FakeClock
from core.delivery import Dispatcher
from core.service import Mentorbot
from tests.fakes.discord_fake import FakeDiscord, FakeGuild, InteractionCallback

OWNER, ADA, ALICE, BOB = 1001, 1002, 2001, 2002
BIO = "I have funded 40 microloans and love explaining how it works."
APPLY_OPTIONS: dict[str, Any] = {
    "expertise": "giving,loans",
    "availability": 6,
    "style": "async",
    "languages": "en,es",
    "timezone": "Europe/Madrid",
    "max_mentees": 2,
}
JSON = dict[str, Any]


@dataclass
class World:
    fake: FakeDiscord
    guild: FakeGuild
    admins_role: int
    admin_channel: int
    general: int

    @property
    def id(self) -> int:
        return self.guild.id


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
def world(fake: FakeDiscord) -> World:
    fake.add_user(OWNER, "olive")
    guild = fake.add_guild("Givers", owner_id=OWNER)
    admins = int(fake.add_role(guild.id, "Mentor admins")["id"])
    fake.add_member(guild.id, ADA, "ada", roles=[admins])
    fake.add_member(guild.id, ALICE, "alice")
    fake.add_member(guild.id, BOB, "bob")
    general = int(fake.add_text_channel(guild.id, "general")["id"])
    admin_channel = int(fake.add_text_channel(guild.id, "mentor-admin")["id"])
    return World(fake, guild, admins, admin_channel, general)


@pytest.fixture
def service(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> Mentorbot:
    return Mentorbot(factory, clock)


class Bot:
    """One running adapter plus the helpers tests drive it with."""

    def __init__(self, adapter: DiscordAdapter, world: World, dispatcher: Dispatcher) -> None:
        self.adapter = adapter
        self.world = world
        self.fake = world.fake
        self.dispatcher = dispatcher

    async def command(
        self, user: int, path: str, options: dict[str, Any] | None = None
    ) -> InteractionCallback:
        return await self.fake.interact(self.fake.slash_command(self.world.id, user, path, options))

    async def autocomplete(self, user: int, path: str, option: str, typed: str) -> list[JSON]:
        """The choices the bot offers ``user`` typing ``typed`` into ``option`` of ``path``."""
        payload = self.fake.autocomplete(self.world.id, user, path, {option: typed}, option)
        answer = await self.fake.interact(payload)
        assert answer.type == 8, answer
        assert answer.data is not None
        return list(answer.data["choices"])

    async def click(self, user: int, custom_id: str, message: JSON) -> InteractionCallback:
        payload = self.fake.button_click(
            self.world.id, user, custom_id, int(message["id"]), int(message["channel_id"])
        )
        return await self.fake.interact(payload)

    async def submit(
        self, user: int, custom_id: str, fields: dict[str, str], message: JSON | None = None
    ) -> InteractionCallback:
        payload = self.fake.modal_submit(
            self.world.id,
            user,
            custom_id,
            fields,
            message_id=int(message["id"]) if message else None,
        )
        return await self.fake.interact(payload)

    async def set_up(self) -> InteractionCallback:
        return await self.command(
            OWNER,
            "admin setup",
            {
                "admin_role": self.world.admins_role,
                "admin_channel": self.world.admin_channel,
                "announcement_channel": self.world.general,
            },
        )

    async def apply(self, user: int = ALICE, bio: str = BIO) -> InteractionCallback:
        modal = await self.command(user, "mentor apply", APPLY_OPTIONS)
        assert modal.type == 9, modal
        assert modal.data is not None
        return await self.submit(user, modal.data["custom_id"], {"bio": bio})

    async def deliver(self) -> int:
        return await self.dispatcher.drain()

    def admin_messages(self) -> list[JSON]:
        return [m for m in self.fake.channel_messages(self.world.admin_channel) if m["embeds"]]


def embed_of(answer: InteractionCallback | JSON) -> JSON:
    data = answer.data if isinstance(answer, InteractionCallback) else answer
    assert data is not None
    embeds = data.get("embeds") or []
    assert len(embeds) == 1, data
    return dict(embeds[0])


def embed_text(answer: InteractionCallback | JSON) -> str:
    """Title, description and fields of the one embed, as one string."""
    embed = embed_of(answer)
    parts = [embed.get("title") or "", embed.get("description") or ""]
    parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


def button_ids(message: JSON) -> dict[str, str]:
    return {
        button["label"]: button["custom_id"]
        for row in message.get("components") or []
        for button in row["components"]
    }


BotFactory = Callable[..., contextlib.AbstractAsyncContextManager[Bot]]


@pytest.fixture
def discord_bot(
    world: World,
    service: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
) -> BotFactory:
    """``async with discord_bot() as bot:`` runs one adapter; repeat to restart it.

    ``core=`` runs it on another ``Mentorbot`` (same database)."""

    @contextlib.asynccontextmanager
    async def run(*, core: Mentorbot | None = None, **options: Any) -> AsyncIterator[Bot]:
        adapter = DiscordAdapter(
            core or service,
            token="fake-bot-token",
            application_id=None,
            api_base_url=world.fake.api_base_url,
            gateway_url=world.fake.gateway_url,
            guild_ready_timeout=0.05,
            **options,
        )
        dispatcher = Dispatcher(factory, {"discord": adapter.port}, clock)
        await adapter.start()
        try:
            yield Bot(adapter, world, dispatcher)
        finally:
            await adapter.stop()

    return run
