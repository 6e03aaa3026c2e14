"""A matching round's candidate pairs (F4): the pairs its solver may use, found without a
matrix of the whole round.

Mentees are scored against every mentor a block at a time (float32, one matrix product
per block); each mentee keeps its best mentors and each mentor its best mentees per free
place, so memory grows with mentees x candidates, not mentees x mentors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from core.matching import (
    FACTORS,
    MatchingSettings,
    MenteeFacts,
    MentorIndex,
    goal_needs,
    incidence,
    zone_overlaps,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


# Scores of one block of mentees against every mentor are held at once: about this many
# cells (float32), so a block is some tens of MB however large the round is.
BLOCK_CELLS = 4_000_000
# Exact ties are broken by a fixed pseudo-random amount below this, so that tied mentees
# do not all name the same mentors. It only orders candidates: the solver uses exact scores.
TIE_BREAK = 1e-3
# Pairs whose scores are recomputed exactly at once (a few float32 arrays this long).
PAIR_CHUNK = 200_000


def _hash16(positions: npt.NDArray[np.intp], salt: int) -> npt.NDArray[np.uint16]:
    """A fixed pseudo-random 16-bit value per position (splitmix64's finaliser)."""
    import numpy as np

    with np.errstate(over="ignore"):
        h = (positions.astype(np.uint64) + np.uint64(salt)) * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(29)
    return (h >> np.uint64(48)).astype(np.uint16)


@dataclass
class BlockScorer:
    """Every mentee's score against every mentor, a block of mentees at a time (float32).

    Four of the five factors are linear in a few features of each side (goal shares and
    what each goal needs, the daytime overlap with each mentor zone, the style that fits,
    a constant for capacity), so a block's scores are one matrix product; language ("any
    shared language") is a second, small one. A block's tie-breaker is
    ``frac(a_mentee + b_mentor)`` (16-bit, wrapping): for one mentee it orders tied mentors
    by a rotation of one fixed order, a different rotation per mentee, and the same pair
    always gets the same value, whatever the blocks.
    """

    mentee_side: npt.NDArray[np.float32]  # mentees x features
    mentor_side: npt.NDArray[np.float32]  # features x mentors
    mentee_languages: npt.NDArray[np.float32]  # mentees x languages
    mentor_languages: npt.NDArray[np.float32]  # languages x mentors
    language_weight: np.float32
    mentee_tie: npt.NDArray[np.uint16]
    mentor_tie: npt.NDArray[np.uint16]

    @classmethod
    def build(
        cls,
        mentees: Sequence[MenteeFacts],
        index: MentorIndex,
        settings: MatchingSettings,
        start: date,
    ) -> BlockScorer:
        import numpy as np

        n, m = len(mentees), len(index.facts)
        w = {name: float(settings.weights.get(name, 0.0)) for name in FACTORS}
        scale = 100.0 / (sum(w.values()) or 1.0)
        goal_share, needs = goal_needs(mentees, index, settings)
        served = np.minimum(needs @ index.expertise.T, 1.0)  # goals x mentors
        zone_table, zone_rows = zone_overlaps(mentees, index, settings, start)
        zone_of_mentor = np.zeros((len(index.zones), m))
        zone_of_mentor[index.zone_cols, np.arange(m)] = 1.0
        styles = len(index.style_vocab)
        style_of_mentor = np.zeros((styles, m))
        style_of_mentor[index.style, np.arange(m)] = 1.0
        fits = np.zeros((n, styles))
        for i, mt in enumerate(mentees):
            if mt.style == "any":
                fits[i] = 1.0
            elif mt.style in index.style_vocab:
                fits[i, index.style_vocab[mt.style]] = 1.0
        mentee_side = np.hstack(
            [
                goal_share * (w["expertise"] * scale),
                zone_table[zone_rows] * (w["timezone"] * scale),
                fits * (w["style"] * scale),
                np.full((n, 1), w["capacity"] * scale),
            ]
        )
        mentor_side = np.vstack([served, zone_of_mentor, style_of_mentor, index.capacity[None, :]])
        languages = incidence([mt.languages for mt in mentees], index.language_vocab)
        return cls(
            mentee_side=np.ascontiguousarray(mentee_side, dtype=np.float32),
            mentor_side=np.ascontiguousarray(mentor_side, dtype=np.float32),
            mentee_languages=languages.astype(np.float32),
            mentor_languages=np.ascontiguousarray(index.languages.T, dtype=np.float32),
            language_weight=np.float32(w["language"] * scale),
            mentee_tie=_hash16(np.arange(n), 1),
            mentor_tie=_hash16(np.arange(m), 2),
        )

    def block(self, lo: int, hi: int, *, tie_break: float = 0.0) -> npt.NDArray[np.float32]:
        """Scores of mentees ``lo:hi`` against every mentor, plus the tie-breaker."""
        import numpy as np

        scores = self.mentee_side[lo:hi] @ self.mentor_side
        shared = self.mentee_languages[lo:hi] @ self.mentor_languages
        np.minimum(shared, 1.0, out=shared)
        shared *= self.language_weight
        scores += shared
        if tie_break:
            # uint16 addition wraps around: frac(a + b) in 1/65536 steps.
            tie = np.add(self.mentee_tie[lo:hi, None], self.mentor_tie[None, :], dtype=np.uint16)
            shared[...] = tie
            shared *= np.float32(tie_break / 65536)
            scores += shared
        return scores

    def pairs(
        self, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.float32]:
        """The same scores (without the tie-breaker) for the given pairs only."""
        import numpy as np

        out = np.empty(len(rows), dtype=np.float32)
        for lo in range(0, len(rows), PAIR_CHUNK):
            r, c = rows[lo : lo + PAIR_CHUNK], cols[lo : lo + PAIR_CHUNK]
            linear = np.einsum("pf,fp->p", self.mentee_side[r], self.mentor_side[:, c])
            shared = np.einsum("pl,lp->p", self.mentee_languages[r], self.mentor_languages[:, c])
            out[lo : lo + PAIR_CHUNK] = linear + np.minimum(shared, 1.0) * self.language_weight
        return out


@dataclass
class Candidates:
    """The (mentee, mentor) pairs a round may use, with their scores (float32)."""

    rows: npt.NDArray[np.intp]
    cols: npt.NDArray[np.intp]
    scores: npt.NDArray[np.float32]


class _MentorsBest:
    """Each mentor's best ``wanted[j]`` mentees seen so far, merged in block by block.

    A cell enters only when it beats the mentor's current last place, so after the first
    blocks only a few cells per block are looked at again. Ties keep the earlier mentee,
    so the result does not depend on the block size.
    """

    def __init__(self, wanted: npt.NDArray[np.int64]) -> None:
        import numpy as np

        m = len(wanted)
        self.wanted = wanted
        self.width = int(wanted.max()) if m else 0
        self.values = np.full((m, self.width), -np.inf, dtype=np.float32)  # best first
        self.rows = np.zeros((m, self.width), dtype=np.intp)
        self.threshold = np.where(wanted > 0, -np.inf, np.inf).astype(np.float32)

    def merge(self, lo: int, scores: npt.NDArray[np.float32]) -> None:
        import numpy as np

        better = scores > self.threshold[None, :]
        if (
            np.count_nonzero(better) > 2 * self.width * len(self.wanted)
            and len(scores) > self.width
        ):
            # Early blocks: most cells beat an empty list. Only the block's own best (and
            # cells tied with its last) can enter, so look at those alone.
            last = len(scores) - self.width
            own_best = np.partition(np.ascontiguousarray(scores.T), last, axis=1)[:, last]
            better &= scores >= own_best[None, :]
        rows, cols = np.nonzero(better)
        del better
        if not rows.size:
            return
        values = scores[rows, cols]
        order = np.argsort(cols, kind="stable")  # by mentor, earlier mentees first
        rows, cols, values = rows[order] + lo, cols[order], values[order]
        touched, starts, counts = np.unique(cols, return_index=True, return_counts=True)
        group = np.repeat(np.arange(len(touched)), counts)
        place = self.width + np.arange(len(cols)) - np.repeat(starts, counts)
        pool_values = np.full((len(touched), self.width + int(counts.max())), -np.inf, np.float32)
        pool_rows = np.zeros(pool_values.shape, dtype=np.intp)
        pool_values[:, : self.width] = self.values[touched]
        pool_rows[:, : self.width] = self.rows[touched]
        pool_values[group, place] = values
        pool_rows[group, place] = rows
        top = np.argsort(-pool_values, axis=1, kind="stable")[:, : self.width]
        self.values[touched] = np.take_along_axis(pool_values, top, axis=1)
        self.rows[touched] = np.take_along_axis(pool_rows, top, axis=1)
        place_of_last = self.wanted[touched] - 1
        self.threshold[touched] = np.where(
            place_of_last >= 0, self.values[touched, np.maximum(place_of_last, 0)], np.inf
        )

    def pairs(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        import numpy as np

        keep = (np.arange(self.width)[None, :] < self.wanted[:, None]) & (self.values > -np.inf)
        cols, places = np.nonzero(keep)
        return self.rows[cols, places], cols.astype(np.intp)


def candidate_pairs(
    mentees: Sequence[MenteeFacts],
    index: MentorIndex,
    settings: MatchingSettings,
    start: date,
    excluded: npt.NDArray[np.int64] | None = None,
) -> Candidates:
    """The pairs the round may use, at or above the minimum score.

    Each mentee's best ``candidates_per_mentee`` mentors, plus each mentor's best mentees
    (``candidates_per_place`` for each free place), so that neither a popular mentor nor
    a spare place is out of the solver's reach. Mentees are scored a block at a time and
    only these pairs are kept: memory grows with mentees x candidates, not mentees x
    mentors. ``excluded`` cells (``mentee * mentors + mentor``, sorted) are never used.
    """
    import numpy as np

    n, m = len(mentees), len(index.facts)
    if excluded is None:
        excluded = np.zeros(0, dtype=np.int64)
    k = min(settings.candidates_per_mentee, m)
    wanted = np.minimum(index.capacity_left.astype(np.int64) * settings.candidates_per_place, n)
    scorer = BlockScorer.build(mentees, index, settings, start)
    best = _MentorsBest(wanted)
    kept_rows, kept_cols = [], []
    block = max(1, BLOCK_CELLS // max(m, 1))
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        keyed = scorer.block(lo, hi, tie_break=TIE_BREAK)
        here = excluded[np.searchsorted(excluded, lo * m) : np.searchsorted(excluded, hi * m)]
        keyed[here // m - lo, here % m] = -np.inf
        if k < m:
            mine = np.argpartition(keyed, m - k, axis=1)[:, m - k :]
        else:
            mine = np.broadcast_to(np.arange(m), keyed.shape)
        kept_rows.append(np.repeat(np.arange(lo, hi, dtype=np.intp), mine.shape[1]))
        kept_cols.append(mine.reshape(-1).astype(np.intp))
        if best.width:
            best.merge(lo, keyed)
        del keyed
    place_rows, place_cols = best.pairs()
    kept_rows.append(place_rows)
    kept_cols.append(place_cols)
    if not n or not m:
        empty = np.zeros(0, dtype=np.intp)
        return Candidates(empty, empty, np.zeros(0, dtype=np.float32))
    cells = np.concatenate(kept_rows).astype(np.int64) * m + np.concatenate(kept_cols)
    cells.sort()
    cells = cells[np.concatenate([[True], cells[1:] != cells[:-1]])]
    cells = cells[~np.isin(cells, excluded, assume_unique=True)]
    rows, cols = (cells // m).astype(np.intp), (cells % m).astype(np.intp)
    del cells
    scores = scorer.pairs(rows, cols)
    usable = scores >= settings.min_score
    return Candidates(rows[usable], cols[usable], scores[usable])
