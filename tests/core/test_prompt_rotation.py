"""The prompt rotation rule (F9): no prompt repeats in a group before its library is used."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.prompts import KINDS, Prompt, pick, shipped

TAGS = ("new_givers", "loan_funders", "community_leaders")
LIBRARY = (
    *shipped()[:12],
    Prompt("own-1", "topic", "Ours", "A prompt of our own", ("new_givers",)),
    Prompt("own-2", "guide", "Ours too", "Another of our own", ()),
)
# A request: no filter, a kind, a tag, or both.
requests = st.tuples(st.none() | st.sampled_from(KINDS), st.none() | st.sampled_from(TAGS))


@settings(max_examples=300, deadline=None)
@given(st.lists(requests, max_size=60), st.text(min_size=1, max_size=12))
def test_no_prompt_repeats_before_the_library_is_used_up(
    asked: list[tuple[str | None, str | None]], group_id: str
) -> None:
    used: set[str] = set()
    shown_this_round: list[str] = []
    for kind, tag in asked:
        chosen = pick(LIBRARY, used, group_id, kind, tag)
        if chosen is None:
            # Refused only when no prompt this round could show matches the request.
            candidates = [p for p in LIBRARY if p.id not in used] or list(LIBRARY)
            assert not [p for p in candidates if kind in (None, p.kind) and tag in (None, *p.tags)]
            continue
        if chosen.new_round:
            assert len(used) == len(LIBRARY)  # only a used-up library starts over
            used.clear()
            shown_this_round.clear()
        assert chosen.prompt.id not in shown_this_round
        assert kind in (None, chosen.prompt.kind)
        assert tag is None or tag in chosen.prompt.tags
        used.add(chosen.prompt.id)
        shown_this_round.append(chosen.prompt.id)


def test_the_shipped_library_has_sixty_items_across_three_kinds_tagged_by_group_type() -> None:
    library = shipped()
    assert len(library) >= 60
    assert {p.kind for p in library} == set(KINDS)
    assert len({p.id for p in library}) == len(library)
    for kind in KINDS:
        assert sum(1 for p in library if p.kind == kind) >= 15
    assert {t for p in library for t in p.tags} == set(TAGS)


def test_unfiltered_picks_walk_the_whole_library_then_start_over() -> None:
    used: set[str] = set()
    for _ in range(len(LIBRARY)):
        chosen = pick(LIBRARY, used, "g1")
        assert chosen is not None
        assert not chosen.new_round
        used.add(chosen.prompt.id)
    again = pick(LIBRARY, used, "g1")
    assert again is not None
    assert again.new_round
