"""The mentorbot command: migrate, console scripts and the schema guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "DATABASE_URL", "MENTORBOT_CONFIG"):
        monkeypatch.delenv(var, raising=False)


def test_console_script_prints_the_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "s.txt"
    script.write_text("as @owner --admin\n/admin setup admin_role:@A admin_channel:#adm\n")
    assert main(["console", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "creating a new database" in out
    assert "Mentorbot is set up" in out
    assert (tmp_path / "mentorbot.db").exists()


def test_console_script_exits_non_zero_on_an_unparseable_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "s.txt"
    script.write_text("as @owner\nwave hello\n/mentor help\n")
    assert main(["console", "--script", str(script)]) == 1
    captured = capsys.readouterr()
    assert "could not parse" in captured.out
    assert "Mentorbot commands" in captured.out  # later lines still ran
    assert "1 line(s) could not be parsed" in captured.err


def test_an_existing_database_must_be_migrated_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mentorbot.db").touch()
    script = tmp_path / "s.txt"
    script.write_text("as @a\n")
    assert main(["console", "--script", str(script)]) == 3
    assert "Run `mentorbot migrate` first" in capsys.readouterr().err
    assert main(["migrate"]) == 0
    assert main(["console", "--script", str(script)]) == 0
