"""F4: the admin matching round: many waiting mentees matched at once, near the optimum.

A round is a planned command (``catalog.Planned``): it reads the pool in a transaction
that is rolled back, solves the assignment off the event loop with no transaction open
(seconds, on a large pool), then writes the proposals in one transaction of its own. The
write re-checks who is still free as of then, so a mentee who sent a request or a mentor
who filled a place while the solver ran is left out, and nothing is ever half-written.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar, TypeVarTuple, cast

from sqlalchemy import Row, Select, select, update

from core import assignment, cards, matching, queue
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
    sides: Sides
    read_at: datetime


@dataclass(frozen=True)
class Plan:
    solution: assignment.Solution
    mentee_ids: list[str]
    mentor_ids: list[str]
    min_score: float
    sides: Sides

    @property
    def waiting(self) -> int:
        return len(self.mentee_ids)


# Rows read per step and pairs written per step: between steps the event loop serves
# other members. Each step is a few statements and under ~10 ms of Python work on the
# loop (a step's cards are built, and their payloads dumped, on a thread). A read step
# turns its rows' JSON columns into facts and sides on the loop: 1,000 rows a step held
# it for 20-30 ms on the 2-core machine under load.
READ_PART = 250
WRITE_CHUNK = 100


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
    sides = Sides()
    # Plain columns, not ORM objects, a part at a time: each part is turned into facts
    # (pickled for the worker) and into the sides its cards show, before the next is read.
    # The write re-reads a side only if its row changed meanwhile (see ``_still_free``).
    mentee_rows = _waiting_mentees(community_id).with_only_columns(
        *_side_columns(MenteeSide, Mentee), Mentee.user_id, Mentee.updated_at
    )
    async for part in _parts(uow, mentee_rows):
        mentees = [MenteeSide(*row[:-2]) for row in part]
        packed.add_mentees(
            [
                matching.MenteeFacts(
                    m.id, tuple(m.goals), tuple(m.languages), m.timezone, m.preferred_style
                )
                for m in mentees
            ],
            [row[-2] for row in part],
        )
        sides.add_mentees(mentees, [_stamp(row[-1]) for row in part])
    mentor_rows = _accepting_mentors(community_id).with_only_columns(
        *_side_columns(MentorSide, Mentor), Mentor.user_id, Mentor.updated_at
    )
    async for mentor_part in _parts(uow, mentor_rows):
        mentors = [MentorSide(*row[:-2]) for row in mentor_part]
        packed.add_mentors(
            [
                matching.MentorFacts(
                    m.id,
                    tuple(m.expertise),
                    tuple(m.languages),
                    m.timezone,
                    m.preferred_style,
                    max(m.max_mentees - m.current_mentees, 0),
                    m.max_mentees,
                    m.availability,
                )
                for m in mentors
            ],
            [row[-2] for row in mentor_part],
        )
        sides.add_mentors(mentors, [_stamp(row[-1]) for row in mentor_part])
    settings = uow.settings.matching
    if cmd.min_score is not None:
        settings = replace(settings, min_score=float(cmd.min_score))
    now = uow.now()
    return Pool(packed, settings, matching.horizon_start(now), sides, now)


async def solve(pool: Pool) -> Plan:
    # Scoring and solving take seconds on a large pool: in a worker process, off the loop.
    # A member who is both mentor and mentee is never their own match (the solver knows
    # each side's member). Meanwhile this process lays out the mentors' profile fields.
    solving = asyncio.ensure_future(
        assignment.solve_off_loop(pool.packed, pool.settings, pool.start)
    )
    try:
        await asyncio.to_thread(pool.sides.lay_out_mentors, pool.read_at)
        solution = await solving
    finally:
        solving.cancel()  # only if this step failed before the solution came
    return Plan(
        solution,
        pool.packed.mentee_ids,
        pool.packed.mentor_ids,
        pool.settings.min_score,
        pool.sides,
    )


async def write_proposals(
    uow: UnitOfWork, actor: Actor, cmd: RunMatchingRound, plan: Plan
) -> Reply:
    actor.require_admin("run a matching round")
    community_id = actor.community.id
    chosen, reopen, changed = await _still_free(uow, community_id, plan)
    sides = plan.sides
    await sides.reread(uow, *changed)
    solution = plan.solution
    for at in range(0, len(chosen), WRITE_CHUNK):
        # Proposals are made a step at a time and dropped after it: nothing per pair
        # outlives its step.
        step = [
            (solution.proposal(p, plan.mentee_ids, plan.mentor_ids), reopen.get(p))
            for p in chosen[at : at + WRITE_CHUNK]
        ]
        await write_chunk(uow, actor, step, sides)
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
) -> tuple[list[int], dict[int, Earlier], tuple[set[str], set[str]]]:
    """The planned pairs that can still be proposed as of now, best first (positions in
    the plan's solution), the earlier mentorship of those that reopen one, and the
    mentees and mentors whose rows changed since the pool was read (their sides are read
    again).

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
    sides = plan.sides
    waiting = _waiting_mentees(community_id)
    mentees: set[str] = set()
    changed_mentees: set[str] = set()
    async for seeking in _parts(uow, waiting.with_only_columns(Mentee.id, Mentee.updated_at)):
        for id_, stamp in seeking:
            mentees.add(id_)
            if sides.mentee_stamps.get(id_) != _stamp(stamp):
                changed_mentees.add(id_)
    places: dict[str, int] = {}
    changed_mentors: set[str] = set()
    free = _accepting_mentors(community_id).with_only_columns(
        Mentor.id, Mentor.max_mentees, Mentor.current_mentees, Mentor.updated_at
    )
    async for free_part in _parts(uow, free):
        for id_, most, now, stamp in free_part:
            places[id_] = most - now
            if sides.mentor_stamps.get(id_) != _stamp(stamp):
                changed_mentors.add(id_)
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
    proposed_mentees = {plan.mentee_ids[int(solution.mentees[p])] for p in chosen}
    proposed_mentors = {plan.mentor_ids[int(solution.mentors[p])] for p in chosen}
    return chosen, reopen, (changed_mentees & proposed_mentees, changed_mentors & proposed_mentors)


def _stamp(value: Any) -> datetime | None:
    """An ``updated_at`` as read, comparable between reads (SQLite gives naive UTC)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


# A side or a mentor's fields kept for the whole round as a plain tuple of strings,
# numbers and tuples: the garbage collector stops tracking such tuples, so tens of
# thousands of them add nothing to its full passes over the heap (which hold the loop).
Kept = tuple[Any, ...]


def _keep(side: MenteeSide | MentorSide) -> Kept:
    return tuple(tuple(v) if isinstance(v, list) else v for v in vars(side).values())


def _unkeep(kept: Kept) -> list[Any]:
    return [list(v) if isinstance(v, tuple) else v for v in kept]


@dataclass
class Sides:
    """The pool's mentees and mentors as their cards show them, read with the pool as
    plain columns, with each row's ``updated_at`` then; each mentor's profile fields are
    laid out once per round, while the worker solves."""

    _mentees: dict[str, Kept] = field(default_factory=dict)
    _mentors: dict[str, Kept] = field(default_factory=dict)
    mentee_stamps: dict[str, datetime | None] = field(default_factory=dict)
    mentor_stamps: dict[str, datetime | None] = field(default_factory=dict)
    _fields: dict[str, Kept] = field(default_factory=dict)

    def add_mentees(self, mentees: list[MenteeSide], stamps: list[datetime | None]) -> None:
        for mentee, stamp in zip(mentees, stamps, strict=True):
            self._mentees[mentee.id] = _keep(mentee)
            self.mentee_stamps[mentee.id] = stamp

    def add_mentors(self, mentors: list[MentorSide], stamps: list[datetime | None]) -> None:
        for mentor, stamp in zip(mentors, stamps, strict=True):
            self._mentors[mentor.id] = _keep(mentor)
            self.mentor_stamps[mentor.id] = stamp

    def mentee(self, mentee_id: str) -> MenteeSide:
        return MenteeSide(*_unkeep(self._mentees[mentee_id]))

    def mentor(self, mentor_id: str) -> MentorSide:
        return MentorSide(*_unkeep(self._mentors[mentor_id]))

    def mentor_fields(self, mentor_id: str) -> tuple[Field, ...]:
        return tuple(Field(*f) for f in self._fields[mentor_id])

    def _lay_out(self, mentor: MentorSide, now: datetime) -> None:
        laid_out = cards.mentor_fields(mentor, now)
        self._fields[mentor.id] = tuple((f.name, f.value, f.inline) for f in laid_out)

    def lay_out_mentors(self, now: datetime) -> None:
        """Every mentor's profile fields (on a thread: the first also loads the language
        names, tens of milliseconds)."""
        for mentor_id in list(self._mentors):
            self._lay_out(self.mentor(mentor_id), now)

    async def reread(self, uow: UnitOfWork, mentee_ids: set[str], mentor_ids: set[str]) -> None:
        """Read these mentees' and mentors' sides again (their rows changed since the
        pool was read), a part at a time."""
        now = uow.now()
        mentees, mentors = sorted(mentee_ids), sorted(mentor_ids)
        for lo in range(0, len(mentees), READ_PART):
            part = set(mentees[lo : lo + READ_PART])
            for mentee in await _read_sides(uow, MenteeSide, Mentee, part):
                self._mentees[mentee.id] = _keep(mentee)
        for lo in range(0, len(mentors), READ_PART):
            part = set(mentors[lo : lo + READ_PART])
            for mentor in await _read_sides(uow, MentorSide, Mentor, part):
                self._mentors[mentor.id] = _keep(mentor)
                self._lay_out(mentor, now)


Side = TypeVar("Side", MenteeSide, MentorSide)


def _side_columns(side: type[Side], model: type[Mentee] | type[Mentor]) -> list[Any]:
    """The columns a side's fields name, from its own table or else from its member."""
    return [getattr(model if hasattr(model, f.name) else Member, f.name) for f in fields(side)]


async def _read_sides(
    uow: UnitOfWork, side: type[Side], model: type[Mentee] | type[Mentor], ids: set[str]
) -> list[Side]:
    """These mentees' or mentors' sides."""
    rows = await uow.session.execute(
        select(*_side_columns(side, model))
        .join(Member, Member.id == model.user_id)
        .where(model.id.in_(ids))
    )
    return [side(*cast(tuple[Any, ...], r)) for r in rows]


async def write_chunk(
    uow: UnitOfWork,
    actor: Actor,
    chosen: list[tuple[assignment.Proposal, Earlier | None]],
    sides: Sides,
) -> None:
    """Open these pairs' mentorships and queue both sides' cards: a few statements.

    The cards are built on a thread (a step's Python work would otherwise hold the event
    loop for tens of milliseconds); the new mentorships go in as one multi-row insert on
    the driver, like the queue's rows."""
    community_id, now = actor.community.id, uow.now()
    expires = now + timedelta(days=uow.settings.request_expiry_days)
    new_rows, reopened, effects = await asyncio.to_thread(
        _chunk, chosen, sides, now, expires, new_ids(sum(before is None for _, before in chosen))
    )
    if new_rows:
        q = await queue.connect(uow.session)
        at = q.time(now)
        no = q.flag(False)
        await q.executemany(
            _insert_mentorships(q), [(*row[:1], community_id, *row[1:], at, no) for row in new_rows]
        )
    if reopened:
        await uow.session.execute(update(Mentorship), reopened)
    await uow.outbox.add_many(community_id, effects)


def _chunk(
    chosen: list[tuple[assignment.Proposal, Earlier | None]],
    sides: Sides,
    now: datetime,
    expires: datetime,
    fresh_ids: list[str],
) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]], list[tuple[Effect, str]]]:
    """A step's rows and cards: new mentorships as (id, mentor, mentee, score, goals as
    JSON) tuples, reopened ones as update dicts, and both sides' cards."""
    new_rows: list[tuple[Any, ...]] = []
    reopened: list[dict[str, Any]] = []
    effects: list[tuple[Effect, str]] = []
    fresh = iter(fresh_ids)
    for p, before in chosen:
        mentee, mentor = sides.mentee(p.mentee_id), sides.mentor(p.mentor_id)
        if before is None:
            ms = NewRequest(next(fresh), 1, now)
            new_rows.append((ms.id, mentor.id, mentee.id, p.score, json.dumps(mentee.goals)))
        else:
            # What a reopened request holds; open_request does the same one at a time.
            ms = NewRequest(before.id, before.request_version + 1, now)
            reopened.append(
                {
                    "id": ms.id,
                    "request_version": ms.request_version,
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
            )
        effects.extend(
            proposal_cards(
                ms,
                mentee,
                mentor,
                p.breakdown(),
                expires_at=expires,
                mentor_fields=sides.mentor_fields(mentor.id),
            )
        )
    return new_rows, reopened, effects


def _insert_mentorships(q: queue.QueueConnection) -> str:
    """New pending requests from a round; parameters: id, community id, mentor, mentee,
    score, goals (JSON text), now, false."""
    place = "$" if q.statements is queue.POSTGRESQL else "?"
    i, community, mentor, mentee, score, goals, now, no = (f"{place}{n}" for n in range(1, 9))
    return (
        "INSERT INTO mentorships (id, community_id, mentor_id, mentee_id, status, origin, "
        "mentee_accepted, mentor_accepted, match_score, goals, requested_at, start_date, "
        "created_at, updated_at, request_version) "
        f"VALUES ({i}, {community}, {mentor}, {mentee}, 'pending', 'round', {no}, {no}, "
        f"{score}, {goals}, {now}, {now}, {now}, {now}, 1)"
    )


matching_round = Planned(read=read_pool, compute=solve, write=write_proposals)
