"""The matching round (F4): many waiting mentees assigned at once, near the optimum.

The round maximises the total compatibility score (:mod:`core.matching`) under every
mentor's remaining capacity with scipy's sparse exact bipartite matching on
capacity-expanded slots. Only candidate pairs are kept (each mentee's best mentors and each
mentor's best mentees per place), scored a block of mentees at a time, so memory grows
with mentees x candidates, not mentees x mentors. It runs in a worker process so the event
loop stays free.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_context
from typing import TYPE_CHECKING

from core.matching import (
    FACTORS,
    Breakdown,
    MatchingSettings,
    MenteeFacts,
    MentorFacts,
    MentorIndex,
    pair_parts,
    pair_scores,
    score_table,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]


# Scores of one block of mentees against every mentor are held at once: about this many
# cells (float64), so a block is some tens of MB however large the round is.
BLOCK_CELLS = 2_000_000


def _tie_breaker(rows: npt.NDArray[np.intp], m: int) -> FloatArray:
    """A fixed pseudo-random value in [0, 1e-6) per (mentee, mentor) cell of a block.

    Exact ties are broken by it so that tied mentees do not all name the same mentors. It
    is a hash of the two positions, computed per block: the same pair always gets the
    same value and no matrix of the whole round is ever made.
    """
    import numpy as np

    i = rows.astype(np.uint64)[:, None]
    j = np.arange(m, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        h = i * np.uint64(0x9E3779B97F4A7C15) ^ (j + np.uint64(1)) * np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(29)
    return (h >> np.uint64(11)).astype(np.float64) * (1e-6 / 2.0**53)


@dataclass
class Candidates:
    """The (mentee, mentor) pairs a round may use, with their scores (float32)."""

    rows: npt.NDArray[np.intp]
    cols: npt.NDArray[np.intp]
    scores: npt.NDArray[np.float32]


def candidate_pairs(
    mentees: Sequence[MenteeFacts],
    index: MentorIndex,
    settings: MatchingSettings,
    start: date,
) -> Candidates:
    """The pairs the round may use, at or above the minimum score.

    Each mentee's best ``candidates_per_mentee`` mentors, plus each mentor's best mentees
    (``candidates_per_place`` for each free place), so that neither a popular mentor nor
    a spare place is out of the solver's reach. Mentees are scored a block at a time and
    only these pairs are kept: memory grows with mentees x candidates, not mentees x
    mentors.
    """
    import numpy as np

    n, m = len(mentees), len(index.facts)
    k = min(settings.candidates_per_mentee, m)
    per_mentor = np.minimum(index.capacity_left.astype(np.int64) * settings.candidates_per_place, n)
    width = int(per_mentor.max()) if m else 0
    # Each mentor's best ``width`` mentees so far: keyed score and mentee position.
    best_keyed = np.full((width, m), -np.inf)
    best_rows = np.zeros((width, m), dtype=np.intp)
    kept_rows, kept_cols = [], []
    block = max(1, BLOCK_CELLS // max(m, 1))
    for lo in range(0, n, block):
        rows = np.arange(lo, min(lo + block, n), dtype=np.intp)
        keyed = score_table(mentees[lo : lo + block], index, settings, start).total
        keyed += _tie_breaker(rows, m)
        if k < m:
            mine = np.argpartition(-keyed, k - 1, axis=1)[:, :k]
        else:
            mine = np.broadcast_to(np.arange(m), (len(rows), m))
        kept_rows.append(np.repeat(rows, mine.shape[1]))
        kept_cols.append(mine.reshape(-1))
        if width:
            pool = np.concatenate([best_keyed, keyed])
            pool_rows = np.concatenate([best_rows, np.broadcast_to(rows[:, None], keyed.shape)])
            top = np.argpartition(-pool, width - 1, axis=0)[:width]
            best_keyed = np.take_along_axis(pool, top, axis=0)
            best_rows = np.take_along_axis(pool_rows, top, axis=0)
    if width:
        # Every mentor keeps only as many as its own free places call for.
        order = np.argsort(-best_keyed, axis=0, kind="stable")
        ranked = np.take_along_axis(best_rows, order, axis=0)
        filled = np.take_along_axis(best_keyed, order, axis=0) > -np.inf
        wanted = (np.arange(width)[:, None] < per_mentor[None, :]) & filled
        place_rows, place_cols = np.nonzero(wanted)
        kept_rows.append(ranked[place_rows, place_cols])
        kept_cols.append(place_cols.astype(np.intp))
    if not kept_rows:
        empty = np.zeros(0, dtype=np.intp)
        return Candidates(empty, empty, np.zeros(0, dtype=np.float32))
    cells = np.unique(np.concatenate(kept_rows).astype(np.int64) * m + np.concatenate(kept_cols))
    rows, cols = (cells // m).astype(np.intp), (cells % m).astype(np.intp)
    scores = pair_scores(mentees, index, settings, start, rows, cols)
    usable = scores >= settings.min_score
    return Candidates(rows[usable], cols[usable], scores[usable].astype(np.float32))


@dataclass(frozen=True)
class Proposal:
    mentee_id: str
    mentor_id: str
    score: float
    # The five factors (0-1, rounded), so the proposal's card needs no scoring of its own.
    factors: Mapping[str, float] = field(default_factory=dict, compare=False)

    def breakdown(self) -> Breakdown:
        return Breakdown(self.score, dict(self.factors))


def assign(
    mentees: Sequence[MenteeFacts],
    mentors: Sequence[MentorFacts],
    settings: MatchingSettings,
    start: date,
) -> list[Proposal]:
    """A round: the assignment with the highest total score under mentor capacity.

    No mentor gets more mentees than ``capacity_left``; no pair below ``min_score`` is
    proposed; a mentee may stay unassigned. The result depends only on the input (it is
    sorted by id first), so the same pool always gives the same proposals.
    """
    import numpy as np
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    mentees = sorted(mentees, key=lambda x: x.id)
    mentors = sorted((mr for mr in mentors if mr.capacity_left > 0), key=lambda x: x.id)
    if not mentees or not mentors:
        return []
    index = MentorIndex.build(mentors, full_availability_hours=settings.full_availability_hours)
    n, m = len(mentees), len(mentors)
    found = candidate_pairs(mentees, index, settings, start)
    pair_rows, pair_mentors = found.rows, found.cols
    pair_cost = 101.0 - found.scores.astype(np.float64)

    # Capacity expansion: mentor j owns slots slot_start[j] .. slot_start[j] + capacity[j).
    capacity = np.array([mr.capacity_left for mr in mentors], dtype=np.int64)
    slot_start = np.concatenate([[0], np.cumsum(capacity)[:-1]])
    slots = int(capacity.sum())
    reps = capacity[pair_mentors]
    edge_rows = np.repeat(pair_rows, reps)
    first_edge = np.repeat(np.cumsum(reps) - reps, reps)
    edge_cols = np.repeat(slot_start[pair_mentors], reps) + (np.arange(reps.sum()) - first_edge)
    # The solver minimises positive costs: 101 - score is in (0, 101]. Every mentee also
    # has a private "stay unassigned" column costing as much as a score of 0.
    graph = csr_matrix(
        (
            np.concatenate([np.repeat(pair_cost, reps), np.full(n, 101.0)]),
            (
                np.concatenate([edge_rows, np.arange(n)]),
                np.concatenate([edge_cols, slots + np.arange(n)]),
            ),
        ),
        shape=(n, slots + n),
    )
    del edge_rows, edge_cols, first_edge
    matched_rows, matched_cols = min_weight_full_bipartite_matching(graph)
    del graph
    slot_owner = np.repeat(np.arange(m), capacity)
    taken = matched_cols < slots
    rows = np.asarray(matched_rows[taken], dtype=np.intp)
    cols = np.asarray(slot_owner[matched_cols[taken]], dtype=np.intp)
    parts = pair_parts(mentees, index, settings, start, rows, cols)
    scores = pair_scores(mentees, index, settings, start, rows, cols)
    proposals = [
        Proposal(
            mentees[int(i)].id,
            mentors[int(j)].id,
            round(float(scores[p]), 1),
            {name: round(float(parts[name][p]), 3) for name in FACTORS},
        )
        for p, (i, j) in enumerate(zip(rows, cols, strict=True))
    ]
    return sorted(proposals, key=lambda p: p.mentee_id)


_WORKER: ProcessPoolExecutor | None = None


def _worker() -> ProcessPoolExecutor:
    global _WORKER
    if _WORKER is None:
        # forkserver: never fork the bot's own (threaded) process.
        _WORKER = ProcessPoolExecutor(max_workers=1, mp_context=get_context("forkserver"))
    return _WORKER


async def assign_off_loop(
    mentees: Sequence[MenteeFacts],
    mentors: Sequence[MentorFacts],
    settings: MatchingSettings,
    start: date,
) -> list[Proposal]:
    """:func:`assign` in a worker process.

    scipy's bipartite matching holds the GIL for up to a second on a large round; in a
    thread that would freeze every other member's interaction meanwhile. The worker is
    started on first use and kept for the life of the process.
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        _worker(), assign, list(mentees), list(mentors), settings, start
    )
