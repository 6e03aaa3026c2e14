"""The Slack adapter under test: the real Bolt app against the local fake Slack.

``slack`` starts the adapter in HTTP mode or Socket Mode on a migrated database; the
harness sends what Slack would send (signed over HTTP, or as Socket Mode envelopes),
reads what the app answered, and delivers queued effects through the real dispatcher.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import pytest
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.slack.app import SlackAdapter
from adapters.slack.client import default_retry_handlers
from core.clock import FakeClock
from core.delivery import DeliverySettings, Dispatcher
from core.service import Mentorbot
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.slack_fake_models import (
    EphemeralMessage,
    FakeUsergroup,
    JsonDict,
    StoredMessage,
)

OWNER, ANA, BOB, CAROL = "U0OWNER", "U0ANA", "U0BOB", "U0CAROL"
ADMIN_CHANNEL, GENERAL = "C0ADMIN", "C0GENERAL"
ADMINS_GROUP = "S0ADMINS"
SETUP = (
    f"admin setup admin_role:<!subteam^{ADMINS_GROUP}|@mentor-admins> "
    f"admin_channel:<#{ADMIN_CHANNEL}|mentor-admin> announcement_channel:<#{GENERAL}|general>"
)
BIO = "I have funded 40 microloans and love explaining how it works."
APPLY_INLINE = (
    f'apply bio:"{BIO}" expertise:giving,loans availability:6 style:async languages:en,es '
    "timezone:Europe/Madrid"
)


def application_form(bio: str = BIO) -> dict[str, dict[str, Any]]:
    """``view_submission`` values for the /mentor apply modal, keyed as the modal is."""
    return {
        "bio": {"bio": bio},
        "expertise": {"expertise": ["giving", "loans"]},
        "availability": {"availability": "6"},
        "style": {"style": "async"},
        "languages": {"mbac:languages": ["en", "es"]},
        "timezone": {"mbac:timezones": "Europe/Madrid"},
        "max_mentees": {"max_mentees": "2"},
    }


def texts(blocks: list[JsonDict] | None) -> str:
    """Every piece of text in Block Kit blocks, one per line (for assertions)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks or [])
    return "\n".join(found)


def buttons(blocks: list[JsonDict]) -> dict[str, str]:
    """Button label → action_id in Block Kit blocks."""
    return {
        element["text"]["text"]: element["action_id"]
        for block in blocks
        if block.get("type") == "actions"
        for element in block["elements"]
    }


class SlackHarness:
    def __init__(
        self,
        fake: FakeSlack,
        factory: async_sessionmaker[AsyncSession],
        clock: FakeClock,
        mode: Literal["http", "socket"],
        badge_usergroups: bool,
    ) -> None:
        self.fake = fake
        self.factory = factory
        self.clock = clock
        self.mode = mode
        self.badge_usergroups = badge_usergroups
        self.adapter: SlackAdapter | None = None
        self._replies_seen = 0

    @property
    def app(self) -> SlackAdapter:
        assert self.adapter is not None, "start() the harness first"
        return self.adapter

    async def start(self) -> SlackAdapter:
        """A fresh process: a new service and adapter on the same database and fake."""
        self.adapter = SlackAdapter(
            Mentorbot(self.factory, self.clock),
            bot_token=self.fake.bot_token,
            signing_secret=self.fake.signing_secret,
            app_token=self.fake.app_token,
            mode=self.mode,
            http_host="127.0.0.1",
            http_port=0,
            api_base_url=self.fake.api_base_url,
            badge_usergroups=self.badge_usergroups,
            retry_handlers=default_retry_handlers(FixedValueRetryIntervalCalculator(0.01)),
        )
        await self.adapter.start()
        return self.adapter

    async def stop(self) -> None:
        if self.adapter is not None:
            await self.adapter.stop()
            self.adapter = None

    async def restart(self) -> SlackAdapter:
        await self.stop()
        return await self.start()

    async def send(self, kind: str, payload: JsonDict | None = None, **kwargs: Any) -> JsonDict:
        """What Slack sends, delivered as this mode does; returns the acknowledgement body."""
        if self.mode == "http":
            answer = await self.fake.send_to_app(self.app.request_url, kind, payload, **kwargs)
            assert answer.status == 200, (answer.status, answer.text)
            if not answer.text:
                return {}
            return answer.json() if answer.text.startswith("{") else {"text": answer.text}
        envelope = await self.fake.socket_push(kind, payload, **kwargs)
        return await self.fake.wait_for_ack(envelope)

    async def command(self, user: str, text: str, channel: str | None = None) -> JsonDict:
        return await self.send(
            "slash_command", command="/mentor", text=text, user_id=user, channel_id=channel
        )

    async def reply(self) -> JsonDict:
        """The next answer the app posted to a response_url."""
        wanted = self._replies_seen + 1
        posts = await self.fake.wait_for_response_posts(wanted, within=5.0)
        self._replies_seen = wanted
        return posts[wanted - 1].body

    async def deliver(self) -> int:
        """Deliver every due effect through the real dispatcher and this adapter's port."""
        # One destination at a time: faults injected per API method then meet the calls
        # in queue order, as the tests expect.
        settings = DeliverySettings(concurrency=1)
        port = {"slack": self.app.port}
        return await Dispatcher(self.factory, port, self.clock, settings).drain()

    async def set_up_community(self) -> None:
        await self.command(OWNER, SETUP, GENERAL)
        assert "Mentorbot is set up" in texts((await self.reply())["blocks"])

    async def open_form(self, user: str, text: str) -> str:
        """Run a command that opens a modal; returns the modal's view id."""
        before = len(self.fake.calls_to("views.open"))
        await self.command(user, text)
        opened = await self.fake.wait_for_calls("views.open", before + 1)
        assert opened[-1].ok, opened[-1].response
        return str(opened[-1].response["view"]["id"])

    async def apply(self, user: str = ANA) -> None:
        await self.command(user, APPLY_INLINE)
        assert "Application sent" in texts((await self.reply())["blocks"])

    async def click(self, user: str, label: str, channel: str = ADMIN_CHANNEL) -> JsonDict:
        """Click ``label`` on the newest message in ``channel`` (a user id: their DM with
        the app) that has such a button."""
        if channel in self.fake.users:
            channel = self.fake.dm_channel_id(channel)
        message = next(
            m for m in reversed(self.fake.messages(channel)) if label in buttons(m.blocks)
        )
        action_id = buttons(message.blocks)[label]
        return await self.send(
            "block_actions",
            user_id=user,
            action_id=action_id,
            channel_id=channel,
            message_ts=message.ts,
        )

    async def click_ephemeral(self, user: str, label: str) -> JsonDict:
        """Click ``label`` on the newest ephemeral message ``user`` sees with that button."""
        message = next(
            e for e in reversed(self.fake.ephemerals_for(user)) if label in buttons(e.blocks)
        )
        return await self.send(
            "block_actions",
            user_id=user,
            action_id=buttons(message.blocks)[label],
            channel_id=message.channel,
            message_ts=message.ts,
        )

    async def dm(
        self,
        user: str,
        text: str,
        *,
        thread_ts: str | None = None,
        files: list[JsonDict] | None = None,
    ) -> EphemeralMessage:
        """``user`` writes in their DM with the app (in the thread ``thread_ts`` if given);
        returns the app's answer, which only they see."""
        answered = len(self.fake.calls_to("chat.postEphemeral")) + 1
        event = self.fake.im_message_event(user, text, thread_ts=thread_ts, files=files)
        await self.send("event", self.fake.event_payload(event))
        [*_, call] = await self.fake.wait_for_calls("chat.postEphemeral", answered)
        assert call.ok, call.response
        return self.fake.ephemerals_for(user)[-1]

    async def react(self, user: str, message: StoredMessage, reaction: str = "eyes") -> None:
        event = self.fake.reaction_added_event(user, message.channel, message.ts, reaction)
        await self.send("event", self.fake.event_payload(event))

    @staticmethod
    async def until(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
        """Poll a database condition that no Slack call signals (a read receipt) until it
        holds; fails after ``within`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not await check():
            if loop.time() > deadline:
                raise TimeoutError(f"not true within {within}s: {check.__name__}")
            await asyncio.sleep(0.01)


def _populate(fake: FakeSlack) -> None:
    fake.add_user(OWNER, "olga", tz="Europe/London", is_admin=True)
    fake.add_user(ANA, "ana", tz="Europe/Madrid")
    fake.add_user(BOB, "bob", tz="America/New_York")
    fake.add_user(CAROL, "carol", tz="Asia/Tokyo")
    fake.add_channel(
        "mentor-admin", channel_id=ADMIN_CHANNEL, is_private=True, members=[OWNER, CAROL]
    )
    fake.add_channel("general", channel_id=GENERAL, members=[OWNER, ANA, BOB, CAROL])
    fake.usergroups[ADMINS_GROUP] = FakeUsergroup(
        id=ADMINS_GROUP,
        team_id=fake.team_id,
        name="Mentor admins",
        handle="mentor-admins",
        created_by=OWNER,
        date_create=int(time.time()),
        users=[CAROL],
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        _populate(server)
        yield server


Slack = Callable[..., Awaitable[SlackHarness]]


@pytest.fixture
async def slack(
    fake: FakeSlack, factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> AsyncIterator[Slack]:
    """``await slack("http" | "socket", badge_usergroups=False)`` → a started harness."""
    started: list[SlackHarness] = []

    async def make(
        mode: Literal["http", "socket"] = "http", *, badge_usergroups: bool = False
    ) -> SlackHarness:
        harness = SlackHarness(fake, factory, clock, mode, badge_usergroups)
        await harness.start()
        started.append(harness)
        return harness

    yield make
    for harness in started:
        await harness.stop()
