"""The dispatcher: claims due effects from the delivery queue and hands them to a port.

Claiming sets a lease (``claimed_by`` + ``lease_until``) on a batch of due rows in one
statement; on PostgreSQL the rows are picked with ``FOR UPDATE SKIP LOCKED`` so two
dispatchers never claim the same row. A dispatcher that dies after claiming simply lets
the lease run out, and the next pass claims the row again. Failures are retried with
exponential backoff and jitter, never sooner than a platform's Retry-After, and given up
after ``max_attempts``. Delivery is at-least-once: a dispatcher killed between the
platform call and marking the row sent will send that one effect again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.defaults import ROLE_NAMES
from core.effects import (
    ArchiveSpace,
    ChannelPost,
    CreatePrivateSpace,
    DirectMessage,
    Effect,
    GrantRole,
    RevokeRole,
    ScheduledEvent,
    SpaceMembership,
)
from core.messages import Message
from core.models import (
    Community,
    Delivery,
    Member,
    Mentorship,
    MentorshipThread,
    MessageRoute,
    SupportGroup,
)
from core.ports import Attempt, PermanentFailure, PlatformPort, RetryLater, Sent, Target
from core.uow import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliverySettings:
    batch_size: int = 50
    lease_seconds: float = 120.0
    max_attempts: int = 8
    base_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 3600.0


@dataclass
class _Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    community_id: str
    attempts: int
    idempotency_key: str


@dataclass
class _Outcome:
    """What to write back once the platform accepted an effect."""

    sent: Sent = field(default_factory=dict)
    role_ids: dict[str, str] = field(default_factory=dict)  # role key -> platform id
    group_channel: tuple[str, str] | None = None  # (group id, channel id)
    # A mentorship DM: (mentorship id, recipient user id, platform message id, thread id).
    route: tuple[str, str, str | None, str | None] | None = None


def _attempt(row: _Claimed) -> Attempt:
    # Any earlier attempt may have reached the platform before its outcome was recorded.
    return Attempt(row.idempotency_key, uncertain=row.attempts > 0)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**6):06x}"


class Dispatcher:
    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        ports: Mapping[str, PlatformPort],
        clock: Clock,
        settings: DeliverySettings | None = None,
        *,
        worker_id: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._factory = factory
        self._ports = ports
        self._clock = clock
        self.settings = settings or DeliverySettings()
        self.worker_id = worker_id or default_worker_id()
        self._rng = rng or random.Random()
        self._lock = asyncio.Lock()
        self._again = False
        self._stopped = False
        self._tasks: set[asyncio.Task[int]] = set()

    # ----- driving -------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim one batch of due effects and try each; return how many were tried."""
        claimed = await self._claim()
        if not claimed:
            return 0
        targets = await self._targets({c.community_id for c in claimed})
        for row in claimed:
            await self._deliver(row, targets[row.community_id])
        return len(claimed)

    async def drain(self, max_batches: int = 1000) -> int:
        """Deliver everything due now (used by the console and tests)."""
        total = 0
        for _ in range(max_batches):
            done = await self.run_once()
            total += done
            if done == 0:
                break
        return total

    async def run_pending(self) -> int:
        """One dispatcher pass per process at a time; a wake-up during a pass runs another."""
        if self._stopped:
            return 0
        if self._lock.locked():
            self._again = True
            return 0
        async with self._lock:
            total = 0
            while True:
                self._again = False
                total += await self.drain()
                if not self._again:
                    return total

    def wake(self) -> None:
        """Ask for a pass soon (after a commit queued effects); safe from any coroutine."""
        if self._stopped:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.run_pending())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Graceful shutdown: start no new pass and let the one under way finish.

        Call it after stopping the scheduler and before disposing of the engine; a pass
        cut off mid-way would leave its claimed rows to wait out their lease.
        """
        self._stopped = True
        await self.wait_idle()
        async with self._lock:
            pass

    async def wait_idle(self) -> None:
        """Wait until every pass started by ``wake`` has finished."""
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()

    # ----- claiming ------------------------------------------------------------------

    async def _claim(self) -> list[_Claimed]:
        now = self._clock.now()
        async with self._factory() as session, session.begin():
            due = (
                select(Delivery.id)
                .where(
                    Delivery.status == "pending",
                    Delivery.due_at <= now,
                    or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
                )
                .order_by(Delivery.due_at, Delivery.id)
                .limit(self.settings.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            stmt = (
                update(Delivery)
                .where(Delivery.id.in_(due.scalar_subquery()))
                .values(
                    claimed_by=self.worker_id,
                    lease_until=now + timedelta(seconds=self.settings.lease_seconds),
                )
                .returning(
                    Delivery.id,
                    Delivery.kind,
                    Delivery.payload,
                    Delivery.community_id,
                    Delivery.attempts,
                    Delivery.idempotency_key,
                )
                .execution_options(synchronize_session=False)
            )
            rows = (await session.execute(stmt)).all()
        return sorted((_Claimed(*row) for row in rows), key=lambda c: c.id)

    async def _targets(self, community_ids: set[str]) -> dict[str, Community]:
        async with self._factory() as session:
            found = await session.execute(select(Community).where(Community.id.in_(community_ids)))
            return {c.id: c for c in found.scalars()}

    # ----- delivering ----------------------------------------------------------------

    async def _deliver(self, row: _Claimed, community: Community) -> None:
        port = self._ports.get(community.platform)
        if port is None:
            await self._retry(row, f"no adapter running for platform {community.platform}", None)
            return
        try:
            effect = Effect.from_row(row.kind, row.payload)
            outcome = await self._perform(port, community, effect, _attempt(row))
        except RetryLater as exc:
            await self._retry(row, str(exc), exc.retry_after)
        except PermanentFailure as exc:
            await self._give_up(row, community, str(exc), exc.missing_permission)
        except Exception as exc:
            log.exception("delivery %s (%s) failed unexpectedly", row.id, row.kind)
            await self._retry(row, f"{type(exc).__name__}: {exc}", None)
        else:
            await self._mark_sent(row, outcome)

    async def _perform(
        self, port: PlatformPort, community: Community, effect: Effect, attempt: Attempt
    ) -> _Outcome:
        target = Target(
            community.id, community.platform, community.platform_id, community.group_category_id
        )
        match effect:
            case DirectMessage(user_id=user, message=message, thread=thread):
                if thread is None:
                    return _Outcome(sent=await port.send_dm(target, user, message, None, attempt))
                # ``thread`` is a mentorship; the port continues that person's thread of it.
                platform_thread = await self._thread_of(community.id, thread, user)
                sent = await port.send_dm(target, user, message, platform_thread, attempt)
                message_id, thread_id = sent.get("message_id"), sent.get("thread_id")
                return _Outcome(
                    sent=sent,
                    route=(
                        thread,
                        user,
                        str(message_id) if message_id else None,
                        str(thread_id) if thread_id else None,
                    ),
                )
            case ChannelPost(channel_id=channel, message=message, pin=pin):
                return _Outcome(sent=await port.post(target, channel, message, pin, attempt))
            case GrantRole(user_id=user, role_key=key) | RevokeRole(user_id=user, role_key=key):
                info = community.roles.get(key) or {}
                name = info.get("name") or ROLE_NAMES.get(key, key.replace("_", " ").title())
                role_id = await port.ensure_role(target, name, info.get("id"))
                if isinstance(effect, GrantRole):
                    await port.grant_role(target, user, role_id)
                else:
                    await port.revoke_role(target, user, role_id)
                return _Outcome(sent={"role_id": role_id}, role_ids={key: role_id})
            case CreatePrivateSpace(group_id=group_id, name=name, topic=topic, member_user_ids=ids):
                space = await port.create_private_space(target, name, topic, ids, attempt)
                return _Outcome(sent={"space_id": space}, group_channel=(group_id, space))
            case SpaceMembership(group_id=group_id, user_id=user, add=add):
                space = await self._group_space(group_id)
                await port.set_space_member(target, space, user, add)
                return _Outcome()
            case ArchiveSpace(group_id=group_id):
                await port.archive_space(target, await self._group_space(group_id))
                return _Outcome()
            case ScheduledEvent(group_id=group_id, title=title, description=text, start=s, end=e):
                space = await self._group_space(group_id)
                event_id = await port.create_scheduled_event(target, space, title, text, s, e)
                return _Outcome(sent={"event_id": event_id})
        raise PermanentFailure(f"unknown effect kind {effect.kind}")

    async def _thread_of(self, community_id: str, mentorship_id: str, user_id: str) -> str | None:
        async with self._factory() as session:
            found = await session.execute(
                select(MentorshipThread.platform_thread_id)
                .join(Member, Member.id == MentorshipThread.member_id)
                .where(
                    MentorshipThread.mentorship_id == mentorship_id,
                    Member.community_id == community_id,
                    Member.platform_user_id == user_id,
                )
            )
            return found.scalar_one_or_none()

    async def _record_route(
        self,
        session: AsyncSession,
        community_id: str,
        route: tuple[str, str, str | None, str | None],
    ) -> None:
        """Remember where a mentorship DM landed, so replies to it find their way back."""
        mentorship_id, user_id, message_id, thread_id = route
        member = (
            await session.execute(
                select(Member).where(
                    Member.community_id == community_id, Member.platform_user_id == user_id
                )
            )
        ).scalar_one_or_none()
        if member is None or await session.get(Mentorship, mentorship_id) is None:
            return  # the person or the mentorship was deleted meanwhile (F15)
        if message_id is not None:
            known = await session.execute(
                select(MessageRoute.id).where(
                    MessageRoute.community_id == community_id,
                    MessageRoute.platform_message_id == message_id,
                )
            )
            if known.first() is None:
                session.add(
                    MessageRoute(
                        community_id=community_id,
                        mentorship_id=mentorship_id,
                        recipient_id=member.id,
                        platform_message_id=message_id,
                        created_at=self._clock.now(),
                    )
                )
        if thread_id is not None:
            existing = await session.execute(
                select(MentorshipThread.id).where(
                    MentorshipThread.mentorship_id == mentorship_id,
                    MentorshipThread.member_id == member.id,
                )
            )
            if existing.first() is None:
                session.add(
                    MentorshipThread(
                        community_id=community_id,
                        mentorship_id=mentorship_id,
                        member_id=member.id,
                        platform_thread_id=thread_id,
                        created_at=self._clock.now(),
                    )
                )

    async def _group_space(self, group_id: str) -> str:
        async with self._factory() as session:
            group = await session.get(SupportGroup, group_id)
        if group is None:
            raise PermanentFailure(f"support group {group_id} no longer exists")
        if group.channel_id is None:
            raise RetryLater("the group's channel is not created yet")
        return group.channel_id

    # ----- recording the outcome -----------------------------------------------------

    def _mine(self, row: _Claimed) -> Any:
        return (Delivery.id == row.id) & (Delivery.claimed_by == self.worker_id)

    async def _mark_sent(self, row: _Claimed, outcome: _Outcome) -> None:
        now = self._clock.now()
        async with self._factory() as session, session.begin():
            await session.execute(
                update(Delivery)
                .where(self._mine(row))
                .values(
                    status="sent",
                    sent_at=now,
                    attempts=row.attempts + 1,
                    result=outcome.sent or None,
                    claimed_by=None,
                    lease_until=None,
                    last_error=None,
                )
            )
            if outcome.role_ids:
                community = await session.get(Community, row.community_id, with_for_update=True)
                if community is not None:
                    roles = dict(community.roles)
                    for key, role_id in outcome.role_ids.items():
                        roles[key] = {**roles.get(key, {}), "id": role_id}
                    community.roles = roles
            if outcome.route is not None:
                await self._record_route(session, row.community_id, outcome.route)
            if outcome.group_channel is not None:
                group = await session.get(SupportGroup, outcome.group_channel[0])
                if group is not None:
                    group.channel_id = outcome.group_channel[1]

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter: base * 2^(n-1), capped, times 0.5-1.0."""
        s = self.settings
        ceiling = min(s.max_backoff_seconds, s.base_backoff_seconds * 2.0 ** max(attempts - 1, 0))
        return ceiling * (0.5 + self._rng.random() / 2)

    async def _retry(self, row: _Claimed, error: str, retry_after: float | None) -> None:
        attempts = row.attempts + 1
        if attempts >= self.settings.max_attempts:
            log.error(
                "giving up delivery %s (%s) after %d attempts: %s",
                row.id,
                row.kind,
                attempts,
                error,
            )
            await self._finish(row, "failed", error, attempts)
            return
        delay = max(self.backoff(attempts), retry_after or 0.0)
        log.warning(
            "delivery %s (%s) attempt %d failed, retrying in %.1fs: %s",
            row.id,
            row.kind,
            attempts,
            delay,
            error,
        )
        async with self._factory() as session, session.begin():
            await session.execute(
                update(Delivery)
                .where(self._mine(row))
                .values(
                    attempts=attempts,
                    last_error=error[:2000],
                    due_at=self._clock.now() + timedelta(seconds=delay),
                    claimed_by=None,
                    lease_until=None,
                )
            )

    async def _give_up(
        self, row: _Claimed, community: Community, error: str, missing: str | None
    ) -> None:
        log.error("delivery %s (%s) failed permanently: %s", row.id, row.kind, error)
        await self._finish(row, "failed", error, row.attempts + 1)
        if missing and community.admin_channel_id:
            # Told once per missing permission, not once per failed effect.
            async with self._factory() as session, session.begin():
                notice = ChannelPost(
                    community.admin_channel_id,
                    Message(
                        title="Mentorbot is missing a permission",
                        text=(
                            f"I could not complete an action ({error}). Please grant the bot "
                            f"**{missing}** so that roles, channels and messages work."
                        ),
                        tone="warning",
                    ),
                )
                # Due now: the pass that is running picks it up before it stops.
                await Outbox(session, self._clock).add(
                    community.id, notice, key=f"missing-permission:{community.id}:{missing}"
                )

    async def _finish(self, row: _Claimed, status: str, error: str, attempts: int) -> None:
        async with self._factory() as session, session.begin():
            await session.execute(
                update(Delivery)
                .where(self._mine(row))
                .values(
                    status=status,
                    attempts=attempts,
                    last_error=error[:2000],
                    claimed_by=None,
                    lease_until=None,
                )
            )
