"""A dispatcher's hold on the rows it claimed: its heartbeat, the leases it renews, the
check before each platform call that a claim is still its own, and taking over the rows
of a dispatcher on this host that stopped (see the package for how they fit)."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.db import dialect_insert
from core.models import Delivery, DispatcherHeartbeat

log = logging.getLogger(__name__)

LONG_AGO = datetime.min.replace(tzinfo=UTC)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**6):06x}"


class Claims:
    """The rows one dispatcher (``worker_id``) holds a claim on, and how long it is sure
    to hold them.

    Each renewal (a heartbeat) extends the leases by ``lease_seconds``. Until
    ``check_at`` neither is a heartbeat due nor can a claim have lapsed, so the dispatcher
    compares the time with it before each platform call and looks closer only past it
    (and once stopping, always).
    """

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        worker_id: str,
        *,
        lease_seconds: float,
        heartbeat_seconds: float,
    ) -> None:
        self._factory = factory
        self._clock = clock
        self.worker_id = worker_id
        self._lease = timedelta(seconds=lease_seconds)
        self._heartbeat_every = timedelta(seconds=heartbeat_seconds)
        # Claims are counted as surely valid until a little before their lease ends.
        self._sure_for = self._lease - timedelta(seconds=min(1.0, lease_seconds / 4))
        self.held: set[int] = set()  # rows this dispatcher holds a valid claim on
        # Not while a heartbeat renews the claims: a batch's record locks the same rows,
        # and on PostgreSQL two transactions taking them in different orders deadlock.
        self.renewing = asyncio.Lock()
        self._due_lock = asyncio.Lock()  # one heartbeat for all lanes finding one due
        self.renewed_at: datetime | None = None
        # From the last renewal: when the next heartbeat is due, and until when the
        # claims are surely still valid.
        self._beat_due_at: datetime | None = None
        self._valid_until: datetime | None = None
        self.check_at = LONG_AGO
        self._stopping = False

    def lease_until(self, now: datetime) -> datetime:
        """Until when a claim made (or renewed) ``now`` lasts."""
        return now + self._lease

    def valid(self, now: datetime) -> bool:
        return self._valid_until is not None and now < self._valid_until

    def heartbeat_due(self, now: datetime) -> bool:
        return self._beat_due_at is None or now >= self._beat_due_at

    def stop(self) -> None:
        """Stopping: every lane looks closer before its next row (and stops)."""
        self._stopping = True
        self.check_at = LONG_AGO

    def taken(self, ids: Iterable[int], now: datetime) -> None:
        """Rows just claimed ``now``."""
        self.held.update(ids)
        if self.renewed_at is None:
            self._renewed(now)

    def let_go(self, ids: Iterable[int]) -> None:
        """Rows whose results were recorded (or that were released)."""
        self.held.difference_update(ids)

    async def heartbeat(self) -> None:
        """Record that this dispatcher lives and renew its claims (only unexpired ones)."""
        async with self.renewing:
            now = self._clock.now()
            async with self._factory() as session, session.begin():
                insert = dialect_insert(session)
                await session.execute(
                    insert(DispatcherHeartbeat)
                    .values(id=self.worker_id, started_at=now, heartbeat_at=now)
                    .on_conflict_do_update(index_elements=["id"], set_={"heartbeat_at": now})
                )
                if self.held:
                    renewed = await session.execute(
                        update(Delivery)
                        .where(
                            Delivery.claimed_by == self.worker_id,
                            Delivery.status == "pending",
                            Delivery.lease_until >= now,
                        )
                        .values(lease_until=self.lease_until(now))
                        .returning(Delivery.id)
                        .execution_options(synchronize_session=False)
                    )
                    self.held &= set(renewed.scalars())
            self._renewed(now)

    async def renew_due(self) -> datetime:
        """Renew now if a heartbeat is due (once for all lanes finding it due); return
        the time after."""
        async with self._due_lock:
            if self.heartbeat_due(self._clock.now()):
                await self.heartbeat()
        return self._clock.now()

    def _renewed(self, now: datetime) -> None:
        self.renewed_at = now
        self._beat_due_at = now + self._heartbeat_every
        self._valid_until = now + self._sure_for
        # Until then neither a heartbeat is due nor can a claim have lapsed.
        self.check_at = LONG_AGO if self._stopping else min(self._beat_due_at, self._valid_until)

    async def take_over_dead_local_peers(self) -> None:
        """Let go at once of the claims of dispatchers on this host that are no longer
        running (a restart after kill -9): their rows are claimable now, not when their
        leases lapse."""
        now = self._clock.now()
        async with self._factory() as session, session.begin():
            # Dispatchers silent for a day are gone (their claims lapsed long ago).
            await session.execute(
                delete(DispatcherHeartbeat).where(
                    DispatcherHeartbeat.heartbeat_at < now - timedelta(days=1)
                )
            )
            owners = await session.scalars(
                select(Delivery.claimed_by)
                .where(Delivery.status == "pending", Delivery.lease_until >= now)
                .distinct()
            )
            dead = [o for o in owners if o is not None and _dead_local(o)]
            if not dead:
                return
            await session.execute(
                update(Delivery)
                .where(Delivery.claimed_by.in_(dead), Delivery.status == "pending")
                .values(lease_until=now - timedelta(microseconds=1))
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                delete(DispatcherHeartbeat).where(DispatcherHeartbeat.id.in_(dead))
            )
        log.warning("took over the deliveries of stopped dispatcher(s) %s", ", ".join(dead))

    async def release_all(self) -> None:
        """On stop: every row still claimed is released (the next dispatcher sends it at
        once) and this dispatcher's heartbeat removed."""
        try:
            async with self._factory() as session, session.begin():
                await session.execute(
                    update(Delivery)
                    .where(Delivery.claimed_by == self.worker_id, Delivery.status == "pending")
                    .values(claimed_by=None, lease_until=None)
                    .execution_options(synchronize_session=False)
                )
                await session.execute(
                    delete(DispatcherHeartbeat).where(DispatcherHeartbeat.id == self.worker_id)
                )
        except Exception:
            # Shutting down with the database gone: the claims lapse with the heartbeat.
            log.warning("could not release claimed deliveries on stop", exc_info=True)
        self.held.clear()


def _dead_local(worker_id: str) -> bool:
    """Whether ``worker_id`` (see default_worker_id) names a process of this host that
    is no longer running."""
    host, _, rest = worker_id.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False
