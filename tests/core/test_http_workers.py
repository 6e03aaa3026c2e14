"""Several processes answering the same platform (Slack HTTP workers behind a load
balancer): a retried event that reaches two workers at once is handled once."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import db
from core.clock import SystemClock
from core.context import Invocation
from core.models import Delivery, Mentor
from core.service import Mentorbot

APPLY = {
    "bio": "Twenty years of household budgeting and community lending.",
    "expertise": "giving,loans",
    "availability": 8,
    "style": "async",
    "languages": "en",
    "timezone": "Europe/London",
}


async def test_the_same_event_on_two_workers_at_once_is_handled_once(
    database_url: str, factory: async_sessionmaker[AsyncSession]
) -> None:
    setup = Mentorbot(factory, SystemClock())
    owner = Invocation("slack", "T1", "U0", "owner", "Team", is_platform_admin=True)
    await setup.execute(
        owner, "admin setup", {"admin_role": "S1", "admin_channel": "C1"}, dedupe_key="setup"
    )
    # Two workers: separate processes in production, here two engines (two pools).
    engines = [db.create_engine(database_url) for _ in range(2)]
    workers = [Mentorbot(db.session_factory(e), SystemClock()) for e in engines]
    try:
        member = Invocation("slack", "T1", "U1", "ann", "Team")
        replies = await asyncio.gather(
            *(
                w.execute(member, "mentor apply", APPLY, dedupe_key="slack:T1:view:V1")
                for w in workers
            )
        )
    finally:
        for engine in engines:
            await engine.dispose()
    assert sum(r is not None for r in replies) == 1
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(Mentor)) == 1
        queued = (await session.execute(select(Delivery.kind, Delivery.destination))).all()
    # The application reached the admin channel once, not once per worker.
    assert [(k, d) for k, d in queued if d == "channel:C1"] == [("post", "channel:C1")]
