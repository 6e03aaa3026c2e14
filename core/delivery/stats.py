"""The delivery queue at a glance, for operators: how much waits and for how long.

Read by the health check (the delivery lag) and the metrics endpoint (queue depth,
reminders coming up). Three indexed queries on ``(status, due_at)``, run on a reader
connection, so they never wait for the writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Delivery
from core.queue import ClaimScope

UPCOMING_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class QueueStats:
    due: int  # pending effects whose moment has come: waiting for a dispatcher
    scheduled: int  # pending effects due later (reminders, retries backing off)
    oldest_due_at: datetime | None  # the moment the longest-waiting due effect fell due
    # Effects never tried yet that fall due within the next hour, by kind: the session
    # reminders, meeting reminders and prompts about to go out (retries not counted).
    upcoming: dict[str, int] = field(default_factory=dict)

    def lag_seconds(self, now: datetime) -> float:
        """How long the oldest due effect has waited (0 when nothing is due)."""
        if self.oldest_due_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_due_at).total_seconds())


async def queue_stats(
    session: AsyncSession, now: datetime, scope: ClaimScope | None = None
) -> QueueStats:
    """The queue's figures; with ``scope``, ``due`` and ``oldest_due_at`` count only the
    effects a dispatcher of that scope claims (another process's platform or shards
    excluded), the rest stay the whole queue's."""
    pending = Delivery.status == "pending"
    d = Delivery.__table__.alias("d")
    due_rows = select(func.count(), func.min(d.c.due_at)).where(
        d.c.status == "pending", d.c.due_at <= now
    )
    if scope is not None:
        due_rows = due_rows.where(text(scope.condition().removeprefix(" AND ")))
    due, oldest = (await session.execute(due_rows)).one()
    scheduled = await session.scalar(
        select(func.count()).select_from(Delivery).where(pending, Delivery.due_at > now)
    )
    upcoming = await session.execute(
        select(Delivery.kind, func.count())
        .where(
            pending,
            Delivery.due_at > now,
            Delivery.due_at <= now + UPCOMING_WINDOW,
            Delivery.attempts == 0,
        )
        .group_by(Delivery.kind)
    )
    return QueueStats(
        due=int(due or 0),
        scheduled=int(scheduled or 0),
        oldest_due_at=oldest,
        upcoming={str(kind): int(count) for kind, count in upcoming.all()},
    )
