"""F5: a mentee's request to a mentor: asking, checking, opening (or reopening) it.

A request is a Mentorship in status ``pending`` (the plan's status): the mentee's own
request counts as the mentee's yes. The helpers here also serve a matching round's
proposals, which are requests that need both yeses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select

from core import cards, matching, validation
from core.actions import action_id, button, form
from core.context import Actor, find_member
from core.effects import DirectMessage
from core.errors import Conflict, InvalidValue, NotConfigured
from core.messages import Field, Form, FormField, Message, Reply, mention, moment, say
from core.models import Member, Mentee, Mentor, Mentorship
from core.uow import UnitOfWork
from core.usecases.answers import RequestRef, decision_buttons
from core.usecases.discovery import mentee_facts, mentor_facts
from core.usecases.mentors import find_mentor

NOTE_MAX = 500
OPEN = ("pending", "active", "paused")


@dataclass(frozen=True)
class RequestMentor:
    mentor: str
    note: str | None = None


async def request_by_command(uow: UnitOfWork, actor: Actor, cmd: RequestMentor) -> Reply:
    member = await find_member(uow, actor.community.id, cmd.mentor)
    mentor = await find_mentor(uow, member) if member is not None else None
    if mentor is None or mentor.status != "active":
        raise InvalidValue("mentor", f"{mention(cmd.mentor)} is not an active mentor here")
    return await _request(uow, actor, mentor, cmd.note)


@button("request")
async def ask_request_note(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    mentor = await uow.get_scoped(Mentor, args[0], actor.community.id, "mentor")
    await _check_can_request(uow, actor, mentor)
    member = await uow.session.get(Member, mentor.user_id)
    name = member.display_name if member else "this mentor"
    return Reply(
        form=Form(
            action=action_id("request", mentor.id),
            title=f"Ask {name[:30]} to mentor you",
            fields=(
                FormField(
                    "note",
                    "A note for the mentor (optional)",
                    long=True,
                    required=False,
                    max_length=NOTE_MAX,
                    placeholder="What would you like help with?",
                ),
            ),
        )
    )


@form("request")
async def request_with_note(
    uow: UnitOfWork, actor: Actor, args: list[str], values: Mapping[str, str]
) -> Reply:
    mentor = await uow.get_scoped(Mentor, args[0], actor.community.id, "mentor")
    return await _request(uow, actor, mentor, values.get("note"))


async def _check_can_request(
    uow: UnitOfWork, actor: Actor, mentor: Mentor
) -> tuple[Mentee, Mentorship | None]:
    """The actor's mentee profile and their earlier mentorship with ``mentor``, if any."""
    # Locked (PostgreSQL) so that a matching round writing its proposals, which locks the
    # waiting mentees before it checks who is still free, is never interleaved with this.
    mentee = (
        await uow.session.execute(
            select(Mentee).where(Mentee.user_id == actor.member.id).with_for_update()
        )
    ).scalar_one_or_none()
    if mentee is None:
        raise NotConfigured("Create your mentee profile first: `/mentee profile goals:…`.")
    if mentor.user_id == actor.member.id:
        raise Conflict("You can't request yourself as a mentor.")
    if mentor.status != "active" or not mentor.is_accepting:
        raise Conflict("That mentor is not taking new mentees right now.")
    if mentor.current_mentees >= mentor.max_mentees:
        raise Conflict("That mentor has no free places right now; try `/mentor suggest`.")
    existing = await find_pair(uow, mentor.id, mentee.id)
    if existing is not None and existing.status in OPEN:
        raise Conflict(
            {
                "pending": "You already have a request waiting with this mentor.",
                "active": "This mentor already mentors you.",
                "paused": "Your mentorship with this mentor is paused; resume it instead.",
            }[existing.status]
        )
    if existing is not None and existing.status in ("completed", "ended"):
        raise Conflict("You already had a mentorship with this mentor.")
    waiting = (
        await uow.session.execute(
            select(Mentorship.id).where(
                Mentorship.mentee_id == mentee.id, Mentorship.status == "pending"
            )
        )
    ).all()
    if len(waiting) >= uow.settings.max_open_requests:
        raise Conflict(
            f"You have {len(waiting)} requests waiting already; wait for an answer first."
        )
    return mentee, existing


async def find_pair(uow: UnitOfWork, mentor_id: str, mentee_id: str) -> Mentorship | None:
    return (
        await uow.session.execute(
            select(Mentorship).where(
                Mentorship.mentor_id == mentor_id, Mentorship.mentee_id == mentee_id
            )
        )
    ).scalar_one_or_none()


def score_pair(uow: UnitOfWork, mentee: Mentee, mentor: Mentor) -> matching.Breakdown:
    table = matching.score_table(
        [mentee_facts(mentee)],
        [mentor_facts(mentor)],
        uow.settings.matching,
        matching.horizon_start(uow.now()),
    )
    return table.breakdown(0, 0)


async def open_request(
    uow: UnitOfWork,
    actor: Actor,
    mentee: Mentee,
    mentor: Mentor,
    existing: Mentorship | None,
    *,
    origin: str,
    score: float,
    note: str | None,
) -> Mentorship:
    """Create a pending mentorship for the pair, or reopen their declined/expired one."""
    ms, now = existing, uow.now()
    if ms is None:
        ms = Mentorship(
            community_id=actor.community.id,
            mentor_id=mentor.id,
            mentee_id=mentee.id,
            created_at=now,
            request_version=0,
        )
        uow.session.add(ms)
    ms.request_version += 1
    ms.requested_at = now
    ms.status = "pending"
    ms.origin = origin
    ms.mentee_accepted = origin == "request"
    ms.mentor_accepted = False
    ms.request_note = note
    ms.match_score = score
    ms.goals = list(mentee.goals)
    ms.nudged_at = None
    ms.start_date = now
    ms.end_date = None
    await uow.session.flush()
    return ms


class ShownRequest(RequestRef, Protocol):
    @property
    def request_note(self) -> str | None: ...
    @property
    def requested_at(self) -> datetime: ...


def expires_at(uow: UnitOfWork, ms: ShownRequest) -> datetime:
    return ms.requested_at + timedelta(days=uow.settings.request_expiry_days)


def request_card(
    ms: ShownRequest,
    mentee: cards.ShownMentee,
    mentee_member: cards.ShownMember,
    breakdown: matching.Breakdown,
    mentor: cards.ShownMentor,
    *,
    title: str,
    expires_at: datetime,
) -> Message:
    facts = mentor_facts(mentor)
    why = "\n".join("· " + line for line in breakdown.reasons(mentee_facts(mentee), facts))
    profile = cards.mentee_profile(mentee, mentee_member)
    note = f"\n\n> {ms.request_note}" if ms.request_note else ""
    return Message(
        title=title,
        text=f"{mention(mentee_member.platform_user_id)} would like you as a mentor.{note}",
        fields=(
            *profile.fields,
            Field(f"Compatibility {breakdown.score:.0f}/100", why),
        ),
        buttons=decision_buttons(ms),
        footer=f"Request {ms.id} · expires {moment(expires_at, 'R')}",
    )


async def _request(uow: UnitOfWork, actor: Actor, mentor: Mentor, note: str | None) -> Reply:
    mentee, existing = await _check_can_request(uow, actor, mentor)
    note = validation.text("note", note, max_length=NOTE_MAX) if note else None
    breakdown = score_pair(uow, mentee, mentor)
    ms = await open_request(
        uow,
        actor,
        mentee,
        mentor,
        existing,
        origin="request",
        score=breakdown.score,
        note=note or None,
    )
    mentor_member = await uow.session.get(Member, mentor.user_id)
    assert mentor_member is not None
    card = request_card(
        ms,
        mentee,
        actor.member,
        breakdown,
        mentor,
        title=f"Mentorship request from {actor.member.display_name}",
        expires_at=expires_at(uow, ms),
    )
    await uow.outbox.add(
        actor.community.id,
        DirectMessage(mentor_member.platform_user_id, card),
        key=f"request:{ms.id}:{ms.request_version}:mentor",
    )
    days = uow.settings.request_expiry_days
    return say(
        f"Request sent to {mention(mentor_member.platform_user_id)}. You'll get a DM when they "
        f"answer; unanswered requests expire after {days} days.",
        tone="success",
        title="Request sent",
    )
