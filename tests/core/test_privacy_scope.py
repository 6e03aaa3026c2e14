"""Every table that can hold something about a member is covered by the privacy export
(F15): a new table that reaches ``members`` without an entry in ``scope.SECTIONS`` (or a
reason in ``scope.NOT_PERSONAL``) fails here."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Column, ForeignKey, MetaData, String, Table

from core.models import Base
from core.usecases.privacy.scope import NOT_PERSONAL, SECTIONS


def reaching_members(tables: Mapping[str, Table] = Base.metadata.tables) -> set[str]:
    """Tables with a foreign-key path to ``members`` (the member row, their profiles, the
    rows that hang from those, ...)."""
    found = {"members"}
    grew = True
    while grew:
        grew = False
        for name, table in tables.items():
            if name in found:
                continue
            if any(fk.column.table.name in found for fk in table.foreign_keys):
                found.add(name)
                grew = True
    return found


def test_every_table_that_reaches_a_member_is_exported_or_says_why_not() -> None:
    missing = reaching_members() - set(SECTIONS) - set(NOT_PERSONAL)
    assert not missing, f"add these tables to core/usecases/privacy/scope.py: {missing}"


def test_the_export_names_only_real_tables() -> None:
    assert set(SECTIONS) | set(NOT_PERSONAL) <= set(Base.metadata.tables)
    assert not set(SECTIONS) & set(NOT_PERSONAL)


def test_the_walk_finds_a_new_table_hanging_from_a_member() -> None:
    meta = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(meta)
    Table(
        "member_notes",
        meta,
        Column("id", String, primary_key=True),
        Column("member_id", String, ForeignKey("members.id")),
    )
    assert "member_notes" in reaching_members(meta.tables) - set(SECTIONS) - set(NOT_PERSONAL)
