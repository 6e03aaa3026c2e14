"""Issue 8 item 8: free text is cleaned where input is validated; odd input is refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import validation
from core.actions import action_id
from core.catalog import put_option
from core.clock import FakeClock
from core.errors import InvalidValue
from core.models import Mentee, Mentor, MentorMessage
from core.service import Mentorbot
from tests.core.test_bad_input import APPLICATION
from tests.core.test_connections import approved_mentor, inv, mentee, request
from tests.helpers import snapshot


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("\x1b[1;31mred\x1b[0m and plain", "red and plain"),
        ("\x1b]0;new window title\x07hello", "hello"),
        ("\x9b2Jcleared", "cleared"),
        ("bell\x07 null\x00 del\x7f c1\x85 esc\x1b", "bell null del c1 esc"),
        ("keeps\ttabs\nand lines", "keeps\ttabs\nand lines"),
        ("windows\r\nline\rends", "windows\nline\nends"),
        ("\u200b\u200c\u200d\u2060\ufeff", ""),
        (" \u3164 \u2800 \u0301 ", ""),
        ("café 👩🏽\u200d💻 مرحبا", "café 👩🏽\u200d💻 مرحبا"),
        ("\u200b\ufeff trimmed \u2060\u3164", "trimmed"),
        ("cafe\u0301", "cafe\u0301"),
    ],
)
def test_clean_removes_escapes_and_controls_and_empties_invisible_text(
    typed: str, kept: str
) -> None:
    assert validation.clean(typed) == kept


def test_length_rules_count_what_is_left_after_cleaning() -> None:
    padded = "\x1b[31m" * 10 + "short bio" + "\u200b" * 30
    with pytest.raises(InvalidValue, match=r"`bio`: must be 20–1000 characters \(it is 9\)"):
        validation.text("bio", padded, min_length=20, max_length=1000)


def test_a_repeated_option_is_refused_naming_it() -> None:
    options: dict[str, str] = {}
    put_option(options, "bio", "first")
    with pytest.raises(InvalidValue, match="`bio`: is given more than once") as refused:
        put_option(options, "bio", "second")
    assert refused.value.field == "bio"
    assert options == {"bio": "first"}


@pytest.fixture
def bot(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> Mentorbot:
    return Mentorbot(factory, clock)


async def test_control_characters_never_reach_a_stored_bio_or_challenges(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    bio = "\x1b[41mI have funded 40 microloans\x1b[0m\x07 and love explaining them."
    mentor_id = await approved_mentor(bot, "alice", bio=bio)
    await bot.execute(
        inv("dave"),
        "mentee profile",
        {"goals": "learn_giving", "challenges": "Budgets\x1b[2K\x08 scare me."},
    )
    async with factory() as session:
        mentor = await session.get(Mentor, mentor_id)
        the_mentee = (await session.execute(select(Mentee))).scalar_one()
    assert mentor is not None
    assert mentor.bio == "I have funded 40 microloans and love explaining them."
    assert the_mentee.challenges == "Budgets scare me."


@pytest.mark.parametrize(
    ("path", "options", "field"),
    [
        ("mentor apply", {**APPLICATION, "languages": ""}, "languages"),
        ("mentor apply", {**APPLICATION, "expertise": " , "}, "expertise"),
        ("mentee profile", {"goals": "learn_giving", "languages": ""}, "languages"),
        ("mentor edit", {"languages": "\u200b"}, "languages"),
    ],
)
async def test_an_empty_list_where_one_is_required_is_refused_naming_the_field(
    bot: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
    path: str,
    options: dict[str, str],
    field: str,
) -> None:
    await bot.execute(
        inv("owner", admin=True), "admin setup", {"admin_role": "A", "admin_channel": "adm"}
    )
    before = await snapshot(factory)
    with pytest.raises(InvalidValue) as refused:
        await bot.execute(inv("newcomer"), path, options)
    assert refused.value.field == field
    assert "is empty" in refused.value.message
    assert await snapshot(factory) == before


async def test_a_dm_of_invisible_characters_is_refused_like_an_empty_one(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await approved_mentor(bot, "alice")
    await mentee(bot, "dave")
    await bot.press(inv("alice"), action_id("accept", await request(bot, "dave", mentor_id), "1"))
    before = await snapshot(factory)
    for blank in ("\u200b\u200b\u200b", "\x1b[0m", "\u2060 \ufeff"):
        with pytest.raises(InvalidValue, match="write something"):
            await bot.relay_dm(inv("dave"), blank)
        with pytest.raises(InvalidValue, match="`text`"):
            await bot.execute(inv("dave"), "mentorship message", {"person": "alice", "text": blank})
    assert await snapshot(factory) == before
    await bot.relay_dm(inv("dave"), "Hi \x1b[5mthere\x1b[0m!")
    async with factory() as session:
        stored = (await session.execute(select(MentorMessage.content))).scalar_one()
    assert stored == "Hi there!"
