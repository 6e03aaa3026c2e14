"""The recurring jobs the scheduler runs on the core (bot/jobs.py): housekeeping,
badge roles, support groups, pruning, erasing uninstalled communities.

Each job works in bounded batches, each batch its own short transaction, so the writer
is never held for long. ``Mentorbot`` (core.service) inherits them: adapters and the
scheduler call them on the service.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass

from core.clock import Clock
from core.settings import CoreSettings
from core.uow import ReadOnlyUnitOfWork, UnitOfWork
from core.usecases.badges import daily_sync_step
from core.usecases.community_erasure import due_for_erasure, erase_step
from core.usecases.group_meetings import extend_windows
from core.usecases.group_membership import expire_offers
from core.usecases.group_prompts import post_scheduled_prompts
from core.usecases.housekeeping import goals_and_badges, nudge_and_expire
from core.usecases.metrics.reports import queue_due_reports
from core.usecases.privacy.deletion import run_due_deletions
from core.usecases.pruning import Pruned, more_to_prune, prune_step
from core.usecases.sessions.planning import nudge_check_ins

log = logging.getLogger(__name__)


@dataclass
class GroupWork:
    """What one pass of group housekeeping did."""

    meetings: int = 0  # groups whose meeting window was extended
    offers: int = 0  # waitlist offers that lapsed
    prompts: int = 0  # scheduled prompts posted


class Upkeep(ABC):
    """The recurring jobs, on whatever gives units of work (``Mentorbot``)."""

    clock: Clock
    settings: CoreSettings

    @abstractmethod
    def uow(self) -> UnitOfWork:
        """A unit of work that writes."""

    @abstractmethod
    def read_uow(self) -> ReadOnlyUnitOfWork:
        """A read-only unit of work (a reader connection)."""

    async def housekeeping(self) -> tuple[int, int]:
        """Recurring job: nudge waiting requests once, expire old ones, nudge quiet
        mentorships to check in, goals and badges, queue the next weekly digest or monthly
        leaderboard whose run has come, keep support groups going, and prune
        rows past their useful life. (nudged, expired)"""
        async with self.uow() as uow:
            counts = await nudge_and_expire(uow)
            await uow.commit()
        async with self.uow() as uow:
            await nudge_check_ins(uow)
            await goals_and_badges(uow)
            await uow.commit()
        async with self.uow() as uow:
            await queue_due_reports(uow)
            await uow.commit()
        await self.group_housekeeping()
        await run_due_deletions(self.uow)
        await self.prune()
        await self.erase_uninstalled()
        return counts

    async def sync_badge_roles(self) -> int:
        """Daily job: queue a grant of every awarded badge's role, a batch of one
        community's awards per short transaction (the ports change only members who lack
        the role, and recreate a deleted one). Returns the grants queued."""
        day = self.clock.now().strftime("%Y-%m-%d")
        queued = 0
        while True:
            async with self.uow() as uow:
                step = await daily_sync_step(uow, day)
                await uow.commit()
            if step is None:
                return queued
            queued += step

    async def group_housekeeping(self) -> GroupWork:
        """Support groups: extend rolling meeting windows, lapse expired waitlist offers,
        post due prompts. Each step is one bounded batch in its own transaction, repeated
        while a batch comes back full (at most ``prune_max_batches`` times)."""
        done = GroupWork()
        steps = (
            ("meetings", extend_windows),
            ("offers", expire_offers),
            ("prompts", post_scheduled_prompts),
        )
        for name, step in steps:
            for _ in range(self.settings.prune_max_batches):
                async with self.uow() as uow:
                    handled = await step(uow)
                    await uow.commit()
                setattr(done, name, getattr(done, name) + handled)
                if handled < self.settings.group_batch:
                    break
        return done

    async def prune(self) -> Pruned:
        """Delete dedupe records, pending relays and message routes past their retention,
        a batch per short transaction, at most ``prune_max_batches`` batches a pass."""
        pruned = Pruned()
        for _ in range(self.settings.prune_max_batches):
            async with self.uow() as uow:
                step = await prune_step(uow)
                await uow.commit()
            pruned += step
            if not more_to_prune(step, self.settings):
                break
        if pruned.total():
            log.info("pruned %s", pruned)
        return pruned

    async def erase_uninstalled(self) -> int:
        """Housekeeping: erase the communities uninstalled longer than the grace period, a
        batch per short transaction (at most ``prune_max_batches`` a pass; the next pass
        goes on). Returns the communities fully erased."""
        async with self.read_uow() as uow:
            due = await due_for_erasure(uow, self.settings.prune_max_batches)
        erased, batches = 0, 0
        for community_id in due:
            while batches < self.settings.prune_max_batches:
                batches += 1
                async with self.uow() as uow:
                    step = await erase_step(uow, community_id)
                    await uow.commit()
                if not step:
                    erased += step == 0
                    break
        return erased
