"""F4/F5: a matching round's proposal: both the mentor and the mentee are asked."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core import cards, matching
from core.effects import DirectMessage, Effect
from core.messages import Field, Message, mention
from core.usecases.answers import decision_buttons
from core.usecases.requests import ShownRequest, request_card

# An earlier mentorship of the pair in one of these states may be proposed again.
REOPENABLE = ("declined", "expired")


class ShownMentorSide(cards.ShownMentor, cards.ShownMember, Protocol):
    """A mentor with the member behind it, as a proposal shows them."""


class ShownMenteeSide(cards.ShownMentee, cards.ShownMember, Protocol):
    """A mentee with the member behind it, as a proposal shows them."""


def proposal_cards(
    ms: ShownRequest,
    mentee: ShownMenteeSide,
    mentor: ShownMentorSide,
    breakdown: matching.Breakdown,
    *,
    expires_at: datetime,
    mentor_fields: tuple[Field, ...],
) -> list[tuple[Effect, str]]:
    """Both sides' proposal cards with their delivery keys: the mentor decides on the
    mentee's card, the mentee on the mentor's (``mentor_fields``: the mentor's profile
    fields, the same on every card of that mentor in one round)."""
    stamp = ms.request_version
    return [
        (
            DirectMessage(
                mentor.platform_user_id,
                request_card(
                    ms,
                    mentee,
                    mentee,
                    breakdown,
                    mentor,
                    title=f"Proposed mentee: {mentee.display_name}",
                    expires_at=expires_at,
                ),
            ),
            f"proposal:{ms.id}:{stamp}:mentor",
        ),
        (
            DirectMessage(
                mentee.platform_user_id,
                Message(
                    title=f"We found you a mentor: {mentor.display_name}",
                    text=(
                        "The matching round proposes "
                        f"{mention(mentor.platform_user_id)} "
                        f"({', '.join(mentor.expertise)}), compatibility "
                        f"{breakdown.score:.0f}/100. If you both accept, your mentorship "
                        "starts."
                    ),
                    fields=mentor_fields,
                    buttons=decision_buttons(ms),
                ),
            ),
            f"proposal:{ms.id}:{stamp}:mentee",
        ),
    ]
