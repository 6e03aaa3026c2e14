"""What the delivery tests share: a community, queueing, a recording port, a dispatcher."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.port import ConsolePort, Shown
from core.clock import Clock, FakeClock
from core.delivery import DeliverySettings, Dispatcher
from core.effects import DirectMessage, Effect
from core.messages import Message
from core.models import Community, Delivery
from core.ports import Attempt, RetryLater
from core.service import Mentorbot
from core.uow import UnitOfWork


@dataclass
class RecordingPort(ConsolePort):
    """The console port (which de-dupes by idempotency key, like the platforms) that also
    records every attempt it was given, and can be "down" until a moment."""

    clock: Clock | None = None
    down_until: datetime | None = None
    attempts: list[Attempt] = field(default_factory=list)

    def _call(self, name: str, *args: object) -> None:
        if (
            self.clock is not None
            and self.down_until is not None
            and self.clock.now() < self.down_until
        ):
            self.calls.append((name, args))
            raise RetryLater("503 Service Unavailable")
        super()._call(name, *args)

    async def send_dm(
        self, target: Any, user_id: str, message: Message, thread: Any, attempt: Attempt
    ) -> Any:
        self.attempts.append(attempt)
        return await super().send_dm(target, user_id, message, thread, attempt)

    async def post(
        self, target: Any, channel_id: str, message: Message, pin: bool, attempt: Attempt
    ) -> Any:
        self.attempts.append(attempt)
        return await super().post(target, channel_id, message, pin, attempt)


def recording_port(clock: Clock | None = None) -> tuple[RecordingPort, list[Shown]]:
    shown: list[Shown] = []
    return RecordingPort(emit=shown.append, emit_line=lambda _line: None, clock=clock), shown


def texts(shown: list[Shown], where: str = "dm") -> list[str]:
    return [s.message.text for s in shown if s.where == where]


async def community(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, platform_id: str = "c1"
) -> Community:
    made = await Mentorbot(factory, clock).join_community("console", platform_id, "Test")
    async with UnitOfWork(factory, clock) as uow:
        row = await uow.session.get(Community, made.id)
        assert row is not None
        row.admin_channel_id = "admins"
        await uow.commit()
    return made


async def queue(
    factory: async_sessionmaker[AsyncSession],
    clock: Clock,
    community_id: str,
    *keys: str,
    user: str = "alice",
    due_at: datetime | None = None,
) -> None:
    """A DM per key, its text the key."""
    async with UnitOfWork(factory, clock) as uow:
        for key in keys:
            await uow.outbox.add(
                community_id, DirectMessage(user, Message(text=key)), key=key, due_at=due_at
            )
        await uow.commit()


async def queue_effects(
    factory: async_sessionmaker[AsyncSession],
    clock: Clock,
    community_id: str,
    *effects: tuple[str, Effect],
) -> None:
    async with UnitOfWork(factory, clock) as uow:
        for key, effect in effects:
            await uow.outbox.add(community_id, effect, key=key)
        await uow.commit()


async def rows(factory: async_sessionmaker[AsyncSession]) -> list[Delivery]:
    async with factory() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


def dispatcher(
    factory: async_sessionmaker[AsyncSession],
    port: ConsolePort,
    clock: Clock,
    worker_id: str | None = None,
    **settings: Any,
) -> Dispatcher:
    return Dispatcher(
        factory,
        {"console": port},
        clock,
        DeliverySettings(**settings),
        worker_id=worker_id,
        rng=random.Random(7),
    )
