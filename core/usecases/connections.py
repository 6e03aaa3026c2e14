"""F5: requests, proposals, accepting and declining, and a mentorship's life after that.

A request is a Mentorship in status ``pending`` (the plan's status): the mentee's own
request counts as the mentee's yes; a matching round's proposal needs both yeses. When
the second yes arrives the mentorship becomes ``active`` — only if the mentor still has a
free place, checked and taken in one conditional UPDATE so that racing accepts for the
last place give exactly one mentorship.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from core import cards, matching, validation
from core.actions import action_id, button, form
from core.context import Actor, find_member
from core.effects import DirectMessage
from core.errors import Conflict, InvalidValue, NotConfigured, NotFound
from core.messages import Button, Field, Form, FormField, Message, Reply, mention, moment, say
from core.models import Member, Mentee, Mentor, Mentorship
from core.models.base import utcnow
from core.uow import UnitOfWork
from core.usecases.discovery import mentee_facts, mentor_facts, suggestion_message
from core.usecases.mentees import find_mentee
from core.usecases.mentors import find_mentor

NOTE_MAX = 500
OPEN = ("pending", "active", "paused")


@dataclass
class Party:
    """A mentorship with both people loaded."""

    mentorship: Mentorship
    mentor: Mentor
    mentee: Mentee
    mentor_member: Member
    mentee_member: Member

    def role_of(self, member: Member) -> str | None:
        if member.id == self.mentor_member.id:
            return "mentor"
        if member.id == self.mentee_member.id:
            return "mentee"
        return None

    def other(self, member: Member) -> Member:
        return self.mentee_member if member.id == self.mentor_member.id else self.mentor_member


async def load_party(
    uow: UnitOfWork, community_id: str, mentorship_id: str, *, lock: bool = False
) -> Party:
    ms = await uow.get_scoped(Mentorship, mentorship_id, community_id, "mentorship", lock=lock)
    mentor = await uow.session.get(Mentor, ms.mentor_id)
    mentee = await uow.session.get(Mentee, ms.mentee_id)
    assert mentor is not None
    assert mentee is not None
    mentor_member = await uow.session.get(Member, mentor.user_id)
    mentee_member = await uow.session.get(Member, mentee.user_id)
    assert mentor_member is not None
    assert mentee_member is not None
    return Party(ms, mentor, mentee, mentor_member, mentee_member)


async def party_for(uow: UnitOfWork, actor: Actor, mentorship_id: str) -> Party:
    """The mentorship, locked for this decision, if the actor is one of its two people."""
    party = await load_party(uow, actor.community.id, mentorship_id, lock=True)
    if party.role_of(actor.member) is None:
        # Someone else's mentorship looks exactly like one that does not exist.
        raise NotFound("mentorship")
    return party


async def party_with(
    uow: UnitOfWork, actor: Actor, other_user_id: str, statuses: tuple[str, ...]
) -> Party:
    """The actor's mentorship with the member whose platform id is ``other_user_id``."""
    other = await find_member(uow, actor.community.id, other_user_id)
    if other is None:
        raise InvalidValue(
            "person", f"{mention(other_user_id)} is not someone you mentor or learn from"
        )
    me_mentor = await find_mentor(uow, actor.member)
    me_mentee = await find_mentee(uow, actor.member)
    them_mentor = await find_mentor(uow, other)
    them_mentee = await find_mentee(uow, other)
    pairs = []
    if me_mentor and them_mentee:
        pairs.append((me_mentor.id, them_mentee.id))
    if me_mentee and them_mentor:
        pairs.append((them_mentor.id, me_mentee.id))
    for mentor_id, mentee_id in pairs:
        ms = (
            await uow.session.execute(
                select(Mentorship).where(
                    Mentorship.mentor_id == mentor_id,
                    Mentorship.mentee_id == mentee_id,
                    Mentorship.status.in_(statuses),
                )
            )
        ).scalar_one_or_none()
        if ms is not None:
            return await load_party(uow, actor.community.id, ms.id)
    raise InvalidValue(
        "person", f"you have no {' or '.join(statuses)} mentorship with {mention(other_user_id)}"
    )


# ----- requests and proposals -----------------------------------------------------------


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


async def _check_can_request(uow: UnitOfWork, actor: Actor, mentor: Mentor) -> Mentee:
    mentee = await find_mentee(uow, actor.member)
    if mentee is None:
        raise NotConfigured("Create your mentee profile first: `/mentee profile goals:…`.")
    if mentor.user_id == actor.member.id:
        raise Conflict("You can't request yourself as a mentor.")
    if mentor.status != "active" or not mentor.is_accepting:
        raise Conflict("That mentor is not taking new mentees right now.")
    if mentor.current_mentees >= mentor.max_mentees:
        raise Conflict("That mentor has no free places right now; try `/mentor suggest`.")
    existing = await _pair(uow, mentor.id, mentee.id)
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
    return mentee


async def _pair(uow: UnitOfWork, mentor_id: str, mentee_id: str) -> Mentorship | None:
    return (
        await uow.session.execute(
            select(Mentorship).where(
                Mentorship.mentor_id == mentor_id, Mentorship.mentee_id == mentee_id
            )
        )
    ).scalar_one_or_none()


def _score(uow: UnitOfWork, mentee: Mentee, mentor: Mentor) -> matching.Breakdown:
    table = matching.score_table(
        [mentee_facts(mentee)],
        [mentor_facts(mentor)],
        uow.settings.matching,
        matching.horizon_start(uow.now()),
    )
    return table.breakdown(0, 0)


async def _open_request(
    uow: UnitOfWork,
    actor: Actor,
    mentee: Mentee,
    mentor: Mentor,
    *,
    origin: str,
    score: float,
    note: str | None,
) -> Mentorship:
    """Create (or reopen a declined/expired) pending mentorship for the pair."""
    ms = await _pair(uow, mentor.id, mentee.id)
    now = uow.now()
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


def _expiry(uow: UnitOfWork, ms: Mentorship) -> datetime:
    return ms.requested_at + timedelta(days=uow.settings.request_expiry_days)


def _decision_buttons(ms: Mentorship) -> tuple[Button, ...]:
    return (
        Button("Accept", action_id("accept", ms.id), "success"),
        Button("Decline", action_id("decline", ms.id), "danger"),
    )


def _request_card(
    ms: Mentorship,
    mentee: Mentee,
    mentee_member: Member,
    breakdown: matching.Breakdown,
    mentor: Mentor,
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
        buttons=_decision_buttons(ms),
        footer=f"Request {ms.id} · expires {moment(expires_at, 'R')}",
    )


async def _request(uow: UnitOfWork, actor: Actor, mentor: Mentor, note: str | None) -> Reply:
    mentee = await _check_can_request(uow, actor, mentor)
    note = validation.text("note", note, max_length=NOTE_MAX) if note else None
    breakdown = _score(uow, mentee, mentor)
    ms = await _open_request(
        uow, actor, mentee, mentor, origin="request", score=breakdown.score, note=note or None
    )
    mentor_member = await uow.session.get(Member, mentor.user_id)
    assert mentor_member is not None
    card = _request_card(
        ms,
        mentee,
        actor.member,
        breakdown,
        mentor,
        title=f"Mentorship request from {actor.member.display_name}",
        expires_at=_expiry(uow, ms),
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


async def propose(
    uow: UnitOfWork, actor: Actor, mentee: Mentee, mentor: Mentor, score: float
) -> bool:
    """A matching round's proposal: both sides are asked. False if the pair can't be proposed."""
    existing = await _pair(uow, mentor.id, mentee.id)
    if existing is not None and existing.status not in ("declined", "expired"):
        return False
    ms = await _open_request(uow, actor, mentee, mentor, origin="round", score=score, note=None)
    mentor_member = await uow.session.get(Member, mentor.user_id)
    mentee_member = await uow.session.get(Member, mentee.user_id)
    assert mentor_member is not None
    assert mentee_member is not None
    breakdown = _score(uow, mentee, mentor)
    stamp = ms.request_version
    await uow.outbox.add(
        actor.community.id,
        DirectMessage(
            mentor_member.platform_user_id,
            _request_card(
                ms,
                mentee,
                mentee_member,
                breakdown,
                mentor,
                title=f"Proposed mentee: {mentee_member.display_name}",
                expires_at=_expiry(uow, ms),
            ),
        ),
        key=f"proposal:{ms.id}:{stamp}:mentor",
    )
    await uow.outbox.add(
        actor.community.id,
        DirectMessage(
            mentee_member.platform_user_id,
            Message(
                title=f"We found you a mentor: {mentor_member.display_name}",
                text=(
                    f"The matching round proposes {mention(mentor_member.platform_user_id)} "
                    f"({', '.join(mentor.expertise)}), compatibility {score:.0f}/100. "
                    "If you both accept, your mentorship starts."
                ),
                fields=cards.mentor_fields(mentor, uow.now()),
                buttons=_decision_buttons(ms),
            ),
        ),
        key=f"proposal:{ms.id}:{stamp}:mentee",
    )
    return True


# ----- answering ------------------------------------------------------------------------


@button("accept")
async def accept(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    party = await party_for(uow, actor, args[0])
    ms, role = party.mentorship, party.role_of(actor.member)
    if ms.status != "pending":
        raise Conflict(f"This request is already {ms.status}; nothing changed.")
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
    key = f"mentorship-started:{ms.id}:{now.timestamp()}"
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


@button("decline")
async def decline(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    party = await party_for(uow, actor, args[0])
    ms = party.mentorship
    if ms.status != "pending":
        raise Conflict(f"This request is already {ms.status}; nothing changed.")
    ms.status = "declined"
    ms.end_date = uow.now()
    mentee_user = party.mentee_member.platform_user_id
    key = f"declined:{ms.id}:{uow.now().timestamp()}"
    if party.role_of(actor.member) == "mentor":
        suggestions = await suggestion_message(
            uow,
            actor,
            party.mentee,
            3,
            exclude=frozenset({party.mentor.id}),
            title="Other mentors you might like",
        )
        await uow.outbox.add(
            actor.community.id,
            DirectMessage(
                mentee_user,
                Message(
                    title="About your mentorship request",
                    text=(
                        f"{party.mentor_member.display_name} can't take you on right now. That "
                        "is about their time, not about you; here are other mentors who fit "
                        "your goals."
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


# ----- housekeeping: nudges and expiry --------------------------------------------------


async def nudge_and_expire(uow: UnitOfWork) -> tuple[int, int]:
    """Nudge requests waiting ``request_nudge_days`` once; expire those past expiry."""
    now, s = uow.now(), uow.settings
    pending = (
        await uow.session.execute(
            select(Mentorship).where(
                Mentorship.status == "pending",
                or_(
                    Mentorship.requested_at <= now - timedelta(days=s.request_expiry_days),
                    (Mentorship.requested_at <= now - timedelta(days=s.request_nudge_days))
                    & Mentorship.nudged_at.is_(None),
                ),
            )
        )
    ).scalars()
    nudged = expired = 0
    for ms in list(pending):
        party = await load_party(uow, ms.community_id, ms.id)
        mentor_user = party.mentor_member.platform_user_id
        mentee_user = party.mentee_member.platform_user_id
        if ms.requested_at <= now - timedelta(days=s.request_expiry_days):
            ms.status = "expired"
            ms.end_date = now
            expired += 1
            await uow.outbox.add(
                ms.community_id,
                DirectMessage(
                    mentee_user,
                    Message(
                        title="A request expired",
                        text=(
                            f"{party.mentor_member.display_name} did not answer in "
                            f"{s.request_expiry_days} days, so the request expired. "
                            "`/mentor suggest` shows other mentors with free places."
                        ),
                    ),
                ),
                key=f"expired:{ms.id}:{ms.request_version}:mentee",
            )
            continue
        ms.nudged_at = now
        nudged += 1
        waiting_on = [] if ms.mentor_accepted else [mentor_user]
        if not ms.mentee_accepted:
            waiting_on.append(mentee_user)
        for user in waiting_on:
            other = mentee_user if user == mentor_user else mentor_user
            await uow.outbox.add(
                ms.community_id,
                DirectMessage(
                    user,
                    Message(
                        title="Reminder: a mentorship request is waiting",
                        text=(
                            f"{mention(other)} is waiting for your answer. It expires "
                            f"{moment(_expiry(uow, ms), 'R')}."
                        ),
                        buttons=_decision_buttons(ms),
                    ),
                ),
                key=f"nudge:{ms.id}:{ms.request_version}:{user}",
            )
    return nudged, expired
