"""Issue 10 item 6: command paths read a fixed number of statements, however many rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import db
from core.clock import FakeClock
from core.models import Community, Member, Mentee, Mentor, MentorMessage, Mentorship
from core.service import Mentorbot
from tests.core.test_connections import inv

GUILD = "counts"


async def _mentor_with(
    bot: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    n: int,
    guild: str = GUILD,
) -> list[str]:
    """Member "x" mentors ``n`` mentees in active mentorships; their mentorship ids."""
    community = await bot.join_community("console", guild, "Counts")
    now = clock.now()
    ids = []
    async with factory() as session, session.begin():
        c = await session.get(Community, community.id)
        assert c is not None
        c.is_set_up, c.admin_channel_id = True, "admins"
        x = Member(community_id=community.id, platform_user_id="x", display_name="x")
        session.add(x)
        await session.flush()
        mentor = Mentor(
            community_id=community.id,
            user_id=x.id,
            bio="b",
            availability=4,
            max_mentees=50,
            current_mentees=n,
            preferred_style="async",
            application_date=now,
            status="active",
        )
        session.add(mentor)
        await session.flush()
        for i in range(n):
            member = Member(
                community_id=community.id, platform_user_id=f"e{i}", display_name=f"e{i}"
            )
            session.add(member)
            await session.flush()
            mentee = Mentee(community_id=community.id, user_id=member.id)
            session.add(mentee)
            await session.flush()
            ms = Mentorship(
                community_id=community.id,
                mentor_id=mentor.id,
                mentee_id=mentee.id,
                status="active",
                requested_at=now,
                start_date=now + timedelta(minutes=i),
            )
            session.add(ms)
            await session.flush()
            ids.append(ms.id)
    return ids


async def _statements(
    factory: async_sessionmaker[AsyncSession], call: Callable[[], Awaitable[Any]]
) -> int:
    """Statements ``call`` sends, through the writer and the reader connections (SQLite's
    BEGIN, which the engine sends itself, not counted)."""
    writer = factory.kw["bind"]
    engines = {writer.sync_engine, db.reader_engine(writer).sync_engine}
    seen = 0

    def counted(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        nonlocal seen
        seen += not statement.startswith("BEGIN")

    for engine in engines:
        event.listen(engine, "before_cursor_execute", counted)
    try:
        await call()
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", counted)
    return seen


async def _counts(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, n: int, guild: str
) -> dict[str, int]:
    bot = Mentorbot(factory, clock)
    await _mentor_with(bot, factory, clock, n, guild)
    x = inv("x", guild=guild)
    # Warm the actor's member row and the community, so both runs count the same work.
    await bot.execute(x, "mentorship list", {})
    return {
        "list": await _statements(factory, lambda: bot.execute(x, "mentorship list", {})),
        "home": await _statements(factory, lambda: bot.home(x)),
        "chooser": await _statements(factory, lambda: bot.incoming_dm(x, "hello")),
    }


async def test_list_home_and_chooser_take_as_many_statements_for_20_as_for_2(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    few = await _counts(factory, clock, 2, "few")
    many = await _counts(factory, clock, 20, "many")
    assert many == few


async def test_history_reads_the_last_n_messages_in_order(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    bot = Mentorbot(factory, clock)
    [ms_id] = await _mentor_with(bot, factory, clock, 1)
    async with factory() as session, session.begin():
        ms = await session.get(Mentorship, ms_id)
        assert ms is not None
        mentor = await session.get(Mentor, ms.mentor_id)
        assert mentor is not None
        for i in range(30):
            session.add(
                MentorMessage(
                    community_id=ms.community_id,
                    mentorship_id=ms.id,
                    sender_id=mentor.user_id,
                    content=f"message {i:02d}",
                    created_at=clock.now() + timedelta(minutes=i),
                )
            )

    reply = await bot.execute(
        inv("x", guild=GUILD), "mentorship history", {"person": "e0", "limit": 5}
    )

    assert reply is not None
    assert reply.message is not None
    assert [f.value for f in reply.message.fields] == [f"message {i:02d}" for i in range(25, 30)]
    assert "The last 5 of 30 messages." in reply.message.text


async def test_a_dm_outside_any_community_finds_its_communities_in_one_statement(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """Discord DMs name no server: the sender's communities come from stored mentorships
    (active ones first choice), not from the platform's message history."""
    bot = Mentorbot(factory, clock)
    first_of_e0, _ = await _mentor_with(bot, factory, clock, 2, "first")
    [in_second] = await _mentor_with(bot, factory, clock, 1, "second")
    await bot.join_community("other-platform", "first", "Same id, other platform")

    found: list[str] = []

    async def look_up() -> None:
        found.extend(await bot.conversation_communities("console", "x"))

    assert await _statements(factory, look_up) == 1
    assert found == ["first", "second"]
    assert await bot.conversation_communities("console", "e1") == ["first"]
    assert await bot.conversation_communities("console", "e0") == ["first", "second"]
    assert await bot.conversation_communities("console", "nobody") == []
    assert await bot.conversation_communities("other-platform", "x") == []

    async with factory() as session, session.begin():
        ms = await session.get(Mentorship, in_second)
        assert ms is not None
        ms.status = "paused"
    # A paused mentorship is no place to pass a DM on to ...
    assert await bot.conversation_communities("console", "x") == ["first"]
    assert await bot.conversation_communities("console", "e0") == ["first"]
    # ... unless it is all there is: the DM goes there, and the core says where it stands.
    async with factory() as session, session.begin():
        ms = await session.get(Mentorship, first_of_e0)
        assert ms is not None
        ms.status = "paused"
    assert await bot.conversation_communities("console", "e0") == ["first", "second"]
