"""Issue 8 item 11: a matching round plans without writing, then writes all or nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import assignment, matching
from core.actions import action_id
from core.clock import FakeClock
from core.models import AuditEntry, Delivery, Member, Mentee, Mentorship, ProcessedEvent
from core.service import Mentorbot
from core.usecases import rounds
from tests.core.test_connections import approved_mentor, inv, mentee
from tests.helpers import count, snapshot

OWNER = inv("owner", admin=True)


@pytest.fixture
def bot(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> Mentorbot:
    return Mentorbot(factory, clock)


async def _mentee_id(factory: async_sessionmaker[AsyncSession], user: str) -> str:
    async with factory() as session:
        return (
            await session.execute(
                select(Mentee.id)
                .join(Member, Member.id == Mentee.user_id)
                .where(Member.platform_user_id == user)
            )
        ).scalar_one()


async def _open_of(factory: async_sessionmaker[AsyncSession], user: str) -> list[Mentorship]:
    mentee_id = await _mentee_id(factory, user)
    async with factory() as session:
        rows = await session.execute(
            select(Mentorship).where(
                Mentorship.mentee_id == mentee_id,
                Mentorship.status.in_(("pending", "active", "paused")),
            )
        )
        return list(rows.scalars())


async def _two_mentors_two_mentees(bot: Mentorbot) -> list[str]:
    mentors = [await approved_mentor(bot, "alice"), await approved_mentor(bot, "bruno")]
    await mentee(bot, "dave")
    await mentee(bot, "erin")
    return mentors


async def test_a_mentee_who_asks_while_the_solver_runs_gets_no_second_open_mentorship(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    await _two_mentors_two_mentees(bot)
    dave = await _mentee_id(factory, "dave")

    async def solver_meanwhile_dave_asks(
        pool: assignment.PackedPool, settings: matching.MatchingSettings, start: date
    ) -> assignment.Solution:
        solution = pool.solve(settings, start)
        planned = {
            pool.mentee_ids[i]: pool.mentor_ids[j]
            for i, j in zip(solution.mentees, solution.mentors, strict=True)
        }
        # No transaction of the round is open now: dave asks the mentor not planned for him.
        other = next(m for m in pool.mentor_ids if m != planned[dave])
        await bot.submit(inv("dave"), action_id("request", other), {"note": ""})
        return solution

    monkeypatch.setattr(assignment, "solve_off_loop", solver_meanwhile_dave_asks)

    done = await bot.execute(OWNER, "admin match-round", {})

    assert done is not None
    assert done.message is not None
    assert "Proposed 1 pair(s) to 2 waiting mentee(s)" in done.message.text
    assert "1 planned pair(s) were left out" in done.message.text
    [own_request] = await _open_of(factory, "dave")
    assert own_request.origin == "request"
    [proposal] = await _open_of(factory, "erin")
    assert proposal.origin == "round"


async def test_a_failure_while_writing_leaves_nothing_and_the_redelivery_runs_the_round(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    await _two_mentors_two_mentees(bot)
    solved = 0
    real_solve = assignment.solve_off_loop

    async def counting_solver(*args: Any) -> assignment.Solution:
        nonlocal solved
        solved += 1
        return await real_solve(*args)

    monkeypatch.setattr(assignment, "solve_off_loop", counting_solver)
    real_write_chunk = rounds.write_chunk
    calls = 0

    async def crash_on_the_second_step(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the database went away")
        return await real_write_chunk(*args)

    monkeypatch.setattr(rounds, "WRITE_CHUNK", 1)  # one pair per step
    monkeypatch.setattr(rounds, "write_chunk", crash_on_the_second_step)
    before = await snapshot(factory)

    with pytest.raises(RuntimeError):
        await bot.execute(OWNER, "admin match-round", {}, dedupe_key="evt-round")

    assert await snapshot(factory) == before  # no proposal, no dedupe row, no audit entry
    monkeypatch.setattr(rounds, "write_chunk", real_write_chunk)

    redelivered = await bot.execute(OWNER, "admin match-round", {}, dedupe_key="evt-round")

    assert redelivered is not None
    assert redelivered.message is not None
    assert "Proposed 2 pair(s) to 2 waiting mentee(s)" in redelivered.message.text
    assert await count(factory, Mentorship, status="pending", origin="round") == 2
    assert await count(factory, AuditEntry, action="matching.round") == 1
    assert await count(factory, ProcessedEvent) == 1
    assert solved == 2
    after = await snapshot(factory)

    # Once written, a further redelivery does nothing and does not even solve again.
    assert await bot.execute(OWNER, "admin match-round", {}, dedupe_key="evt-round") is None
    assert await snapshot(factory) == after
    assert solved == 2


async def test_planning_writes_nothing_even_for_a_first_time_admin(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    await _two_mentors_two_mentees(bot)
    newcomer = inv("nadia", admin=True)  # no member row yet
    seen: list[dict[str, list[tuple[Any, ...]]]] = []
    real_solve = assignment.solve_off_loop

    async def look_while_solving(*args: Any) -> assignment.Solution:
        seen.append(await snapshot(factory))
        return await real_solve(*args)

    monkeypatch.setattr(assignment, "solve_off_loop", look_while_solving)
    before = await snapshot(factory)

    await bot.execute(newcomer, "admin match-round", {}, dedupe_key="evt-nadia")

    assert seen == [before]
    assert await count(factory, Mentorship, origin="round") == 2


async def test_a_mentor_who_also_seeks_a_mentor_is_proposed_someone_else(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    # alice mentors and also waits as a mentee; she would be her own best match (bruno
    # shares no language with her), so the round must find her bruno instead.
    await approved_mentor(bot, "alice")
    bruno = await approved_mentor(bot, "bruno", languages="fr", timezone="Asia/Tokyo")
    await mentee(bot, "alice")

    done = await bot.execute(OWNER, "admin match-round", {})

    assert done is not None
    assert done.message is not None
    assert "Proposed 1 pair(s) to 1 waiting mentee(s)" in done.message.text
    [proposal] = await _open_of(factory, "alice")
    assert proposal.mentor_id == bruno


async def test_a_profile_edited_while_the_solver_runs_is_proposed_as_edited(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool's card columns are read with the pool; a row changed before the write is
    # read again in the write's transaction, so cards and the request hold what is true now.
    await _two_mentors_two_mentees(bot)
    solve = assignment.solve_off_loop

    async def solver_meanwhile_dave_edits(*args: Any) -> assignment.Solution:
        solution = await solve(*args)
        await bot.execute(
            inv("dave"),
            "mentee profile",
            {"goals": "build_budget", "timezone": "Europe/Madrid", "languages": "en"},
        )
        return solution

    monkeypatch.setattr(assignment, "solve_off_loop", solver_meanwhile_dave_edits)

    done = await bot.execute(OWNER, "admin match-round", {})

    assert done is not None
    assert done.message is not None
    assert "Proposed 2 pair(s)" in done.message.text
    [proposal] = await _open_of(factory, "dave")
    assert proposal.goals == ["build_budget"]
    async with factory() as session:
        card = (
            await session.execute(
                select(Delivery.payload).where(
                    Delivery.idempotency_key == f"proposal:{proposal.id}:1:mentor"
                )
            )
        ).scalar_one()
    assert "budget" in str(card).lower()
