"""The dispatcher: claims, heartbeats, lanes, recording, the wake-up (see the package)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from itertools import repeat
from operator import attrgetter, length_hint
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.db import is_postgres
from core.delivery.batch import Batch, Claimed, Result, Route, marks, reminded_sessions
from core.delivery.claims import Claims, default_worker_id
from core.delivery.health import Health, degraded_communities
from core.delivery.perform import CommunityAddress, Performer, addresses
from core.delivery.transaction import Transaction, batch_connection, transaction
from core.delivery.verdicts import Verdicts, because
from core.effects import SURELY_USEFUL_FOR, USEFUL_FOR_DAYS, DirectMessage, Effect, load
from core.models import Delivery
from core.observe import NULL_OBSERVER, Observer
from core.ports import (
    Attempt,
    PlatformPort,
    Sent,
    new_attempt,
)
from core.queue import ClaimScope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliverySettings:
    batch_size: int = 50
    lease_seconds: float = 4.0
    heartbeat_seconds: float = 1.0
    base_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 300.0
    concurrency: int = 16  # destinations worked on at once
    degraded_after: int = 5  # failures in a row before the admins are told
    stop_grace_seconds: float = 10.0  # a stopping dispatcher waits this long for calls


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
        observer: Observer | None = None,
        scope: ClaimScope | None = None,
    ) -> None:
        self._factory = factory
        self.observer: Observer = observer or NULL_OBSERVER
        self._ports = ports
        self._clock = clock
        self.settings = settings or DeliverySettings()
        # None: every community's effects; else only those this process can deliver.
        self.scope = scope
        self.worker_id = worker_id or default_worker_id()
        self.claims = Claims(
            factory,
            clock,
            self.worker_id,
            lease_seconds=self.settings.lease_seconds,
            heartbeat_seconds=self.settings.heartbeat_seconds,
        )
        self.verdicts = Verdicts(self.settings, clock, rng or random.Random(), self.observer)
        self._lock = asyncio.Lock()
        self._again = False
        self._stopped = False
        self._tasks: set[asyncio.Task[int]] = set()
        self._beating: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.next_wakeup: datetime | None = None
        self._claimed_at: datetime | None = None  # the "now" of the latest claim
        self._cut_off: set[int] = set()
        self._health = Health(clock, self.settings.degraded_after)

    # ----- driving -------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim one batch of due effects and try each; return how many were tried."""
        claimed, communities = await self._claim()
        if not claimed:
            return 0
        await self._work(claimed, communities, then_claim=False)
        return len(claimed)

    async def drain(self, max_batches: int = 1000) -> int:
        """Deliver everything due now (used by the console and tests).

        Each batch's results are recorded in the transaction that claims the next batch.
        """
        if self._stopped:
            return 0
        total, batches = 0, 0
        async with batch_connection(self._factory) as pooled:
            claimed, communities = await self._claim(pooled)
            while claimed:
                total += len(claimed)
                batches += 1
                more = batches < max_batches
                claimed, communities = await self._work(
                    claimed, communities, then_claim=more, pooled=pooled
                )
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
            try:
                while True:
                    self._again = False
                    total += await self.drain()
                    if not self._again or self._stopped:
                        break
                await self._arm()
            except Exception:
                # The database is unreachable, say: rows stay claimed until their lease
                # lapses and the next poll tries again.
                log.warning("delivery pass failed; the next poll retries", exc_info=True)
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

    async def poll(self) -> None:
        """The scheduler's job: returns at once, so overlapping polls simply coalesce."""
        self.wake()

    async def start(self) -> None:
        """Announce this dispatcher, keep its heartbeat, and deliver what is due now,
        taking over at once the rows of a dispatcher on this host that is no longer
        running (a restart after kill -9); others' rows lapse with their heartbeat."""
        await self.heartbeat()
        await self.claims.take_over_dead_local_peers()
        async with self._factory() as session:
            self._health.degraded = await degraded_communities(session)
        self._beating = asyncio.get_running_loop().create_task(self._beat())
        self.wake()

    async def stop(self) -> None:
        """Graceful shutdown: no new rows are started; calls under way may finish for
        ``stop_grace_seconds``, then are cancelled; every row still claimed is released,
        so the next dispatcher sends it at once."""
        self._stopped = True
        self.claims.stop()
        if self._timer is not None:
            self._timer.cancel()
        if self._beating is not None:
            self._beating.cancel()
            await asyncio.gather(self._beating, return_exceptions=True)
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=self.settings.stop_grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        async with self._lock:
            pass
        await self.claims.release_all()

    async def wait_idle(self) -> None:
        """Wait until every pass started by ``wake`` has finished."""
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()

    async def _beat(self) -> None:
        while not self._stopped:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                await self.heartbeat()
                async with self._factory() as session:
                    self._health.degraded |= await degraded_communities(session)
                if self._timer is None or self.next_wakeup is None:
                    await self._arm()
            except Exception:
                log.warning("dispatcher heartbeat failed; retrying", exc_info=True)

    # ----- claims ------------------------------------------------------------------

    async def heartbeat(self) -> None:
        """Record that this dispatcher lives and renew its claims (only unexpired ones)."""
        await self.claims.heartbeat()

    async def _claim(self, pooled: Any = None) -> tuple[list[Claimed], dict[str, CommunityAddress]]:
        async with transaction(self._factory, self._clock, pooled) as tx:
            return await self._claim_in(tx)

    async def _claim_in(self, tx: Transaction) -> tuple[list[Claimed], dict[str, CommunityAddress]]:
        now = self._clock.now()
        self._claimed_at = now
        db = tx.db
        lease = db.time(self.claims.lease_until(now))
        params = (self.worker_id, lease, db.time(now), self.settings.batch_size)
        sql = db.statements.claim if self.scope is None else db.statements.scoped_claim(self.scope)
        # The claim is its transaction's last statement: on SQLite the transaction is
        # then one trip to the driver's thread. Its communities are read in it too: no
        # second lock on SQLite.
        found, found_communities = await db.claim(sql, params, last=True)
        if not found:
            return [], {}
        rows = list(map(Claimed, found, repeat(db.time_of)))
        communities = addresses(db, found_communities)
        self.claims.taken(map(_ID, rows), now)
        rows.sort(key=_QUEUE_ORDER)  # lanes keep it; results are marked in it
        return rows, communities

    # ----- delivering ----------------------------------------------------------------

    async def _work(
        self,
        claimed: list[Claimed],
        communities: dict[str, CommunityAddress],
        *,
        then_claim: bool,
        pooled: Any = None,
    ) -> tuple[list[Claimed], dict[str, CommunityAddress]]:
        """Deliver a batch, record it, and (``then_claim``) claim the next in the same
        transaction; return that next batch."""
        lanes: defaultdict[tuple[str, str], list[Claimed]] = defaultdict(list)
        for row in claimed:  # in queue (id) order: each lane keeps it
            lanes[row.community_id, row.destination or row.lane()].append(row)
        performer = Performer(self._factory, self._clock, partial(reminded_sessions, claimed))
        ports = self._ports
        batch = Batch(
            performer,
            communities,
            {
                community_id: Route(community, port, community.target)
                for community_id, community in communities.items()
                if not community.uninstalled and (port := ports.get(community.platform)) is not None
            },
            min(claimed, key=_STORED_DUE).due_at + SURELY_USEFUL_FOR,
        )
        targets = batch.targets
        waiting = iter(list(lanes.values()))  # the lanes no worker has taken, for all workers
        # Up to ``concurrency`` lanes at once. A helper worker is added only when one is
        # about to call the platform (and so may wait) while lanes still wait for a
        # worker, one at a time: a port that answers at once is driven by the first
        # worker alone, a slow one gets every helper within a turn of the loop.
        helpers: list[asyncio.Task[None]] = []
        spare = False  # a helper made that has not started yet

        def add_helper() -> None:
            nonlocal spare
            if len(helpers) + 1 < self.settings.concurrency:
                spare = True
                helpers.append(asyncio.ensure_future(worker()))

        now_of = self._clock.now
        claims, cut_off = self.claims, self._cut_off
        held = claims.held

        async def worker() -> None:
            """Work on waiting lanes, one after another, each row in its lane's order."""
            nonlocal spare
            spare = False
            now = now_of()
            for rows in waiting:
                for row in rows:
                    # Before a platform call: stop if stopping, renew if a heartbeat is
                    # due, check the claim (all known not to be needed until
                    # ``claims.check_at``: one comparison as a rule). ``now`` was read
                    # after the previous call returned, with no await since: as good as
                    # reading the clock again.
                    if now >= claims.check_at:
                        if self._stopped:
                            break
                        if claims.heartbeat_due(now):
                            now = await claims.renew_due()
                        if not claims.valid(now):
                            break  # unrecorded rows are released (or left to a new owner)
                    if row.id not in held:
                        break
                    if not spare and length_hint(waiting):
                        add_helper()
                    call = self._call(batch, row, targets.get(row.community_id), now)
                    if isinstance(call, Result):
                        result = call
                    else:
                        try:
                            row.sent = await call
                        except asyncio.CancelledError:
                            cut_off.add(row.id)  # stopped mid-call: it may have reached it
                            raise
                        except Exception as exc:
                            result = self.verdicts.failure(row, exc)
                        else:
                            now = row.sent_at = now_of()
                            continue
                    row.result = result
                    now = now_of()
                    batch.all_sent = False
                    self.verdicts.report(row, communities.get(row.community_id), result)
                    if result.status == "pending":
                        # Keep the destination's order: the rest waits behind this one
                        # (and the claim skips them while it waits).
                        for later in rows[rows.index(row) + 1 :]:
                            later.result = Result.held(later)
                        break

        finished = False
        try:
            await worker()
            done = 0
            while done < len(helpers):  # helpers may add helpers while we wait
                await helpers[done]
                done += 1
            finished = True
        finally:
            if not finished:  # cancelled (a stop) or failed: no lane goes on unrecorded
                for helper in helpers:
                    helper.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
            # Also when cancelled mid-way (a stop): record what is known, release the rest.
            then_claim = then_claim and finished and not self._stopped
            record = asyncio.ensure_future(self._record(claimed, batch, then_claim, pooled))
            try:
                following = await asyncio.shield(record)
            except asyncio.CancelledError:
                # The record goes on; the connection it uses is not given back before.
                await asyncio.wait([record])
                raise
        return following

    def _call(
        self,
        batch: Batch,
        row: Claimed,
        route: Route | None,
        now: datetime,
    ) -> Awaitable[Sent] | Result:
        """What trying ``row`` takes (``route``: where it goes, if it can be delivered
        from here; ``now``: the time, read with no await since): the platform call to
        await (what sending creates goes to ``batch``, to be written back), or what
        became of it without one."""
        if route is None:
            return self.verdicts.undeliverable(row, batch.communities.get(row.community_id))
        community, port, target = route
        try:
            effect = load(row.kind, row.payload)
        except (KeyError, ValueError) as exc:
            log.error("delivery %s: stored %s effect cannot be read: %s", row.id, row.kind, exc)
            failed = Result.failed(row, f"stored effect cannot be read: {exc}"[:500])
            return because(failed, "unreadable")
        # Still useful? One of a kind useful for a fixed time (a DM: days) surely is until
        # the batch's ``fresh_until``; past that, or for any other kind, it depends.
        maybe_stale = now > batch.fresh_until or type(effect).useful_for is None
        if maybe_stale and now > effect.useful_until(row.due_at):
            if effect.when_late == "drop" or now > row.due_at + timedelta(days=USEFUL_FOR_DAYS):
                reason = f"no longer useful (due {row.due_at:%Y-%m-%d %H:%M} UTC)"
                if row.last_error:
                    reason += f"; last error: {row.last_error}"
                return because(Result.expired(row, reason), "no_longer_useful")
            effect = effect.marked_late(row.due_at)
        attempt = new_attempt((row.idempotency_key, row.uncertain))
        if type(effect) is DirectMessage and effect.thread is None:
            # A plain DM, the commonest effect by far: one port call, nothing written back.
            return port.send_dm(target, effect.user_id, effect.message, None, attempt)
        return self._perform(batch, row, port, community, effect, attempt)

    @staticmethod
    async def _perform(
        batch: Batch,
        row: Claimed,
        port: PlatformPort,
        community: CommunityAddress,
        effect: Effect,
        attempt: Attempt,
    ) -> Sent:
        outcome = await batch.performer.perform(port, community, effect, attempt)
        if outcome.writes_back:
            batch.writes_back.append((row, outcome))
        return outcome.sent

    # ----- recording -----------------------------------------------------------------

    async def _record(
        self,
        claimed: list[Claimed],
        batch: Batch,
        then_claim: bool = False,
        pooled: Any = None,
    ) -> tuple[list[Claimed], dict[str, CommunityAddress]]:
        """Every result of the batch in one transaction; unattempted rows released.

        Not while a heartbeat renews this dispatcher's claims: both lock the same rows,
        and on PostgreSQL two transactions taking them in different orders deadlock.
        """
        now = self._clock.now()
        # What a sent effect created (a role id, a route, a channel) is written back only
        # if the row is still ours; everything else is guarded by the mark itself.
        writes_back = batch.writes_back
        quiet = self._health.quiet(batch.all_sent)
        orm = bool(writes_back) or (not quiet and self._health.writes(claimed))
        async with (
            self.claims.renewing,
            transaction(self._factory, self._clock, pooled, orm=orm) as tx,
        ):
            db = tx.db
            mine: set[int] = set()
            if writes_back:
                mine_stmt = select(Delivery.id).where(
                    Delivery.id.in_([row.id for row, _ in writes_back]),
                    Delivery.claimed_by == self.worker_id,
                )
                if is_postgres(tx.session):
                    mine_stmt = mine_stmt.with_for_update()
                mine = set((await tx.session.execute(mine_stmt)).scalars())
            owner, cut_off = self.worker_id, self._cut_off
            # In id order (as the claim locks them). Rows another dispatcher took over
            # are left alone: claimed_by is not ours.
            await db.executemany(db.statements.mark, marks(claimed, owner, db, cut_off))
            self.verdicts.report_sent(claimed, batch.communities)
            for row, outcome in writes_back:
                if row.id in mine:
                    await batch.performer.apply(tx.session, row.community_id, outcome)
            if not quiet:
                await self._health.note(tx, claimed, batch.communities)
            self.claims.let_go(map(_ID, claimed))
            if cut_off:
                cut_off.difference_update(map(_ID, claimed))
            if then_claim:
                return await self._claim_in(tx)
            if tx.earliest_due is not None and tx.earliest_due <= now:
                self._again = True
        return [], {}

    # ----- the wake-up ---------------------------------------------------------------

    async def next_due(self) -> datetime | None:
        """When the next row becomes claimable: its due time, or a lapsing claim."""
        now = self._clock.now()
        # Rows that fell due after the last claim looked count too (then the wake-up is
        # immediate); rows due before it that it left (held behind a retry) do not.
        since = min(now, self._claimed_at or now)
        async with self._factory() as session:
            due = await session.scalar(
                select(func.min(Delivery.due_at)).where(
                    Delivery.status == "pending", Delivery.due_at > since
                )
            )
            lapse = await session.scalar(
                select(func.min(Delivery.lease_until)).where(
                    Delivery.lease_until > now, Delivery.status == "pending"
                )
            )
        found = [t for t in (due, lapse) if t is not None]
        return min(found) if found else None

    async def _arm(self) -> None:
        if self._stopped:
            return
        when = await self.next_due()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.next_wakeup = when
        if when is None:
            return
        delay = max(0.0, (when - self._clock.now()).total_seconds())
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.wake()


_QUEUE_ORDER = _ID = attrgetter("id")
_STORED_DUE = attrgetter("stored_due")  # in the driver's own type, whose order is time order
