"""Housekeeping: requests waiting too long are nudged once, then expire (F5); goals
near or past their target date are nudged (F10); badges just turned on award earlier
history, a batch at a time (F12)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_

from core.effects import DirectMessage
from core.messages import Message, mention, moment
from core.models import Mentorship
from core.uow import UnitOfWork
from core.usecases.answers import decision_buttons
from core.usecases.badges import backfill_step
from core.usecases.goals import nudge_goals
from core.usecases.parties import load_parties, parties
from core.usecases.requests import expires_at


async def nudge_and_expire(uow: UnitOfWork) -> tuple[int, int]:
    """Nudge requests waiting ``request_nudge_days`` once; expire those past expiry.

    At most ``housekeeping_batch`` requests a pass, oldest first, read with both people in
    one query. A handled request no longer matches (it is nudged or expired), so the next
    pass starts where this one stopped.
    """
    now, s = uow.now(), uow.settings
    due = await load_parties(
        uow,
        parties()
        .where(
            Mentorship.status == "pending",
            or_(
                Mentorship.requested_at <= now - timedelta(days=s.request_expiry_days),
                (Mentorship.requested_at <= now - timedelta(days=s.request_nudge_days))
                & Mentorship.nudged_at.is_(None),
            ),
        )
        .order_by(Mentorship.requested_at, Mentorship.id)
        .limit(s.housekeeping_batch),
    )
    nudged = expired = 0
    for party in due:
        ms = party.mentorship
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
                            f"{moment(expires_at(uow, ms), 'R')}."
                        ),
                        buttons=decision_buttons(ms),
                    ),
                ),
                key=f"nudge:{ms.id}:{ms.request_version}:{user}",
            )
    return nudged, expired


async def goals_and_badges(uow: UnitOfWork) -> int:
    """One bounded pass of goal nudges and badge backfill; returns rows handled."""
    return await nudge_goals(uow) + await backfill_step(uow)
