"""Compatibility scores (F4): one mentee against many mentors, or given pairs.

A score is a weighted sum of five factors, each 0-1, scaled to 0-100:

- expertise: the share of the mentee's goals that the mentor's expertise serves
  (through the goal -> expertise map in the settings);
- timezone: how much of the mentee's local daytime (08:00-21:00 by default) is also the
  mentor's daytime, over the coming weeks on a 15-minute grid, so that daylight-saving
  changes on different dates in the two zones count;
- language: whether they share a language;
- capacity: the mentor's free places and monthly hours;
- style: the mentee's preferred style ("any" fits all).

Everything is computed on numpy arrays so that scoring one mentee against 10,000 mentors,
or 10,000 mentees against 2,000 mentors, is a handful of array operations. The matching
round that assigns many mentees at once lives in :mod:`core.assignment`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from core.defaults import GOAL_EXPERTISE

# numpy and scipy are imported by the functions that compute, so that loading the
# catalog (every command, the console, ``--help``) does not pay for them.
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

FACTORS = ("expertise", "timezone", "language", "capacity", "style")
SLOT_MINUTES = 15
UNKNOWN_ZONE_OVERLAP = 0.5  # neither good nor bad when someone has not set a timezone


@dataclass(frozen=True)
class MatchingSettings:
    weights: Mapping[str, float] = field(
        default_factory=lambda: {
            "expertise": 0.35,
            "timezone": 0.20,
            "language": 0.20,
            "capacity": 0.15,
            "style": 0.10,
        }
    )
    day_start_hour: int = 8
    day_end_hour: int = 21
    horizon_days: int = 28
    # Monthly hours at which availability counts in full.
    full_availability_hours: int = 20
    # Pairs below this score are never proposed by a round.
    min_score: float = 40.0
    suggestions: int = 5
    # The round's solver sees each mentee's best mentors and each mentor's best mentees
    # (per free place); more is slower and rarely better (see bench/matching.py).
    candidates_per_mentee: int = 25
    candidates_per_place: int = 5
    goal_expertise: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: GOAL_EXPERTISE)


@dataclass(frozen=True)
class MentorFacts:
    id: str
    expertise: tuple[str, ...]
    languages: tuple[str, ...]
    timezone: str | None
    style: str
    capacity_left: int
    max_mentees: int
    availability: int


@dataclass(frozen=True)
class MenteeFacts:
    id: str
    goals: tuple[str, ...]
    languages: tuple[str, ...]
    timezone: str | None
    style: str


@dataclass(frozen=True)
class Breakdown:
    """A score and the five factors (0-1) behind it."""

    score: float
    factors: dict[str, float]

    def reasons(self, mentee: MenteeFacts, mentor: MentorFacts) -> list[str]:
        """'Why this match', one line per factor, in plain words."""
        f = self.factors
        covered = round(f["expertise"] * len(mentee.goals))
        shared = sorted(set(mentee.languages) & set(mentor.languages))
        return [
            f"Expertise {f['expertise']:.0%}: "
            + (
                f"covers {covered} of your {len(mentee.goals)} goals "
                f"({', '.join(mentor.expertise)})"
                if covered
                else "does not cover your goals"
            ),
            f"Timezone {f['timezone']:.0%}: "
            + (
                "shared daytime hours over the coming weeks"
                if mentee.timezone and mentor.timezone
                else "one of you has no timezone set"
            ),
            f"Language {f['language']:.0%}: "
            + (f"you both speak {', '.join(shared)}" if shared else "no shared language"),
            f"Capacity {f['capacity']:.0%}: {mentor.capacity_left} place(s) free, "
            f"{mentor.availability} h/month",
            f"Style {f['style']:.0%}: mentor prefers {mentor.style}",
        ]


# ----- timezone overlap ------------------------------------------------------------------


def horizon_start(now: datetime) -> date:
    return now.astimezone(UTC).date()


@lru_cache(maxsize=4096)
def _daytime_mask(
    zone: str, start: date, days: int, first: int, last: int
) -> npt.NDArray[np.bool_]:
    """15-minute UTC slots over [start, start+days) that are local daytime in ``zone``."""
    import numpy as np

    slots_per_day = 24 * 60 // SLOT_MINUTES
    mask = np.zeros(days * slots_per_day, dtype=bool)
    origin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    tz = ZoneInfo(zone)
    for offset in range(-1, days + 1):
        local_day = start + timedelta(days=offset)
        begin = datetime(local_day.year, local_day.month, local_day.day, first, tzinfo=tz)
        end = datetime(local_day.year, local_day.month, local_day.day, last, tzinfo=tz)
        lo = int((begin.astimezone(UTC) - origin).total_seconds() // 60 // SLOT_MINUTES)
        hi = int((end.astimezone(UTC) - origin).total_seconds() // 60 // SLOT_MINUTES)
        mask[max(lo, 0) : max(min(hi, mask.size), 0)] = True
    return mask


@lru_cache(maxsize=65536)
def timezone_overlap(
    mentee_zone: str | None,
    mentor_zone: str | None,
    start: date,
    days: int = 28,
    first: int = 8,
    last: int = 21,
) -> float:
    """Share of the mentee's daytime slots that are also the mentor's daytime (0-1)."""
    if not mentee_zone or not mentor_zone:
        return UNKNOWN_ZONE_OVERLAP
    mine = _daytime_mask(mentee_zone, start, days, first, last)
    theirs = _daytime_mask(mentor_zone, start, days, first, last)
    total = int(mine.sum())
    return float((mine & theirs).sum()) / total if total else 0.0


# ----- vectorised scoring ----------------------------------------------------------------


@dataclass
class ScoreTable:
    """Scores (mentees x mentors, 0-100) and the small parts the factors are made of.

    Only ``total`` is a full matrix; a pair's factors are rebuilt on demand, which keeps a
    10,000 x 2,000 round to one matrix of memory.
    """

    total: FloatArray
    expertise: FloatArray
    language: FloatArray
    zone_table: FloatArray
    zone_rows: npt.NDArray[np.intp]
    zone_cols: npt.NDArray[np.intp]
    capacity: FloatArray
    style_fit: npt.NDArray[np.bool_]

    def factors(self, i: int, j: int) -> dict[str, float]:
        return {
            "expertise": float(self.expertise[i, j]),
            "timezone": float(self.zone_table[self.zone_rows[i], self.zone_cols[j]]),
            "language": float(self.language[i, j]),
            "capacity": float(self.capacity[j]),
            "style": float(self.style_fit[i, j]),
        }

    def breakdown(self, i: int, j: int) -> Breakdown:
        factors = {name: round(value, 3) for name, value in self.factors(i, j).items()}
        return Breakdown(round(float(self.total[i, j]), 1), factors)


def incidence(rows: Sequence[Sequence[str]], vocabulary: dict[str, int]) -> FloatArray:
    import numpy as np

    out = np.zeros((len(rows), max(len(vocabulary), 1)))
    for i, items in enumerate(rows):
        for item in items:
            if item in vocabulary:
                out[i, vocabulary[item]] = 1.0
    return out


def _vocabulary(*groups: Sequence[Sequence[str]]) -> dict[str, int]:
    return {
        x: k for k, x in enumerate(sorted({x for group in groups for row in group for x in row}))
    }


@dataclass
class MentorIndex:
    """The mentor side of scoring, as arrays, built once and reused for every mentee.

    Mentors are kept in id order, so a position is also the tie-breaker. ``owners`` are
    the mentors' member ids, so callers can leave someone out (a mentee who is also a
    mentor is never their own match).
    """

    facts: list[MentorFacts]
    owners: list[str]
    expertise_vocab: dict[str, int]
    expertise: FloatArray
    language_vocab: dict[str, int]
    languages: FloatArray
    zones: list[str]
    zone_cols: npt.NDArray[np.intp]
    capacity_left: FloatArray
    capacity: FloatArray
    style_vocab: dict[str, int]
    style: npt.NDArray[np.intp]

    by_owner: dict[str, list[int]]

    def positions_of(self, owner: str) -> list[int]:
        return self.by_owner.get(owner, [])

    @classmethod
    def build(
        cls,
        facts: Sequence[MentorFacts],
        owners: Sequence[str] | None = None,
        *,
        full_availability_hours: int = 20,
    ) -> MentorIndex:
        import numpy as np

        pairs = sorted(
            zip(facts, owners if owners is not None else [f.id for f in facts], strict=True),
            key=lambda pair: pair[0].id,
        )
        facts = [f for f, _ in pairs]
        owner_list = [o for _, o in pairs]
        by_owner: dict[str, list[int]] = {}
        for k, owner in enumerate(owner_list):
            by_owner.setdefault(owner, []).append(k)
        expertise_vocab = _vocabulary([f.expertise for f in facts])
        language_vocab = _vocabulary([f.languages for f in facts])
        zones = sorted({f.timezone or "" for f in facts})
        zone_of = {z: k for k, z in enumerate(zones)}
        style_vocab = _vocabulary([(f.style,) for f in facts])
        left, capacity = _capacity(facts, full_availability_hours)
        return cls(
            facts=facts,
            owners=owner_list,
            expertise_vocab=expertise_vocab,
            expertise=incidence([f.expertise for f in facts], expertise_vocab),
            language_vocab=language_vocab,
            languages=incidence([f.languages for f in facts], language_vocab),
            zones=zones,
            zone_cols=np.array([zone_of[f.timezone or ""] for f in facts], dtype=np.intp),
            capacity_left=left,
            capacity=capacity,
            style_vocab=style_vocab,
            style=np.array([style_vocab[f.style] for f in facts], dtype=np.intp),
            by_owner=by_owner,
        )

    def with_changed(
        self, changed: Mapping[int, MentorFacts], *, full_availability_hours: int = 20
    ) -> MentorIndex | None:
        """A copy in which the mentors at these positions (same ids) have new facts.

        Only the changed rows are recomputed, so a few changes cost little however many
        mentors there are. None when a change needs an expertise, language, style or zone
        the index has no column for: then build a new index.
        """
        zone_of = {z: k for k, z in enumerate(self.zones)}
        for f in changed.values():
            if (
                any(x not in self.expertise_vocab for x in f.expertise)
                or any(x not in self.language_vocab for x in f.languages)
                or f.style not in self.style_vocab
                or (f.timezone or "") not in zone_of
            ):
                return None
        facts = list(self.facts)
        expertise, languages = self.expertise.copy(), self.languages.copy()
        zone_cols, style = self.zone_cols.copy(), self.style.copy()
        capacity_left, capacity = self.capacity_left.copy(), self.capacity.copy()
        rows = sorted(changed)
        left, score = _capacity([changed[k] for k in rows], full_availability_hours)
        for n, k in enumerate(rows):
            f = changed[k]
            if facts[k].id != f.id:
                raise ValueError(f"position {k} holds mentor {facts[k].id}, not {f.id}")
            facts[k] = f
            expertise[k] = 0.0
            expertise[k, [self.expertise_vocab[x] for x in f.expertise]] = 1.0
            languages[k] = 0.0
            languages[k, [self.language_vocab[x] for x in f.languages]] = 1.0
            zone_cols[k] = zone_of[f.timezone or ""]
            style[k] = self.style_vocab[f.style]
            capacity_left[k], capacity[k] = left[n], score[n]
        return replace(
            self,
            facts=facts,
            expertise=expertise,
            languages=languages,
            zone_cols=zone_cols,
            capacity_left=capacity_left,
            capacity=capacity,
            style=style,
        )


def _capacity(
    facts: Sequence[MentorFacts], full_availability_hours: int
) -> tuple[FloatArray, FloatArray]:
    """Free places per mentor, and the capacity factor (free share and monthly hours)."""
    import numpy as np

    left = np.array([max(f.capacity_left, 0) for f in facts], dtype=float)
    most = np.array([max(f.max_mentees, 1) for f in facts], dtype=float)
    hours = np.array([f.availability for f in facts], dtype=float)
    capacity = np.where(
        left > 0,
        0.5 * (left / most) + 0.5 * np.minimum(hours / full_availability_hours, 1.0),
        0.0,
    )
    return left, capacity


def goal_needs(
    mentees: Sequence[MenteeFacts], index: MentorIndex, settings: MatchingSettings
) -> tuple[FloatArray, FloatArray]:
    """Each mentee's share of each goal (rows sum to 1) and what each goal needs
    (goals x expertise, 0/1)."""
    import numpy as np

    goal_index = _vocabulary([mt.goals for mt in mentees])
    goal_rows = incidence([mt.goals for mt in mentees], goal_index)
    per_goal = goal_rows.sum(axis=1, keepdims=True)
    goal_share = np.divide(goal_rows, per_goal, out=np.zeros_like(goal_rows), where=per_goal > 0)
    needs = np.zeros((goal_rows.shape[1], index.expertise.shape[1]))
    for goal, g in goal_index.items():
        for need in settings.goal_expertise.get(goal, ()):
            if need in index.expertise_vocab:
                needs[g, index.expertise_vocab[need]] = 1.0
    return goal_share, needs


def zone_overlaps(
    mentees: Sequence[MenteeFacts], index: MentorIndex, settings: MatchingSettings, start: date
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Daytime overlap per pair of distinct zones (mentee zones x mentor zones), and each
    mentee's row in that table: one overlap computed per zone pair, not per person pair."""
    import numpy as np

    mentee_zones = sorted({mt.timezone or "" for mt in mentees})
    zone_table = np.array(
        [
            [
                timezone_overlap(
                    a or None,
                    b or None,
                    start,
                    settings.horizon_days,
                    settings.day_start_hour,
                    settings.day_end_hour,
                )
                for b in index.zones
            ]
            for a in mentee_zones
        ]
    ).reshape(len(mentee_zones), len(index.zones))
    a_index = {z: k for k, z in enumerate(mentee_zones)}
    zone_rows = np.array([a_index[mt.timezone or ""] for mt in mentees], dtype=np.intp)
    return zone_table, zone_rows


def score_table(
    mentees: Sequence[MenteeFacts],
    mentors: Sequence[MentorFacts] | MentorIndex,
    settings: MatchingSettings,
    start: date,
) -> ScoreTable:
    import numpy as np

    index = (
        mentors
        if isinstance(mentors, MentorIndex)
        else MentorIndex.build(mentors, full_availability_hours=settings.full_availability_hours)
    )
    n, m = len(mentees), len(index.facts)

    # Expertise: goal shares (mentees x goals, rows sum to 1) @ served (goals x mentors).
    goal_share, needs = goal_needs(mentees, index, settings)
    served = np.minimum(needs @ index.expertise.T, 1.0)  # goals x mentors, 0/1
    expertise = goal_share @ served

    # Language: 1 when they share any language.
    language = np.minimum(
        incidence([mt.languages for mt in mentees], index.language_vocab) @ index.languages.T,
        1.0,
    )

    # Timezone: one overlap per pair of distinct zones, gathered per pair when needed.
    zone_table, zone_rows = zone_overlaps(mentees, index, settings, start)
    zone_cols = index.zone_cols
    capacity = index.capacity

    # Style: "any" fits everything; otherwise it must be the same (compared as small ints).
    wants_any = np.array([mt.style == "any" for mt in mentees], dtype=bool)[:, None]
    wanted = np.array([index.style_vocab.get(mt.style, -1) for mt in mentees], dtype=np.intp)
    style_fit = wants_any | (wanted[:, None] == index.style[None, :])

    w = {name: float(settings.weights.get(name, 0.0)) for name in FACTORS}
    scale = 100.0 / (sum(w.values()) or 1.0)
    # Accumulated in place: a 10,000 x 2,000 round holds one score matrix, not six.
    total = expertise * (w["expertise"] * scale)
    total += language * (w["language"] * scale)
    if n and m:
        total += zone_table[zone_rows][:, zone_cols] * (w["timezone"] * scale)
    total += capacity[None, :] * (w["capacity"] * scale)
    total += style_fit * (w["style"] * scale)
    return ScoreTable(
        total, expertise, language, zone_table, zone_rows, zone_cols, capacity, style_fit
    )


def rank(
    mentee: MenteeFacts,
    mentors: Sequence[MentorFacts] | MentorIndex,
    settings: MatchingSettings,
    start: date,
    limit: int,
    *,
    exclude_owners: frozenset[str] = frozenset(),
) -> list[tuple[MentorFacts, Breakdown]]:
    """The best ``limit`` mentors with a free place for one mentee, best first.

    Ties go to the lower mentor id. Mentors whose owner is in ``exclude_owners`` are left
    out (the mentee themself, a mentor who just declined).
    """
    import numpy as np

    index = (
        mentors
        if isinstance(mentors, MentorIndex)
        else MentorIndex.build(mentors, full_availability_hours=settings.full_availability_hours)
    )
    if not index.facts:
        return []
    table = score_table([mentee], index, settings, start)
    usable = index.capacity_left > 0
    for owner in exclude_owners:
        usable[index.positions_of(owner)] = False
    candidates = np.nonzero(usable)[0]
    if candidates.size == 0:
        return []
    scores = table.total[0, candidates]
    if limit < candidates.size:
        # Only the best ``limit`` are sorted: those scoring at least the limit-th best
        # score (ties at that score included, so the order below stays exact).
        cutoff = np.partition(scores, candidates.size - limit)[candidates.size - limit]
        best = scores >= cutoff
        candidates, scores = candidates[best], scores[best]
    # Positions follow mentor ids, so sorting by (-score, position) breaks ties by id.
    order = candidates[np.lexsort((candidates, -scores))[:limit]]
    return [(index.facts[j], table.breakdown(0, int(j))) for j in order]


def pair_parts(
    mentees: Sequence[MenteeFacts],
    index: MentorIndex,
    settings: MatchingSettings,
    start: date,
    rows: npt.NDArray[np.intp],
    cols: npt.NDArray[np.intp],
) -> dict[str, FloatArray]:
    """The five factors of the given pairs only (mentee position, mentor position)."""
    import numpy as np

    goal_share, needs = goal_needs(mentees, index, settings)
    served = np.minimum(index.expertise @ needs.T, 1.0)  # mentors x goals, 0/1
    mentee_langs = incidence([mt.languages for mt in mentees], index.language_vocab)
    zone_table, zone_rows = zone_overlaps(mentees, index, settings, start)
    wants_any = np.array([mt.style == "any" for mt in mentees], dtype=bool)
    wanted = np.array([index.style_vocab.get(mt.style, -1) for mt in mentees], dtype=np.intp)
    return {
        "expertise": np.einsum("pg,pg->p", goal_share[rows], served[cols]),
        "timezone": zone_table[zone_rows[rows], index.zone_cols[cols]],
        "language": np.minimum(
            np.einsum("pl,pl->p", mentee_langs[rows], index.languages[cols]), 1.0
        ),
        "capacity": index.capacity[cols],
        "style": (wants_any[rows] | (wanted[rows] == index.style[cols])).astype(float),
    }


def pair_scores(
    mentees: Sequence[MenteeFacts],
    index: MentorIndex,
    settings: MatchingSettings,
    start: date,
    rows: npt.NDArray[np.intp],
    cols: npt.NDArray[np.intp],
) -> FloatArray:
    """The same scores as :func:`score_table`, for the given pairs only."""
    import numpy as np

    parts = pair_parts(mentees, index, settings, start, rows, cols)
    w = {name: float(settings.weights.get(name, 0.0)) for name in FACTORS}
    scale = 100.0 / (sum(w.values()) or 1.0)
    total = np.zeros(len(rows))
    for name in FACTORS:
        total += parts[name] * (w[name] * scale)
    return total
