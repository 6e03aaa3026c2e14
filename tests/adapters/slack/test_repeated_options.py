"""Issue 8 item 8 on Slack: an option typed twice in a ``/mentor`` line is refused, named."""

from __future__ import annotations

import pytest

from adapters.slack.commands import SlashCommands
from core.commands import CATALOG
from core.errors import InvalidValue


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('apply bio:"I love budgets a lot." bio:"Something else entirely." style:async', "bio"),
        ("mentee profile goals:learn_giving languages:en languages:fr", "languages"),
        ('admin setup admin_channel:<#C1|a> admin_channel:"<#C2|b>"', "admin_channel"),
    ],
)
def test_a_repeated_option_is_refused_naming_it(text: str, field: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        SlashCommands(CATALOG).parse(text)
    assert refused.value.field == field
    assert f"`{field}`: is given more than once" in refused.value.message


def test_options_given_once_still_parse() -> None:
    parsed = SlashCommands(CATALOG).parse("mentee profile goals:learn_giving, build_budget")
    assert parsed.options == {"goals": "learn_giving,build_budget"}
