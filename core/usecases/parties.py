"""A mentorship with both of its people loaded, and finding the one an actor means."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import aliased

from core.context import Actor, find_member
from core.errors import InvalidValue, NotFound
from core.messages import mention
from core.models import Member, Mentee, Mentor, Mentorship
from core.uow import UnitOfWork
from core.usecases.mentees import find_mentee
from core.usecases.mentors import find_mentor


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


MentorMember = aliased(Member, name="mentor_member")
MenteeMember = aliased(Member, name="mentee_member")


def parties() -> Select[Mentorship, Mentor, Mentee, Member, Member]:
    """Mentorships with both people, in one joined query (add ``where`` and order)."""
    return (
        select(Mentorship, Mentor, Mentee, MentorMember, MenteeMember)
        .join(Mentor, Mentor.id == Mentorship.mentor_id)
        .join(Mentee, Mentee.id == Mentorship.mentee_id)
        .join(MentorMember, MentorMember.id == Mentor.user_id)
        .join(MenteeMember, MenteeMember.id == Mentee.user_id)
    )


async def load_parties(
    uow: UnitOfWork, stmt: Select[Mentorship, Mentor, Mentee, Member, Member]
) -> list[Party]:
    return [Party(ms, r, e, rm, em) for ms, r, e, rm, em in await uow.session.execute(stmt)]


async def load_party(
    uow: UnitOfWork, community_id: str, mentorship_id: str, *, lock: bool = False
) -> Party:
    stmt = parties().where(Mentorship.id == mentorship_id, Mentorship.community_id == community_id)
    if lock:
        # Only the mentorship row: the people are read, not decided on.
        stmt = stmt.with_for_update(of=Mentorship)
    found = await load_parties(uow, stmt)
    if not found:
        raise NotFound("mentorship")
    return found[0]


async def parties_of(uow: UnitOfWork, actor: Actor, statuses: tuple[str, ...]) -> list[Party]:
    """The actor's mentorships in these statuses, on either side (no order)."""
    mentor = await find_mentor(uow, actor.member)
    mentee = await find_mentee(uow, actor.member)
    sides = []
    if mentor is not None:
        sides.append(Mentorship.mentor_id == mentor.id)
    if mentee is not None:
        sides.append(Mentorship.mentee_id == mentee.id)
    if not sides:
        return []
    return await load_parties(uow, parties().where(or_(*sides), Mentorship.status.in_(statuses)))


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
