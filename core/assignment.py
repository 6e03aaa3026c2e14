"""The matching round (F4): many waiting mentees assigned at once, near the optimum.

The round maximises the total compatibility score (:mod:`core.matching`) under every
mentor's remaining capacity exactly, as a min-cost flow (OR-Tools) over the candidate
pairs of :mod:`core.candidates`. It runs in a worker process so the event loop stays
free; the pool goes there pickled in parts and the solution comes back as arrays.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_context
from typing import TYPE_CHECKING

from core.candidates import Candidates, candidate_pairs
from core.matching import (
    FACTORS,
    Breakdown,
    MatchingSettings,
    MenteeFacts,
    MentorFacts,
    MentorIndex,
    pair_parts,
    pair_scores,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Proposal:
    mentee_id: str
    mentor_id: str
    score: float
    # The five factors (0-1, rounded), so the proposal's card needs no scoring of its own.
    factors: Mapping[str, float] = field(default_factory=dict, compare=False)

    def breakdown(self) -> Breakdown:
        return Breakdown(self.score, dict(self.factors))


# Scores are whole thousandths for the flow solver, which works in integers.
COST_SCALE = 1000


def best_flow(found: Candidates, n: int, capacity: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Which candidate pairs the best assignment uses: a min-cost flow (OR-Tools).

    Each mentee sends one unit either through one candidate pair to its mentor and on to
    the sink (at most ``capacity[j]`` through mentor j), at minus the pair's score, or
    straight to the sink at no cost ("stays unassigned"). The network has one arc per
    candidate pair, so it grows with mentees x candidates; capacities are arc capacities,
    not copies of each mentor.
    """
    import numpy as np
    from ortools.graph.python import min_cost_flow

    m = len(capacity)
    if not len(found.rows):
        return np.zeros(0, dtype=bool)
    pairs, sink = len(found.rows), n + m
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.concatenate([found.rows, np.arange(n), n + np.arange(m)]).astype(np.int32),
        np.concatenate([n + found.cols, np.full(n + m, sink)]).astype(np.int32),
        np.concatenate([np.ones(pairs + n, dtype=np.int64), capacity]),
        np.concatenate(
            [
                -np.rint(found.scores.astype(np.float64) * COST_SCALE).astype(np.int64),
                np.zeros(n + m, dtype=np.int64),
            ]
        ),
    )
    supplies = np.zeros(n + m + 1, dtype=np.int64)
    supplies[:n], supplies[sink] = 1, -n
    flow.set_nodes_supplies(np.arange(n + m + 1, dtype=np.int32), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"the round's flow problem was not solved: {status}")
    used: npt.NDArray[np.bool_] = np.asarray(flow.flows(np.arange(pairs, dtype=np.int32))) > 0
    return used


@dataclass(frozen=True)
class Solution:
    """A round's chosen pairs as arrays (cheap to send back from the worker process), in
    the order they should be written: best score first, then mentee id."""

    mentees: npt.NDArray[np.int32]  # positions in the mentee list the solver was given
    mentors: npt.NDArray[np.int32]  # positions in the mentor list
    scores: npt.NDArray[np.float64]  # rounded to 0.1
    factors: npt.NDArray[np.float64]  # pairs x FACTORS, rounded to 0.001

    def __len__(self) -> int:
        return len(self.mentees)

    def proposal(self, p: int, mentee_ids: Sequence[str], mentor_ids: Sequence[str]) -> Proposal:
        return Proposal(
            mentee_ids[int(self.mentees[p])],
            mentor_ids[int(self.mentors[p])],
            float(self.scores[p]),
            dict(zip(FACTORS, self.factors[p].tolist(), strict=True)),
        )


def solve(
    mentees: Sequence[MenteeFacts],
    mentors: Sequence[MentorFacts],
    settings: MatchingSettings,
    start: date,
    *,
    mentee_owners: Sequence[str] = (),
    mentor_owners: Sequence[str] = (),
) -> Solution:
    """A round: the assignment with the highest total score under mentor capacity.

    No mentor gets more mentees than ``capacity_left``; no pair below ``min_score`` is
    proposed; a mentee may stay unassigned; a mentee and a mentor with the same owner (one
    member on both sides) are never paired. The result depends only on the input, not on
    its order: positions refer to the lists as given, the work is done in id order.
    """
    import numpy as np

    mentee_order = sorted(range(len(mentees)), key=lambda i: mentees[i].id)
    mentor_order = sorted(
        (j for j in range(len(mentors)) if mentors[j].capacity_left > 0),
        key=lambda j: mentors[j].id,
    )
    if not mentee_order or not mentor_order:
        return Solution(
            np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0), np.zeros((0, len(FACTORS)))
        )
    by_id = [mentees[i] for i in mentee_order]
    index = MentorIndex.build(
        [mentors[j] for j in mentor_order],
        full_availability_hours=settings.full_availability_hours,
    )
    excluded = _same_owner(
        [mentee_owners[i] for i in mentee_order] if mentee_owners else [],
        [mentor_owners[j] for j in mentor_order] if mentor_owners else [],
    )
    found = candidate_pairs(by_id, index, settings, start, excluded)
    chosen = best_flow(found, len(by_id), index.capacity_left.astype(np.int64))
    rows, cols = found.rows[chosen], found.cols[chosen]
    del found
    parts = pair_parts(by_id, index, settings, start, rows, cols)
    factors = np.asarray(
        np.round(np.column_stack([parts[name] for name in FACTORS]), 3), dtype=np.float64
    )
    scores = np.round(pair_scores(by_id, index, settings, start, rows, cols), 1)
    # Best first, ties by mentee id (rows follow ids).
    order = np.lexsort((rows, -scores))
    return Solution(
        np.asarray(mentee_order, dtype=np.int32)[rows[order]],
        np.asarray(mentor_order, dtype=np.int32)[cols[order]],
        scores[order],
        factors[order],
    )


def _same_owner(
    mentee_owners: Sequence[str], mentor_owners: Sequence[str]
) -> npt.NDArray[np.int64]:
    """Cells (``mentee * mentors + mentor``, sorted) whose two sides are one member."""
    import numpy as np

    where = {owner: j for j, owner in enumerate(mentor_owners)}
    m = len(mentor_owners)
    cells = [i * m + where[o] for i, o in enumerate(mentee_owners) if o in where]
    return np.array(sorted(cells), dtype=np.int64)


def assign(
    mentees: Sequence[MenteeFacts],
    mentors: Sequence[MentorFacts],
    settings: MatchingSettings,
    start: date,
) -> list[Proposal]:
    """:func:`solve` as proposals, sorted by mentee id."""
    solution = solve(mentees, mentors, settings, start)
    mentee_ids, mentor_ids = [m.id for m in mentees], [m.id for m in mentors]
    proposals = [solution.proposal(p, mentee_ids, mentor_ids) for p in range(len(solution))]
    return sorted(proposals, key=lambda p: p.mentee_id)


@dataclass
class PackedPool:
    """A round's pool as the worker process receives it.

    Pickled a part (a few thousand people) at a time while it is read, so handing 50,000
    mentees to the worker is a copy of a few bytes objects: pickling them all at once
    would hold the GIL, and so the event loop, for a large fraction of a second.
    """

    mentee_ids: list[str] = field(default_factory=list)
    mentor_ids: list[str] = field(default_factory=list)
    mentee_parts: list[bytes] = field(default_factory=list)
    mentor_parts: list[bytes] = field(default_factory=list)

    def add_mentees(self, facts: list[MenteeFacts], owners: list[str]) -> None:
        self.mentee_ids.extend(f.id for f in facts)
        self.mentee_parts.append(pickle.dumps((facts, owners), protocol=pickle.HIGHEST_PROTOCOL))

    def add_mentors(self, facts: list[MentorFacts], owners: list[str]) -> None:
        self.mentor_ids.extend(f.id for f in facts)
        self.mentor_parts.append(pickle.dumps((facts, owners), protocol=pickle.HIGHEST_PROTOCOL))

    def solve(self, settings: MatchingSettings, start: date) -> Solution:
        """:func:`solve` on the unpacked pool (in the worker)."""
        mentees: list[MenteeFacts] = []
        mentors: list[MentorFacts] = []
        mentee_owners: list[str] = []
        mentor_owners: list[str] = []
        for part in self.mentee_parts:
            facts, owners = pickle.loads(part)
            mentees.extend(facts)
            mentee_owners.extend(owners)
        for part in self.mentor_parts:
            facts, owners = pickle.loads(part)
            mentors.extend(facts)
            mentor_owners.extend(owners)
        return solve(
            mentees,
            mentors,
            settings,
            start,
            mentee_owners=mentee_owners,
            mentor_owners=mentor_owners,
        )


def _solve_packed(parts: PackedPool, settings: MatchingSettings, start: date) -> Solution:
    return parts.solve(settings, start)


_WORKER: ProcessPoolExecutor | None = None


def _worker() -> ProcessPoolExecutor:
    global _WORKER
    if _WORKER is None:
        # forkserver: never fork the bot's own (threaded) process.
        _WORKER = ProcessPoolExecutor(max_workers=1, mp_context=get_context("forkserver"))
    return _WORKER


async def solve_off_loop(pool: PackedPool, settings: MatchingSettings, start: date) -> Solution:
    """:func:`solve` in a worker process.

    Scoring and the flow solver hold the GIL for seconds on a large round; in a thread
    that would freeze every other member's interaction meanwhile. The worker is started
    on first use and kept for the life of the process. Only bytes and arrays cross
    between the processes (the ids stay here), so neither side pauses to (un)pickle.
    """
    # The ids stay here: the worker needs only the pickled parts.
    parts = PackedPool(mentee_parts=pool.mentee_parts, mentor_parts=pool.mentor_parts)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_worker(), _solve_packed, parts, settings, start)
