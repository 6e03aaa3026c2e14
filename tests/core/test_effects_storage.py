"""Effects' stored form: the JSON text the queue keeps (SQLite) reads as the mapping
does (PostgreSQL), old rows included, and every part of a message survives the trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from core.effects import (
    SURELY_USEFUL_FOR,
    DirectMessage,
    Effect,
    GroupPost,
    Reminder,
    dump,
    dump_json,
    load,
)
from core.messages import Button, Field, File, Message
from tests.core.test_delivery import EXPECTED, OLD_PAYLOADS

FULL = Message(
    text="hello <@u1>",
    title="Title",
    fields=(Field("a", "b", True), Field("c", "d")),
    buttons=(Button("Go", "mb:go:1", "primary"), Button("No", "mb:no:1")),
    footer="foot",
    tone="error",
    files=(File("x.ics", b"\x00\xffdata", "text/calendar"),),
)


@pytest.mark.parametrize("kind", sorted(OLD_PAYLOADS))
def test_an_old_row_reads_the_same_from_json_text(kind: str) -> None:
    assert load(kind, json.dumps(OLD_PAYLOADS[kind])) == EXPECTED[kind]


@pytest.mark.parametrize("message", [FULL, Message(), Message(text="hi")])
def test_every_part_of_a_message_survives_storage(message: Message) -> None:
    effect = DirectMessage("u", message, thread="t")
    assert load("dm", dump_json(effect)) == effect
    assert load("dm", dump(effect)) == effect


def test_a_plain_message_is_stored_compactly() -> None:
    stored = dump(DirectMessage("u", Message(text="hi")))
    assert stored["message"] == {"text": "hi", "title": None}


def test_missing_message_parts_take_their_defaults() -> None:
    effect = load("group_post", '{"group_id": "g", "message": {}}')
    assert effect == GroupPost("g", Message())


@pytest.mark.parametrize(
    "message",
    [
        "not a mapping",
        {"text": "x", "fields": [["only two", "parts"]]},
        {"text": "x", "buttons": "no"},
        {"text": 3},
    ],
)
def test_a_message_that_does_not_fit_is_refused(message: object) -> None:
    with pytest.raises(ValueError):
        load(
            "reminder",
            json.dumps({"user_id": "u", "message": message, "at": "2026-01-05T12:00:00Z"}),
        )


def test_a_message_instance_is_taken_as_is() -> None:
    effect = load("reminder", {"user_id": "u", "message": FULL, "at": "2026-01-05T12:00:00Z"})
    assert isinstance(effect, Reminder)
    assert effect.message is FULL


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_a_kind_with_a_fixed_window_is_useful_for_exactly_that_long(kind: str) -> None:
    """The dispatcher skips the due-time check of such effects younger than
    SURELY_USEFUL_FOR: that is only right if each is useful for its kind's window."""
    effect = EXPECTED[kind]
    due = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    window = type(effect).useful_for
    if window is None:
        effect.useful_until(due)  # the kind says it itself
    else:
        assert effect.useful_until(due) == due + window
        assert window >= SURELY_USEFUL_FOR


def test_a_kind_without_a_fixed_window_must_state_useful_until() -> None:
    with pytest.raises(TypeError, match="useful_until"):

        class Vague(Effect):
            kind: ClassVar[str] = "vague"
            useful_for: ClassVar[timedelta | None] = None
