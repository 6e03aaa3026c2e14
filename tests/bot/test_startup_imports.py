"""Start-up loads only what it uses (issue 10, item 8).

Each check runs in a fresh interpreter, so that what the test suite itself imported
does not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from core import db

HEAVY = (
    "discord",
    "slack_bolt",
    "slack_sdk",
    "aiohttp",
    "numpy",
    "scipy",
    "ortools",
    "alembic",
    "matplotlib",
    "icalendar",
    "parsedatetime",
)
ROOT = Path(__file__).resolve().parents[2]


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_command_line_loads_no_platform_library_solver_chart_or_alembic() -> None:
    assert _loaded_after("import bot.cli") == []


def test_help_loads_none_of_them() -> None:
    code = (
        "import contextlib, io\nfrom bot.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])"
    )
    assert _loaded_after(code) == []


def test_the_console_answers_help_without_them(tmp_path: Path) -> None:
    database = tmp_path / "console.db"
    db.upgrade(f"sqlite:///{database}")
    script = tmp_path / "lines.txt"
    script.write_text("as @owner --admin\nhelp\n/mentor help\n", encoding="utf-8")
    code = (
        "import contextlib, io, os\nfrom bot.cli import main\n"
        "os.environ.pop('DISCORD_TOKEN', None); os.environ.pop('SLACK_BOT_TOKEN', None)\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    rc = main(['console', '--database', 'sqlite:///{database}', '--script', "
        f"'{script}'])\n"
        "assert rc == 0 and 'mentor apply' in out.getvalue(), out.getvalue()"
    )
    assert _loaded_after(code) == []


def test_the_schema_check_finds_the_same_head_as_alembic() -> None:
    alembic_head = ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_current_head()
    assert db.head_revision() == alembic_head
