"""A support group's life: created with its space and meetings, shown, archived (F8).

Creating queues the private space (the facilitator in it), the first window of meetings
and the facilitator's welcome in one transaction; a space the platform could not create
stays a queued effect to retry (``/admin deliveries``), never a half-made group.
Archiving cancels future meetings with their reminders and events, withdraws waitlist
offers and archives the space.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from core import validation
from core.context import Actor
from core.effects import ArchiveSpace, CreatePrivateSpace, DirectMessage
from core.errors import InvalidValue
from core.messages import Field, Message, Reply, mention, moment, say
from core.models import Member, SupportGroup, SupportGroupMember
from core.uow import UnitOfWork
from core.usecases.badges import award_badges
from core.usecases.group_meetings import (
    ScheduleOptions,
    cancel_future,
    materialise,
    schedule_from,
    shifted_note,
    upcoming,
)
from core.usecases.groups import (
    DESCRIPTION_MAX,
    MAX_MEMBERS_DEFAULT,
    MAX_MEMBERS_MAX,
    MAX_MEMBERS_MIN,
    GroupRef,
    card_fields,
    counts,
    enrol,
    find_group,
    group_buttons,
    group_name,
    group_to_lead,
    group_types,
    refresh_status,
)


@dataclass(frozen=True)
class CreateGroup(ScheduleOptions):
    name: str
    type: str
    facilitator: str
    timezone: str
    description: str | None = None
    max_members: int | None = None
    private: bool | None = None
    week: str | None = None
    duration: int | None = None


async def create_group(uow: UnitOfWork, actor: Actor, cmd: CreateGroup) -> Reply:
    actor.require_admin("create a support group")
    name = group_name(cmd.name)
    kind = validation.choice("type", cmd.type, group_types(actor))
    description = validation.text("description", cmd.description or "", max_length=DESCRIPTION_MAX)
    max_members = validation.integer(
        "max_members",
        MAX_MEMBERS_DEFAULT if cmd.max_members is None else cmd.max_members,
        minimum=MAX_MEMBERS_MIN,
        maximum=MAX_MEMBERS_MAX,
    )
    now = uow.now()
    zone = validation.timezone("timezone", cmd.timezone)
    schedule = schedule_from(
        cmd, zone, cmd.week, cmd.duration, now.astimezone(ZoneInfo(zone)).date()
    )
    facilitator = (
        await uow.session.execute(
            select(Member).where(
                Member.community_id == actor.community.id,
                Member.platform_user_id == cmd.facilitator,
                Member.left_at.is_(None),
            )
        )
    ).scalar_one_or_none()
    if facilitator is None:
        raise InvalidValue(
            "facilitator",
            "must be a member of this community who has used Mentorbot (ask them to run "
            "`/mentor help` once)",
            cmd.facilitator,
        )
    taken = await uow.session.execute(
        select(SupportGroup.id).where(
            SupportGroup.community_id == actor.community.id,
            func.lower(SupportGroup.name) == name.lower(),
            SupportGroup.status != "archived",
        )
    )
    if taken.first() is not None:
        raise InvalidValue("name", "is already used by another group here; pick another", name)
    group = SupportGroup(
        community_id=actor.community.id,
        name=name,
        description=description,
        type=kind,
        facilitator_id=facilitator.id,
        max_members=max_members,
        is_private=bool(cmd.private),
        meeting_schedule=schedule.describe()[:64],
        timezone=schedule.zone,
        schedule=schedule.to_dict(),
        status="forming",
        created_at=now,
        updated_at=now,
    )
    uow.session.add(group)
    await uow.session.flush()
    enrol(uow, group, facilitator, None, "active", role="facilitator")
    await uow.session.flush()
    await refresh_status(uow, group)
    # The Group Facilitator badge (F12) reads who facilitates a group.
    await award_badges(uow, actor.community, [facilitator.id], ["groups_facilitated"])
    await uow.outbox.add(
        group.community_id,
        CreatePrivateSpace(
            group.id,
            name,
            f"{kind.replace('_', ' ')} support group · {schedule.describe()}",
            (facilitator.platform_user_id,),
        ),
        key=f"space:{group.id}:create",
    )
    meetings = await materialise(uow, group, now)
    await uow.outbox.add(
        group.community_id,
        DirectMessage(
            facilitator.platform_user_id,
            Message(
                title=f"You facilitate “{name}”",
                text=(
                    f"{mention(actor.user_id)} made you the facilitator of this "
                    f"{kind.replace('_', ' ')} group; its private space is being created. "
                    "`/group post`, `/group prompt` and `/group meetings` are yours to use."
                ),
            ),
        ),
        key=f"group:{group.id}:facilitator:{facilitator.id}",
    )
    uow.audit(
        group.community_id,
        actor.member.id,
        "group.create",
        target_type="support_group",
        target_id=group.id,
        summary=f"created the group {name}",
        facilitator=facilitator.platform_user_id,
    )
    note = shifted_note(meetings, schedule)
    first = moment(meetings[0].scheduled_at, "F") if meetings else "not scheduled"
    return Reply(
        message=Message(
            title=f"Group “{name}” created",
            text=(
                f"Meets {schedule.describe()}; first meeting {first}. Its private space is "
                f"being created with {mention(facilitator.platform_user_id)} in it."
                + (f"\n{note}" if note else "")
            ),
            fields=card_fields(group, 1, 0),
            tone="success",
        )
    )


async def show_group(uow: UnitOfWork, actor: Actor, cmd: GroupRef) -> Reply:
    group = await find_group(uow, actor, cmd.group)
    active, offered = await counts(uow, group)
    meetings = await upcoming(uow, group, 3)
    when = ", ".join(moment(m.scheduled_at, "f") for m in meetings) or "none scheduled"
    return Reply(
        message=Message(
            title=group.name,
            text=group.description,
            fields=(*card_fields(group, active, offered), Field("Next meetings", when)),
            buttons=() if group.status == "archived" else group_buttons(group),
        )
    )


async def archive_group(uow: UnitOfWork, actor: Actor, cmd: GroupRef) -> Reply:
    group = await group_to_lead(uow, actor, cmd.group, "archive this group")
    now = uow.now()
    cancelled = await cancel_future(uow, group, forget=False)
    group.status, group.archived_at = "archived", now
    group.meetings_due_at = group.next_prompt_at = None
    group.prompt_schedule = None
    await uow.session.execute(
        update(SupportGroupMember)
        .where(
            SupportGroupMember.group_id == group.id,
            SupportGroupMember.status.in_(("waitlisted", "requested")),
        )
        .values(status="left", offer_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    await uow.outbox.add(
        group.community_id, ArchiveSpace(group.id), key=f"space:{group.id}:archive"
    )
    uow.audit(
        group.community_id,
        actor.member.id,
        "group.archive",
        target_type="support_group",
        target_id=group.id,
        summary=f"archived the group {group.name}",
        meetings_cancelled=cancelled,
    )
    return say(
        f"“{group.name}” is archived: {cancelled} upcoming meeting(s) cancelled with their "
        "reminders and events; its space becomes read-only.",
        tone="success",
    )
