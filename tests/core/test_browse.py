"""Browse and suggest at scale: the page comes from the mentor listing, which is kept
fresh by reloading only the mentor rows that changed (issue 10, items 1 and 5)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, event, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import db
from core.clock import FakeClock
from core.context import Invocation
from core.ids import new_id
from core.matching import MentorFacts
from core.messages import Reply
from core.models import Member, Mentee, Mentor
from core.service import Mentorbot
from core.usecases import mentor_index
from core.usecases.mentor_index import Listed, MentorListing

GUILD = "g1"
SEEKER = Invocation("console", GUILD, "seeker", "Seeker")


async def _seed(
    factory: async_sessionmaker[AsyncSession], service: Mentorbot, mentors: int
) -> dict[str, str]:
    """``mentors`` active mentors, bulk-inserted with one shared ``updated_at`` (as an
    import would), and a mentee "seeker". Returns display name -> mentor id."""
    community = await service.join_community("console", GUILD, "Guild")
    stamp = datetime(2026, 11, 1, tzinfo=UTC)
    members = [
        {
            "id": new_id(),
            "community_id": community.id,
            "platform_user_id": f"u{i:03d}",
            "display_name": f"Mentor {i:03d}",
            "languages": ["en"],
            "created_at": stamp,
            "updated_at": stamp,
        }
        for i in range(mentors)
    ]
    rows = [
        {
            "id": new_id(),
            "community_id": community.id,
            "user_id": m["id"],
            "bio": "Helps with budgets.",
            "expertise": ["loans"] if i % 2 else ["giving"],
            "availability": 10,
            "max_mentees": 3,
            "current_mentees": i % 4 if i % 4 < 3 else 3,
            "preferred_style": "async",
            "languages": ["en", "es"] if i % 3 == 0 else ["en"],
            "timezone": "Europe/Madrid" if i % 2 else "Asia/Tokyo",
            "is_accepting": True,
            "application_date": stamp,
            "status": "active",
            "created_at": stamp,
            "updated_at": stamp,
        }
        for i, m in enumerate(members)
    ]
    async with factory() as session, session.begin():
        await session.execute(insert(Member), members)
        await session.execute(insert(Mentor), rows)
    await service.execute(SEEKER, "mentee profile", {"goals": "learn_giving", "languages": "en"})
    return {m["display_name"]: r["id"] for m, r in zip(members, rows, strict=True)}


def _names(reply: Reply | None) -> list[str]:
    assert reply is not None
    assert reply.message is not None
    return [f.name.split(" · ")[0] for f in reply.message.fields]


def _title(reply: Reply | None) -> str:
    assert reply is not None
    assert reply.message is not None
    return reply.message.title or ""


@pytest.fixture
def loaded_mentors() -> Iterator[list[str]]:
    """Ids of Mentor rows loaded as ORM objects while the test runs."""
    seen: list[str] = []

    def on_load(target: Mentor, _context: object) -> None:
        seen.append(target.id)

    event.listen(Mentor, "load", on_load)
    try:
        yield seen
    finally:
        event.remove(Mentor, "load", on_load)


async def test_browse_loads_only_the_rows_of_the_page(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, loaded_mentors: list[str]
) -> None:
    service = Mentorbot(factory, clock)
    await _seed(factory, service, 40)
    loaded_mentors.clear()
    reply = await service.execute(SEEKER, "mentor browse", {"has_capacity": "no"})
    assert _title(reply) == "Mentors (40 found, page 1 of 8)"
    assert len(_names(reply)) == 5
    assert len(set(loaded_mentors)) == 5  # the page's rows, not all 40


async def test_browse_orders_pages_and_clamps_to_the_last_page(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    service = Mentorbot(factory, clock)
    await _seed(factory, service, 12)
    # Free places: i % 4 == 3 is full; then 3, 2, 1 free for i % 4 == 0, 1, 2.
    expected = sorted(
        (i for i in range(12) if i % 4 != 3), key=lambda i: (i % 4, f"Mentor {i:03d}")
    )
    shown = []
    for page in (1, 2):
        reply = await service.execute(SEEKER, "mentor browse", {"page": page})
        shown += _names(reply)
    assert shown == [f"Mentor {i:03d}" for i in expected]
    last = await service.execute(SEEKER, "mentor browse", {"page": 99})
    assert _title(last) == "Mentors (9 found, page 2 of 2)"


@pytest.mark.parametrize(
    ("options", "count"),
    [
        ({"expertise": "loans", "has_capacity": "no"}, 10),
        ({"language": "es", "has_capacity": "no"}, 7),
        ({"style": "casual"}, 0),
        ({"expertise": "community"}, 0),  # offered, but no mentor has it
        ({"expertise": "loans", "language": "es", "has_capacity": "no"}, 3),
    ],
)
async def test_browse_filters_on_the_listing(
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    options: dict[str, object],
    count: int,
) -> None:
    service = Mentorbot(factory, clock)
    await _seed(factory, service, 20)
    reply = await service.execute(SEEKER, "mentor browse", options)
    if count:
        assert re.match(rf"Mentors \({count} found", _title(reply))
    else:
        assert _title(reply) == "No mentors match"


async def test_timezone_distance_filter_uses_the_seekers_zone(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    service = Mentorbot(factory, clock)
    await _seed(factory, service, 10)
    await service.execute(SEEKER, "mentee profile", {"timezone": "Europe/London"})
    near = await service.execute(
        SEEKER, "mentor browse", {"max_tz_distance": 2, "has_capacity": "no"}
    )
    # Madrid is an hour from London; Tokyo is eight or nine.
    assert _title(near) == "Mentors (5 found, page 1 of 1)"
    assert all(int(name[-3:]) % 2 for name in _names(near))


async def test_a_paused_mentor_leaves_browse_and_suggest_at_once(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    service = Mentorbot(factory, clock)
    ids = await _seed(factory, service, 3)
    before = await service.execute(SEEKER, "mentor browse", {"has_capacity": "no"})
    assert "Mentor 000" in _names(before)
    await service.execute(Invocation("console", GUILD, "u000", "Mentor 000"), "mentor pause", {})
    after = await service.execute(SEEKER, "mentor browse", {"has_capacity": "no"})
    assert "Mentor 000" not in _names(after)
    suggested = await service.execute(SEEKER, "mentor suggest", {"count": 10})
    assert suggested is not None
    assert suggested.message is not None
    assert all(ids["Mentor 000"] not in b.action for b in suggested.message.buttons)
    assert len(suggested.message.buttons) == 2


async def test_a_refresh_after_a_bulk_import_reloads_only_the_changed_row(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = Mentorbot(factory, clock)
    ids = await _seed(factory, service, 30)  # all 30 share one updated_at
    await service.execute(SEEKER, "mentor suggest", {})
    reloaded: list[str] = []
    real = mentor_index._listed

    def spy(row: object) -> object:
        reloaded.append(row[0])  # type: ignore[index]
        return real(row)  # type: ignore[arg-type]

    monkeypatch.setattr(mentor_index, "_listed", spy)
    changed = ids["Mentor 004"]
    async with factory() as session, session.begin():
        await session.execute(
            update(Mentor)
            .where(Mentor.id == changed)
            .values(current_mentees=3, updated_at=datetime(2026, 11, 1, 0, 0, 30, tzinfo=UTC))
        )
    reply = await service.execute(SEEKER, "mentor browse", {})
    assert reloaded == [changed]
    assert "Mentor 004" not in _names(reply)  # now full
    # Nothing changed since: no row is read again.
    reloaded.clear()
    await service.execute(SEEKER, "mentor suggest", {})
    assert reloaded == []


async def test_a_deleted_mentor_row_leaves_the_listing(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    service = Mentorbot(factory, clock)
    ids = await _seed(factory, service, 6)
    first = await service.execute(SEEKER, "mentor browse", {"has_capacity": "no"})
    assert _title(first).startswith("Mentors (6 found")
    async with factory() as session, session.begin():
        await session.execute(delete(Mentor).where(Mentor.id == ids["Mentor 001"]))
        # A new mentor keeps the row count the same, which must not hide the deletion.
        seeker_member = (await session.execute(Mentee.__table__.select().limit(1))).one()
        await session.execute(
            insert(Mentor).values(
                id=new_id(),
                community_id=seeker_member.community_id,
                user_id=seeker_member.user_id,
                bio="New here.",
                expertise=["giving"],
                availability=5,
                max_mentees=1,
                current_mentees=0,
                preferred_style="casual",
                languages=["en"],
                timezone="UTC",
                is_accepting=True,
                application_date=datetime(2026, 11, 2, tzinfo=UTC),
                status="pending",
                created_at=datetime(2026, 11, 2, tzinfo=UTC),
                updated_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=5),
            )
        )
    after = await service.execute(SEEKER, "mentor browse", {"has_capacity": "no"})
    assert _title(after).startswith("Mentors (5 found")
    assert "Mentor 001" not in _names(after)


async def test_a_deletion_alone_is_never_shown_and_leaves_the_count_on_the_look_back(
    factory: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Mentorbot(factory, clock)
    ids = await _seed(factory, service, 6)
    await service.execute(SEEKER, "mentor browse", {"has_capacity": "no"})
    async with factory() as session, session.begin():
        await session.execute(delete(Mentor).where(Mentor.id == ids["Mentor 001"]))
    # No stamp moved, so the listing is not refreshed yet, but its card is not shown.
    before_look_back = await service.execute(SEEKER, "mentor browse", {"has_capacity": "no"})
    assert "Mentor 001" not in _names(before_look_back)
    assert len(_names(before_look_back)) == 4  # the first page, one card short
    monkeypatch.setattr(mentor_index, "INDEX_MAX_AGE", 0.0)  # the look back is due
    after = await service.execute(SEEKER, "mentor browse", {"has_capacity": "no"})
    assert _title(after).startswith("Mentors (5 found")
    assert len(_names(after)) == 5


async def test_an_unchanged_listing_is_checked_without_reading_every_mentor(
    factory: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """The per-call freshness check is one index look-up (the newest stamp), not a
    count or any other read over all the community's mentor rows."""
    service = Mentorbot(factory, clock)
    await _seed(factory, service, 6)
    await service.execute(SEEKER, "mentor suggest", {})
    engine = factory.kw["bind"]
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement.lower())

    engines = {engine.sync_engine, db.reader_engine(engine).sync_engine}
    for e in engines:
        event.listen(e, "before_cursor_execute", seen)
    try:
        await service.execute(SEEKER, "mentor suggest", {})
        await service.execute(SEEKER, "mentor browse", {})
    finally:
        for e in engines:
            event.remove(e, "before_cursor_execute", seen)
    assert statements
    assert not [s for s in statements if "count(" in s and "mentor_reviews" not in s]


def _entry(i: int, *, free: int = 2, expertise: tuple[str, ...] = ("giving",)) -> Listed:
    facts = MentorFacts(
        id=f"m{i:03d}",
        expertise=expertise,
        languages=("en", "es") if i % 2 else ("en",),
        timezone="Europe/Madrid" if i % 3 else "Asia/Tokyo",
        style="async" if i % 2 else "casual",
        capacity_left=free,
        max_mentees=3,
        availability=5 + i,
    )
    return Listed(facts, f"member{i:03d}", f"Name {(i * 7) % 20:02d}")


def test_a_patched_listing_equals_a_rebuilt_one() -> None:
    entries = [
        _entry(i, free=i % 3, expertise=("giving", "loans") if i % 4 else ("loans",))
        for i in range(20)
    ]
    listing = MentorListing.build(entries, 20)
    changed = {
        "m003": _entry(3, free=0, expertise=("giving",)),
        "m010": _entry(10, free=3, expertise=("loans",)),
    }
    patched = listing.patched(changed, 20)
    assert patched is not None
    rebuilt = MentorListing.build([changed.get(e.facts.id, e) for e in entries], 20)
    assert patched.browse_order.tolist() == rebuilt.browse_order.tolist()
    assert patched.index.facts == rebuilt.index.facts
    for name in ("expertise", "languages", "zone_cols", "capacity_left", "capacity", "style"):
        assert getattr(patched.index, name).tolist() == getattr(rebuilt.index, name).tolist()
    # The original is left as it was (another call may still be using it).
    assert listing.index.facts[3].capacity_left == 0
    assert listing.index.facts[10].capacity_left == 1


def test_a_change_the_listing_has_no_column_for_rebuilds_it() -> None:
    listing = MentorListing.build([_entry(i) for i in range(5)], 20)
    assert listing.patched({"m001": _entry(1, expertise=("financial",))}, 20) is None
    assert listing.patched({"m099": _entry(99)}, 20) is None  # not listed before
