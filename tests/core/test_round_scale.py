"""Issue 10 item 4: a round's solver keeps candidates per mentee, never a whole matrix."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete, event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import assignment, candidates, matching
from core.assignment import assign
from core.candidates import candidate_pairs
from core.clock import FakeClock
from core.matching import MatchingSettings, MentorIndex, score_table
from core.models import Delivery, Mentorship
from core.service import Mentorbot
from tests.core.test_connections import approved_mentor, inv, mentee
from tests.core.test_matching import EXPERTISE, GOALS, LANGS, START, ZONES, mentor
from tests.core.test_matching import mentee as mentee_facts
from tests.helpers import count


def _pool(n: int, m: int) -> tuple[list[matching.MenteeFacts], list[matching.MentorFacts]]:
    rng = np.random.default_rng(7)
    mentors = [
        mentor(
            i,
            expertise=tuple(rng.choice(EXPERTISE, size=rng.integers(1, 3), replace=False)),
            languages=tuple(rng.choice(LANGS, size=rng.integers(1, 3), replace=False)),
            timezone=ZONES[int(rng.integers(0, len(ZONES)))],
            capacity_left=int(rng.integers(1, 4)),
            max_mentees=3,
        )
        for i in range(m)
    ]
    mentees = [
        mentee_facts(
            i,
            goals=tuple(rng.choice(GOALS, size=rng.integers(1, 3), replace=False)),
            languages=tuple(rng.choice(LANGS, size=rng.integers(1, 3), replace=False)),
            timezone=ZONES[int(rng.integers(0, len(ZONES)))],
        )
        for i in range(n)
    ]
    return mentees, mentors


def test_candidates_are_the_same_whatever_the_block_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mentees, mentors = _pool(120, 30)
    s = MatchingSettings(candidates_per_mentee=4, candidates_per_place=2)
    index = MentorIndex.build(mentors)
    whole = candidate_pairs(mentees, index, s, START)
    monkeypatch.setattr(candidates, "BLOCK_CELLS", 7 * 30)  # blocks of 7 mentees
    blocked = candidate_pairs(mentees, index, s, START)
    assert np.array_equal(whole.rows, blocked.rows)
    assert np.array_equal(whole.cols, blocked.cols)
    assert whole.scores.dtype == np.float32
    # Bounded by candidates, not by mentees x mentors.
    places = sum(m.capacity_left for m in mentors)
    assert len(whole.rows) <= 120 * 4 + places * 2 < 120 * 30


def test_candidate_scores_are_the_full_tables_scores() -> None:
    mentees, mentors = _pool(40, 12)
    s = MatchingSettings()
    index = MentorIndex.build(mentors)
    found = candidate_pairs(mentees, index, s, START)
    table = score_table(mentees, index, s, START).total
    assert np.allclose(found.scores, table[found.rows, found.cols], atol=1e-3)
    # Each mentee's best mentor (when good enough) is among its candidates.
    best = table.argmax(axis=1)
    kept = set(zip(found.rows.tolist(), found.cols.tolist(), strict=True))
    for i, j in enumerate(best):
        if table[i, j] >= s.min_score:
            assert (i, int(j)) in kept


def test_a_proposal_carries_its_factors_as_the_score_table_has_them() -> None:
    mentees, mentors = _pool(30, 10)
    s = MatchingSettings()
    proposals = assign(mentees, mentors, s, START)
    assert proposals
    ids = [m.id for m in sorted(mentors, key=lambda m: m.id)]
    order = sorted(mentees, key=lambda m: m.id)
    table = score_table(order, sorted(mentors, key=lambda m: m.id), s, START)
    for p in proposals:
        i = [m.id for m in order].index(p.mentee_id)
        expected = table.breakdown(i, ids.index(p.mentor_id))
        assert p.breakdown().factors == pytest.approx(expected.factors, abs=1e-3)
        assert p.score == pytest.approx(expected.score, abs=0.11)


def test_a_member_on_both_sides_gets_another_mentor_not_themself() -> None:
    # Mentee 0 and mentor 0 are one member, and that mentor is mentee 0's best match.
    mentors = [
        mentor(0, expertise=("giving",), languages=("es",), capacity_left=1),
        mentor(1, expertise=("loans",), languages=("en",), capacity_left=1),
    ]
    mentees = [mentee_facts(0, goals=("learn_giving",), languages=("es",))]
    s = MatchingSettings(min_score=0)
    alone = assignment.solve(mentees, mentors, s, START)
    assert [int(j) for j in alone.mentors] == [0]
    both = assignment.solve(
        mentees, mentors, s, START, mentee_owners=["ana"], mentor_owners=["ana", "ben"]
    )
    assert [int(j) for j in both.mentors] == [1]


def test_a_packed_pool_solves_as_the_lists_do_whatever_their_order() -> None:
    mentees, mentors = _pool(90, 25)
    s = MatchingSettings()
    whole = assign(mentees, mentors, s, START)
    pool = assignment.PackedPool()
    shuffled = list(reversed(mentees))
    for lo in range(0, len(shuffled), 17):  # parts of any size
        part = shuffled[lo : lo + 17]
        pool.add_mentees(part, [f"member-{m.id}" for m in part])
    pool.add_mentors(mentors, [f"member-{m.id}" for m in mentors])
    solution = pool.solve(s, START)
    pairs = [solution.proposal(p, pool.mentee_ids, pool.mentor_ids) for p in range(len(solution))]
    assert sorted(pairs, key=lambda p: p.mentee_id) == whole
    # Best first, so a write that runs out of places keeps the best pairs.
    assert list(solution.scores) == sorted(solution.scores, reverse=True)
    per_mentor = np.bincount(solution.mentors, minlength=len(mentors))
    assert all(per_mentor[j] <= m.capacity_left for j, m in enumerate(mentors))


async def _round_statements(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, mentees: int
) -> tuple[int, int]:
    bot = Mentorbot(factory, clock)
    for name in ("alice", "bruno"):
        await approved_mentor(bot, name)
    for i in range(mentees):
        await mentee(bot, f"seeker{i}")
    engine = factory.kw["bind"].sync_engine
    statements = 0

    def counted(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", counted)
    try:
        reply = await bot.execute(inv("owner", admin=True), "admin match-round", {})
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    assert reply is not None
    assert reply.message is not None
    return statements, await count(factory, Delivery)


async def test_a_round_writes_its_proposals_in_bulk(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    # The same number of statements for one proposal as for four: no statement per pair.
    first, _ = await _round_statements(factory, clock, 1)
    async with factory() as session, session.begin():
        await session.execute(delete(Mentorship))
        await session.execute(delete(Delivery))
    more, queued = await _round_statements_again(factory, clock, 3)
    assert more == first
    assert queued == 2 * 4  # both sides' cards for every pair


async def _round_statements_again(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, extra: int
) -> tuple[int, int]:
    bot = Mentorbot(factory, clock)
    for i in range(extra):
        await mentee(bot, f"later{i}")
    engine = factory.kw["bind"].sync_engine
    statements = 0

    def counted(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", counted)
    try:
        await bot.execute(inv("owner", admin=True), "admin match-round", {})
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return statements, await count(factory, Delivery)
