"""The dispatcher: claims, heartbeats, lanes, recording, the wake-up (see the package)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from itertools import repeat
from operator import attrgetter, length_hint
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.db import is_postgres
from core.delivery.batch import Claimed, Result, marks
from core.delivery.claims import Claims, default_worker_id
from core.delivery.health import Health, degraded_communities
from core.delivery.perform import CommunityAddress, Outcome, Performer, Superseded, addresses
from core.delivery.transaction import Transaction, batch_connection, transaction
from core.effects import SURELY_USEFUL_FOR, USEFUL_FOR_DAYS, DirectMessage, Effect, load
from core.models import Delivery
from core.observe import NULL_OBSERVER, Observer
from core.ports import (
    Attempt,
    PermanentFailure,
    PlatformPort,
    RetryLater,
    Sent,
    Target,
    new_attempt,
)
from core.queue import ClaimScope
from core.uow import UNINSTALLED

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
        self._rng = rng or random.Random()
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
        performer = Performer(self._factory, self._clock, partial(_reminded_sessions, claimed))
        ports = self._ports
        batch = _Batch(
            performer,
            communities,
            {
                community_id: _Route(community, port, community.target)
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
                            result = self._failure(row, exc)
                        else:
                            now = row.sent_at = now_of()
                            continue
                    row.result = result
                    now = now_of()
                    batch.all_sent = False
                    self._report(row, communities.get(row.community_id), result)
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
        batch: _Batch,
        row: Claimed,
        route: _Route | None,
        now: datetime,
    ) -> Awaitable[Sent] | Result:
        """What trying ``row`` takes (``route``: where it goes, if it can be delivered
        from here; ``now``: the time, read with no await since): the platform call to
        await (what sending creates goes to ``batch``, to be written back), or what
        became of it without one."""
        if route is None:
            return self._undeliverable(row, batch.communities.get(row.community_id))
        community, port, target = route
        try:
            effect = load(row.kind, row.payload)
        except (KeyError, ValueError) as exc:
            log.error("delivery %s: stored %s effect cannot be read: %s", row.id, row.kind, exc)
            failed = Result.failed(row, f"stored effect cannot be read: {exc}"[:500])
            return _because(failed, "unreadable")
        # Still useful? One of a kind useful for a fixed time (a DM: days) surely is until
        # the batch's ``fresh_until``; past that, or for any other kind, it depends.
        maybe_stale = now > batch.fresh_until or type(effect).useful_for is None
        if maybe_stale and now > effect.useful_until(row.due_at):
            if effect.when_late == "drop" or now > row.due_at + timedelta(days=USEFUL_FOR_DAYS):
                reason = f"no longer useful (due {row.due_at:%Y-%m-%d %H:%M} UTC)"
                if row.last_error:
                    reason += f"; last error: {row.last_error}"
                return _because(Result.expired(row, reason), "no_longer_useful")
            effect = effect.marked_late(row.due_at)
        attempt = new_attempt((row.idempotency_key, row.uncertain))
        if type(effect) is DirectMessage and effect.thread is None:
            # A plain DM, the commonest effect by far: one port call, nothing written back.
            return port.send_dm(target, effect.user_id, effect.message, None, attempt)
        return self._perform(batch, row, port, community, effect, attempt)

    def _undeliverable(self, row: Claimed, community: CommunityAddress | None) -> Result:
        """What becomes of ``row`` when its community is gone, uninstalled, or on a
        platform this process runs no adapter for."""
        if community is None:
            return _because(
                Result.failed(row, "the community was deleted before delivery"),
                "community_deleted",
            )
        if community.uninstalled:
            # Queued after the uninstall cancelled the rest (a recurring job's reminder).
            return Result.cancelled(row, UNINSTALLED)
        retry = self._retry(row, f"no adapter running for {community.platform}", None, True)
        return _because(retry, "no_adapter")

    @staticmethod
    async def _perform(
        batch: _Batch,
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

    def _failure(self, row: Claimed, exc: Exception) -> Result:
        """What became of ``row`` when its platform call raised ``exc``."""
        if isinstance(exc, Superseded):
            return _because(Result.cancelled(row, str(exc)), "superseded")
        if isinstance(exc, RetryLater):
            retry = self._retry(row, str(exc), exc.retry_after, exc.rate_limited)
            return _because(retry, "rate_limited" if exc.rate_limited else "transient")
        if isinstance(exc, PermanentFailure):
            log.warning("delivery %s (%s) failed permanently: %s", row.id, row.kind, exc)
            failed = Result.failed(row, str(exc), missing=exc.missing_permission)
            return _because(failed, "permanent")
        log.warning("delivery %s (%s) failed unexpectedly", row.id, row.kind, exc_info=exc)
        retry = self._retry(row, f"{type(exc).__name__}: {exc}", None, False)
        return _because(retry, "unexpected")

    def _report(self, row: Claimed, community: CommunityAddress | None, result: Result) -> None:
        outcome = "retry" if result.status == "pending" else result.status
        platform = community.platform if community is not None else "unknown"
        self.observer.delivery_result(platform, row.kind, outcome, result.reason)

    def _report_sent(
        self, claimed: list[Claimed], communities: dict[str, CommunityAddress]
    ) -> None:
        """Tell the observer how many of a batch's rows were sent, per platform and kind
        (once per batch, not once per row: sending is the dispatcher's busiest path)."""
        sent: Counter[tuple[str, str]] = Counter()
        for row in claimed:
            if row.sent_at is not None:
                community = communities.get(row.community_id)
                sent[community.platform if community else "unknown", row.kind] += 1
        for (platform, kind), count in sent.items():
            self.observer.delivery_result(platform, kind, "sent", None, count)

    def backoff(self, failures: int) -> float:
        """Exponential backoff with jitter: base * 2^(n-1), capped, times 0.5-1.0."""
        s = self.settings
        ceiling = min(s.max_backoff_seconds, s.base_backoff_seconds * 2.0 ** max(failures - 1, 0))
        return ceiling * (0.5 + self._rng.random() / 2)

    def _retry(
        self, row: Claimed, error: str, retry_after: float | None, rate_limited: bool
    ) -> Result:
        # A rate limit is no failure: it neither grows the backoff nor counts as an attempt.
        failures = row.attempts if rate_limited else row.attempts + 1
        delay = max(retry_after or 0.0, self.backoff(max(failures, 1)))
        log.info("delivery %s (%s) retrying in %.1fs: %s", row.id, row.kind, delay, error[:200])
        due = self._clock.now() + timedelta(seconds=delay)
        return Result.retry(row, due, error, counts=not rate_limited)

    # ----- recording -----------------------------------------------------------------

    async def _record(
        self,
        claimed: list[Claimed],
        batch: _Batch,
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
            if self.observer is not NULL_OBSERVER:
                self._report_sent(claimed, batch.communities)
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


class _Route(NamedTuple):
    """Where a community's rows go: the community, its platform's port and the target
    the port is handed."""

    community: CommunityAddress
    port: PlatformPort
    target: Target


class _Batch:
    """What a batch's lanes share: its performer; ``targets``, the community and port of
    each community whose rows can be delivered here; until when every effect of a kind
    useful for a fixed time is surely useful (its oldest row's due time plus the shortest
    such time); and, for its record, the rows whose sending created something to write
    back, and whether every tried row was sent."""

    __slots__ = ("all_sent", "communities", "fresh_until", "performer", "targets", "writes_back")

    def __init__(
        self,
        performer: Performer,
        communities: dict[str, CommunityAddress],
        targets: dict[str, _Route],
        fresh_until: datetime,
    ) -> None:
        self.performer = performer
        self.communities = communities
        self.targets = targets
        self.fresh_until = fresh_until
        self.writes_back: list[tuple[Claimed, Outcome]] = []
        self.all_sent = True


def _because(result: Result, reason: str) -> Result:
    result.reason = reason
    return result


_QUEUE_ORDER = _ID = attrgetter("id")
_STORED_DUE = attrgetter("stored_due")  # in the driver's own type, whose order is time order


def _reminded_sessions(rows: list[Claimed]) -> set[str]:
    """The sessions the reminders among ``rows`` are about."""
    return {
        str(session)
        for row in rows
        if row.kind == "reminder" and (session := _payload(row).get("session_id"))
    }


def _payload(row: Claimed) -> dict[str, Any]:
    """A claimed row's payload as a mapping (SQLite returns the JSON text)."""
    return row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
