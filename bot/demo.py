"""`mentorbot demo`: wires the console bot to a throwaway database and plays the demo.

The script and its checks live in :mod:`adapters.console.demo_script` and
:mod:`adapters.console.demo`; this module chooses the database, the clock and the settings,
prints the transcript and turns the outcome into an exit status.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from adapters.console.demo import Demo, Outcome, play
from bot.config import Config, ConsoleConfig
from core.clock import FakeClock


async def run_demo(
    demo: Demo,
    *,
    database: str | None = None,
    files_dir: Path | None = None,
    step: bool = False,
    stdin: TextIO | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Play ``demo``; 0 when every step produced what it expects, 1 naming the first
    that did not. Without ``database`` it runs on a new SQLite file in a temporary folder
    (removed at the end), so it never touches the member data of ``mentorbot.db``."""
    stdin = stdin or sys.stdin
    with tempfile.TemporaryDirectory(prefix="mentorbot-demo-") as scratch:
        folder = Path(scratch)
        if database is None:
            from core import db

            database = f"sqlite+aiosqlite:///{folder / 'demo.db'}"
            await db.upgrade_async(database)
        pause = None
        if step:
            if stdin.isatty():
                pause = _pause_on_enter(stdin, out)
            else:
                out("(--step: input is not a terminal, so the demo does not pause)")
        outcome = await _play(demo, database, files_dir or folder / "files", pause, out)
    return _report(demo, outcome, out, kept=files_dir)


async def _play(
    demo: Demo,
    database: str,
    files_dir: Path,
    pause: Callable[[int], Awaitable[bool]] | None,
    out: Callable[[str], None],
) -> Outcome:
    from bot.wiring import build_console, open_database

    # Built-in settings, not the operator's file: the script's expectations are written
    # against them (a community with other reminder times would fail on purpose).
    config = Config(console=ConsoleConfig(community_name=demo.community))
    engine, factory = await open_database(database)
    try:
        bot = build_console(
            factory, config, clock=FakeClock(demo.start), sink=out, files_dir=files_dir
        )
        out(
            f"Mentorbot demo: {demo.community}, on the console, with a clock that starts "
            f"{demo.start:%A %d %B %Y %H:%M} UTC and moves only when the script says."
        )
        return await play(bot, demo, out=out, pause=pause)
    finally:
        await engine.dispose()


def _pause_on_enter(stdin: TextIO, out: Callable[[str], None]) -> Callable[[int], Awaitable[bool]]:
    async def pause(section: int) -> bool:
        out("")
        prompt = f"— Enter: section {section}; Ctrl-D: stop here — "
        # Read on the loop's own thread: nothing else runs between sections, and Ctrl-C
        # then interrupts at once (a reader thread would hold the exit until Enter).
        return _read_line(stdin, prompt) is not None

    return pause


def _read_line(stdin: TextIO, prompt: str) -> str | None:
    print(prompt, end="", flush=True)
    line = stdin.readline()
    return line if line else None


def _report(demo: Demo, outcome: Outcome, out: Callable[[str], None], *, kept: Path | None) -> int:
    out("")
    if outcome.failure is not None:
        print(outcome.failure.describe(), file=sys.stderr)
        return 1
    if outcome.stopped:
        out(f"Demo stopped after section {outcome.sections} of {len(demo.sections)}.")
        return 0
    moved = ""
    if outcome.ended_at is not None:
        moved = f"; the demo clock moved to {outcome.ended_at:%A %d %B %H:%M} UTC"
    out(
        f"Demo complete: {outcome.sections} sections, {outcome.steps} steps, each as "
        f"expected, in {outcome.seconds:.1f} s{moved}."
    )
    if kept is None:
        out(
            "The files members were sent were in a temporary folder, now removed; "
            "`mentorbot demo --files-dir DIR` keeps them."
        )
    else:
        out(f"The files members were sent are in {kept}.")
    return 0
