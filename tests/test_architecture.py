"""Rules that keep the code simple, checked on every run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.catalog import OptionType
from core.commands import CATALOG

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_CORE = ("discord", "slack_bolt", "slack_sdk", "adapters", "bot", "aiohttp")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "core").rglob("*.py")), ids=lambda p: p.name)
def test_core_imports_no_platform_library(path: Path) -> None:
    bad = [n for n in _imports(path) if n.split(".")[0] in FORBIDDEN_IN_CORE]
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


def test_every_catalog_command_has_a_description_and_typed_options() -> None:
    for command in CATALOG:
        assert command.description
        assert len(command.description) <= 100  # Discord's limit
        for option in command.options:
            assert option.description
            assert len(option.description) <= 100
            assert isinstance(option.type, OptionType)
            assert option.name.islower()
            assert " " not in option.name
