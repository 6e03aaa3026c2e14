"""F4: the admin matching round: many waiting mentees matched at once, near the optimum."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select

from core import matching
from core.context import Actor
from core.messages import Field, Message, Reply
from core.models import Member, Mentee, Mentorship
from core.uow import UnitOfWork
from core.usecases.discovery import accepting_mentors, mentee_facts
from core.usecases.proposals import propose


@dataclass(frozen=True)
class RunMatchingRound:
    min_score: int | None = None


async def matching_round(uow: UnitOfWork, actor: Actor, cmd: RunMatchingRound) -> Reply:
    actor.require_admin("run a matching round")
    community = actor.community
    busy = select(Mentorship.mentee_id).where(
        Mentorship.community_id == community.id,
        Mentorship.status.in_(("pending", "active", "paused")),
    )
    mentees = list(
        (
            await uow.session.execute(
                select(Mentee)
                .join(Member, Member.id == Mentee.user_id)
                .where(
                    Mentee.community_id == community.id,
                    Mentee.status == "seeking",
                    Member.left_at.is_(None),
                    Mentee.id.not_in(busy),
                )
                .order_by(Mentee.id)
            )
        ).scalars()
    )
    mentors = await accepting_mentors(uow, community.id)
    settings = uow.settings.matching
    if cmd.min_score is not None:
        settings = replace(settings, min_score=float(cmd.min_score))
    mentee_facts_list = [mentee_facts(m) for m in mentees]
    mentor_facts_list = [r.facts() for r in mentors]
    # Nothing is written yet: end the read transaction so the database (one connection on
    # SQLite) serves everyone else while the worker computes. The proposals are written in
    # a fresh transaction; each re-checks its pair, and accepting re-checks capacity.
    await uow.session.commit()
    # Scoring thousands of pairs takes seconds: in a worker process, off the event loop.
    proposals = await matching.assign_off_loop(
        mentee_facts_list,
        mentor_facts_list,
        settings,
        matching.horizon_start(uow.now()),
    )
    mentee_by_id = {m.id: m for m in mentees}
    mentor_by_id = {r.mentor.id: r for r in mentors}
    made, total = 0, 0.0
    for p in proposals:
        mentee, row = mentee_by_id[p.mentee_id], mentor_by_id[p.mentor_id]
        if mentee.user_id == row.mentor.user_id:
            continue  # a member who is both mentor and mentee is never their own match
        if await propose(uow, actor, mentee, row.mentor, p.score):
            made += 1
            total += p.score
    uow.audit(
        community.id,
        actor.member.id,
        "matching.round",
        target_type="community",
        target_id=community.id,
        summary=f"ran a matching round: {made} proposals for {len(mentees)} waiting mentees",
        proposals=made,
        waiting=len(mentees),
        min_score=settings.min_score,
    )
    unmatched = len(mentees) - made
    return Reply(
        message=Message(
            title="Matching round done",
            text=(
                f"Proposed {made} pair(s) to {len(mentees)} waiting mentee(s); both sides "
                f"were asked to accept. {unmatched} had no mentor scoring at least "
                f"{settings.min_score:.0f} with a free place."
            ),
            fields=(
                Field("Total score", f"{total:.0f}", inline=True),
                Field("Average", f"{(total / made) if made else 0:.1f}/100", inline=True),
            ),
            tone="success",
        )
    )
