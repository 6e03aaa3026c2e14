"""Compatibility scores and the matching round (F4)."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core.assignment import assign
from core.matching import (
    MatchingSettings,
    MenteeFacts,
    MentorFacts,
    rank,
    score_table,
    timezone_overlap,
)

ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", "Europe/Madrid", None]
EXPERTISE = ["giving", "loans", "community", "financial"]
GOALS = ["learn_giving", "build_budget", "understand_loans", "grow_community"]
LANGS = ["en", "es", "fr"]
START = date(2026, 3, 2)


def mentor(i: int, **kw: object) -> MentorFacts:
    base = {
        "id": f"m{i:03d}",
        "expertise": ("giving",),
        "languages": ("en",),
        "timezone": "Europe/London",
        "style": "async",
        "capacity_left": 2,
        "max_mentees": 2,
        "availability": 10,
    }
    return MentorFacts(**{**base, **kw})  # type: ignore[arg-type]


def mentee(i: int, **kw: object) -> MenteeFacts:
    base = {
        "id": f"e{i:03d}",
        "goals": ("learn_giving",),
        "languages": ("en",),
        "timezone": "Europe/London",
        "style": "any",
    }
    return MenteeFacts(**{**base, **kw})  # type: ignore[arg-type]


mentors_st = st.lists(
    st.builds(
        MentorFacts,
        id=st.just(""),
        expertise=st.lists(st.sampled_from(EXPERTISE), min_size=1, max_size=3, unique=True).map(
            tuple
        ),
        languages=st.lists(st.sampled_from(LANGS), min_size=1, max_size=2, unique=True).map(tuple),
        timezone=st.sampled_from(ZONES),
        style=st.sampled_from(["async", "scheduled", "casual"]),
        capacity_left=st.integers(0, 3),
        max_mentees=st.just(3),
        availability=st.integers(1, 40),
    ),
    min_size=1,
    max_size=6,
).map(lambda ms: [MentorFacts(**{**m.__dict__, "id": f"m{i}"}) for i, m in enumerate(ms)])
mentees_st = st.lists(
    st.builds(
        MenteeFacts,
        id=st.just(""),
        goals=st.lists(st.sampled_from(GOALS), min_size=1, max_size=3, unique=True).map(tuple),
        languages=st.lists(st.sampled_from(LANGS), min_size=1, max_size=2, unique=True).map(tuple),
        timezone=st.sampled_from(ZONES),
        style=st.sampled_from(["any", "async", "scheduled", "casual"]),
    ),
    min_size=1,
    max_size=8,
).map(lambda ms: [MenteeFacts(**{**m.__dict__, "id": f"e{i}"}) for i, m in enumerate(ms)])


def brute_force_best(
    mentees: list[MenteeFacts], mentors: list[MentorFacts], s: MatchingSettings
) -> float:
    """The best total over every capacity-respecting assignment (tiny instances only)."""
    mentees = sorted(mentees, key=lambda x: x.id)
    mentors = sorted(mentors, key=lambda x: x.id)
    scores = score_table(mentees, mentors, s, START).total
    choices = [None, *range(len(mentors))]
    best = 0.0
    for pick in itertools.product(choices, repeat=len(mentees)):
        used = Counter(j for j in pick if j is not None)
        if any(used[j] > mentors[j].capacity_left for j in used):
            continue
        total = 0.0
        for i, j in enumerate(pick):
            if j is None:
                continue
            if scores[i, j] < s.min_score:
                break
            total += scores[i, j]
        else:
            best = max(best, total)
    return best


@settings(max_examples=150, deadline=None)
@given(mentees=mentees_st, mentors=mentors_st)
def test_a_round_never_exceeds_capacity_or_proposes_a_weak_pair(
    mentees: list[MenteeFacts], mentors: list[MentorFacts]
) -> None:
    s = MatchingSettings()
    proposals = assign(mentees, mentors, s, START)
    per_mentor = Counter(p.mentor_id for p in proposals)
    capacity = {m.id: m.capacity_left for m in mentors}
    assert all(per_mentor[m] <= capacity[m] for m in per_mentor)
    assert len({p.mentee_id for p in proposals}) == len(proposals)  # one mentor per mentee
    assert all(p.score >= s.min_score for p in proposals)
    assert assign(list(reversed(mentees)), list(reversed(mentors)), s, START) == proposals


@settings(max_examples=60, deadline=None)
@given(
    mentees=mentees_st.filter(lambda ms: len(ms) <= 5),
    mentors=mentors_st.filter(lambda ms: len(ms) <= 4),
)
def test_the_round_total_equals_the_brute_force_optimum(
    mentees: list[MenteeFacts], mentors: list[MentorFacts]
) -> None:
    s = MatchingSettings()
    proposals = assign(mentees, mentors, s, START)
    best = brute_force_best(mentees, mentors, s)
    # Proposals carry scores rounded to 0.1.
    assert abs(sum(p.score for p in proposals) - best) <= 0.05 * len(mentees) + 1e-6


def test_the_round_is_deterministic_for_the_same_input() -> None:
    mentors = [mentor(i, capacity_left=1) for i in range(3)]  # exact ties everywhere
    mentees = [mentee(i) for i in range(5)]
    first = assign(mentees, mentors, MatchingSettings(), START)
    for _ in range(3):
        assert assign(mentees, mentors, MatchingSettings(), START) == first
    assert len(first) == 3


def test_each_factor_pulls_the_score_the_right_way() -> None:
    s = MatchingSettings()
    me = mentee(1, goals=("learn_giving", "understand_loans"), languages=("es",))
    good = mentor(1, expertise=("giving", "loans"), languages=("es", "en"))
    table = score_table([me], [good], s, START)
    assert table.breakdown(0, 0).factors["expertise"] == 1.0
    half = score_table([me], [mentor(2, expertise=("giving",))], s, START)
    assert half.breakdown(0, 0).factors["expertise"] == 0.5
    assert half.breakdown(0, 0).factors["language"] == 0.0
    picky = mentee(2, style="scheduled")
    assert score_table([picky], [good], s, START).breakdown(0, 0).factors["style"] == 0.0
    full = mentor(3, capacity_left=0)
    assert score_table([me], [full], s, START).breakdown(0, 0).factors["capacity"] == 0.0
    assert 0 <= table.total[0, 0] <= 100


def test_weights_are_settings() -> None:
    only_language = MatchingSettings(
        weights={"expertise": 0, "timezone": 0, "language": 1, "capacity": 0, "style": 0}
    )
    me = mentee(1, languages=("fr",))
    scores = score_table(
        [me], [mentor(1, languages=("fr",)), mentor(2, languages=("en",))], only_language, START
    ).total
    assert list(scores[0]) == [100.0, 0.0]


def test_suggestions_skip_full_mentors_and_rank_best_first() -> None:
    me = mentee(1, goals=("understand_loans",))
    mentors = [
        mentor(1, expertise=("giving",)),
        mentor(2, expertise=("loans",)),
        mentor(3, expertise=("loans",), capacity_left=0),
    ]
    ranked = rank(me, mentors, MatchingSettings(), START, limit=5)
    assert [m.id for m, _ in ranked] == ["m002", "m001"]
    assert ranked[0][1].score > ranked[1][1].score
    reasons = ranked[0][1].reasons(me, ranked[0][0])
    assert reasons[0].startswith("Expertise 100%")


def test_timezone_overlap_follows_daylight_saving_on_different_dates() -> None:
    # 2026: the US springs forward on 8 March, the UK on 29 March. In between New York is
    # only 4 hours behind London, so their daytimes overlap an hour more.
    before = timezone_overlap("Europe/London", "America/New_York", date(2026, 2, 23), days=7)
    between = timezone_overlap("Europe/London", "America/New_York", date(2026, 3, 16), days=7)
    after = timezone_overlap("Europe/London", "America/New_York", date(2026, 4, 6), days=7)
    window = 13 * 60  # 08:00-21:00
    assert round(before * window) == 8 * 60  # 13:00-21:00 London = 08:00-16:00 New York
    assert round(between * window) == 9 * 60
    assert round(after * window) == 8 * 60
    assert timezone_overlap("Europe/London", "Europe/London", START) == 1.0
    assert timezone_overlap("Asia/Tokyo", "America/New_York", START) < before


def test_a_larger_round_is_near_the_exact_optimum() -> None:
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(5)
    mentors = [
        mentor(
            i,
            expertise=tuple(rng.choice(EXPERTISE, size=rng.integers(1, 3), replace=False)),
            languages=tuple(rng.choice(LANGS, size=rng.integers(1, 3), replace=False)),
            timezone=str(rng.choice([z for z in ZONES if z])),
            capacity_left=3,
            max_mentees=3,
        )
        for i in range(40)
    ]
    mentees = [
        mentee(
            i,
            goals=tuple(rng.choice(GOALS, size=rng.integers(1, 3), replace=False)),
            languages=tuple(rng.choice(LANGS, size=rng.integers(1, 3), replace=False)),
            timezone=str(rng.choice([z for z in ZONES if z])),
        )
        for i in range(150)
    ]
    s = MatchingSettings()
    proposals = assign(mentees, mentors, s, START)
    scores = score_table(sorted(mentees, key=lambda x: x.id), mentors, s, START).total
    allowed = np.where(scores >= s.min_score, scores, 0.0)
    rows, cols = linear_sum_assignment(-np.repeat(allowed, 3, axis=1))
    optimum = allowed[rows, cols // 3].sum()
    assert sum(p.score for p in proposals) >= 0.995 * optimum
