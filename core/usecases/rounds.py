"""F4: the admin matching round: many waiting mentees matched at once, near the optimum.

A round is a planned command (``catalog.Planned``): it reads the pool in a transaction
that is rolled back, solves the assignment off the event loop with no transaction open
(seconds, on a large pool), then writes the proposals in one transaction of its own. The
write re-checks who is still free as of then, so a mentee who sent a request or a mentor
who filled a place while the solver ran is left out, and nothing is ever half-written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, TypeVarTuple, cast

from sqlalchemy import Row, Select, Table, insert, select, update

from core import assignment, cards, matching
from core.catalog import Planned
from core.context import Actor
from core.effects import Effect
from core.ids import new_ids
from core.messages import Field, Message, Reply
from core.models import Member, Mentee, Mentor, Mentorship
from core.uow import UnitOfWork
from core.usecases.proposals import REOPENABLE, proposal_cards

log = logging.getLogger(__name__)

OPEN = ("pending", "active", "paused")
Columns = TypeVarTuple("Columns")


@dataclass(frozen=True)
class RunMatchingRound:
    min_score: int | None = None


@dataclass(frozen=True)
class Pool:
    """What a round reads, as plain values: its transaction is gone when they are used."""

    packed: assignment.PackedPool
    settings: matching.MatchingSettings
    start: date


@dataclass(frozen=True)
class Plan:
    solution: assignment.Solution
    mentee_ids: list[str]
    mentor_ids: list[str]
    min_score: float

    @property
    def waiting(self) -> int:
        return len(self.mentee_ids)


# Rows read per step, pairs whose two sides (card columns) are read at once, and pairs
# written per step: between steps the event loop serves other members. Each step is a
# few statements and 10-30 ms of Python work.
READ_PART = 1000
SIDES_PART = 250
WRITE_CHUNK = 50


@dataclass(frozen=True)
class Earlier:
    """A pair's earlier mentorship, as much of it as reopening needs."""

    id: str
    status: str
    request_version: int


@dataclass(frozen=True)
class MenteeSide:
    """A proposed mentee as its cards show it, read as plain columns."""

    id: str
    goals: list[str]
    languages: list[str]
    timezone: str | None
    preferred_style: str
    challenges: str | None
    status: str
    display_name: str
    platform_user_id: str


@dataclass(frozen=True)
class MentorSide:
    """A proposed mentor as its cards show it, read as plain columns."""

    id: str
    expertise: list[str]
    languages: list[str]
    timezone: str | None
    preferred_style: str
    availability: int
    current_mentees: int
    max_mentees: int
    display_name: str
    platform_user_id: str


@dataclass(frozen=True)
class NewRequest:
    """The request a proposal opens, as its cards name it (the row is inserted in bulk)."""

    id: str
    request_version: int
    requested_at: datetime
    request_note: str | None = None


async def _parts(uow: UnitOfWork, stmt: Select[*Columns]) -> AsyncIterator[Sequence[Row[*Columns]]]:
    """The statement's rows a part at a time, the event loop free between parts."""
    result = await uow.session.stream(stmt)
    async for part in result.partitions(READ_PART):
        yield part


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
    packed = assignment.PackedPool()
    # Plain columns, not ORM objects, a part at a time: each part is turned into facts and
    # pickled for the worker before the next is read.
    mentee_rows = _waiting_mentees(community_id).with_only_columns(
        Mentee.id,
        Mentee.user_id,
        Mentee.goals,
        Mentee.languages,
        Mentee.timezone,
        Mentee.preferred_style,
    )
    async for part in _parts(uow, mentee_rows):
        packed.add_mentees(
            [
                matching.MenteeFacts(id_, tuple(goals), tuple(languages), timezone, style)
                for id_, _, goals, languages, timezone, style in part
            ],
            [user_id for _, user_id, *_ in part],
        )
    mentor_rows = _accepting_mentors(community_id).with_only_columns(
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
    async for mentor_part in _parts(uow, mentor_rows):
        packed.add_mentors(
            [
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
                for id_, _, expertise, languages, timezone, style, most, now, hours in mentor_part
            ],
            [user_id for _, user_id, *_ in mentor_part],
        )
    settings = uow.settings.matching
    if cmd.min_score is not None:
        settings = replace(settings, min_score=float(cmd.min_score))
    return Pool(packed=packed, settings=settings, start=matching.horizon_start(uow.now()))


async def solve(pool: Pool) -> Plan:
    # Scoring and solving take seconds on a large pool: in a worker process, off the loop.
    # A member who is both mentor and mentee is never their own match (the solver knows
    # each side's member).
    solution = await assignment.solve_off_loop(pool.packed, pool.settings, pool.start)
    return Plan(solution, pool.packed.mentee_ids, pool.packed.mentor_ids, pool.settings.min_score)


async def write_proposals(
    uow: UnitOfWork, actor: Actor, cmd: RunMatchingRound, plan: Plan
) -> Reply:
    actor.require_admin("run a matching round")
    community_id = actor.community.id
    chosen, reopen = await _still_free(uow, community_id, plan)
    sides = Sides()
    solution = plan.solution
    for lo in range(0, len(chosen), SIDES_PART):
        batch = chosen[lo : lo + SIDES_PART]
        await sides.read(
            uow,
            {plan.mentee_ids[int(solution.mentees[p])] for p in batch},
            {plan.mentor_ids[int(solution.mentors[p])] for p in batch},
        )
        for at in range(0, len(batch), WRITE_CHUNK):
            # Proposals are made a step at a time and dropped after it: nothing per pair
            # outlives its step.
            step = [
                (solution.proposal(p, plan.mentee_ids, plan.mentor_ids), reopen.get(p))
                for p in batch[at : at + WRITE_CHUNK]
            ]
            await write_chunk(uow, actor, step, sides)
            await asyncio.sleep(0)  # let other members' interactions in between steps
    made = len(chosen)
    total = float(solution.scores[chosen].sum()) if chosen else 0.0
    gone = len(solution) - made
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
) -> tuple[list[int], dict[int, Earlier]]:
    """The planned pairs that can still be proposed as of now, best first (positions in
    the plan's solution), and the earlier mentorship of those that reopen one.

    The waiting mentees are locked first (PostgreSQL; SQLite runs one transaction at a
    time), and only then read: a request in flight has either committed, and its mentee is
    left out, or waits until the proposals are written. A mentor with fewer free places
    than planned keeps the best pairs. Everything is read and checked a part at a time.
    """
    locked = (
        select(Mentee.id)
        .where(Mentee.community_id == community_id, Mentee.status == "seeking")
        .order_by(Mentee.id)  # one lock order, so two rounds at once queue, not deadlock
        .with_for_update()
    )
    held = 0  # only the locks are wanted, taken as the rows are read
    async for part in _parts(uow, locked):
        held += len(part)
    log.debug("match round: %d waiting mentees locked in community %s", held, community_id)
    waiting = _waiting_mentees(community_id)
    mentees: set[str] = set()
    async for part in _parts(uow, waiting):
        mentees.update(id_ for (id_,) in part)
    places: dict[str, int] = {}
    free = _accepting_mentors(community_id).with_only_columns(
        Mentor.id, Mentor.max_mentees, Mentor.current_mentees
    )
    async for free_part in _parts(uow, free):
        places.update((id_, most - now) for id_, most, now in free_part)
    earlier: dict[tuple[str, str], Earlier] = {}
    before = select(
        Mentorship.mentee_id,
        Mentorship.mentor_id,
        Mentorship.id,
        Mentorship.status,
        Mentorship.request_version,
    ).where(
        Mentorship.community_id == community_id,
        Mentorship.mentee_id.in_(waiting.order_by(None)),
    )
    async for earlier_part in _parts(uow, before):
        earlier.update(
            ((e, r), Earlier(id_, status, version)) for e, r, id_, status, version in earlier_part
        )
    chosen: list[int] = []
    reopen: dict[int, Earlier] = {}
    solution = plan.solution
    for lo in range(0, len(solution), READ_PART):
        for p in range(lo, min(lo + READ_PART, len(solution))):  # best first already
            mentee_id = plan.mentee_ids[int(solution.mentees[p])]
            mentor_id = plan.mentor_ids[int(solution.mentors[p])]
            was = earlier.get((mentee_id, mentor_id))
            if (
                mentee_id not in mentees
                or places.get(mentor_id, 0) <= 0
                or (was is not None and was.status not in REOPENABLE)
            ):
                continue
            places[mentor_id] -= 1
            chosen.append(p)
            if was is not None:
                reopen[p] = was
        await asyncio.sleep(0)
    return chosen, reopen


@dataclass
class Sides:
    """The proposed mentees and mentors as their cards show them, read in parts of
    ``SIDES_PART`` pairs: a mentor (with its profile fields laid out) is read once per
    round, a mentee once."""

    mentees: dict[str, MenteeSide] = field(default_factory=dict)
    mentors: dict[str, tuple[MentorSide, tuple[Field, ...]]] = field(default_factory=dict)

    async def read(self, uow: UnitOfWork, mentee_ids: set[str], mentor_ids: set[str]) -> None:
        now = uow.now()
        self.mentees = {m.id: m for m in await _read_sides(uow, MenteeSide, Mentee, mentee_ids)}
        unseen = mentor_ids - self.mentors.keys()
        for mentor in await _read_sides(uow, MentorSide, Mentor, unseen) if unseen else []:
            self.mentors[mentor.id] = (mentor, cards.mentor_fields(mentor, now))


Side = TypeVar("Side", MenteeSide, MentorSide)


async def _read_sides(
    uow: UnitOfWork, side: type[Side], model: type[Mentee] | type[Mentor], ids: set[str]
) -> list[Side]:
    """These mentees' or mentors' sides: the columns the side's fields name, from its own
    table or else from the member behind it."""
    columns = [getattr(model if hasattr(model, f.name) else Member, f.name) for f in fields(side)]
    rows = await uow.session.execute(
        select(*columns).join(Member, Member.id == model.user_id).where(model.id.in_(ids))
    )
    return [side(*cast(tuple[Any, ...], r)) for r in rows]


async def write_chunk(
    uow: UnitOfWork,
    actor: Actor,
    chosen: list[tuple[assignment.Proposal, Earlier | None]],
    sides: Sides,
) -> None:
    """Open these pairs' mentorships and queue both sides' cards: a few statements."""
    community_id, now = actor.community.id, uow.now()
    expires = now + timedelta(days=uow.settings.request_expiry_days)
    new_rows: list[dict[str, Any]] = []
    reopened: list[dict[str, Any]] = []
    effects: list[tuple[Effect, str]] = []
    fresh = iter(new_ids(sum(before is None for _, before in chosen)))
    for p, before in chosen:
        mentee, (mentor, mentor_fields) = sides.mentees[p.mentee_id], sides.mentors[p.mentor_id]
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
            ms = NewRequest(next(fresh), 1, now)
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
            ms = NewRequest(before.id, before.request_version + 1, now)
            reopened.append(request | {"id": ms.id, "request_version": ms.request_version})
        effects.extend(
            proposal_cards(
                ms,
                mentee,
                mentor,
                p.breakdown(),
                expires_at=expires,
                mentor_fields=mentor_fields,
            )
        )
    if new_rows:
        # On the table (Core): the ORM's bulk path would add its own work per row.
        await uow.session.execute(insert(cast(Table, Mentorship.__table__)), new_rows)
    if reopened:
        await uow.session.execute(update(Mentorship), reopened)
    await uow.outbox.add_many(community_id, effects)


matching_round = Planned(read=read_pool, compute=solve, write=write_proposals)
