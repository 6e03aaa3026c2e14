"""Bad input anywhere gets a clear message and leaves the database unchanged."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.actions import action_id
from core.clock import FakeClock
from core.context import Invocation
from core.errors import (
    Conflict,
    InvalidValue,
    NotAllowed,
    NotFound,
    StaleAction,
    UnknownCommand,
    UnknownOption,
)
from core.models import Delivery, Mentor
from core.service import Mentorbot
from tests.helpers import snapshot

APPLICATION = {
    "bio": "I have funded 40 microloans and love explaining how it works.",
    "expertise": "giving,loans",
    "availability": "6",
    "style": "async",
    "languages": "en,es",
    "timezone": "Europe/Madrid",
}


def _inv(community: str, user: str, *, admin: bool = False) -> Invocation:
    return Invocation("console", community, user, user, is_platform_admin=admin)


async def _set_up(bot: Mentorbot, community: str) -> None:
    await bot.execute(
        _inv(community, "owner", admin=True),
        "admin setup",
        {"admin_role": "Admins", "admin_channel": "admins"},
    )


@pytest.fixture
async def bot(factory: async_sessionmaker[AsyncSession], clock: FakeClock) -> Mentorbot:
    service = Mentorbot(factory, clock)
    await _set_up(service, "guild-a")
    await _set_up(service, "guild-b")
    return service


@pytest.mark.parametrize(
    ("path", "options", "error", "says"),
    [
        ("mentor fly", {}, UnknownCommand, "/mentor` has: help, apply"),
        ("dance", {}, UnknownCommand, "Commands start with"),
        ("mentor apply", {**APPLICATION, "colour": "blue"}, UnknownOption, "no option `colour`"),
        ("mentor apply", {**APPLICATION, "availability": "lots"}, InvalidValue, "whole number"),
        ("mentor apply", {**APPLICATION, "availability": True}, InvalidValue, "whole number"),
        ("mentor apply", {**APPLICATION, "max_mentees": 3.5}, InvalidValue, "whole number"),
        ("admin audit", {"limit": "0"}, NotAllowed, "only community admins"),
    ],
)
async def test_bad_commands_get_a_clear_message_and_write_nothing(
    bot: Mentorbot,
    factory: async_sessionmaker[AsyncSession],
    path: str,
    options: dict[str, object],
    error: type[Exception],
    says: str,
) -> None:
    before = await snapshot(factory)
    with pytest.raises(error) as caught:
        await bot.execute(_inv("guild-a", "newcomer"), path, options)
    assert says in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert await snapshot(factory) == before


async def _pending_mentor(bot: Mentorbot, factory: async_sessionmaker[AsyncSession]) -> str:
    await bot.execute(_inv("guild-b", "brenda"), "mentor apply", APPLICATION)
    async with factory() as session:
        return (await session.execute(select(Mentor.id))).scalar_one()


async def test_an_id_from_another_community_is_refused(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await _pending_mentor(bot, factory)
    before = await snapshot(factory)
    # guild-a's admin presses a (forged) Approve carrying guild-b's application id.
    with pytest.raises(NotFound, match="doesn't exist in this community"):
        await bot.press(_inv("guild-a", "owner", admin=True), action_id("approve", mentor_id, "1"))
    with pytest.raises(NotFound):
        await bot.submit(
            _inv("guild-a", "owner", admin=True),
            action_id("reject", mentor_id, "1"),
            {"reason": "a perfectly long reason"},
        )
    assert await snapshot(factory) == before


@pytest.mark.parametrize(
    "custom_id",
    [
        "mb:approve",
        "mb:approve:a:b:c",
        "mb:approve:a:b",
        "mb:approve:../../etc",
        "mb:launch:abc",
        "xx:approve:abc",
        "approve",
        "",
    ],
)
async def test_forged_button_ids_are_refused(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession], custom_id: str
) -> None:
    await _pending_mentor(bot, factory)
    before = await snapshot(factory)
    with pytest.raises(StaleAction):
        await bot.press(_inv("guild-b", "owner", admin=True), custom_id)
    assert await snapshot(factory) == before


async def test_a_replayed_approval_changes_nothing_and_sends_nothing_twice(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    mentor_id = await _pending_mentor(bot, factory)
    owner = _inv("guild-b", "owner", admin=True)
    await bot.press(owner, action_id("approve", mentor_id, "1"))
    before = await snapshot(factory)
    with pytest.raises(Conflict, match="already approved"):
        await bot.press(owner, action_id("approve", mentor_id, "1"))
    with pytest.raises(Conflict):
        await bot.press(owner, action_id("reject", mentor_id, "1"))
    assert await snapshot(factory) == before
    async with factory() as session:
        kinds = (await session.execute(select(Delivery.kind))).scalars().all()
    assert sorted(kinds) == ["dm", "grant_role", "post"]  # admin card + approval DM + role


async def test_a_repeated_platform_event_is_handled_once(
    bot: Mentorbot, factory: async_sessionmaker[AsyncSession]
) -> None:
    inv = _inv("guild-b", "brenda")
    first = await bot.execute(inv, "mentor apply", APPLICATION, dedupe_key="evt-1")
    again = await bot.execute(inv, "mentor apply", APPLICATION, dedupe_key="evt-1")
    assert first is not None
    assert again is None
    async with factory() as session:
        assert len((await session.execute(select(Mentor))).all()) == 1
