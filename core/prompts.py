"""The discussion-prompt library (F9) and its rotation rule, free of storage.

The shipped library is ``core/data/prompts.json`` (discussion guides, icebreakers and
topic cards, tagged by group type); communities add their own. A group sees every prompt
of its library once before any repeats: :func:`pick` chooses among the prompts the group
has not used, and starts a new round only when none is left.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

KINDS = ("guide", "icebreaker", "topic")
KIND_NAMES = {"guide": "Discussion guide", "icebreaker": "Icebreaker", "topic": "Topic card"}


@dataclass(frozen=True)
class Prompt:
    id: str
    kind: str
    title: str
    text: str
    tags: tuple[str, ...]


@cache
def shipped() -> tuple[Prompt, ...]:
    raw = json.loads(resources.files("core.data").joinpath("prompts.json").read_text("utf-8"))
    return tuple(
        Prompt(p["id"], p["kind"], p["title"], p["text"], tuple(p["tags"])) for p in raw["prompts"]
    )


@dataclass(frozen=True)
class Pick:
    prompt: Prompt
    new_round: bool  # the library was used up: the group's rotation starts again


def matches(prompt: Prompt, kind: str | None, tag: str | None) -> bool:
    return (kind is None or prompt.kind == kind) and (tag is None or tag in prompt.tags)


def pick(
    library: Sequence[Prompt],
    used: Collection[str],
    group_id: str,
    kind: str | None = None,
    tag: str | None = None,
) -> Pick | None:
    """The group's next prompt, or None when every prompt matching ``kind``/``tag`` was
    used while others in the library were not (the caller says so, or drops the filter).

    Among the unused, the order is a stable shuffle per group, so groups do not all walk
    the library in the same order.
    """
    if not library:
        return None
    fresh = [p for p in library if p.id not in used]
    new_round = not fresh
    if new_round:
        fresh = list(library)
    wanted = [p for p in fresh if matches(p, kind, tag)]
    if not wanted:
        return None
    chosen = min(wanted, key=lambda p: hashlib.sha256(f"{group_id}:{p.id}".encode()).digest())
    return Pick(chosen, new_round)
