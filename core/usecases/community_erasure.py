"""Erasing a community's data: every row of every table that holds it, then the
community itself (issue 16: a workspace that uninstalled the app and did not install it
again within ``uninstalled_retention_days``).

The tables are found from the models' metadata (each table with a ``community_id``), so a
new feature's table is covered without a change here; tests/core/test_community_erasure.py
fails when a table of the migrated schema holds community data this would miss. Deletes
run children first (the reverse of the foreign keys' order), one bounded batch per
transaction, so SQLite's single writer is never held long and a pass cut short resumes
where it stopped: the community row goes last.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Table, delete, select

from core.models import Base, Community
from core.uow import UnitOfWork

log = logging.getLogger(__name__)


def erasure_tables() -> list[Table]:
    """The tables holding community data, in an order that deletes children first."""
    return [t for t in reversed(Base.metadata.sorted_tables) if "community_id" in t.c]


def erasure_cutoff(uow: UnitOfWork) -> datetime:
    """Communities uninstalled before this are erased."""
    return uow.now() - timedelta(days=uow.settings.uninstalled_retention_days)


async def due_for_erasure(uow: UnitOfWork, limit: int) -> list[str]:
    """Ids of communities uninstalled longer than the grace period, oldest first."""
    rows = await uow.session.execute(
        select(Community.id)
        .where(Community.uninstalled_at <= erasure_cutoff(uow))
        .order_by(Community.uninstalled_at, Community.id)
        .limit(limit)
    )
    return list(rows.scalars())


async def erase_step(uow: UnitOfWork, community_id: str) -> int | None:
    """Delete at most ``prune_batch`` rows of the community's data (from the first table,
    children first, that still holds some); once none is left, the community row.

    Returns the rows deleted, 0 when the community is gone, and None when it is no longer
    due (installed again meanwhile: nothing is deleted). The community row is locked
    first, so a reinstall in another process waits for this batch or wins before it.
    """
    still_due = await uow.session.execute(
        select(Community.id)
        .where(Community.id == community_id, Community.uninstalled_at <= erasure_cutoff(uow))
        .with_for_update()
    )
    if still_due.first() is None:
        gone = await uow.session.get(Community, community_id) is None
        return 0 if gone else None
    batch = uow.settings.prune_batch
    for table in erasure_tables():
        key = list(table.primary_key.columns)
        assert len(key) == 1, f"{table.name}: erasure expects a one-column primary key"
        chosen = select(key[0]).where(table.c.community_id == community_id).limit(batch)
        result = await uow.session.execute(
            delete(table).where(key[0].in_(chosen)).execution_options(synchronize_session=False)
        )
        deleted = int(getattr(result, "rowcount", 0) or 0)
        if deleted:
            return deleted
    await uow.session.execute(
        delete(Community)
        .where(Community.id == community_id)
        .execution_options(synchronize_session=False)
    )
    log.info("erased community %s (uninstalled past the grace period)", community_id)
    return 1
