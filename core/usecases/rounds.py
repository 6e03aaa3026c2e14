"""F4: the admin matching round: many waiting mentees matched at once, near the optimum.

A round is a planned command (``catalog.Planned``): it reads the pool in a transaction
that is rolled back, solves the assignment off the event loop with no transaction open
(seconds, on a large pool), then writes the proposals in one transaction of its own. The
write re-checks who is still free as of then, so a mentee who sent a request or a mentor
who filled a place while the solver ran is left out, and nothing is ever half-written.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import Select, insert, select, update

from core import assignment, cards, matching
from core.catalog import Planned
from core.context import Actor
from core.effects import DirectMessage, Effect
from core.ids import new_id
from core.messages import Field, Message, Reply, mention
from core.models import Member, Mentee, Mentor, Mentorship
from core.uow import UnitOfWork
from core.usecases.answers import decision_buttons
from core.usecases.proposals import REOPENABLE
from core.usecases.requests import expires_at, request_card

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
    proposals: list[assignment.Proposal]
    waiting: int
    min_score: float


# Pairs written per step: between steps the event loop serves other members, and each
# step is a handful of multi-row statements however many pairs there are.
WRITE_CHUNK = 250


@dataclass(frozen=True)
class Earlier:
    """A pair's earlier mentorship, as much of it as reopening needs."""

    id: str
    status: str
    request_version: int


def _waiting_mentees(community_id: str) -> Select[str]:
    """Seeking mentees still in the community with no pending, active or paused mentorship."""
    busy = select(Mentorship.mentee_id).where(
        Mentorship.community_id == community_id, Mentorship.status.in_(OPEN)
    )
    return (
        select(Mentee.id)
        .join(Member, Member.id == Mentee.user_id)
        .where(
            Mentee.community_id == community_id,
            Mentee.status == "seeking",
            Member.left_at.is_(None),
            Mentee.id.not_in(busy),
        )
        .order_by(Mentee.id)
    )


def _accepting_mentors(community_id: str) -> Select[str]:
    """Active, accepting mentors still in the community with a free place."""
    return (
        select(Mentor.id)
        .join(Member, Member.id == Mentor.user_id)
        .where(
            Mentor.community_id == community_id,
            Mentor.status == "active",
            Mentor.is_accepting.is_(True),
            Member.left_at.is_(None),
            Mentor.current_mentees < Mentor.max_mentees,
        )
        .order_by(Mentor.id)
    )


async def read_pool(uow: UnitOfWork, actor: Actor, cmd: RunMatchingRound) -> Pool:
    actor.require_admin("run a matching round")
    community_id = actor.community.id
    # Plain columns, not ORM objects: a pool of 10,000 mentees is read in milliseconds.
    mentee_rows = await uow.session.execute(
        _waiting_mentees(community_id).with_only_columns(
            Mentee.id,
            Mentee.user_id,
            Mentee.goals,
            Mentee.languages,
            Mentee.timezone,
            Mentee.preferred_style,
        )
    )
    mentor_rows = await uow.session.execute(
        _accepting_mentors(community_id).with_only_columns(
            Mentor.id,
            Mentor.user_id,
            Mentor.expertise,
            Mentor.languages,
            Mentor.timezone,
            Mentor.preferred_style,
            Mentor.max_mentees,
            Mentor.current_mentees,
            Mentor.availability,
        )
    )
    mentees, mentors, member_of = [], [], {}
    for id_, user_id, goals, languages, timezone, style in mentee_rows:
        mentees.append(matching.MenteeFacts(id_, tuple(goals), tuple(languages), timezone, style))
        member_of[id_] = user_id
    for id_, user_id, expertise, languages, timezone, style, most, now, hours in mentor_rows:
        mentors.append(
            matching.MentorFacts(
                id_,
                tuple(expertise),
                tuple(languages),
                timezone,
                style,
                max(most - now, 0),
                most,
                hours,
            )
        )
        member_of[id_] = user_id
    settings = uow.settings.matching
    if cmd.min_score is not None:
        settings = replace(settings, min_score=float(cmd.min_score))
    return Pool(
        mentees=mentees,
        mentors=mentors,
        member_of=member_of,
        settings=settings,
        start=matching.horizon_start(uow.now()),
    )


async def solve(pool: Pool) -> Plan:
    # Scoring thousands of pairs takes seconds: in a worker process, off the event loop.
    proposals = await assignment.assign_off_loop(
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
    chosen = await _still_free(uow, community_id, plan)
    for lo in range(0, len(chosen), WRITE_CHUNK):
        await write_chunk(uow, actor, chosen[lo : lo + WRITE_CHUNK])
        await asyncio.sleep(0)  # let other members' interactions in between steps
    made = len(chosen)
    total = sum(p.score for p, _ in chosen)
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
    uow: UnitOfWork, community_id: str, plan: Plan
) -> list[tuple[assignment.Proposal, Earlier | None]]:
    """The planned pairs that can still be proposed as of now, best first.

    The waiting mentees are locked first (PostgreSQL; SQLite runs one transaction at a
    time), and only then read: a request in flight has either committed, and its mentee is
    left out, or waits until the proposals are written. A mentor with fewer free places
    than planned keeps the best pairs.
    """
    await uow.session.execute(
        select(Mentee.id)
        .where(Mentee.community_id == community_id, Mentee.status == "seeking")
        .order_by(Mentee.id)  # one lock order, so two rounds at once queue, not deadlock
        .with_for_update()
    )
    waiting = _waiting_mentees(community_id)
    mentees = set((await uow.session.execute(waiting)).scalars())
    places = {
        id_: most - now
        for id_, most, now in await uow.session.execute(
            _accepting_mentors(community_id).with_only_columns(
                Mentor.id, Mentor.max_mentees, Mentor.current_mentees
            )
        )
    }
    rows = await uow.session.execute(
        select(
            Mentorship.mentee_id,
            Mentorship.mentor_id,
            Mentorship.id,
            Mentorship.status,
            Mentorship.request_version,
        ).where(
            Mentorship.community_id == community_id,
            Mentorship.mentee_id.in_(waiting.order_by(None)),
        )
    )
    earlier = {(e, r): Earlier(id_, status, version) for e, r, id_, status, version in rows}
    chosen = []
    for p in sorted(plan.proposals, key=lambda p: (-p.score, p.mentee_id)):
        before = earlier.get((p.mentee_id, p.mentor_id))
        if (
            p.mentee_id not in mentees
            or places.get(p.mentor_id, 0) <= 0
            or (before is not None and before.status not in REOPENABLE)
        ):
            continue
        places[p.mentor_id] -= 1
        chosen.append((p, before))
    return chosen


async def write_chunk(
    uow: UnitOfWork, actor: Actor, chosen: list[tuple[assignment.Proposal, Earlier | None]]
) -> None:
    """Open these pairs' mentorships and queue both sides' cards: a few statements."""
    community_id, now = actor.community.id, uow.now()
    mentees = {
        m.id: (m, member)
        for m, member in await uow.session.execute(
            select(Mentee, Member)
            .join(Member, Member.id == Mentee.user_id)
            .where(Mentee.id.in_({p.mentee_id for p, _ in chosen}))
        )
    }
    mentors = {
        m.id: (m, member)
        for m, member in await uow.session.execute(
            select(Mentor, Member)
            .join(Member, Member.id == Mentor.user_id)
            .where(Mentor.id.in_({p.mentor_id for p, _ in chosen}))
        )
    }
    new_rows: list[dict[str, Any]] = []
    reopened: list[dict[str, Any]] = []
    effects: list[tuple[Effect, str]] = []
    for p, before in chosen:
        (mentee, mentee_member), (mentor, mentor_member) = (
            mentees[p.mentee_id],
            mentors[p.mentor_id],
        )
        # What a reopened or new request holds; open_request does the same one at a time.
        request = {
            "status": "pending",
            "origin": "round",
            "mentee_accepted": False,
            "mentor_accepted": False,
            "request_note": None,
            "match_score": p.score,
            "goals": list(mentee.goals),
            "nudged_at": None,
            "requested_at": now,
            "start_date": now,
            "end_date": None,
            "updated_at": now,
        }
        if before is None:
            ms = Mentorship(id=new_id(), request_version=1, requested_at=now)
            new_rows.append(
                request
                | {
                    "id": ms.id,
                    "community_id": community_id,
                    "mentor_id": mentor.id,
                    "mentee_id": mentee.id,
                    "request_version": 1,
                    "created_at": now,
                }
            )
        else:
            ms = Mentorship(
                id=before.id, request_version=before.request_version + 1, requested_at=now
            )
            reopened.append(request | {"id": ms.id, "request_version": ms.request_version})
        effects.extend(_cards(uow, ms, p, (mentee, mentee_member), (mentor, mentor_member)))
    if new_rows:
        await uow.session.execute(insert(Mentorship), new_rows)
    if reopened:
        await uow.session.execute(update(Mentorship), reopened)
    await uow.outbox.add_many(community_id, effects)


def _cards(
    uow: UnitOfWork,
    ms: Mentorship,
    p: assignment.Proposal,
    mentee: tuple[Mentee, Member],
    mentor: tuple[Mentor, Member],
) -> list[tuple[Effect, str]]:
    """Both sides' proposal cards (the mentor decides on the mentee's card, and back)."""
    (mentee_row, mentee_member), (mentor_row, mentor_member) = mentee, mentor
    stamp = ms.request_version
    return [
        (
            DirectMessage(
                mentor_member.platform_user_id,
                request_card(
                    ms,
                    mentee_row,
                    mentee_member,
                    p.breakdown(),
                    mentor_row,
                    title=f"Proposed mentee: {mentee_member.display_name}",
                    expires_at=expires_at(uow, ms),
                ),
            ),
            f"proposal:{ms.id}:{stamp}:mentor",
        ),
        (
            DirectMessage(
                mentee_member.platform_user_id,
                Message(
                    title=f"We found you a mentor: {mentor_member.display_name}",
                    text=(
                        "The matching round proposes "
                        f"{mention(mentor_member.platform_user_id)} "
                        f"({', '.join(mentor_row.expertise)}), compatibility "
                        f"{p.score:.0f}/100. If you both accept, your mentorship starts."
                    ),
                    fields=cards.mentor_fields(mentor_row, uow.now()),
                    buttons=decision_buttons(ms),
                ),
            ),
            f"proposal:{ms.id}:{stamp}:mentee",
        ),
    ]


matching_round = Planned(read=read_pool, compute=solve, write=write_proposals)
