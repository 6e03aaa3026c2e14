"""F4/F5: a matching round's proposal: both the mentor and the mentee are asked."""

from __future__ import annotations

from core import cards
from core.context import Actor
from core.effects import DirectMessage
from core.messages import Message, mention
from core.models import Member, Mentee, Mentor
from core.uow import UnitOfWork
from core.usecases.answers import decision_buttons
from core.usecases.requests import expires_at, find_pair, open_request, request_card, score_pair


async def propose(
    uow: UnitOfWork, actor: Actor, mentee: Mentee, mentor: Mentor, score: float
) -> bool:
    """A matching round's proposal: both sides are asked. False if the pair can't be proposed."""
    existing = await find_pair(uow, mentor.id, mentee.id)
    if existing is not None and existing.status not in ("declined", "expired"):
        return False
    ms = await open_request(uow, actor, mentee, mentor, origin="round", score=score, note=None)
    mentor_member = await uow.session.get(Member, mentor.user_id)
    mentee_member = await uow.session.get(Member, mentee.user_id)
    assert mentor_member is not None
    assert mentee_member is not None
    breakdown = score_pair(uow, mentee, mentor)
    stamp = ms.request_version
    await uow.outbox.add(
        actor.community.id,
        DirectMessage(
            mentor_member.platform_user_id,
            request_card(
                ms,
                mentee,
                mentee_member,
                breakdown,
                mentor,
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
                    f"({', '.join(mentor.expertise)}), compatibility {score:.0f}/100. "
                    "If you both accept, your mentorship starts."
                ),
                fields=cards.mentor_fields(mentor, uow.now()),
                buttons=decision_buttons(ms),
            ),
        ),
        key=f"proposal:{ms.id}:{stamp}:mentee",
    )
    return True
