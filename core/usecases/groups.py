"""Support groups (F8): creating one with its private space, finding, joining, leaving.

A group's space (Discord channel, Slack private channel, console room) and every change
to who is in it are queued effects, written with the change. Status follows membership:
``forming`` below ``group_min_members``, ``full`` at ``max_members`` (places offered to
the waitlist count as taken), else ``active``; ``archived`` is final. A full group offers
its waitlist; a freed place is offered to the first waiting member with a button that
expires (``waitlist_offer_hours``), then to the next (see :func:`expire_offers`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select

from core import defaults, validation
from core.actions import action_id, button
from core.context import Actor
from core.effects import DirectMessage, SpaceMembership
from core.errors import Conflict, InvalidValue, NotAllowed, NotFound
from core.ids import new_id
from core.messages import Button, Field, Message, Reply, mention, moment, say
from core.models import Member, SupportGroup, SupportGroupMember
from core.recurrence import Schedule
from core.uow import UnitOfWork

NAME_MAX, DESCRIPTION_MAX = 80, 1000
MAX_MEMBERS_MIN, MAX_MEMBERS_MAX, MAX_MEMBERS_DEFAULT = 2, 50, 12
REASON_MAX = 500
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,24}$")


# ----- loading and rules ---------------------------------------------------------------


def group_types(actor: Actor) -> tuple[str, ...]:
    extra = actor.community.settings.get("group_types") or []
    return tuple(dict.fromkeys([*defaults.GROUP_TYPES, *extra]))


def group_name(value: str) -> str:
    name = validation.text("name", value, min_length=1, max_length=NAME_MAX)
    if not any(c.isalnum() for c in name):
        raise InvalidValue("name", "must contain letters or digits, not only symbols", name)
    return name


async def find_group(
    uow: UnitOfWork,
    actor: Actor,
    ref: str,
    *,
    lock: bool = False,
    field: str = "group",
    to_join: bool = False,
) -> SupportGroup:
    """A group of the actor's community by id or (case-insensitive) name.

    A private group is found only by its members and admins (it is unlisted), except by
    someone asking to join it (``to_join``) who knows its name.
    """
    ref = validation.clean(ref)
    if not ref:
        raise InvalidValue(field, "is required: the group's name")
    community_id = actor.community.id
    stmt = select(SupportGroup).where(SupportGroup.community_id == community_id)
    if _ID_RE.match(ref):
        stmt = stmt.where(or_(SupportGroup.id == ref, func.lower(SupportGroup.name) == ref.lower()))
    else:
        stmt = stmt.where(func.lower(SupportGroup.name) == ref.lower())
    if lock:
        stmt = stmt.with_for_update()
    group = (await uow.session.execute(stmt.order_by(SupportGroup.created_at).limit(1))).scalar()
    if group is None or (group.is_private and not to_join and not await may_see(uow, actor, group)):
        raise NotFound("group")
    return group


async def may_see(uow: UnitOfWork, actor: Actor, group: SupportGroup) -> bool:
    if not group.is_private or actor.is_admin:
        return True
    row = await membership(uow, group.id, actor.member.id)
    return row is not None and row.status in ("active", "waitlisted", "requested")


async def membership(uow: UnitOfWork, group_id: str, member_id: str) -> SupportGroupMember | None:
    stmt = select(SupportGroupMember).where(
        SupportGroupMember.group_id == group_id, SupportGroupMember.user_id == member_id
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


def require_open(group: SupportGroup) -> None:
    if group.status == "archived":
        raise Conflict(f"“{group.name}” is archived: nothing can change in it any more.")


def is_facilitator(actor: Actor, group: SupportGroup) -> bool:
    return group.facilitator_id == actor.member.id


def require_lead(actor: Actor, group: SupportGroup, action: str) -> None:
    """Facilitator or admin."""
    if not (is_facilitator(actor, group) or actor.is_admin):
        raise NotAllowed(action, "only the group's facilitator or an admin can do that")


async def group_to_lead(
    uow: UnitOfWork, actor: Actor, ref: str, action: str, *, facilitator_only: bool = False
) -> SupportGroup:
    """The open group ``ref``, locked, once the actor may ``action`` in it: its facilitator
    (or an admin, unless ``facilitator_only``)."""
    group = await find_group(uow, actor, ref, lock=True)
    if facilitator_only and not is_facilitator(actor, group):
        raise NotAllowed(action, "only its facilitator does that")
    require_lead(actor, group, action)
    require_open(group)
    return group


async def counts(uow: UnitOfWork, group: SupportGroup) -> tuple[int, int]:
    """(active members, places offered to the waitlist and not yet expired)."""
    now = uow.now()
    rows = await uow.session.execute(
        select(
            func.count().filter(SupportGroupMember.status == "active"),
            func.count().filter(
                SupportGroupMember.status == "waitlisted",
                SupportGroupMember.offer_expires_at > now,
            ),
        ).where(SupportGroupMember.group_id == group.id)
    )
    active, offered = rows.one()
    return int(active), int(offered)


async def refresh_status(uow: UnitOfWork, group: SupportGroup) -> tuple[int, int]:
    """Set the status from the membership; return ``counts``."""
    active, offered = await counts(uow, group)
    if group.status != "archived":
        if active + offered >= group.max_members:
            group.status = "full"
        elif active < uow.settings.group_min_members:
            group.status = "forming"
        else:
            group.status = "active"
    return active, offered


async def waitlist_position(uow: UnitOfWork, row: SupportGroupMember) -> int:
    ahead = await uow.session.execute(
        select(func.count()).where(
            SupportGroupMember.group_id == row.group_id,
            SupportGroupMember.status == "waitlisted",
            or_(
                SupportGroupMember.queued_at < row.queued_at,
                (SupportGroupMember.queued_at == row.queued_at) & (SupportGroupMember.id < row.id),
            ),
        )
    )
    return int(ahead.scalar_one()) + 1


def enrol(
    uow: UnitOfWork,
    group: SupportGroup,
    member: Member,
    row: SupportGroupMember | None,
    status: str,
    role: str = "member",
) -> SupportGroupMember:
    now = uow.now()
    if row is None:
        row = SupportGroupMember(
            community_id=group.community_id,
            group_id=group.id,
            user_id=member.id,
            joined_at=now,
            offer_version=0,
        )
        uow.session.add(row)
    row.status, row.role, row.queued_at, row.offer_expires_at = status, role, now, None
    if status == "active":
        row.joined_at = now
    return row


async def add_to_space(uow: UnitOfWork, group: SupportGroup, user_id: str, add: bool) -> None:
    await uow.outbox.add(
        group.community_id,
        SpaceMembership(group.id, user_id, add),
        # Each change is its own (a member may join, leave and join again at once); a
        # platform's repeat of the command is caught by its dedupe key before this.
        key=f"space:{group.id}:{user_id}:{'add' if add else 'remove'}:{new_id()}",
    )


# ----- list and card --------------------------------------------------------------------


@dataclass(frozen=True)
class ListGroups:
    type: str | None = None
    has_space: bool | None = None
    timezone: str | None = None
    page: int | None = None


def schedule_text(group: SupportGroup) -> str:
    """The group's schedule in words (the stored summary column is cut at 64 characters)."""
    if group.schedule:
        return Schedule.from_dict(group.schedule).describe()
    return group.meeting_schedule or "no meetings"


def card_fields(group: SupportGroup, active: int, offered: int) -> tuple[Field, ...]:
    held = f" ({offered} offered to the waitlist)" if offered else ""
    return (
        Field("Type", group.type.replace("_", " "), inline=True),
        Field("Members", f"{active}/{group.max_members}{held} · {group.status}", inline=True),
        Field("Meets", schedule_text(group), inline=True),
    )


def group_buttons(group: SupportGroup) -> tuple[Button, ...]:
    return (
        Button("Join", action_id("gjoin", group.id), "primary"),
        Button("Calendar (.ics)", action_id("gics", group.id)),
    )


async def list_groups(uow: UnitOfWork, actor: Actor, cmd: ListGroups) -> Reply:
    size = uow.settings.groups_page_size
    page = cmd.page or 1
    stmt = select(SupportGroup).where(
        SupportGroup.community_id == actor.community.id, SupportGroup.status != "archived"
    )
    if cmd.type:
        stmt = stmt.where(
            SupportGroup.type == validation.choice("type", cmd.type, group_types(actor))
        )
    if cmd.has_space is not None:
        stmt = stmt.where(
            SupportGroup.channel_id.is_not(None)
            if cmd.has_space
            else SupportGroup.channel_id.is_(None)
        )
    if cmd.timezone:
        stmt = stmt.where(SupportGroup.timezone == validation.timezone("timezone", cmd.timezone))
    if not actor.is_admin:
        mine = select(SupportGroupMember.group_id).where(
            SupportGroupMember.user_id == actor.member.id,
            SupportGroupMember.status.in_(("active", "waitlisted", "requested")),
        )
        stmt = stmt.where(or_(SupportGroup.is_private.is_(False), SupportGroup.id.in_(mine)))
    rows = (
        (
            await uow.session.execute(
                stmt.order_by(SupportGroup.name, SupportGroup.id)
                .offset((page - 1) * size)
                .limit(size + 1)
            )
        )
        .scalars()
        .all()
    )
    more, shown = len(rows) > size, rows[:size]
    if not shown:
        return say("No support groups match." if page == 1 else "No more groups.")
    counted = await _active_counts(uow, [g.id for g in shown])
    fields = []
    buttons: list[Button] = []
    for group in shown:
        lock = " 🔒" if group.is_private else ""
        fields.append(
            Field(
                f"{group.name}{lock}",
                f"{group.type.replace('_', ' ')} · {counted.get(group.id, 0)}/{group.max_members} "
                f"· {group.status} · {schedule_text(group)}"
                + (f"\n{group.description[:200]}" if group.description else ""),
            )
        )
        buttons.append(Button(f"Join {group.name[:60]}", action_id("gjoin", group.id), "primary"))
    footer = f"Page {page}" + (f" · more with page:{page + 1}" if more else "")
    return Reply(
        message=Message(
            title="Support groups", fields=tuple(fields), buttons=tuple(buttons), footer=footer
        )
    )


async def _active_counts(uow: UnitOfWork, group_ids: list[str]) -> dict[str, int]:
    rows = await uow.session.execute(
        select(SupportGroupMember.group_id, func.count())
        .where(SupportGroupMember.group_id.in_(group_ids), SupportGroupMember.status == "active")
        .group_by(SupportGroupMember.group_id)
    )
    return {gid: int(n) for gid, n in rows}


@dataclass(frozen=True)
class GroupRef:
    group: str


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
