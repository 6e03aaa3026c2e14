"""Support groups (F8): finding a group, the rules every group action shares, listing.

A group's space (Discord channel, Slack private channel, console room) and every change
to who is in it are queued effects, written with the change. Status follows membership:
``forming`` below ``group_min_members``, ``full`` at ``max_members`` (places offered to
the waitlist count as taken), else ``active``; ``archived`` is final. Joining and leaving
live in ``group_membership``, a group's life in ``group_lifecycle``, meetings in
``group_meetings``, posts in ``group_posts`` and prompts in ``group_prompts``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from core import defaults, validation
from core.actions import action_id
from core.context import Actor
from core.effects import SpaceMembership
from core.errors import Conflict, InvalidValue, NotAllowed, NotFound
from core.ids import new_id
from core.messages import Button, Field, Message, Reply, say
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
