"""F4/F5: a matching round's proposal: both the mentor and the mentee are asked."""

from __future__ import annotations

from core import cards
from core.context import Actor
from core.effects import DirectMessage
from core.messages import Message, mention
from core.models import Member, Mentee, Mentor, Mentorship
from core.uow import UnitOfWork
from core.usecases.answers import decision_buttons
from core.usecases.requests import expires_at, open_request, request_card, score_pair

# An earlier mentorship of the pair in one of these states may be proposed again.
REOPENABLE = ("declined", "expired")


async def propose(
    uow: UnitOfWork,
    actor: Actor,
    mentee: tuple[Mentee, Member],
    mentor: tuple[Mentor, Member],
    existing: Mentorship | None,
    score: float,
) -> bool:
    """Propose the pair (rows loaded by the caller, with their earlier mentorship if any);
    both sides are asked. False if that earlier mentorship rules the proposal out."""
    if existing is not None and existing.status not in REOPENABLE:
        return False
    (mentee_row, mentee_member), (mentor_row, mentor_member) = mentee, mentor
    ms = await open_request(
        uow, actor, mentee_row, mentor_row, existing, origin="round", score=score, note=None
    )
    breakdown = score_pair(uow, mentee_row, mentor_row)
    stamp = ms.request_version
    await uow.outbox.add(
        actor.community.id,
        DirectMessage(
            mentor_member.platform_user_id,
            request_card(
                ms,
                mentee_row,
                mentee_member,
                breakdown,
                mentor_row,
                title=f"Proposed mentee: {mentee_member.display_name}",
                expires_at=expires_at(uow, ms),
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
                    f"({', '.join(mentor_row.expertise)}), compatibility {score:.0f}/100. "
                    "If you both accept, your mentorship starts."
                ),
                fields=cards.mentor_fields(mentor_row, uow.now()),
                buttons=decision_buttons(ms),
            ),
        ),
        key=f"proposal:{ms.id}:{stamp}:mentee",
    )
    return True
