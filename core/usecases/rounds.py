"""F4: the admin matching round: many waiting mentees matched at once, near the optimum.

A round is a planned command (``catalog.Planned``): it reads the pool in a transaction
that is rolled back, solves the assignment off the event loop with no transaction open
(seconds, on a large pool), then writes the proposals in one transaction of its own. The
write re-checks who is still free as of then, so a mentee who sent a request or a mentor
who filled a place while the solver ran is left out, and nothing is ever half-written.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import Select, select

from core import matching
from core.catalog import Planned
from core.context import Actor
from core.messages import Field, Message, Reply
from core.models import Member, Mentee, Mentor, Mentorship
from core.uow import UnitOfWork
from core.usecases.discovery import accepting_mentors, mentee_facts
from core.usecases.proposals import propose

OPEN = ("pending", "active", "paused")


@dataclass(frozen=True)
class RunMatchingRound:
    min_score: int | None = None


@dataclass(frozen=True)
class Pool:
    """What a round reads, as plain values: its transaction is gone when they are used."""

    mentees: list[matching.MenteeFacts]
    mentors: list[matching.MentorFacts]
    member_of: dict[str, str]  # mentee or mentor id -> member id
    settings: matching.MatchingSettings
    start: date


@dataclass(frozen=True)
class Plan:
    proposals: list[matching.Proposal]
    waiting: int
    min_score: float


def _waiting_mentees(community_id: str) -> Select[Mentee, Member]:
    """Seeking mentees still in the community with no pending, active or paused mentorship."""
    busy = select(Mentorship.mentee_id).where(
        Mentorship.community_id == community_id, Mentorship.status.in_(OPEN)
    )
    return (
        select(Mentee, Member)
        .join(Member, Member.id == Mentee.user_id)
        .where(
            Mentee.community_id == community_id,
            Mentee.status == "seeking",
            Member.left_at.is_(None),
            Mentee.id.not_in(busy),
        )
        .order_by(Mentee.id)
    )


async def read_pool(uow: UnitOfWork, actor: Actor, cmd: RunMatchingRound) -> Pool:
    actor.require_admin("run a matching round")
    mentees = [m for m, _ in await uow.session.execute(_waiting_mentees(actor.community.id))]
    mentors = await accepting_mentors(uow, actor.community.id)
    settings = uow.settings.matching
    if cmd.min_score is not None:
        settings = replace(settings, min_score=float(cmd.min_score))
    return Pool(
        mentees=[mentee_facts(m) for m in mentees],
        mentors=[r.facts() for r in mentors],
        member_of={m.id: m.user_id for m in mentees}
        | {r.mentor.id: r.mentor.user_id for r in mentors},
        settings=settings,
        start=matching.horizon_start(uow.now()),
    )


async def solve(pool: Pool) -> Plan:
    # Scoring thousands of pairs takes seconds: in a worker process, off the event loop.
    proposals = await matching.assign_off_loop(
        pool.mentees, pool.mentors, pool.settings, pool.start
    )
    return Plan(
        # A member who is both mentor and mentee is never their own match.
        [p for p in proposals if pool.member_of[p.mentee_id] != pool.member_of[p.mentor_id]],
        len(pool.mentees),
        pool.settings.min_score,
    )


async def write_proposals(
    uow: UnitOfWork, actor: Actor, cmd: RunMatchingRound, plan: Plan
) -> Reply:
    actor.require_admin("run a matching round")
    community_id = actor.community.id
    mentees, places, mentors, earlier = await _still_free(uow, community_id)
    made, total = 0, 0.0
    # Best first, so that a mentor with fewer places than planned keeps the best pairs.
    for p in sorted(plan.proposals, key=lambda p: (-p.score, p.mentee_id)):
        mentee, mentor = mentees.get(p.mentee_id), mentors.get(p.mentor_id)
        if mentee is None or mentor is None or places[p.mentor_id] <= 0:
            continue
        if await propose(
            uow, actor, mentee, mentor, earlier.get((p.mentee_id, p.mentor_id)), p.score
        ):
            places[p.mentor_id] -= 1
            made += 1
            total += p.score
    gone = len(plan.proposals) - made
    uow.audit(
        community_id,
        actor.member.id,
        "matching.round",
        target_type="community",
        target_id=community_id,
        summary=f"ran a matching round: {made} proposals for {plan.waiting} waiting mentees",
        proposals=made,
        waiting=plan.waiting,
        min_score=plan.min_score,
        no_longer_free=gone,
    )
    unmatched = plan.waiting - made
    moved_on = (
        f" {gone} planned pair(s) were left out: someone was no longer free by the end."
        if gone
        else ""
    )
    return Reply(
        message=Message(
            title="Matching round done",
            text=(
                f"Proposed {made} pair(s) to {plan.waiting} waiting mentee(s); both sides "
                f"were asked to accept. {unmatched} had no mentor scoring at least "
                f"{plan.min_score:.0f} with a free place.{moved_on}"
            ),
            fields=(
                Field("Total score", f"{total:.0f}", inline=True),
                Field("Average", f"{(total / made) if made else 0:.1f}/100", inline=True),
            ),
            tone="success",
        )
    )


async def _still_free(
    uow: UnitOfWork, community_id: str
) -> tuple[
    dict[str, tuple[Mentee, Member]],
    dict[str, int],
    dict[str, tuple[Mentor, Member]],
    dict[tuple[str, str], Mentorship],
]:
    """Who is free as of now: waiting mentees, mentors' free places, earlier pairings.

    The waiting mentees are locked first (PostgreSQL; SQLite runs one transaction at a
    time), and only then read: a request in flight has either committed, and its mentee is
    left out, or waits until the proposals are written.
    """
    await uow.session.execute(
        select(Mentee.id)
        .where(Mentee.community_id == community_id, Mentee.status == "seeking")
        .order_by(Mentee.id)  # one lock order, so two rounds at once queue, not deadlock
        .with_for_update()
    )
    waiting = _waiting_mentees(community_id)
    mentees = {m.id: (m, member) for m, member in await uow.session.execute(waiting)}
    mentors = {
        r.mentor.id: (r.mentor, r.member)
        for r in await accepting_mentors(uow, community_id)
        if r.mentor.current_mentees < r.mentor.max_mentees
    }
    places = {r.id: r.max_mentees - r.current_mentees for r, _ in mentors.values()}
    earlier = await uow.session.execute(
        select(Mentorship).where(
            Mentorship.community_id == community_id,
            Mentorship.mentee_id.in_(waiting.with_only_columns(Mentee.id).order_by(None)),
        )
    )
    pairs = {(ms.mentee_id, ms.mentor_id): ms for ms in earlier.scalars()}
    return mentees, places, mentors, pairs


matching_round = Planned(read=read_pool, compute=solve, write=write_proposals)
