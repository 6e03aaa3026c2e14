"""F2: a mentee's profile."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from core import cards, validation
from core.context import Actor
from core.errors import InvalidValue, NotFound
from core.messages import Message, Reply
from core.models import Member, Mentee
from core.uow import UnitOfWork

CHALLENGES_MAX = 1000


@dataclass(frozen=True)
class SetMenteeProfile:
    goals: list[str] | None = None
    challenges: str | None = None
    style: str | None = None
    timezone: str | None = None
    languages: list[str] | None = None


@dataclass(frozen=True)
class ShowMenteeProfile:
    pass


_MENTEE_OF = select(Mentee).where(Mentee.user_id == bindparam("member_id"))  # built once


async def find_mentee(uow: UnitOfWork, member: Member) -> Mentee | None:
    found = await uow.session.execute(_MENTEE_OF, {"member_id": member.id})
    return found.scalar_one_or_none()


async def set_profile(uow: UnitOfWork, actor: Actor, cmd: SetMenteeProfile) -> Reply:
    mentee = await find_mentee(uow, actor.member)
    creating = mentee is None
    if creating and not cmd.goals:
        raise InvalidValue(
            "goals",
            f"is required for a new profile; choose from {', '.join(actor.community.goal_options)}",
        )
    values: dict[str, object] = {}
    if cmd.goals is not None:
        values["goals"] = validation.choices("goals", cmd.goals, actor.community.goal_options)
    if cmd.challenges is not None:
        values["challenges"] = validation.text(
            "challenges", cmd.challenges, max_length=CHALLENGES_MAX
        )
    if cmd.style is not None:
        values["preferred_style"] = validation.choice(
            "style", cmd.style, ("any", "async", "scheduled", "casual")
        )
    if cmd.timezone is not None:
        values["timezone"] = validation.timezone("timezone", cmd.timezone)
    if cmd.languages is not None:
        values["languages"] = validation.languages("languages", cmd.languages)
    if not creating and not values:
        raise InvalidValue("options", "give at least one field to change")
    if mentee is None:
        mentee = Mentee(
            community_id=actor.community.id,
            user_id=actor.member.id,
            preferred_style="any",
            status="seeking",
            languages=[],
            created_at=uow.now(),
        )
        uow.session.add(mentee)
    for attr, value in values.items():
        setattr(mentee, attr, value)
    mentee.timezone = mentee.timezone or actor.member.timezone or actor.community.default_timezone
    if not mentee.languages:
        mentee.languages = list(actor.member.languages) or ["en"]
    # The member's own zone and languages follow their latest profile.
    actor.member.timezone = mentee.timezone
    actor.member.languages = list(mentee.languages)
    card = cards.mentee_profile(mentee, actor.member)
    return Reply(
        message=Message(
            title="Mentee profile created" if creating else "Mentee profile updated",
            text="Mentors will see this when you send a request." if creating else "",
            fields=card.fields,
            tone="success",
        )
    )


async def show_profile(uow: UnitOfWork, actor: Actor, cmd: ShowMenteeProfile) -> Reply:
    mentee = await find_mentee(uow, actor.member)
    if mentee is None:
        raise NotFound("mentee profile (create one with /mentee profile goals:…)")
    return Reply(message=cards.mentee_profile(mentee, actor.member))
