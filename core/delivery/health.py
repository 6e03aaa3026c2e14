"""Telling a community's admins, once, that delivery is degraded, and once that it recovered.

The state lives in ``bot_state`` (``delivery-health:<community id>``) so that several
dispatchers, and a restarted one, agree on it. Both notices are ordinary queued effects
with idempotency keys per episode: while the platform is down the "degraded" notice waits
in the queue like everything else and goes out on recovery, first, followed by
"recovered".
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.effects import ChannelPost
from core.messages import Message, moment
from core.models import BotState, Delivery
from core.uow import Outbox

if TYPE_CHECKING:
    from core.delivery.batch import Claimed
    from core.delivery.perform import CommunityAddress
    from core.delivery.transaction import Transaction

log = logging.getLogger(__name__)

PREFIX = "delivery-health:"


def _key(community_id: str) -> str:
    return PREFIX + community_id


async def degraded_communities(session: AsyncSession) -> set[str]:
    rows = await session.execute(select(BotState).where(BotState.key.startswith(PREFIX)))
    return {row.key.removeprefix(PREFIX) for row in rows.scalars() if row.value.get("degraded")}


async def _state(session: AsyncSession, community_id: str) -> BotState | None:
    stmt = select(BotState).where(BotState.key == _key(community_id)).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def mark_degraded(
    session: AsyncSession, clock: Clock, community: CommunityAddress, failures: int, error: str
) -> None:
    now = clock.now()
    state = await _state(session, community.id)
    if state is not None and state.value.get("degraded"):
        return
    episode = (state.value.get("episode", 0) if state is not None else 0) + 1
    value = {"degraded": True, "episode": episode, "since": now.isoformat()}
    if state is None:
        session.add(BotState(key=_key(community.id), value=value))
    else:
        state.value = value
    if community.admin_channel_id:
        notice = ChannelPost(
            community.admin_channel_id,
            Message(
                title="Delivery is degraded",
                text=(
                    f"Since {moment(now, 'f')} the platform has refused or failed "
                    f"{failures} deliveries in a row ({error[:300]}). Nothing is lost: "
                    "messages, roles and channels are queued and go out as soon as it "
                    "answers again. You will be told when it has recovered."
                ),
                tone="warning",
            ),
        )
        await Outbox(session, clock).add(
            community.id, notice, key=f"delivery-degraded:{community.id}:{episode}"
        )


async def mark_recovered(session: AsyncSession, clock: Clock, community: CommunityAddress) -> bool:
    """Return True if the community was degraded (and now is not)."""
    now = clock.now()
    state = await _state(session, community.id)
    if state is None or not state.value.get("degraded"):
        return False
    episode = state.value.get("episode", 1)
    since = datetime.fromisoformat(state.value["since"])
    state.value = {"degraded": False, "episode": episode}
    # Whatever waits in backoff goes now, the "degraded" notice first (it is older), so
    # the admins read the two notices in an order that makes sense.
    await session.execute(
        update(Delivery)
        .where(
            Delivery.community_id == community.id,
            Delivery.status == "pending",
            Delivery.due_at > now,
            Delivery.last_error.is_not(None),
            Delivery.claimed_by.is_(None),
        )
        .values(due_at=now)
        .execution_options(synchronize_session=False)
    )
    if community.admin_channel_id:
        notice = ChannelPost(
            community.admin_channel_id,
            Message(
                title="Delivery has recovered",
                text=(
                    f"The platform answers again (degraded from {moment(since, 'f')} to "
                    f"{moment(now, 'f')}). Everything queued meanwhile is being delivered."
                ),
                tone="success",
            ),
        )
        await Outbox(session, clock).add(
            community.id, notice, key=f"delivery-recovered:{community.id}:{episode}"
        )
    return True


class Health:
    """One dispatcher's view of each community's delivery health."""

    def __init__(self, clock: Clock, degraded_after: int) -> None:
        self._clock = clock
        self._degraded_after = degraded_after
        self._failures: dict[str, int] = {}  # community id -> failures in a row
        self.degraded: set[str] = set()

    def quiet(self, all_sent: bool) -> bool:
        """Whether a batch whose rows were all sent (``all_sent``) leaves nothing to count
        or tell: the usual case, for which :meth:`note` need not look at each row."""
        return all_sent and not (self._failures or self.degraded)

    def writes(self, claimed: list[Claimed]) -> bool:
        """Whether :meth:`note` may write for these results (a notice, a health state):
        only then does the batch's transaction need the ORM."""
        for row in claimed:
            if row.sent_at is not None:
                if row.community_id in self.degraded:
                    return True
            elif (result := row.result) is not None and (
                result.counts_as_failure or result.missing
            ):
                return True
        return False

    async def note(
        self,
        tx: Transaction,
        claimed: list[Claimed],
        communities: dict[str, CommunityAddress],
    ) -> None:
        """After a batch, in its transaction: count failures in a row per community, tell
        the admins once on degrading and once on recovering, and once per missing
        permission."""
        for row in claimed:
            if row.sent_at is not None:
                if not (self._failures or self.degraded):
                    continue  # the usual case: nothing to reset, nobody to tell
                community_id = row.community_id
                self._failures.pop(community_id, None)
                community = communities.get(community_id)
                if community is not None and community_id in self.degraded:
                    self.degraded.discard(community_id)
                    if await mark_recovered(tx.session, self._clock, community):
                        log.warning("delivery to %s has recovered", community_id)
                continue
            result = row.result
            community = communities.get(row.community_id)
            if result is None or community is None:
                continue
            if result.counts_as_failure:
                count = self._failures.get(community.id, 0) + 1
                self._failures[community.id] = count
                if count >= self._degraded_after and community.id not in self.degraded:
                    self.degraded.add(community.id)
                    log.warning("delivery to %s is degraded: %s", community.id, result.error)
                    await mark_degraded(
                        tx.session, self._clock, community, count, result.error or ""
                    )
            if result.missing and community.admin_channel_id:
                # Told once per missing permission, not once per failed effect.
                notice = ChannelPost(
                    community.admin_channel_id,
                    Message(
                        title="Mentorbot is missing a permission",
                        text=(
                            f"I could not complete an action ({result.error}). Please grant "
                            f"the bot **{result.missing}** so that roles, channels and "
                            "messages work."
                        ),
                        tone="warning",
                    ),
                )
                await tx.outbox.add(
                    community.id, notice, key=f"missing-permission:{community.id}:{result.missing}"
                )
