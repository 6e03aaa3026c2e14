"""The demo player's checks: each kind of expectation fails when its step did not produce
it, and a remembered value reaches a later line."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from adapters.console.bot import ConsoleBot
from adapters.console.demo import (
    Advance,
    Demo,
    Dm,
    Expectation,
    FileSent,
    Granted,
    Outcome,
    Posted,
    Printed,
    Remember,
    Section,
    Sees,
    Step,
    play,
)

SETUP = Step(
    "olive",
    "/admin setup admin_role:@Admins admin_channel:#mentor-admin "
    "announcement_channel:#general default_timezone:UTC",
    Sees("olive", "Mentorbot is set up"),
)
APPLY = Step(
    "alice",
    '/mentor apply bio:"Alice has mentored newcomers for years." expertise:giving '
    "availability:10 style:async languages:en timezone:UTC",
    Posted("mentor-admin", "Mentor application: alice"),
)
CONNECT = (
    Step("olive", "click Approve", Granted("alice", "Mentor")),
    Step("dave", "/mentee profile goals:learn_giving languages:en", Sees("dave", "created")),
    Step("dave", "/mentor request mentor:@alice", Dm("alice", "request")),
    Step("alice", "click Accept", Dm("dave", "started")),
)
SCHEDULE = (
    '/session schedule person:@alice title:"Budget" when:"2026-06-03 10:00" '
    "link:https://meet.example/x"
)


async def _play(console: ConsoleBot, *steps: Step) -> Outcome:
    demo = Demo(
        "Test",
        datetime(2026, 6, 1, 9, tzinfo=UTC),
        frozenset({"olive"}),
        (Section("Only", "One section.", (SETUP, APPLY, *steps)),),
    )
    return await play(console, demo, out=lambda _: None)


async def _problems(console: ConsoleBot, line: str, actor: str, *expect: Expectation) -> list[str]:
    outcome = await _play(console, Step(actor, line, *expect))
    assert outcome.failure is not None
    assert outcome.failure.step == "1.3"
    return outcome.failure.problems


async def test_a_step_that_produces_what_it_expects_passes(console: ConsoleBot) -> None:
    outcome = await _play(
        console,
        Step(
            "olive",
            "click Approve",
            Dm("alice", "You're a mentor now"),
            Granted("alice", "Mentor"),
            Posted("general", "new mentor @alice"),
            Printed("[role] @alice +Mentor"),
        ),
        Advance("1h", Printed("(time is now 2026-06-01 10:00 UTC)")),
    )
    assert outcome.failure is None
    assert (outcome.sections, outcome.steps) == (1, 4)


async def test_each_kind_of_expectation_names_what_is_missing(console: ConsoleBot) -> None:
    problems = await _problems(
        console,
        "/admin audit",
        "olive",
        Sees("alice", "Audit log"),  # olive saw it, alice did not
        Dm("olive", "Audit log"),  # a private reply is not a DM
        Posted("general", "Audit log"),
        Granted("olive", "Mentor"),
        FileSent("olive", ".ics"),
        Printed("[role]"),
        Sees("olive", "Audit log"),  # this one holds
    )
    assert problems == [
        "@alice was shown nothing containing 'Audit log'",
        "@olive was sent no DM containing 'Audit log'",
        "nothing containing 'Audit log' was posted in #general",
        "@olive was not given the role 'Mentor'",
        "@olive was sent no .ics file",
        "no line containing '[role]' was printed",
    ]


async def test_a_remembered_id_fills_a_later_line(console: ConsoleBot) -> None:
    outcome = await _play(
        console,
        *CONNECT,
        Step("dave", SCHEDULE, Dm("alice", "Budget"), Remember("session", r"Session (\w+) ·")),
        Step("alice", "/session cancel session:{session}", Dm("dave", "cancelled")),
    )
    assert outcome.failure is None


async def test_a_line_naming_nothing_remembered_fails(console: ConsoleBot) -> None:
    problems = await _problems(console, "/session cancel session:{session}", "dave", Printed(""))
    assert problems == ["nothing was remembered as {session}"]


async def test_a_file_must_be_sent_saved_and_of_its_kind(
    console: ConsoleBot, tmp_path: Path
) -> None:
    console.files_dir = tmp_path / "files"
    outcome = await _play(
        console,
        *CONNECT,
        Step("dave", SCHEDULE, FileSent("dave", ".ics"), FileSent("alice", ".png")),
    )
    assert outcome.failure is not None
    assert outcome.failure.problems == ["@alice was sent no .png file"]
    files = tmp_path / "files"
    saved = await asyncio.to_thread(lambda: sorted(p.suffix for p in files.iterdir()))
    assert saved == [".ics", ".ics"]
