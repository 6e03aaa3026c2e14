"""The mentorbot command: migrate, console scripts, the schema guard and new databases."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from core import db

SETUP_AND_REQUEST = "".join(
    line + "\n"
    for line in (
        "as @owner --admin",
        "/admin setup admin_role:@Admins admin_channel:#mentor-admin default_timezone:UTC",
        "as @alice",
        '/mentor apply bio:"I have funded 40 microloans and love explaining it." '
        "expertise:giving availability:6 style:async languages:en timezone:Europe/Madrid",
        "as @owner",
        "click Approve",
        "as @dave",
        "/mentee profile goals:learn_giving languages:en",
        "/mentor request mentor:@alice",
    )
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in (
        "DISCORD_TOKEN",
        "SLACK_BOT_TOKEN",
        "SLACK_CLIENT_ID",
        "SLACK_CLIENT_SECRET",
        "DATABASE_URL",
        "MENTORBOT_CONFIG",
    ):
        monkeypatch.delenv(var, raising=False)


def _revision(path: Path) -> str | None:
    async def read() -> str | None:
        engine = db.create_engine(f"sqlite:///{path}")
        try:
            return await db.current_revision(engine)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_console_script_prints_the_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "s.txt"
    script.write_text("as @owner --admin\n/admin setup admin_role:@A admin_channel:#adm\n")
    assert main(["console", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "created a new database" in out
    assert "Mentorbot is set up" in out
    assert (tmp_path / "mentorbot.db").exists()


def test_a_script_stops_at_the_first_unparseable_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "s.txt"
    script.write_text("as @owner\n\nwave hello\n/mentor help\n")
    assert main(["console", "--script", str(script)]) == 1
    captured = capsys.readouterr()
    assert "could not parse" in captured.out
    assert "Mentorbot commands" not in captured.out  # nothing after it ran
    assert "Stopped at line 3: wave hello" in captured.err
    assert "`wave` is not a console line" in captured.err


def test_a_refused_as_stops_the_script_before_anything_runs_as_the_wrong_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "s.txt"
    script.write_text(
        "as @alice\nas @bad\u200bname\n/mentee profile goals:learn_giving languages:en\n"
    )
    assert main(["console", "--script", str(script)]) == 1
    captured = capsys.readouterr()
    assert "Stopped at line 2" in captured.err
    assert "Mentee profile" not in captured.out
    script.write_text("/mentee show\n")
    assert main(["console", "--script", str(script)]) == 1  # nobody: alice wrote nothing
    script.write_text("as @alice\n/mentee show\n")
    assert main(["console", "--script", str(script)]) == 0
    assert "mentee profile (create one" in capsys.readouterr().out


def test_help_is_the_first_line_a_script_may_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "s.txt"
    script.write_text("help\n")
    assert main(["console", "--script", str(script)]) == 0
    assert "Mentorbot commands" in capsys.readouterr().out


def test_the_demo_clock_shows_a_nudge_then_an_expiry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "s.txt"
    script.write_text(SETUP_AND_REQUEST + "advance 3d1h\nadvance 5d\n")
    assert main(["console", "--demo-clock", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "(housekeeping: 1 request(s) nudged, 0 expired)" in out
    assert "(housekeeping: 0 request(s) nudged, 1 expired)" in out


def test_advance_without_the_demo_clock_stops_the_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "s.txt"
    script.write_text("advance 2h\n")
    assert main(["console", "--script", str(script)]) == 1
    assert "mentorbot console --demo-clock" in capsys.readouterr().err


def test_an_existing_database_must_be_migrated_first_and_no_file_is_added(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mentorbot.db").touch()
    script = tmp_path / "s.txt"
    script.write_text("as @a\n")
    listing = sorted(p.name for p in tmp_path.iterdir())
    assert main(["console", "--script", str(script)]) == 3
    assert "Run `mentorbot migrate` first" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == listing
    assert main(["run"]) == 3  # `run` refuses alike
    assert sorted(p.name for p in tmp_path.iterdir()) == listing
    assert main(["migrate"]) == 0
    assert main(["console", "--script", str(script)]) == 0


def test_run_without_tokens_creates_a_new_sqlite_file_and_starts_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "data" / "fresh.db"
    path.parent.mkdir()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setattr(sys, "stdin", io.StringIO("as @owner --admin\nhelp\n"))
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert f"created a new database at {path}" in out
    assert "/admin setup" in out  # the console answered `help` as an admin
    assert _revision(path) == db.head_revision()


def test_a_database_that_cannot_be_created_is_refused_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-dir" / "x.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert f"cannot create the SQLite database {missing}" in err
    assert not missing.parent.exists()


def test_a_failed_migration_of_a_new_file_removes_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "half.db"

    def half_way(url: str, revision: str = "head") -> None:
        path.write_bytes(b"SQLite format 3\0")  # sqlite had created the file already
        raise RuntimeError("migration 0003 failed")

    monkeypatch.setattr(db, "upgrade", half_way)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    script = tmp_path / "s.txt"
    script.write_text("as @a\n")
    listing = sorted(p.name for p in tmp_path.iterdir())
    assert main(["console", "--script", str(script)]) == 2
    assert "migration 0003 failed" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == listing
    assert not path.exists()


def test_the_interactive_console_on_the_demo_clock_moves_only_with_advance(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("advance 1d2h\nadvance 30m\n"))
    assert main(["console", "--demo-clock"]) == 0
    out = capsys.readouterr().out
    assert "Demo clock" in out
    moments = [line.split("(time is now ")[1] for line in out.splitlines() if "time is now" in line]
    assert len(moments) == 2
    first, second = (datetime.strptime(m[:16], "%Y-%m-%d %H:%M") for m in moments)
    assert second - first == timedelta(minutes=30)  # nothing moved it in between


def test_the_oauth_manifest_has_the_redirect_url_and_distribution_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "mentorbot.toml"
    config.write_text(
        '[slack]\nmode = "http"\npublic_url = "https://mentorbot.example.org"\n'
        "token_rotation = true\n"
    )
    assert main(["--config", str(config), "slack-manifest", "--oauth"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["oauth_config"]["redirect_urls"] == [
        "https://mentorbot.example.org/slack/oauth_redirect"
    ]
    settings = manifest["settings"]
    assert (settings["org_deploy_enabled"], settings["is_hosted"]) == (False, False)
    assert (settings["token_rotation_enabled"], settings["socket_mode_enabled"]) == (True, False)
    events = settings["event_subscriptions"]
    assert events["request_url"] == "https://mentorbot.example.org/slack/events"
    assert {"app_uninstalled", "tokens_revoked"} <= set(events["bot_events"])

    config.write_text('[slack]\nmode = "http"\n')
    assert main(["--config", str(config), "slack-manifest", "--oauth"]) == 2
    assert "slack.public_url" in capsys.readouterr().err
    # Without public_url, the request URL names the same server.
    url = "https://bot.example.org/slack/events"
    assert main(["--config", str(config), "slack-manifest", "--oauth", "--request-url", url]) == 0
    derived = json.loads(capsys.readouterr().out)
    assert derived["oauth_config"]["redirect_urls"] == [
        "https://bot.example.org/slack/oauth_redirect"
    ]
    config.write_text('[slack]\nmode = "socket"\n')
    assert main(["--config", str(config), "slack-manifest"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert "redirect_urls" not in single["oauth_config"]
    assert single["settings"]["token_rotation_enabled"] is False
