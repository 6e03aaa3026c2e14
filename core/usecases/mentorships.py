"""A mentorship's life after it started (F5): listing, pausing, resuming, ending."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select, update

from core import validation
from core.actions import action_id, form, require_current
from core.context import Actor
from core.effects import DirectMessage
from core.errors import Conflict, InvalidValue
from core.messages import Field, Form, FormField, Message, Reply, mention, moment, say
from core.models import Mentor, Mentorship
from core.models.base import utcnow
from core.uow import UnitOfWork
from core.usecases.badges import award_badges
from core.usecases.parties import (
    Party,
    parties_of,
    party_for,
    party_with,
)
from core.usecases.reviews import invite_review
from core.usecases.sessions.agenda import next_sessions

COMPLETION_MIN, COMPLETION_MAX = 5, 2000


@dataclass(frozen=True)
class WithPerson:
    """A command about the actor's mentorship with one other member."""

    person: str


@dataclass(frozen=True)
class EndMentorship:
    person: str
    outcome: str | None = None


@dataclass(frozen=True)
class ListMentorships:
    pass


async def list_mentorships(uow: UnitOfWork, actor: Actor, cmd: ListMentorships) -> Reply:
    found = await parties_of(uow, actor, ("pending", "active", "paused", "completed", "ended"))
    # Newest first; mentorships made at the same moment by the other person's name.
    found.sort(key=lambda p: p.other(actor.member).display_name)
    found.sort(key=lambda p: p.mentorship.created_at, reverse=True)
    fields = []
    upcoming = await next_sessions(uow, [p.mentorship.id for p in found])
    for party in found:
        ms = party.mentorship
        other = party.other(actor.member)
        role = "your mentee" if party.role_of(actor.member) == "mentor" else "your mentor"
        since = moment(ms.start_date, "D")
        value = f"{ms.status} since {since}"
        if ms.id in upcoming:
            value += f"; next session: {upcoming[ms.id]}"
        fields.append(Field(f"{other.display_name} ({role})", value))
    if not fields:
        return say("You have no mentorships yet. `/mentor browse` to find a mentor.")
    return Reply(message=Message(title="Your mentorships", fields=tuple(fields)))


async def pause_mentorship(uow: UnitOfWork, actor: Actor, cmd: WithPerson) -> Reply:
    party = await party_with(uow, actor, cmd.person, ("active",))
    party.mentorship.status = "paused"
    await _tell_other(
        uow, actor, party, "paused", "It can be resumed any time with `/mentorship resume`."
    )
    return say("Paused. Messages wait until one of you resumes.", tone="success")


async def resume_mentorship(uow: UnitOfWork, actor: Actor, cmd: WithPerson) -> Reply:
    party = await party_with(uow, actor, cmd.person, ("paused",))
    party.mentorship.status = "active"
    await _tell_other(uow, actor, party, "resumed", "You can write to each other again.")
    return say("Resumed.", tone="success")


async def _tell_other(uow: UnitOfWork, actor: Actor, party: Party, what: str, more: str) -> None:
    other = party.other(actor.member)
    await uow.outbox.add(
        actor.community.id,
        DirectMessage(
            other.platform_user_id,
            Message(text=f"{mention(actor.user_id)} {what} your mentorship. {more}"),
            thread=party.mentorship.id,
        ),
        key=f"{what}:{party.mentorship.id}:{uow.now().timestamp()}",
    )


async def ask_completion_notes(uow: UnitOfWork, actor: Actor, cmd: EndMentorship) -> Reply:
    party = await party_with(uow, actor, cmd.person, ("active", "paused"))
    outcome = cmd.outcome or "completed"
    return Reply(
        form=Form(
            action=action_id(
                "end", party.mentorship.id, outcome, str(party.mentorship.request_version)
            ),
            title=f"End mentorship with {party.other(actor.member).display_name[:30]}",
            fields=(
                FormField(
                    "notes",
                    "Completion notes: what you worked on, what's next",
                    long=True,
                    min_length=COMPLETION_MIN,
                    max_length=COMPLETION_MAX,
                ),
            ),
        )
    )


@form("end", arity=3, versioned=True)
async def end_mentorship(
    uow: UnitOfWork, actor: Actor, args: list[str], values: Mapping[str, str]
) -> Reply:
    mentorship_id, outcome, version = args
    if outcome not in ("completed", "ended"):
        raise InvalidValue("outcome", "must be completed or ended")
    notes = validation.text(
        "notes", values.get("notes", ""), min_length=COMPLETION_MIN, max_length=COMPLETION_MAX
    )
    party = await party_for(uow, actor, mentorship_id)
    ms, now = party.mentorship, uow.now()
    require_current(version, ms.request_version)
    if ms.status not in ("active", "paused"):
        raise Conflict(f"This mentorship is already {ms.status}.")
    ms.status, ms.end_date, ms.completion_notes = outcome, now, notes
    await uow.session.execute(
        update(Mentor)
        .where(Mentor.id == party.mentor.id, Mentor.current_mentees > 0)
        .values(current_mentees=Mentor.current_mentees - 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    still_active = (
        await uow.session.execute(
            select(Mentorship.id).where(
                Mentorship.mentee_id == party.mentee.id,
                Mentorship.id != ms.id,
                Mentorship.status.in_(("active", "paused")),
            )
        )
    ).first()
    if still_active is not None:
        party.mentee.status = "matched"
    else:
        party.mentee.status = "completed" if outcome == "completed" else "seeking"
    other = party.other(actor.member)
    word = "completed" if outcome == "completed" else "ended"
    for member, text in (
        (other, f"{mention(actor.user_id)} {word} your mentorship.\n\n> {notes}"),
        (actor.member, f"Your mentorship with {mention(other.platform_user_id)} is {word}."),
    ):
        await uow.outbox.add(
            actor.community.id,
            DirectMessage(
                member.platform_user_id,
                Message(title="Mentorship " + word, text=text + "\n\nThank you both!"),
                thread=ms.id,
            ),
            key=f"end:{ms.id}:{now.timestamp()}:{member.id}",
        )
    await invite_review(uow, party, f"end-{ms.request_version}")
    if outcome == "completed":
        await award_badges(
            uow,
            actor.community,
            [party.mentor_member.id, party.mentee_member.id],
            ("mentees_completed", "mentorships_graduated"),
        )
    return say(f"Mentorship {word}; notes saved.", tone="success")
