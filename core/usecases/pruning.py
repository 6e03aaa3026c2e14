"""Bounded tables: rows whose useful life is over are deleted by housekeeping.

A dedupe record only has to outlive a platform's retries of the same event; a pending
relay waits for its sender to pick a mentorship, which they do within minutes or never; a
message route lets a reply to a relayed DM find its mentorship, which matters for as long
as a member may still answer an old DM. Each table has its own retention setting.

Rows go in batches (``prune_batch`` per statement), each batch its own short transaction
run by the caller, so the writer is never held for long; ``prune_max_batches`` bounds one
pass, and a backlog larger than that drains over the next passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import InstrumentedAttribute

from core.models import MessageRoute, PendingRelay, ProcessedEvent
from core.settings import CoreSettings
from core.uow import UnitOfWork


@dataclass(frozen=True)
class Pruned:
    dedupe: int = 0
    pending_relays: int = 0
    routes: int = 0

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(
            self.dedupe + other.dedupe,
            self.pending_relays + other.pending_relays,
            self.routes + other.routes,
        )

    def total(self) -> int:
        return self.dedupe + self.pending_relays + self.routes


def _cutoffs(now: datetime, s: CoreSettings) -> dict[str, datetime]:
    return {
        "dedupe": now - timedelta(days=s.dedupe_retention_days),
        "pending_relays": now - timedelta(days=s.pending_relay_retention_days),
        "routes": now - timedelta(days=s.route_retention_days),
    }


async def _delete_older(
    uow: UnitOfWork,
    key: InstrumentedAttribute[str],
    created: InstrumentedAttribute[datetime],
    cutoff: datetime,
) -> int:
    """Delete up to one batch of rows created before ``cutoff``; how many went."""
    batch = (
        select(key)
        .where(created < cutoff)
        .order_by(created)
        .limit(uow.settings.prune_batch)
        .scalar_subquery()
    )
    result = await uow.session.execute(delete(key.class_).where(key.in_(batch)))
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


async def prune_step(uow: UnitOfWork) -> Pruned:
    """One batch from each table, in the caller's transaction."""
    cut = _cutoffs(uow.now(), uow.settings)
    return Pruned(
        dedupe=await _delete_older(
            uow, ProcessedEvent.key, ProcessedEvent.created_at, cut["dedupe"]
        ),
        pending_relays=await _delete_older(
            uow, PendingRelay.id, PendingRelay.created_at, cut["pending_relays"]
        ),
        routes=await _delete_older(uow, MessageRoute.id, MessageRoute.created_at, cut["routes"]),
    )


def more_to_prune(step: Pruned, s: CoreSettings) -> bool:
    """Whether a step removed a full batch from some table, so another may find more."""
    return max(step.dedupe, step.pending_relays, step.routes) >= s.prune_batch
