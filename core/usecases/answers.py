"""F5: answering a request or proposal: Accept and Decline.

When the second yes arrives the mentorship becomes ``active`` — only if the mentor still
has a free place, checked and taken in one conditional UPDATE so that racing accepts for
the last place give exactly one mentorship.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import update

from core.actions import action_id, button, require_current
from core.context import Actor
from core.effects import DirectMessage
from core.errors import Conflict
from core.messages import Button, Message, Reply, mention
from core.models import Mentor, Mentorship
from core.models.base import utcnow
from core.uow import UnitOfWork
from core.usecases.badges import award_badges
from core.usecases.discovery import suggestion_message
from core.usecases.parties import Party, party_for


class RequestRef(Protocol):
    """Which request a card decides on: a Mentorship row, or the values a bulk writer
    is about to insert."""

    @property
    def id(self) -> str: ...
    @property
    def request_version(self) -> int: ...


def decision_buttons(ms: RequestRef) -> tuple[Button, ...]:
    """Accept and Decline for this request as it is now (its id and request version)."""
    ref = (ms.id, str(ms.request_version))
    return (
        Button("Accept", action_id("accept", *ref), "success"),
        Button("Decline", action_id("decline", *ref), "danger"),
    )


async def _pending_party(uow: UnitOfWork, actor: Actor, args: list[str]) -> Party:
    """The request a card's ``<mentorship id>:<request version>`` names, still pending."""
    party = await party_for(uow, actor, args[0])
    ms = party.mentorship
    require_current(args[1], ms.request_version)
    if ms.status != "pending":
        raise Conflict(f"This request is already {ms.status}; nothing changed.")
    return party


@button("accept", arity=2, versioned=True)
async def accept(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    party = await _pending_party(uow, actor, args)
    ms, role = party.mentorship, party.role_of(actor.member)
    if role == "mentor":
        if ms.mentor_accepted:
            raise Conflict("You already accepted; waiting for the mentee.")
        ms.mentor_accepted = True
    else:
        if ms.mentee_accepted:
            raise Conflict("You already accepted; waiting for the mentor.")
        ms.mentee_accepted = True
    if not (ms.mentor_accepted and ms.mentee_accepted):
        other = party.other(actor.member)
        return Reply(
            message=Message(
                text=f"Accepted. Waiting for {mention(other.platform_user_id)} to accept too.",
                tone="success",
            ),
            update_origin=Message(
                text=f"You accepted; waiting for {mention(other.platform_user_id)}.",
                tone="success",
            ),
        )
    await _activate(uow, actor, party)
    other = party.other(actor.member)
    return Reply(
        message=Message(
            text=(
                f"You and {mention(other.platform_user_id)} are connected. Your conversation "
                "thread is in your DMs."
            ),
            tone="success",
        ),
        update_origin=Message(
            text=f"Accepted: mentorship with {mention(other.platform_user_id)} started.",
            tone="success",
        ),
    )


async def _activate(uow: UnitOfWork, actor: Actor, party: Party) -> None:
    ms, now = party.mentorship, uow.now()
    flipped = await uow.session.execute(
        update(Mentorship)
        .where(Mentorship.id == ms.id, Mentorship.status == "pending")
        .values(status="active", start_date=now, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(flipped, "rowcount", 0) != 1:
        raise Conflict("This request was answered a moment ago; nothing changed.")
    took_place = await uow.session.execute(
        update(Mentor)
        .where(
            Mentor.id == party.mentor.id,
            Mentor.status == "active",
            Mentor.current_mentees < Mentor.max_mentees,
        )
        .values(
            current_mentees=Mentor.current_mentees + 1,
            total_mentees=Mentor.total_mentees + 1,
            # Wall-clock, like every updated_at: the mentor index cache keys on it.
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(took_place, "rowcount", 0) != 1:
        raise Conflict(
            f"{party.mentor_member.display_name} has no free mentee place left, so this "
            "mentorship could not start. The request stays open if a place frees up."
        )
    await uow.session.refresh(ms)
    await uow.session.refresh(party.mentor)
    party.mentee.status = "matched"
    mentor_id, mentee_id = (
        party.mentor_member.platform_user_id,
        party.mentee_member.platform_user_id,
    )
    key = f"mentorship-started:{ms.id}:{ms.request_version}"
    await uow.outbox.add(
        actor.community.id,
        DirectMessage(
            mentor_id,
            Message(
                title=f"Mentorship with {party.mentee_member.display_name} started",
                text=(
                    f"You are now mentoring {mention(mentee_id)}. Reply to this message to "
                    f"write to them; the bot passes it on and keeps the history."
                ),
                tone="success",
            ),
            thread=ms.id,
        ),
        key=f"{key}:mentor",
    )
    await uow.outbox.add(
        actor.community.id,
        DirectMessage(
            mentee_id,
            Message(
                title=f"Mentorship with {party.mentor_member.display_name} started",
                text=(
                    f"{mention(mentor_id)} is your mentor now. Reply to this message to write "
                    "to them; say hello and share what you hope to learn."
                ),
                tone="success",
            ),
            thread=ms.id,
        ),
        key=f"{key}:mentee",
    )
    await award_badges(uow, actor.community, [party.mentee_member.id], ("mentorships_started",))


@button("decline", arity=2, versioned=True)
async def decline(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    party = await _pending_party(uow, actor, args)
    ms = party.mentorship
    ms.status = "declined"
    ms.end_date = uow.now()
    mentee_user = party.mentee_member.platform_user_id
    key = f"declined:{ms.id}:{ms.request_version}"
    if party.role_of(actor.member) == "mentor":
        suggestions = await suggestion_message(
            uow,
            actor,
            party.mentee,
            3,
            exclude=frozenset({party.mentor.id}),
            title="Other mentors you might like",
        )
        # Promise other mentors only when some follow.
        onward = (
            "here are other mentors who fit your goals."
            if suggestions.fields
            else "no other mentor has a free place right now. `/mentor browse` shows who "
            "mentors here; places free up often, so look again soon."
        )
        await uow.outbox.add(
            actor.community.id,
            DirectMessage(
                mentee_user,
                Message(
                    title="About your mentorship request",
                    text=(
                        f"{party.mentor_member.display_name} can't take you on right now. That "
                        f"is about their time, not about you; {onward}"
                    ),
                    fields=suggestions.fields,
                    buttons=suggestions.buttons,
                ),
            ),
            key=f"{key}:mentee",
        )
    else:
        await uow.outbox.add(
            actor.community.id,
            DirectMessage(
                party.mentor_member.platform_user_id,
                Message(text=f"{party.mentee_member.display_name} declined the proposal."),
            ),
            key=f"{key}:mentor",
        )
    return Reply(
        message=Message(text="Declined; they were told kindly."),
        update_origin=Message(text="Declined.", tone="warning"),
    )
