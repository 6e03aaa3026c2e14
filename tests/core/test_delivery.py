"""The delivery queue: retries, order per destination, one bad row, stored payloads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import db
from core.clock import FakeClock
from core.delivery import DeliverySettings, Dispatcher
from core.effects import (
    ArchiveSpace,
    ChannelPost,
    CreatePrivateSpace,
    DirectMessage,
    GrantRole,
    RevokeRole,
    ScheduledEvent,
    SpaceMembership,
    dump,
    dump_json,
    load,
)
from core.messages import Button, Field, File, Message
from core.models import Community, Delivery
from core.ports import PermanentFailure, RetryLater
from core.uow import UnitOfWork
from tests.core.delivery_kit import (
    community,
    dispatcher,
    queue,
    queue_effects,
    recording_port,
    rows,
    texts,
)

Factory = async_sessionmaker[AsyncSession]


async def test_a_rate_limit_waits_for_retry_after_and_does_not_count(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, "hello")
    port, shown = recording_port()
    port.fail_next(RetryLater("429 rate limited", retry_after=30, rate_limited=True))
    d = dispatcher(factory, port, clock)

    assert await d.run_once() == 1
    [row] = await rows(factory)
    assert (row.status, row.attempts, row.uncertain) == ("pending", 0, False)
    assert row.due_at >= clock.now() + timedelta(seconds=30)
    assert "429" in (row.last_error or "")

    assert await d.run_once() == 0  # not due yet
    clock.advance(seconds=31)
    assert await d.run_once() == 1
    [row] = await rows(factory)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, clock.now())
    assert texts(shown) == ["hello"]
    assert [a.uncertain for a in port.attempts] == [False, False]


async def test_transient_failures_back_off_capped_and_never_give_up_while_useful(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, "stubborn")
    port, shown = recording_port()
    port.fail_next(*(RetryLater("503") for _ in range(40)))
    d = dispatcher(
        factory, port, clock, base_backoff_seconds=10, max_backoff_seconds=600, degraded_after=100
    )

    delays = []
    for _ in range(40):  # 40 failures over many hours: far beyond the old 8-attempt budget
        await d.run_once()
        [row] = await rows(factory)
        assert row.status == "pending"
        delays.append((row.due_at - clock.now()).total_seconds())
        clock.set(row.due_at)
    await d.run_once()
    [row] = await rows(factory)
    assert (row.status, row.attempts) == ("sent", 41)
    assert texts(shown) == ["stubborn"]
    assert 5 <= delays[0] <= 10  # base * 2^0 with jitter in [0.5, 1]
    assert 10 <= delays[1] <= 20  # base * 2^1 with jitter
    assert max(delays) <= 600  # capped
    assert port.attempts[-1].uncertain  # a 503 may have reached the platform


async def test_an_unexpected_port_error_is_retried_and_marked_uncertain(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, "x")
    port, shown = recording_port()
    port.fail_next(ConnectionResetError("peer went away"))
    d = dispatcher(factory, port, clock)
    await d.run_once()
    clock.advance(seconds=60)
    await d.run_once()
    assert texts(shown) == ["x"]
    assert [a.uncertain for a in port.attempts] == [False, True]
    [row] = await rows(factory)
    assert (row.status, row.uncertain) == ("sent", False)


async def test_a_permanent_failure_stops_at_once_with_its_reason(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, "closed")
    port, shown = recording_port()
    port.fail_next(PermanentFailure("50007 Cannot send messages to this user"))
    await dispatcher(factory, port, clock).drain()
    [row] = await rows(factory)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "50007" in (row.last_error or "")
    assert shown == []


async def test_the_same_idempotency_key_is_queued_once(factory: Factory, clock: FakeClock) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, "k1", "k1")
    await queue(factory, clock, c.id, "k1")
    assert len(await rows(factory)) == 1


async def test_effects_roll_back_with_the_change_that_caused_them(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)

    async def failing_use_case() -> None:
        async with UnitOfWork(factory, clock) as uow:
            await uow.outbox.add(c.id, DirectMessage("a", Message(text="x")), key="k")
            raise RuntimeError("the use case failed half-way")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    assert await rows(factory) == []


async def test_a_missing_permission_is_reported_once_to_the_admin_channel(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    await queue_effects(
        factory,
        clock,
        c.id,
        ("g:a", GrantRole("alice", "mentor")),
        ("g:b", GrantRole("bob", "mentor")),
    )
    port, shown = recording_port()
    denied = PermanentFailure("403 Missing Permissions", missing_permission="Manage Roles")
    port.fail_next(denied, denied)
    await dispatcher(factory, port, clock).drain()
    assert [r.status for r in await rows(factory)] == ["failed", "failed", "sent"]
    [report] = [s for s in shown if s.channel == "admins"]
    assert "Manage Roles" in report.message.text


async def test_two_grants_of_a_role_not_yet_created_create_it_once(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    await queue_effects(
        factory,
        clock,
        c.id,
        ("g:a", GrantRole("alice", "mentor")),
        ("g:b", GrantRole("bob", "mentor")),
        ("r:a", RevokeRole("carol", "mentor")),
    )
    port, _ = recording_port()
    known: list[str | None] = []
    ensure = port.ensure_role

    async def recording_ensure(target: object, name: str, known_id: str | None) -> str:
        known.append(known_id)
        return await ensure(target, name, known_id)  # type: ignore[arg-type]

    port.ensure_role = recording_ensure  # type: ignore[method-assign]
    await dispatcher(factory, port, clock).drain()
    assert known == [None, "Mentor", "Mentor"]  # only the first call may create it
    async with factory() as session:
        row = await session.get(Community, c.id)
    assert row is not None
    assert row.roles["mentor"] == {"name": "Mentor", "id": "Mentor"}
    assert port.roles == {"alice": {"Mentor"}, "bob": {"Mentor"}, "carol": set()}


async def test_order_is_kept_per_destination_and_a_429_on_one_does_not_delay_another(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, "a1", "a2", user="alice")
    await queue(factory, clock, c.id, "b1", "b2", user="bob")
    port, shown = recording_port()
    port.fail_next(RetryLater("429", retry_after=4, rate_limited=True))  # alice's first DM
    d = dispatcher(factory, port, clock)

    await d.drain()
    assert texts(shown) == ["b1", "b2"]  # bob's DMs went in the same pass
    # Queued after the rate limit, alice's next DM still waits behind a1.
    await queue(factory, clock, c.id, "a3", user="alice")
    assert await d.drain() == 0
    clock.advance(seconds=4)
    await d.drain()
    assert texts(shown) == ["b1", "b2", "a1", "a2", "a3"]


async def test_destinations_are_worked_on_concurrently(factory: Factory, clock: FakeClock) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, "slow", user="alice")
    await queue(factory, clock, c.id, "fast", user="bob")
    port, shown = recording_port()
    release = asyncio.Event()
    send = port.send_dm

    async def send_dm(target, user_id, message, thread, attempt):  # type: ignore[no-untyped-def]
        if user_id == "alice":
            await release.wait()  # e.g. discord.py sleeping out a 429 inside the call
        return await send(target, user_id, message, thread, attempt)

    port.send_dm = send_dm  # type: ignore[method-assign]
    bob_served = asyncio.Event()
    port.emit = lambda s: (shown.append(s), bob_served.set())  # type: ignore[assignment,func-returns-value]
    task = asyncio.create_task(dispatcher(factory, port, clock).run_once())
    await asyncio.wait_for(bob_served.wait(), timeout=10)
    assert texts(shown) == ["fast"]  # while alice's lane is held
    release.set()
    await task
    assert texts(shown) == ["fast", "slow"]


async def test_a_community_deleted_between_claim_and_send_does_not_stop_the_batch(
    factory: Factory, clock: FakeClock
) -> None:
    gone = await community(factory, clock, "gone")
    kept = await community(factory, clock, "kept")
    await queue(factory, clock, gone.id, "g1", "g2")
    await queue(factory, clock, kept.id, "k1")
    port, shown = recording_port()
    d = dispatcher(factory, port, clock)
    claimed, communities = await d._claim()
    async with factory() as session, session.begin():
        await session.execute(delete(Community).where(Community.id == gone.id))
    communities.pop(gone.id)
    await d._work(claimed, communities, then_claim=False)
    assert texts(shown) == ["k1"]
    assert [(r.community_id, r.status) for r in await rows(factory)] == [(kept.id, "sent")]


async def test_an_effect_with_nothing_to_return_stores_sql_null(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    await queue(factory, clock, c.id, "quiet")
    port, _ = recording_port()

    async def send_dm(*_args: object) -> dict[str, str]:
        return {}

    port.send_dm = send_dm  # type: ignore[assignment]
    await dispatcher(factory, port, clock).drain()
    async with factory() as session:
        stored = (
            await session.execute(text("SELECT status, result IS NULL FROM deliveries"))
        ).all()
    assert [tuple(r) for r in stored] == [("sent", True)]


# What the code before issue 9 wrote for each kind (its hand-written to_payload).
OLD_PAYLOADS = {
    "dm": {
        "user_id": "u",
        "message": {
            "text": "hi",
            "title": "t",
            "fields": [["a", "b", True]],
            "buttons": [["Go", "mb:approve:x", "primary"]],
            "footer": None,
            "tone": "info",
            "files": [["f.txt", "YWJj", "text/plain"]],
        },
        "thread": "m1",
    },
    "post": {
        "channel_id": "c",
        "message": {
            "text": "x",
            "title": None,
            "fields": [],
            "buttons": [],
            "footer": None,
            "tone": "warning",
            "files": [],
        },
        "pin": True,
    },
    "grant_role": {"user_id": "u", "role_key": "mentor"},
    "revoke_role": {"user_id": "u", "role_key": "mentor"},
    "create_space": {"group_id": "g", "name": "n", "topic": "t", "member_user_ids": ["a", "b"]},
    "space_member": {"group_id": "g", "user_id": "u", "add": True},
    "archive_space": {"group_id": "g"},
    "scheduled_event": {
        "group_id": "g",
        "title": "t",
        "description": "d",
        "start": "2026-01-05T12:00:00+00:00",
        "end": "2026-01-05T13:00:00+00:00",
    },
}
EXPECTED = {
    "dm": DirectMessage(
        "u",
        Message(
            text="hi",
            title="t",
            fields=(Field("a", "b", True),),
            buttons=(Button("Go", "mb:approve:x", "primary"),),
            files=(File("f.txt", b"abc", "text/plain"),),
        ),
        "m1",
    ),
    "post": ChannelPost("c", Message(text="x", tone="warning"), pin=True),
    "grant_role": GrantRole("u", "mentor"),
    "revoke_role": RevokeRole("u", "mentor"),
    "create_space": CreatePrivateSpace("g", "n", "t", ("a", "b")),
    "space_member": SpaceMembership("g", "u", True),
    "archive_space": ArchiveSpace("g"),
    "scheduled_event": ScheduledEvent(
        "g",
        "t",
        "d",
        datetime(2026, 1, 5, 12, tzinfo=UTC),
        datetime(2026, 1, 5, 13, tzinfo=UTC),
    ),
}


async def test_rows_stored_by_the_previous_version_still_load_and_deliver(
    factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    async with factory() as session, session.begin():
        for kind, payload in OLD_PAYLOADS.items():
            await session.execute(
                insert(Delivery).values(
                    community_id=c.id,
                    kind=kind,
                    payload=payload,
                    idempotency_key=f"old:{kind}",
                    status="pending",
                    due_at=clock.now() + timedelta(days=1),  # not delivered by this test
                    attempts=0,
                    created_at=clock.now(),
                )
            )
    stored = {r.kind: r.payload for r in await rows(factory)}
    for kind, expected in EXPECTED.items():
        assert load(kind, stored[kind]) == expected
    async with factory() as session, session.begin():
        await session.execute(
            Delivery.__table__.update()
            .where(Delivery.kind == "post")
            .values(due_at=clock.now(), payload={**OLD_PAYLOADS["post"], "channel_id": "news"})
        )
    port, shown = recording_port()
    await dispatcher(factory, port, clock).drain()
    assert [(s.channel, s.message.text) for s in shown] == [("news", "x")]


def test_a_message_is_stored_without_its_default_parts_and_reads_back_whole() -> None:
    plain = DirectMessage("u", Message(text="hi"))
    assert dump(plain) == {"user_id": "u", "message": {"text": "hi", "title": None}, "thread": None}
    full = EXPECTED["dm"]
    stored = dump(full)["message"]
    assert set(stored) == {"text", "title", "fields", "buttons", "files"}  # footer, tone: default
    for effect in (plain, full, EXPECTED["post"]):
        assert load(effect.kind, dump(effect)) == effect
        assert load(effect.kind, dump_json(effect)) == effect


async def test_two_dispatchers_deliver_1000_effects_with_no_duplicate_and_none_missing(
    database_url: str, factory: Factory, clock: FakeClock
) -> None:
    c = await community(factory, clock)
    async with UnitOfWork(factory, clock) as uow:
        for n in range(1000):
            await uow.outbox.add(
                c.id, DirectMessage(f"u{n}", Message(text=str(n))), key=f"bulk:{n}"
            )
        await uow.commit()

    delivered: list[str] = []

    class SlowPort:
        platform = "console"

        async def send_dm(self, target, user_id, message, thread, attempt):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0)  # let the other dispatcher run between sends
            delivered.append(message.text)
            return {"message_id": message.text}

    engines = [db.create_engine(database_url) for _ in range(2)]
    try:
        dispatchers = [
            Dispatcher(
                db.session_factory(engine),
                {"console": SlowPort()},  # type: ignore[dict-item]
                clock,
                DeliverySettings(batch_size=25),
                worker_id=f"worker-{i}",
            )
            for i, engine in enumerate(engines)
        ]
        counts = await asyncio.gather(*(d.drain() for d in dispatchers))
    finally:
        for engine in engines:
            await engine.dispose()

    assert sorted(delivered, key=int) == [str(n) for n in range(1000)]
    assert sum(counts) == 1000
    assert {r.status for r in await rows(factory)} == {"sent"}
