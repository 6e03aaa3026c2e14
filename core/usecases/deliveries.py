"""/admin deliveries: what the delivery queue holds for this community, and a retry.

Pending and late effects are counted; failed ones (a permanent refusal) and expired ones
(no longer useful after an outage) are counted by reason with the latest few shown, and
a button sends them again once an admin has fixed the cause (e.g. granted a permission).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from core.actions import action_id, button
from core.context import Actor
from core.errors import NotFound
from core.messages import Button, Field, Message, Reply, moment
from core.models import Delivery
from core.uow import UnitOfWork

# Pending this long past its due time counts as late.
LATE_AFTER = timedelta(minutes=1)
LATEST = 5
REASONS = 5
_GIVEN_UP = ("failed", "expired")


@dataclass(frozen=True)
class ShowDeliveries:
    pass


async def show_deliveries(uow: UnitOfWork, actor: Actor, cmd: ShowDeliveries) -> Reply:
    actor.require_admin("see the delivery queue")
    community_id, now = actor.community.id, uow.now()
    mine = Delivery.community_id == community_id

    async def count(*where: object) -> int:
        found = await uow.session.scalar(select(func.count()).where(mine, *where))  # type: ignore[arg-type]
        return int(found or 0)

    pending = await count(Delivery.status == "pending")
    late = await count(Delivery.status == "pending", Delivery.due_at < now - LATE_AFTER)
    given_up = await count(Delivery.status.in_(_GIVEN_UP))
    fields = [
        Field("Pending", str(pending), inline=True),
        Field("Late", str(late), inline=True),
        Field("Failed", str(given_up), inline=True),
    ]
    buttons: tuple[Button, ...] = ()
    if given_up:
        reasons = await uow.session.execute(
            select(Delivery.last_error, func.count())
            .where(mine, Delivery.status.in_(_GIVEN_UP))
            .group_by(Delivery.last_error)
            .order_by(func.count().desc())
            .limit(REASONS)
        )
        fields.append(
            Field(
                "Why they failed",
                "\n".join(f"{n} × {reason or 'no reason recorded'}" for reason, n in reasons),
            )
        )
        latest = (
            await uow.session.execute(
                select(Delivery)
                .where(mine, Delivery.status.in_(_GIVEN_UP))
                .order_by(Delivery.id.desc())
                .limit(LATEST)
            )
        ).scalars()
        rows = list(latest)
        fields.append(
            Field(
                "Latest",
                "\n".join(
                    f"{moment(d.created_at, 'f')} · {d.kind} · {d.status}: "
                    f"{(d.last_error or '')[:120]}"
                    for d in rows
                ),
            )
        )
        # The newest id bounds the retry: what fails after the admin looked is not swept up.
        buttons = (
            Button("Retry failed", action_id("deliveries-retry", str(rows[0].id)), "primary"),
        )
    text = (
        "Nothing has failed."
        if not given_up
        else "Fix the cause (a permission, a channel, closed DMs), then retry."
    )
    return Reply(
        message=Message(title="Deliveries", text=text, fields=tuple(fields), buttons=buttons)
    )


@button("deliveries-retry")
async def retry_failed(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    actor.require_admin("retry failed deliveries")
    community_id, now = actor.community.id, uow.now()
    upto = int(args[0]) if args[0].isdigit() else -1
    newest = await uow.session.scalar(
        select(Delivery.id).where(
            Delivery.id == upto,
            Delivery.community_id == community_id,
            Delivery.status.in_(_GIVEN_UP),
        )
    )
    if newest is None:
        # A forged id, another community's, or one already retried: nothing happens.
        raise NotFound("failed delivery")
    result = await uow.session.execute(
        update(Delivery)
        .where(
            Delivery.community_id == community_id,
            Delivery.status.in_(_GIVEN_UP),
            Delivery.id <= upto,
        )
        .values(status="pending", due_at=now, claimed_by=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    retried = int(getattr(result, "rowcount", 0))
    uow.outbox.note_due(now)
    uow.audit(
        community_id,
        actor.member.id,
        "deliveries.retry",
        target_type="delivery",
        target_id=str(upto),
        summary=f"retried {retried} failed deliveries",
    )
    return Reply(
        message=Message(text=f"Retrying {retried} failed deliveries now.", tone="success"),
    )
