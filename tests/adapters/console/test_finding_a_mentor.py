"""Issue 5 on the console: browse, suggest, request, accept, talk, decline, expire, end."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from core.clock import FakeClock
from core.models import Mentor, MentorMessage, Mentorship
from tests.helpers import snapshot

SETUP = "/admin setup admin_role:@Admins admin_channel:#mentor-admin default_timezone:UTC"
MENTORS = [
    # name, expertise, languages, style, timezone, max mentees
    ("alice", "giving,loans", "en,es", "async", "Europe/Madrid", 2),
    ("bruno", "loans", "pt,en", "scheduled", "America/Sao_Paulo", 1),
    ("chen", "community", "zh,en", "casual", "Asia/Shanghai", 3),
    ("dana", "financial", "en", "async", "America/New_York", 2),
    ("emeka", "giving,community", "en,yo", "scheduled", "Africa/Lagos", 2),
    ("fatima", "financial,loans", "ar,fr", "casual", "Africa/Cairo", 2),
    ("gustav", "giving", "de,en", "async", "Europe/Berlin", 1),
]


@pytest.fixture
async def community(console: ConsoleBot) -> ConsoleBot:
    """Seven approved mentors and one mentee, dave (Europe/London, learn_giving + loans)."""
    await console.handle("as @owner --admin")
    await console.handle(SETUP)
    for name, expertise, languages, style, zone, most in MENTORS:
        await console.handle(f"as @{name}")
        await console.handle(
            f'/mentor apply bio:"{name.title()} has mentored newcomers for years." '
            f"expertise:{expertise} availability:10 max_mentees:{most} style:{style} "
            f"languages:{languages} timezone:{zone}"
        )
        await console.handle("as @owner")
        await console.handle("click Approve")
    await console.handle("as @dave")
    await console.handle(
        "/mentee profile goals:learn_giving,understand_loans timezone:Europe/London languages:en"
    )
    return console


def names_listed(lines: list[str]) -> list[str]:
    listed = []
    for line in lines:
        stripped = line.strip()
        for name, *_ in MENTORS:
            if stripped.startswith(f"{name} · "):
                listed.append(name)
    return listed


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("expertise:loans", ["alice", "fatima", "bruno"]),  # most free places, then name
        ("language:es", ["alice"]),
        ("style:casual", ["chen", "fatima"]),
        ("max_tz_distance:1", ["alice", "emeka", "gustav"]),
        ("expertise:giving style:async", ["alice", "gustav"]),
    ],
)
async def test_browse_filters(community: ConsoleBot, options: str, expected: list[str]) -> None:
    out = await community.say(f"/mentor browse {options}")
    assert names_listed(out) == expected


async def test_browse_pages_with_next_and_previous(community: ConsoleBot) -> None:
    first = await community.say("/mentor browse")
    assert any("7 found, page 1 of 2" in line for line in first)
    assert len(names_listed(first)) == 5
    second = await community.say("click Next")
    assert any("page 2 of 2" in line for line in second)
    assert len(names_listed(second)) == 2
    assert set(names_listed(first)).isdisjoint(names_listed(second))
    back = await community.say("click Previous")
    assert names_listed(back) == names_listed(first)


async def test_browse_hides_full_mentors_unless_asked(community: ConsoleBot) -> None:
    # bruno has one place; fill it.
    await community.handle("as @zoe")
    await community.handle("/mentee profile goals:understand_loans languages:pt")
    out = await community.say("/mentor request mentor:@bruno")
    assert any("Request sent" in line for line in out)
    await community.handle("as @bruno")
    await community.handle("click Accept")
    await community.handle("as @dave")
    assert "bruno" not in names_listed(await community.say("/mentor browse expertise:loans"))
    shown = names_listed(await community.say("/mentor browse expertise:loans has_capacity:no"))
    assert "bruno" in shown


async def test_suggest_ranks_with_a_breakdown(community: ConsoleBot) -> None:
    out = await community.say("/mentor suggest count:3")
    cards = [line for line in out if "/100 · " in line]
    assert len(cards) == 3
    scores = [int(line.strip().split("/100")[0]) for line in cards]
    assert scores == sorted(scores, reverse=True)
    assert cards[0].strip().split(" · ")[1] == "alice"  # giving + loans, English, near
    for factor in ("Expertise", "Timezone", "Language", "Capacity", "Style"):
        assert any(line.strip().startswith(f"· {factor} ") for line in out), factor
    assert any("[Request alice]" in line for line in out)


async def test_request_accept_and_a_message_each_way(
    community: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await community.handle("/mentor suggest")
    await community.handle('click "Request alice"')
    await community.handle('submit note:"Lending circles, please."')
    await community.handle("as @alice")
    out = await community.say("click Accept")
    assert "[DM → @dave]" in out
    assert "[DM → @alice]" in out
    out = await community.say('reply "Welcome! Tell me about your goals."')
    assert "[DM → @dave]" in out
    await community.handle("as @dave")
    out = await community.say('reply "Giving well, then loans."')
    assert "[DM → @alice]" in out
    async with factory() as session:
        messages = (await session.execute(select(MentorMessage))).scalars().all()
        mentorship = (await session.execute(select(Mentorship))).scalar_one()
        alice = (
            await session.execute(select(Mentor).where(Mentor.id == mentorship.mentor_id))
        ).scalar_one()
    assert sorted(m.content for m in messages) == [
        "Giving well, then loans.",
        "Welcome! Tell me about your goals.",
    ]
    assert mentorship.status == "active"
    assert mentorship.request_note == "Lending circles, please."
    assert (alice.current_mentees, alice.total_mentees) == (1, 1)


async def test_decline_tells_the_mentee_kindly_with_other_mentors(community: ConsoleBot) -> None:
    await community.handle("/mentor request mentor:@gustav")
    await community.handle("as @gustav")
    await community.handle("click Decline")
    dm = community.lines[community.lines.index("[DM → @dave]") :]
    assert any("can't take you on right now" in line for line in dm)
    assert any("[Request alice]" in line for line in dm)
    assert not any("[Request gustav]" in line for line in dm)


async def test_an_unanswered_request_is_nudged_then_expires(
    community: ConsoleBot, clock: FakeClock
) -> None:
    await community.handle("/mentor request mentor:@chen")
    out = await community.say("advance 3d1h")
    assert any("1 request(s) nudged" in line for line in out)
    assert "[DM → @chen]" in out
    out = await community.say("advance 5d")
    assert any("1 expired" in line for line in out)
    assert "[DM → @dave]" in out
    assert any("request expired" in line for line in out)


async def test_ending_with_notes(
    community: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await community.handle("/mentor request mentor:@alice")
    await community.handle("as @alice")
    await community.handle("click Accept")
    out = await community.say("/mentorship end person:@dave outcome:completed")
    assert any("[form → @alice]" in line for line in out)
    out = await community.say('submit notes:"Dave gives monthly now."')
    assert "[DM → @dave]" in out
    async with factory() as session:
        mentorship = (await session.execute(select(Mentorship))).scalar_one()
    assert (mentorship.status, mentorship.completion_notes) == (
        "completed",
        "Dave gives monthly now.",
    )


async def test_strangers_cannot_read_or_write_a_mentorship(
    community: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await community.handle("/mentor request mentor:@alice")
    await community.handle("as @alice")
    await community.handle("click Accept")
    await community.handle("as @mallory")
    before = await snapshot(factory)
    out = await community.say('dm "hello alice"')
    out += await community.say("/mentorship history person:@alice")
    out += await community.say('/mentorship message person:@dave text:"hi"')
    assert sum("✗" in line for line in out) == 3
    assert await snapshot(factory) == before


async def test_click_takes_a_unique_part_of_a_label_and_the_receipt_is_shown_once(
    community: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await community.handle("/mentor request mentor:@alice")
    await community.handle("as @zoe")
    await community.handle("/mentee profile goals:learn_giving languages:en")
    await community.handle("/mentor request mentor:@alice")
    await community.handle("as @alice")
    await community.handle("click Accept")  # zoe's, the latest
    await community.handle("click Accept")  # then dave's
    out = await community.say('dm "Shall we meet on Friday?"')
    # Both mentorships started at the same (fake) moment, so their order is not fixed.
    assert any("[To dave]" in line and "[To zoe]" in line for line in out), out
    before = await snapshot(factory)
    out = await community.say("click to")
    ambiguous = [line for line in out if "matches several buttons" in line]
    assert len(ambiguous) == 1, out
    assert "To dave" in ambiguous[0]
    assert "To zoe" in ambiguous[0]
    assert community.parse_errors == 1
    assert await snapshot(factory) == before
    out = await community.say("click DAVE")
    assert community.parse_errors == 1
    assert sum("Sent to @dave." in line for line in out) == 1, out
    assert "[DM → @dave]" in out
    async with factory() as session:
        messages = (await session.execute(select(MentorMessage.content))).scalars().all()
    assert messages == ["Shall we meet on Friday?"]


async def test_click_a_suggestion_by_the_mentors_name(community: ConsoleBot) -> None:
    out = await community.say("/mentor suggest count:3")
    assert any("[Request alice]" in line for line in out)
    out = await community.say("click alice")
    assert any("[form → @dave]" in line for line in out), out
    out = await community.say("click request")
    assert community.parse_errors == 1
    assert any("matches several buttons: Request alice" in line for line in out), out
