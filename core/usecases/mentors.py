"""F1: applying to mentor, admin approval by button, and a mentor's own profile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sqlalchemy import select

from core import cards, validation
from core.actions import action_id, button, form, require_current
from core.context import Actor
from core.effects import ChannelPost, DirectMessage, GrantRole, RevokeRole
from core.errors import Conflict, InvalidValue, NotConfigured, NotFound
from core.messages import Form, FormField, Message, Reply, mention, moment, say
from core.models import Member, Mentor
from core.uow import UnitOfWork

BIO_MIN, BIO_MAX = 20, 1000
AVAILABILITY_MIN, AVAILABILITY_MAX = 1, 200
MAX_MENTEES_MIN, MAX_MENTEES_MAX, MAX_MENTEES_DEFAULT = 1, 10, 3
REASON_MIN, REASON_MAX = 10, 500


@dataclass(frozen=True)
class ApplyAsMentor:
    bio: str
    expertise: list[str]
    availability: int
    style: str
    languages: list[str]
    timezone: str
    max_mentees: int | None = None


@dataclass(frozen=True)
class EditMentorProfile:
    bio: str | None = None
    expertise: list[str] | None = None
    availability: int | None = None
    style: str | None = None
    languages: list[str] | None = None
    timezone: str | None = None
    max_mentees: int | None = None


@dataclass(frozen=True)
class NoOptions:
    pass


async def find_mentor(uow: UnitOfWork, member: Member) -> Mentor | None:
    stmt = select(Mentor).where(Mentor.user_id == member.id)
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def _own_mentor(uow: UnitOfWork, actor: Actor) -> Mentor:
    mentor = await find_mentor(uow, actor.member)
    if mentor is None:
        raise NotFound("mentor profile (apply first with /mentor apply)")
    return mentor


def _check_profile(actor: Actor, cmd: ApplyAsMentor | EditMentorProfile) -> dict[str, object]:
    """Validate what was given; return the attributes to set on the Mentor."""
    values: dict[str, object] = {}
    if cmd.bio is not None:
        values["bio"] = validation.text("bio", cmd.bio, min_length=BIO_MIN, max_length=BIO_MAX)
    if cmd.expertise is not None:
        values["expertise"] = validation.choices(
            "expertise", cmd.expertise, actor.community.expertise_options
        )
    if cmd.availability is not None:
        values["availability"] = validation.integer(
            "availability", cmd.availability, minimum=AVAILABILITY_MIN, maximum=AVAILABILITY_MAX
        )
    if cmd.max_mentees is not None:
        values["max_mentees"] = validation.integer(
            "max_mentees", cmd.max_mentees, minimum=MAX_MENTEES_MIN, maximum=MAX_MENTEES_MAX
        )
    if cmd.style is not None:
        values["preferred_style"] = validation.choice(
            "style", cmd.style, ("async", "scheduled", "casual")
        )
    if cmd.languages is not None:
        values["languages"] = validation.languages("languages", cmd.languages)
    if cmd.timezone is not None:
        values["timezone"] = validation.timezone("timezone", cmd.timezone)
    return values


async def apply(uow: UnitOfWork, actor: Actor, cmd: ApplyAsMentor) -> Reply:
    community = actor.community
    if not community.is_set_up or not community.admin_channel_id:
        raise NotConfigured(
            "Mentor applications are not open yet: an admin needs to run `/admin setup` first."
        )
    values = _check_profile(actor, cmd)
    mentor = await find_mentor(uow, actor.member)
    if mentor is not None and mentor.status == "pending":
        raise Conflict("You already have an application waiting for review.")
    if mentor is not None and mentor.status in ("active", "paused"):
        raise Conflict("You are already a mentor. Use `/mentor edit` to change your profile.")
    now = uow.now()
    if mentor is None:
        mentor = Mentor(
            community_id=community.id,
            user_id=actor.member.id,
            created_at=now,
            application_version=1,
        )
        uow.session.add(mentor)
    else:
        # The same row holds the new application: cards for the old one must not decide it.
        mentor.application_version += 1
    for attr, value in values.items():
        setattr(mentor, attr, value)
    mentor.max_mentees = cmd.max_mentees or MAX_MENTEES_DEFAULT
    mentor.current_mentees = mentor.current_mentees or 0
    mentor.total_mentees = mentor.total_mentees or 0
    mentor.status = "pending"
    mentor.is_accepting = True
    mentor.application_date = now
    mentor.approved_date = None
    mentor.approved_by = None
    mentor.rejection_reason = None
    actor.member.timezone = actor.member.timezone or mentor.timezone
    actor.member.languages = actor.member.languages or list(mentor.languages)
    await uow.session.flush()
    await _post_application(uow, actor, mentor)
    return say(
        "Thanks for applying to mentor! The admins have your application and you'll get a DM "
        "when they decide.",
        tone="success",
        title="Application sent",
    )


async def _post_application(uow: UnitOfWork, actor: Actor, mentor: Mentor) -> None:
    """The actor's application, as it is now, on a card in the admin channel."""
    channel = actor.community.admin_channel_id
    if channel:
        await uow.outbox.add(
            actor.community.id,
            ChannelPost(channel, cards.application_card(mentor, actor.member, uow.now())),
            key=f"mentor-application:{mentor.id}:{mentor.application_version}",
        )


async def _pending_application(
    uow: UnitOfWork, actor: Actor, args: list[str]
) -> tuple[Mentor, Member]:
    """The application a card's ``<mentor id>:<application version>`` names, still pending."""
    mentor_id, version = args
    mentor = await uow.get_scoped(Mentor, mentor_id, actor.community.id, "application", lock=True)
    require_current(version, mentor.application_version)
    if mentor.status != "pending":
        decided = {
            "active": "approved",
            "paused": "approved",
            "retired": "closed",
            "rejected": "rejected",
        }.get(mentor.status, mentor.status)
        raise Conflict(f"This application was already {decided}; nothing was changed.")
    applicant = await uow.session.get(Member, mentor.user_id)
    assert applicant is not None  # foreign key with ON DELETE CASCADE
    return mentor, applicant


@button("approve", arity=2, versioned=True)
async def approve_application(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    actor.require_admin("approve mentor applications")
    mentor, applicant = await _pending_application(uow, actor, args)
    now = uow.now()
    mentor.status = "active"
    mentor.is_accepting = True
    mentor.approved_date = now
    mentor.approved_by = actor.member.id
    community = actor.community
    key = f"mentor-approved:{mentor.id}:{mentor.application_version}"
    await uow.outbox.add(
        community.id,
        DirectMessage(
            applicant.platform_user_id,
            Message(
                title="You're a mentor now 🎉",
                text=(
                    f"Your application to mentor in **{community.name}** was approved by "
                    f"{mention(actor.user_id)}. Mentees can now find you and send requests. "
                    "Use `/mentor pause` any time you need a break."
                ),
                tone="success",
            ),
        ),
        key=f"{key}:dm",
    )
    await uow.outbox.add(
        community.id, GrantRole(applicant.platform_user_id, "mentor"), key=f"{key}:role"
    )
    if community.announcement_channel_id:
        await uow.outbox.add(
            community.id,
            ChannelPost(
                community.announcement_channel_id,
                Message(
                    text=f"Please welcome our new mentor {mention(applicant.platform_user_id)} "
                    f"({', '.join(mentor.expertise)})!",
                    tone="success",
                ),
            ),
            key=f"{key}:announce",
        )
    uow.audit(
        community.id,
        actor.member.id,
        "mentor.approve",
        target_type="mentor",
        target_id=mentor.id,
        summary=f"approved {applicant.display_name}'s mentor application",
    )
    decided = f"Approved by {actor.member.display_name} {moment(now, 'f')}"
    return Reply(
        message=Message(text=f"Approved {mention(applicant.platform_user_id)}.", tone="success"),
        update_origin=cards.application_card(mentor, applicant, now, decided=decided),
    )


@button("reject", arity=2, versioned=True)
async def ask_rejection_reason(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    actor.require_admin("reject mentor applications")
    mentor, applicant = await _pending_application(uow, actor, args)
    return Reply(
        form=Form(
            action=action_id("reject", *cards.application_ref(mentor)),
            title=f"Reject {applicant.display_name[:30]}'s application",
            fields=(
                FormField(
                    "reason",
                    "Reason (sent to the applicant)",
                    long=True,
                    min_length=REASON_MIN,
                    max_length=REASON_MAX,
                    placeholder="Thank them, and say what would make a future application succeed.",
                ),
            ),
        )
    )


@form("reject", arity=2, versioned=True)
async def reject_application(
    uow: UnitOfWork, actor: Actor, args: list[str], values: Mapping[str, str]
) -> Reply:
    actor.require_admin("reject mentor applications")
    reason = validation.text(
        "reason", values.get("reason", ""), min_length=REASON_MIN, max_length=REASON_MAX
    )
    mentor, applicant = await _pending_application(uow, actor, args)
    now = uow.now()
    mentor.status = "rejected"
    mentor.is_accepting = False
    mentor.rejection_reason = reason
    await uow.outbox.add(
        actor.community.id,
        DirectMessage(
            applicant.platform_user_id,
            Message(
                title="About your mentor application",
                text=(
                    f"Thank you for offering to mentor in **{actor.community.name}**. "
                    f"The admins did not approve your application this time.\n\n> {reason}\n\n"
                    "You are welcome to apply again with `/mentor apply`."
                ),
            ),
        ),
        key=f"mentor-rejected:{mentor.id}:{mentor.application_version}:dm",
    )
    uow.audit(
        actor.community.id,
        actor.member.id,
        "mentor.reject",
        target_type="mentor",
        target_id=mentor.id,
        summary=f"rejected {applicant.display_name}'s mentor application",
        reason=reason,
    )
    decided = f"Rejected by {actor.member.display_name} {moment(now, 'f')}: {reason}"
    return Reply(
        message=Message(text=f"Rejected; {mention(applicant.platform_user_id)} was told why."),
        update_origin=cards.application_card(mentor, applicant, now, decided=decided),
    )


async def show_profile(uow: UnitOfWork, actor: Actor, cmd: NoOptions) -> Reply:
    mentor = await _own_mentor(uow, actor)
    return Reply(message=cards.mentor_profile(mentor, actor.member, uow.now()))


async def edit_profile(uow: UnitOfWork, actor: Actor, cmd: EditMentorProfile) -> Reply:
    mentor = await _own_mentor(uow, actor)
    if mentor.status in ("retired", "rejected"):
        raise Conflict("Your mentor profile is closed; apply again with `/mentor apply`.")
    values = _check_profile(actor, cmd)
    if not values:
        raise InvalidValue("options", "give at least one field to change")
    new_max = values.get("max_mentees")
    if isinstance(new_max, int) and new_max < mentor.current_mentees:
        raise InvalidValue(
            "max_mentees", f"can't be below the {mentor.current_mentees} mentees you have now"
        )
    for attr, value in values.items():
        setattr(mentor, attr, value)
    resent = ""
    if mentor.status == "pending":
        # The admins decide on what they see: cards showing the application before this
        # edit are outdated, and a card with the edited one replaces them.
        mentor.application_version += 1
        await _post_application(uow, actor, mentor)
        resent = " The admins get your updated application."
    return Reply(
        message=Message(
            title="Profile updated",
            text=f"Changed: {', '.join(sorted(values))}.{resent}",
            fields=cards.mentor_profile(mentor, actor.member, uow.now()).fields,
            tone="success",
        )
    )


async def pause(uow: UnitOfWork, actor: Actor, cmd: NoOptions) -> Reply:
    mentor = await _own_mentor(uow, actor)
    if mentor.status != "active":
        raise Conflict(f"Only an active mentor can pause (yours is {mentor.status}).")
    mentor.status, mentor.is_accepting = "paused", False
    return say(
        "Paused: you won't be suggested to mentees or receive new requests. Your current "
        "mentorships carry on. `/mentor resume` when you're back.",
        tone="success",
    )


async def resume(uow: UnitOfWork, actor: Actor, cmd: NoOptions) -> Reply:
    mentor = await _own_mentor(uow, actor)
    if mentor.status != "paused":
        raise Conflict(f"Only a paused mentor can resume (yours is {mentor.status}).")
    mentor.status, mentor.is_accepting = "active", True
    return say("Welcome back: mentees can find you again.", tone="success")


async def retire(uow: UnitOfWork, actor: Actor, cmd: NoOptions) -> Reply:
    mentor = await _own_mentor(uow, actor)
    if mentor.status in ("retired", "rejected"):
        raise Conflict("Your mentor profile is already closed.")
    if mentor.current_mentees > 0:
        raise Conflict(
            f"You still mentor {mentor.current_mentees} people; end those mentorships first."
        )
    was_mentor = mentor.status in ("active", "paused")
    mentor.status, mentor.is_accepting = "retired", False
    if was_mentor:
        await uow.outbox.add(
            actor.community.id,
            RevokeRole(actor.user_id, "mentor"),
            key=f"mentor-retired:{mentor.id}:{uow.now().timestamp()}:role",
        )
    return say(
        "Thank you for mentoring! Your profile is retired"
        + (" and the Mentor role removed." if was_mentor else "; your application is withdrawn."),
        tone="success",
    )


async def list_applications(uow: UnitOfWork, actor: Actor, cmd: NoOptions) -> Reply:
    actor.require_admin("review mentor applications")
    rows = (
        await uow.session.execute(
            select(Mentor, Member)
            .join(Member, Member.id == Mentor.user_id)
            .where(Mentor.community_id == actor.community.id, Mentor.status == "pending")
            .order_by(Mentor.application_date)
        )
    ).all()
    if not rows:
        return say("No applications are waiting.", title="Mentor applications")
    mentor, member = rows[0]
    card = cards.application_card(mentor, member, uow.now())
    more = f"\n\n{len(rows) - 1} more waiting after this one." if len(rows) > 1 else ""
    return Reply(message=replace(card, text=card.text + more))
