"""The app installed in, and removed from, a community (issue 16: one Slack app for many
workspaces).

Installing (Slack's OAuth redirect, or the first start of a single-workspace bot) creates
the community by the same path as its first command, or brings back one that was
uninstalled: its erasure is called off. Uninstalling (Slack's ``app_uninstalled``, or
``tokens_revoked`` naming the bot's token) marks it uninstalled and cancels everything
still queued for it, in one transaction; the dispatcher cancels anything queued later
(a recurring job's reminder) the same way, with the reason ``uninstalled``. Its data is
erased after ``uninstalled_retention_days`` (core/usecases/community_erasure.py).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from core.context import get_or_create_community
from core.models import Community
from core.uow import UNINSTALLED, UnitOfWork

log = logging.getLogger(__name__)


async def install(uow: UnitOfWork, platform: str, platform_id: str, name: str = "") -> Community:
    """The community for a new installation: created, or reactivated if uninstalled."""
    community = await get_or_create_community(uow, platform, platform_id, name)
    if community.uninstalled_at is not None:
        log.info(
            "%s %s installed again (uninstalled %s): its data is kept",
            platform,
            platform_id,
            f"{community.uninstalled_at:%Y-%m-%d %H:%M} UTC",
        )
        uow.audit(
            community.id,
            None,
            "community.reinstalled",
            target_type="community",
            target_id=community.id,
            summary="The app was installed again; the erasure of this community's data "
            "was called off.",
            uninstalled_at=community.uninstalled_at.isoformat(),
        )
        community.uninstalled_at = None
    return community


async def uninstall(uow: UnitOfWork, platform: str, platform_id: str, why: str) -> int | None:
    """Mark the community uninstalled and cancel what is queued for it; returns how many
    deliveries were cancelled (None: no such community). Repeating it changes nothing."""
    community = (
        await uow.session.execute(
            select(Community)
            .where(Community.platform == platform, Community.platform_id == platform_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if community is None:
        return None
    if community.uninstalled_at is None:
        community.uninstalled_at = uow.now()
        uow.audit(
            community.id,
            None,
            "community.uninstalled",
            target_type="community",
            target_id=community.id,
            summary=f"The app was removed ({why}); deliveries stopped, and the data is "
            f"erased after {uow.settings.uninstalled_retention_days} days unless it is "
            "installed again.",
            why=why,
        )
    return await uow.outbox.cancel_community(community.id, UNINSTALLED)
