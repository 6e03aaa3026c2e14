"""`mentorbot demo`: it plays every section and passes; a broken expectation fails it,
naming the step; --step pauses only on a terminal; it never touches mentorbot.db.

The demo runs on its own throwaway SQLite database whatever the suite's database is."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.console import demo_script
from adapters.console.demo import Demo, Dm, Section, Sees, Step
from bot.cli import main
from bot.demo import run_demo
from core import db

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder with its own temporary directory (to see what is left)."""
    monkeypatch.chdir(tmp_path)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    for var in ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "DATABASE_URL", "MENTORBOT_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return scratch


def _short(sections: int) -> Demo:
    return replace(demo_script.DEMO, sections=demo_script.DEMO.sections[:sections])


def test_the_demo_plays_every_section_and_each_step_passes(tmp_path: Path, scratch: Path) -> None:
    """The console script, as a newcomer runs it; with --step and input that is not a
    terminal it must not wait (the timeout would catch a hang)."""
    script = Path(sys.executable).with_name("mentorbot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    done = subprocess.run(
        [*command, "demo", "--step"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**_clean_environment(), "TMPDIR": str(scratch)},
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    out = done.stdout
    assert "input is not a terminal, so the demo does not pause" in out
    for number, section in enumerate(demo_script.SECTIONS, start=1):
        assert f"━━ {number}. {section.title} ━" in out
    steps = sum(len(s.steps) for s in demo_script.SECTIONS)
    assert f"{len(demo_script.SECTIONS)} sections, {steps} steps, each as expected" in out
    # Its own database and files, in a temporary folder that is gone now.
    assert list(tmp_path.glob("mentorbot.db*")) == []
    assert list(scratch.glob("mentorbot-demo-*")) == []
    # The README's example is the demo's own transcript, shortened (the time it took
    # varies).
    lines = {_timeless(line) for line in out.splitlines()}
    for line in _readme_example():
        assert _timeless(line) in lines, line


def _clean_environment() -> dict[str, str]:
    drop = ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "DATABASE_URL", "MENTORBOT_CONFIG")
    return {k: v for k, v in os.environ.items() if k not in drop}


def _timeless(line: str) -> str:
    return re.sub(r"in \d+\.\d s;", "in … s;", line)


def _readme_example() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Demo\n") :]
    block = re.search(r"```text\n(.*?)```", section, re.DOTALL)
    assert block is not None
    example = [line for line in block.group(1).splitlines() if line.strip() not in ("", "…")]
    assert len(example) > 40
    return example


def test_a_broken_expectation_exits_non_zero_naming_the_step(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = _short(3)
    applications = demo.sections[1]
    approve = applications.steps[4]
    assert approve.line == "click Approve"
    broken = Step(approve.actor, approve.line, Dm("alice", "You're an astronaut now"))
    steps = (*applications.steps[:4], broken, *applications.steps[5:])
    sections = (demo.sections[0], replace(applications, steps=steps), demo.sections[2])
    monkeypatch.setattr(demo_script, "DEMO", replace(demo, sections=sections))

    assert main(["demo"]) == 1

    captured = capsys.readouterr()
    assert captured.err.splitlines()[:2] == [
        "Demo failed at step 2.5 (Mentor applications) — @olive: click Approve",
        '  ✗ @alice was sent no DM containing "You\'re an astronaut now"',
    ]
    assert "[DM → @alice]" in captured.err  # what the step did show
    assert "You're a mentor now" in captured.out  # the transcript up to the failure
    assert "━━ 3." not in captured.out  # nothing after it ran
    assert "Demo complete" not in captured.out


def test_a_line_that_is_not_console_syntax_fails_its_step(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = Section(
        "Typo",
        "A line the console does not know.",
        (Step("olive", "clik Approve", Sees("olive", "x")),),
    )
    monkeypatch.setattr(demo_script, "DEMO", replace(_short(1), sections=(typo,)))
    assert main(["demo"]) == 1
    err = capsys.readouterr().err
    assert "Demo failed at step 1.1 (Typo) — @olive: clik Approve" in err
    assert "not a console line: `clik` is not a console line" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_step_pauses_between_sections_and_ctrl_d_stops_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines: list[str] = []
    # Enter once (section 2 plays), then end of input before section 3.
    status = asyncio.run(run_demo(_short(3), step=True, stdin=_Terminal("\n"), out=lines.append))
    assert status == 0
    prompts = capsys.readouterr().out
    assert prompts.count("— Enter: section") == 2
    assert any(line.startswith("━━ 2. Mentor applications") for line in lines)
    assert not any(line.startswith("━━ 3.") for line in lines)
    assert "Demo stopped after section 2 of 3." in lines


def test_database_runs_the_demo_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mine.db"
    url = f"sqlite+aiosqlite:///{path}"
    db.upgrade(url)
    monkeypatch.setattr(demo_script, "DEMO", _short(1))
    files = tmp_path / "files"
    assert main(["demo", "--database", url, "--files-dir", str(files)]) == 0

    async def communities() -> list[str]:
        from sqlalchemy import select

        from core.models import Community

        engine = db.create_engine(url)
        try:
            async with db.session_factory(engine)() as session:
                return list((await session.execute(select(Community.name))).scalars())
        finally:
            await engine.dispose()

    assert asyncio.run(communities()) == [demo_script.DEMO.community]


def test_every_step_declares_an_expectation() -> None:
    with pytest.raises(ValueError, match="declares no expectation"):
        Step("olive", "/mentor help")
