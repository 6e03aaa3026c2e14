"""F14: setting a community up, and reading its audit log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core import validation
from core.cards import community_settings
from core.context import Actor
from core.errors import InvalidValue
from core.messages import Field, Message, Reply, mention, moment
from core.models import AuditEntry, Member
from core.uow import UnitOfWork
from core.usecases.badges import badges_enabled, set_badges


@dataclass(frozen=True)
class SetUpCommunity:
    admin_role: str | None = None
    admin_channel: str | None = None
    announcement_channel: str | None = None
    group_category: str | None = None
    default_timezone: str | None = None
    mentor_role_name: str | None = None
    expertise: list[str] | None = None
    goals: list[str] | None = None
    badges: bool | None = None
    group_types: list[str] | None = None


async def set_up(uow: UnitOfWork, actor: Actor, cmd: SetUpCommunity) -> Reply:
    actor.require_admin("change the community's settings")
    community = actor.community
    if not community.is_set_up:
        for name in ("admin_role", "admin_channel"):
            if getattr(cmd, name) is None:
                raise InvalidValue(name, "is required the first time /admin setup runs")

    changes: dict[str, Any] = {}

    def change(attr: str, value: Any) -> None:
        if value is not None and getattr(community, attr) != value:
            changes[attr] = {"from": getattr(community, attr), "to": value}
            setattr(community, attr, value)

    change("admin_role_id", cmd.admin_role)
    change("admin_channel_id", cmd.admin_channel)
    change("announcement_channel_id", cmd.announcement_channel)
    change("group_category_id", cmd.group_category)
    if cmd.default_timezone is not None:
        change("default_timezone", validation.timezone("default_timezone", cmd.default_timezone))
    if cmd.expertise is not None:
        change("expertise_options", validation.tags("expertise", cmd.expertise))
    if cmd.goals is not None:
        change("goal_options", validation.tags("goals", cmd.goals))
    if cmd.group_types is not None:
        types = validation.tags("group_types", cmd.group_types)
        if community.settings.get("group_types") != types:
            changes["group_types"] = {"from": community.settings.get("group_types"), "to": types}
            community.settings = {**community.settings, "group_types": types}
    if cmd.mentor_role_name is not None:
        name = validation.text(
            "mentor_role_name", cmd.mentor_role_name, min_length=1, max_length=100
        )
        roles = dict(community.roles)
        if roles.get("mentor", {}).get("name") != name:
            # A new name means a new role; the old one is left for admins to tidy.
            changes["mentor_role_name"] = {"from": roles.get("mentor", {}).get("name"), "to": name}
            roles["mentor"] = {"name": name}
            community.roles = roles
    if cmd.badges is not None and badges_enabled(community) != cmd.badges:
        changes["badges"] = {"from": not cmd.badges, "to": cmd.badges}
        set_badges(community, cmd.badges)
    first_time = not community.is_set_up
    community.is_set_up = True
    uow.audit(
        community.id,
        actor.member.id,
        "community.setup",
        target_type="community",
        target_id=community.id,
        summary="set the community up"
        if first_time
        else f"changed {', '.join(changes) or 'nothing'}",
        changes=changes,
    )
    return Reply(
        message=Message(
            title="Mentorbot is set up" if first_time else "Settings saved",
            text=(
                "Members can now apply to mentor with `/mentor apply`; applications arrive in "
                "the admin channel."
                if first_time
                else f"Changed: {', '.join(changes) or 'nothing'}."
            ),
            fields=community_settings(community),
            tone="success",
        )
    )


@dataclass(frozen=True)
class ShowAuditLog:
    limit: int | None = None


async def show_audit_log(uow: UnitOfWork, actor: Actor, cmd: ShowAuditLog) -> Reply:
    actor.require_admin("read the audit log")
    rows = (
        await uow.session.execute(
            select(AuditEntry, Member)
            .outerjoin(Member, Member.id == AuditEntry.actor_id)
            .where(AuditEntry.community_id == actor.community.id)
            .order_by(AuditEntry.id.desc())
            .limit(cmd.limit or 10)
        )
    ).all()
    if not rows:
        return Reply(message=Message(title="Audit log", text="No admin actions recorded yet."))
    fields = tuple(
        Field(
            f"{moment(entry.created_at, 'f')} · {entry.action}",
            f"{mention(who.platform_user_id) if who else 'someone who left'} {entry.summary}",
        )
        for entry, who in rows
    )
    return Reply(message=Message(title="Audit log (newest first)", fields=fields))
