"""Asking for deletion, cancelling it, leaving and coming back, and the job that does it.

``/privacy delete`` shows what will go and asks for a press of *Delete my data*; the press
sets the member's ``deletion_due_at`` a grace period ahead (``[privacy] grace_days``, or
the community's own, ``/privacy grace``). Nothing is removed until then, so
``/privacy cancel`` (or its button) has nothing to restore: it clears the date. Leaving
the community (Slack, Discord) sets the same date with the reason "left"; coming back
clears it. Housekeeping forgets members whose date has passed (``forget.forget_member``),
one per transaction, and then deletes the last queue rows that carried their platform id
once those were sent. All of it is stored on the member row, so a restart loses nothing.

Both buttons carry the member's ``privacy_version``, raised on every request and cancel:
a confirm card from before a cancel cannot start the deletion again, and a button pressed
by anyone but the member it was made for is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from core.actions import action_id, button, require_current
from core.context import Actor
from core.errors import InvalidValue, NotAllowed
from core.messages import Button, Field, Message, Reply, moment, say
from core.models import Community, Delivery, Member, Mentor
from core.models.base import utcnow
from core.uow import UnitOfWork
from core.usecases.privacy.forget import forget_key, forget_member
from core.usecases.privacy.scope import SECTIONS, scope_of

log = logging.getLogger(__name__)

GRACE_MIN, GRACE_MAX = 1, 90
PENDING = ("request", "left")
# A done deletion waiting for its role revokes to be sent is looked at again this often.
RECHECK = timedelta(minutes=10)
# Rows that are not "something stored about you" on their own.
_NOT_DATA = ("members", "deliveries")

REMOVED = (
    "your mentor and mentee profiles and applications; sessions, goals, badges, group "
    "memberships, your calendar feed and the reviews you wrote (averages are recomputed)"
)
KEPT = (
    "your mentorships end and the other person is told; they keep their own messages, "
    "with yours replaced by a note; counts stay right because your member record is kept "
    "without your name, id, timezone or languages"
)


@dataclass(frozen=True)
class DeleteMyData:
    pass


@dataclass(frozen=True)
class CancelDeletion:
    pass


@dataclass(frozen=True)
class SetGracePeriod:
    days: int


def grace_days(uow: UnitOfWork, community: Community) -> int:
    own = (community.settings or {}).get("privacy_grace_days")
    return int(own) if isinstance(own, int) else uow.settings.privacy_grace_days


def pending_deletion(member: Member) -> datetime | None:
    return member.deletion_due_at if member.deletion_reason in PENDING else None


async def has_data(uow: UnitOfWork, member: Member) -> bool:
    """Whether anything is stored about the member beyond the member row itself."""
    scope = await scope_of(uow, member)
    for table, rows_of in SECTIONS.items():
        if table in _NOT_DATA:
            continue
        if (await uow.session.execute(rows_of(scope).limit(1))).first() is not None:
            return True
    return False


def _when(at: datetime) -> str:
    return f"{moment(at, 'F')} ({moment(at, 'R')})"


def _cancel_button(member: Member) -> Button:
    return Button(
        "Keep my data", action_id("pcancel", member.id, str(member.privacy_version)), "secondary"
    )


def _scheduled(member: Member, intro: str) -> Message:
    due = member.deletion_due_at
    assert due is not None
    return Message(
        title="Your data will be deleted",
        text=f"{intro} On {_when(due)} Mentorbot deletes your data in this community. "
        "Until then everything stays as it is; `/privacy cancel` (or the button) keeps it.",
        buttons=(_cancel_button(member),),
        tone="warning",
    )


async def ask_delete(uow: UnitOfWork, actor: Actor, cmd: DeleteMyData) -> Reply:
    member = actor.member
    due = pending_deletion(member)
    if due is not None:
        return Reply(message=_scheduled(member, "You asked for this already."))
    if not await has_data(uow, member):
        return say(
            "Mentorbot stores nothing about you in this community beyond your name and "
            "platform id (which every command needs), so there is nothing to delete.",
        )
    days = grace_days(uow, actor.community)
    return Reply(
        message=Message(
            title="Delete your data?",
            text=f"After {days} day{'s' if days != 1 else ''} Mentorbot deletes what it "
            "stores about you in this community. You can change your mind until then.",
            fields=(Field("Removed", REMOVED), Field("Kept", KEPT)),
            footer="`/privacy export` first if you want a copy.",
            buttons=(
                Button(
                    "Delete my data",
                    action_id("pdelete", member.id, str(member.privacy_version)),
                    "danger",
                ),
            ),
            tone="warning",
        )
    )


def _own(actor: Actor, member_id: str, what: str) -> None:
    if actor.member.id != member_id:
        raise NotAllowed(what, "only the member it was made for can press it")


@button("pdelete", arity=2, versioned=True)
async def confirm_delete(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    member_id, version = args
    _own(actor, member_id, "confirm this deletion")
    member = actor.member
    if pending_deletion(member) is not None:
        return Reply(message=_scheduled(member, "You asked for this already."))
    require_current(version, member.privacy_version)
    due = uow.now() + timedelta(days=grace_days(uow, actor.community))
    member.deletion_due_at, member.deletion_reason = due, "request"
    member.privacy_version += 1
    message = _scheduled(member, "Done.")
    return Reply(message=message, update_origin=message)


async def cancel_command(uow: UnitOfWork, actor: Actor, cmd: CancelDeletion) -> Reply:
    return _cancel(actor.member)


@button("pcancel", arity=2, versioned=True)
async def cancel_button(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    member_id, version = args
    _own(actor, member_id, "cancel this deletion")
    if pending_deletion(actor.member) is None:
        return _cancel(actor.member)
    require_current(version, actor.member.privacy_version)
    reply = _cancel(actor.member)
    return Reply(message=reply.message, update_origin=reply.message)


def _cancel(member: Member) -> Reply:
    if pending_deletion(member) is None:
        return say("No deletion of your data is pending, so there is nothing to cancel.")
    member.deletion_due_at, member.deletion_reason = None, None
    member.privacy_version += 1
    return say(
        "Cancelled: your data stays. Nothing had been removed, so everything is as it was.",
        tone="success",
    )


async def set_grace(uow: UnitOfWork, actor: Actor, cmd: SetGracePeriod) -> Reply:
    actor.require_admin("change the grace period")
    if not GRACE_MIN <= cmd.days <= GRACE_MAX:
        raise InvalidValue("days", f"must be a whole number from {GRACE_MIN} to {GRACE_MAX}")
    community = actor.community
    community.settings = {**(community.settings or {}), "privacy_grace_days": cmd.days}
    uow.audit(
        community.id,
        actor.member.id,
        "privacy.grace",
        target_type="community",
        target_id=community.id,
        summary=f"set the deletion grace period to {cmd.days} days",
        days=cmd.days,
    )
    return say(
        f"Deletions now happen {cmd.days} days after they are asked for (or after a member "
        "leaves). Deletions already pending keep their date.",
        tone="success",
    )


# ----- leaving and coming back (platform events) ----------------------------------------


async def _touch_mentor(uow: UnitOfWork, member: Member) -> None:
    """The mentor listing keys on ``updated_at``: stamp it so every process sees the
    member leave (or come back) at its next use."""
    await uow.session.execute(
        update(Mentor)
        .where(Mentor.user_id == member.id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def member_left(uow: UnitOfWork, community: Community, member: Member) -> bool:
    """The member left the community: out of suggestions at once, deleted after the grace
    period unless they come back. False when nothing changed (already gone or pending)."""
    now = uow.now()
    changed = member.left_at is None
    if member.left_at is None:
        member.left_at = now
        await _touch_mentor(uow, member)
    if member.deletion_reason is None:
        member.deletion_due_at = now + timedelta(days=grace_days(uow, community))
        member.deletion_reason = "left"
        member.privacy_version += 1
        changed = True
    return changed


async def member_returned(uow: UnitOfWork, member: Member) -> bool:
    """The member came back: a deletion their leaving started is cancelled (one they asked
    for themselves stays). False when nothing changed."""
    changed = False
    if member.left_at is not None:
        member.left_at = None
        await _touch_mentor(uow, member)
        changed = True
    if member.deletion_reason == "left":
        member.deletion_due_at, member.deletion_reason = None, None
        member.privacy_version += 1
        changed = True
    return changed


# ----- the job ------------------------------------------------------------------------------


async def due_members(uow: UnitOfWork) -> list[str]:
    """Members whose deletion (or the clean-up after one) is due, oldest first."""
    rows = await uow.session.execute(
        select(Member.id)
        .where(Member.deletion_due_at <= uow.now(), Member.deletion_reason.is_not(None))
        .order_by(Member.deletion_due_at, Member.id)
        .limit(uow.settings.privacy_batch)
    )
    return list(rows.scalars())


async def forget_due(uow: UnitOfWork, member_id: str) -> str | None:
    """Do what is due for one member, in this transaction: the deletion, or the clean-up
    of a done one. Returns what was done ("forgotten", "finished"), None if nothing."""
    found = (
        await uow.session.execute(
            select(Member, Community)
            .join(Community, Community.id == Member.community_id)
            .where(Member.id == member_id)
            .with_for_update(of=Member)
        )
    ).first()
    if found is None:
        return None
    member, community = found
    now = uow.now()
    if member.deletion_due_at is None or member.deletion_due_at > now:
        return None  # cancelled, or moved, since it was listed
    if member.deletion_reason in PENDING:
        done = await forget_member(uow, community, member, member.deletion_reason or "")
        log.info("forgot member %s of community %s: %s", member.id, community.id, done)
        return "forgotten"
    if member.deletion_reason == "forgotten":
        return await _finish(uow, member, now)
    return None


async def _finish(uow: UnitOfWork, member: Member, now: datetime) -> str | None:
    """Delete the deletion's own queue rows once sent (they carry the platform id)."""
    key = forget_key(member.id)
    await uow.session.execute(
        delete(Delivery)
        .where(
            Delivery.community_id == member.community_id,
            Delivery.group_key == key,
            Delivery.status != "pending",
        )
        .execution_options(synchronize_session=False)
    )
    waiting = await uow.session.scalar(
        select(func.count(Delivery.id)).where(
            Delivery.community_id == member.community_id, Delivery.group_key == key
        )
    )
    if waiting:
        member.deletion_due_at = now + RECHECK
        return None
    member.deletion_due_at, member.deletion_reason = None, None
    return "finished"


async def run_due_deletions(new_uow: Callable[[], UnitOfWork]) -> int:
    """Housekeeping: each due member in a transaction of their own. Returns how many
    members were forgotten."""
    async with new_uow() as uow:
        ids = await due_members(uow)
    forgotten = 0
    for member_id in ids:
        async with new_uow() as uow:
            done = await forget_due(uow, member_id)
            await uow.commit()
        forgotten += done == "forgotten"
    return forgotten
