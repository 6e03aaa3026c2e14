"""Joining and leaving support groups (F8): the waitlist, private groups' requests,
removals, and freed places offered in turn.

Joining adds the member to the group's space, leaving or being removed takes them out
(queued effects, written with the change). A full group offers its waitlist; a freed
place is offered to the first waiting member with a button that expires
(``waitlist_offer_hours``), then to the next (see :func:`expire_offers`). A private group
asks its facilitator, who gets Approve / Decline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from core import validation
from core.actions import action_id, button
from core.context import Actor
from core.effects import DirectMessage
from core.errors import Conflict, InvalidValue, NotAllowed, NotFound
from core.ids import new_id
from core.messages import Button, Message, Reply, mention, moment, say
from core.models import Member, SupportGroup, SupportGroupMember
from core.uow import UnitOfWork
from core.usecases.groups import (
    REASON_MAX,
    GroupRef,
    add_to_space,
    counts,
    enrol,
    find_group,
    group_to_lead,
    may_see,
    membership,
    refresh_status,
    require_lead,
    require_open,
    waitlist_position,
)

# ----- join, waitlist, approval -----------------------------------------------------------


async def join_group(uow: UnitOfWork, actor: Actor, cmd: GroupRef) -> Reply:
    group = await find_group(uow, actor, cmd.group, lock=True, to_join=True)
    return await _join(uow, actor, group)


@button("gjoin")
async def join_button(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    group = await uow.get_scoped(SupportGroup, args[0], actor.community.id, "group", lock=True)
    if group.is_private and not await may_see(uow, actor, group):
        # A private group's card reached someone outside it: ask, as a command would.
        return await _ask_to_join(
            uow, actor, group, await membership(uow, group.id, actor.member.id)
        )
    return await _join(uow, actor, group)


async def _join(uow: UnitOfWork, actor: Actor, group: SupportGroup) -> Reply:
    require_open(group)
    row = await membership(uow, group.id, actor.member.id)
    if row is not None and row.status == "active":
        raise Conflict(f"You are already in “{group.name}”.")
    if row is not None and row.status == "waitlisted":
        position = await waitlist_position(uow, row)
        raise Conflict(f"You are already on the waitlist of “{group.name}” (place {position}).")
    if row is not None and row.status == "requested":
        raise Conflict(f"You already asked to join “{group.name}”; the facilitator will answer.")
    if group.is_private:
        return await _ask_to_join(uow, actor, group, row)
    active, offered = await counts(uow, group)
    if active + offered >= group.max_members:
        return Reply(
            message=Message(
                title=f"“{group.name}” is full",
                text=(
                    f"All {group.max_members} places are taken. Join the waitlist and you will "
                    "be offered the first place that frees."
                ),
                buttons=(Button("Join the waitlist", action_id("gwait", group.id), "primary"),),
            )
        )
    enrol(uow, group, actor.member, row, "active")
    await uow.session.flush()
    await add_to_space(uow, group, actor.user_id, True)
    await refresh_status(uow, group)
    where = f" in <#{group.channel_id}>" if group.channel_id else ""
    return say(f"You joined “{group.name}”. Say hello{where}!", tone="success")


async def _ask_to_join(
    uow: UnitOfWork, actor: Actor, group: SupportGroup, row: SupportGroupMember | None
) -> Reply:
    require_open(group)
    if row is not None and row.status in ("active", "waitlisted", "requested"):
        raise Conflict(f"You are already in or waiting for “{group.name}”.")
    facilitator = (
        await uow.session.get(Member, group.facilitator_id) if group.facilitator_id else None
    )
    if facilitator is None:
        raise Conflict(f"“{group.name}” has no facilitator to approve you; ask an admin.")
    row = enrol(uow, group, actor.member, row, "requested")
    row.offer_version += 1
    await uow.session.flush()
    await uow.outbox.add(
        group.community_id,
        DirectMessage(
            facilitator.platform_user_id,
            Message(
                title=f"{actor.member.display_name} asks to join “{group.name}”",
                text=f"{mention(actor.user_id)} would like to join your private group.",
                buttons=(
                    Button(
                        "Approve", action_id("gapprove", row.id, str(row.offer_version)), "success"
                    ),
                    Button(
                        "Decline", action_id("gdecline", row.id, str(row.offer_version)), "danger"
                    ),
                ),
            ),
        ),
        key=f"group:{group.id}:ask:{row.id}:{row.offer_version}",
    )
    return say(f"“{group.name}” is private: its facilitator has been asked to let you in.")


@button("gwait")
async def join_waitlist(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    group = await uow.get_scoped(SupportGroup, args[0], actor.community.id, "group", lock=True)
    require_open(group)
    if group.is_private and not await may_see(uow, actor, group):
        raise NotFound("group")
    row = await membership(uow, group.id, actor.member.id)
    if row is not None and row.status in ("active", "waitlisted", "requested"):
        raise Conflict(f"You are already in or waiting for “{group.name}”.")
    active, offered = await counts(uow, group)
    if active + offered < group.max_members:
        return await _join(uow, actor, group)  # a place freed meanwhile
    row = enrol(uow, group, actor.member, row, "waitlisted")
    await uow.session.flush()
    position = await waitlist_position(uow, row)
    return say(
        f"You are on the waitlist of “{group.name}”, place {position}. When a place frees "
        "you get a message with a button to take it.",
        tone="success",
    )


async def _decided_request(
    uow: UnitOfWork, actor: Actor, args: list[str]
) -> tuple[SupportGroup, SupportGroupMember, Member]:
    row = await uow.get_scoped(
        SupportGroupMember, args[0], actor.community.id, "request", lock=True
    )
    group = await uow.get_scoped(SupportGroup, row.group_id, actor.community.id, "group", lock=True)
    require_lead(actor, group, "answer requests to join this group")
    require_open(group)
    if row.status != "requested" or str(row.offer_version) != args[1]:
        raise Conflict("This request was already answered or withdrawn.")
    member = await uow.session.get(Member, row.user_id)
    assert member is not None
    return group, row, member


@button("gapprove", arity=2)
async def approve_request(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    group, row, member = await _decided_request(uow, actor, args)
    active, offered = await counts(uow, group)
    if active + offered >= group.max_members:
        row.status, row.queued_at = "waitlisted", uow.now()
        text = f"“{group.name}” is full, so you are on its waitlist (place {{}})."
        await uow.session.flush()
        text = text.format(await waitlist_position(uow, row))
    else:
        row.status, row.joined_at = "active", uow.now()
        await uow.session.flush()
        await add_to_space(uow, group, member.platform_user_id, True)
        await refresh_status(uow, group)
        text = f"You are in “{group.name}”: welcome!"
    await uow.outbox.add(
        group.community_id,
        DirectMessage(member.platform_user_id, Message(text=text, tone="success")),
        key=f"group:{group.id}:approved:{row.id}:{row.offer_version}",
    )
    done = Message(
        text=f"Approved {mention(member.platform_user_id)} for “{group.name}”.", tone="success"
    )
    return Reply(update_origin=done)


@button("gdecline", arity=2)
async def decline_request(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    group, row, member = await _decided_request(uow, actor, args)
    row.status = "left"
    await uow.outbox.add(
        group.community_id,
        DirectMessage(
            member.platform_user_id,
            Message(text=f"The facilitator of “{group.name}” did not accept your request."),
        ),
        key=f"group:{group.id}:declined:{row.id}:{row.offer_version}",
    )
    done = Message(text=f"Declined {mention(member.platform_user_id)}'s request.")
    return Reply(update_origin=done)


# ----- leaving, removing, offering freed places ---------------------------------------------


async def leave_group(uow: UnitOfWork, actor: Actor, cmd: GroupRef) -> Reply:
    group = await find_group(uow, actor, cmd.group, lock=True)
    require_open(group)
    row = await membership(uow, group.id, actor.member.id)
    if row is None or row.status not in ("active", "waitlisted", "requested"):
        raise Conflict(f"You are not in “{group.name}”, so there is nothing to leave.")
    if row.role == "facilitator" and row.status == "active":
        raise Conflict(
            "You facilitate this group, so you can't leave it; an admin can archive it "
            "with `/group archive`."
        )
    was_active = row.status == "active"
    row.status, row.offer_expires_at = "left", None
    if was_active:
        await add_to_space(uow, group, actor.user_id, False)
    await offer_places(uow, group)
    return say(f"You left “{group.name}”.")


@dataclass(frozen=True)
class RemoveMember:
    group: str
    member: str
    reason: str


async def remove_member(uow: UnitOfWork, actor: Actor, cmd: RemoveMember) -> Reply:
    group = await group_to_lead(uow, actor, cmd.group, "remove members from this group")
    reason = validation.text("reason", cmd.reason, min_length=3, max_length=REASON_MAX)
    member = (
        await uow.session.execute(
            select(Member).where(
                Member.community_id == actor.community.id, Member.platform_user_id == cmd.member
            )
        )
    ).scalar_one_or_none()
    row = None if member is None else await membership(uow, group.id, member.id)
    if member is None or row is None or row.status not in ("active", "waitlisted", "requested"):
        raise InvalidValue("member", f"is not in “{group.name}”", cmd.member)
    if row.role == "facilitator":
        raise InvalidValue("member", "is the facilitator; a group keeps its facilitator")
    was_active = row.status == "active"
    row.status, row.offer_expires_at = "removed", None
    if was_active:
        await add_to_space(uow, group, member.platform_user_id, False)
    uow.audit(
        group.community_id,
        actor.member.id,
        "group.remove_member",
        target_type="support_group",
        target_id=group.id,
        summary=f"removed {member.display_name} from {group.name}: {reason}",
        member=member.platform_user_id,
        reason=reason,
    )
    await uow.outbox.add(
        group.community_id,
        DirectMessage(
            member.platform_user_id,
            Message(
                text=f"You were removed from the support group “{group.name}”. Reason: {reason}"
            ),
        ),
        key=f"group:{group.id}:removed:{row.id}:{new_id()}",
    )
    await offer_places(uow, group)
    return say(f"Removed {mention(member.platform_user_id)} from “{group.name}”.", tone="success")


async def offer_places(uow: UnitOfWork, group: SupportGroup) -> int:
    """Offer every free place to the next waiting members; return how many were offered."""
    active, offered = await counts(uow, group)
    free = group.max_members - active - offered
    made = 0
    if free > 0 and group.status != "archived":
        waiting = (
            await uow.session.execute(
                select(SupportGroupMember, Member)
                .join(Member, Member.id == SupportGroupMember.user_id)
                .where(
                    SupportGroupMember.group_id == group.id,
                    SupportGroupMember.status == "waitlisted",
                    SupportGroupMember.offer_expires_at.is_(None),
                )
                .order_by(SupportGroupMember.queued_at, SupportGroupMember.id)
                .limit(free)
            )
        ).all()
        until = uow.now() + timedelta(hours=uow.settings.waitlist_offer_hours)
        for row, member in waiting:
            row.offer_expires_at = until
            row.offer_version += 1
            made += 1
            await uow.outbox.add(
                group.community_id,
                DirectMessage(
                    member.platform_user_id,
                    Message(
                        title=f"A place is free in “{group.name}”",
                        text=f"It is yours if you take it before {moment(until, 'f')} "
                        f"({moment(until, 'R')}); then it goes to the next person waiting.",
                        buttons=(
                            Button(
                                "Take the place",
                                action_id("gtake", row.id, str(row.offer_version)),
                                "success",
                            ),
                        ),
                    ),
                ),
                key=f"group:{group.id}:offer:{row.id}:{row.offer_version}",
            )
    await uow.session.flush()
    await refresh_status(uow, group)
    return made


@button("gtake", arity=2)
async def take_place(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    row = await uow.get_scoped(SupportGroupMember, args[0], actor.community.id, "offer", lock=True)
    if row.user_id != actor.member.id:
        raise NotAllowed("take this place", "it was offered to someone else")
    group = await uow.get_scoped(SupportGroup, row.group_id, actor.community.id, "group", lock=True)
    require_open(group)
    expires = row.offer_expires_at
    if (
        row.status != "waitlisted"
        or str(row.offer_version) != args[1]
        or expires is None
        or expires <= uow.now()
    ):
        raise Conflict("This offer has expired or was already used.")
    row.status, row.offer_expires_at, row.joined_at = "active", None, uow.now()
    await uow.session.flush()
    await add_to_space(uow, group, actor.user_id, True)
    await refresh_status(uow, group)
    done = Message(text=f"You joined “{group.name}”. Welcome!", tone="success")
    return Reply(update_origin=done)


async def expire_offers(uow: UnitOfWork) -> int:
    """Housekeeping: offers past their time lapse (the member leaves the waitlist and is
    told) and the place goes to the next in line. A bounded batch a pass."""
    now = uow.now()
    lapsed = (
        await uow.session.execute(
            select(SupportGroupMember, Member, SupportGroup)
            .join(Member, Member.id == SupportGroupMember.user_id)
            .join(SupportGroup, SupportGroup.id == SupportGroupMember.group_id)
            .where(
                SupportGroupMember.offer_expires_at <= now,
                SupportGroupMember.status == "waitlisted",
            )
            .order_by(SupportGroupMember.offer_expires_at, SupportGroupMember.id)
            .limit(uow.settings.group_batch)
        )
    ).all()
    groups: dict[str, SupportGroup] = {}
    for row, member, group in lapsed:
        row.status, row.offer_expires_at = "left", None
        groups[group.id] = group
        await uow.outbox.add(
            group.community_id,
            DirectMessage(
                member.platform_user_id,
                Message(
                    text=f"The place offered to you in “{group.name}” went to the next person "
                    "waiting. `/group join` puts you on the waitlist again."
                ),
            ),
            key=f"group:{group.id}:lapsed:{row.id}:{row.offer_version}",
        )
    await uow.session.flush()
    for group in groups.values():
        await offer_places(uow, group)
    return len(lapsed)
