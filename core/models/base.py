"""Declarative base and the column types every model shares.

Portable on SQLite and PostgreSQL: datetimes are stored as UTC and always come back
timezone-aware; lists and maps are JSON (JSONB on PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, MetaData, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from core.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC; naive values are refused so no zone is ever guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        # SQLite keeps no offset; store the UTC wall time so string order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # SQLAlchemy reads this class attribute once; it is never mutated.
    type_annotation_map = {datetime: UTCDateTime, list[str]: JSONType, dict[str, Any]: JSONType}  # noqa: RUF012


def id_column() -> Mapped[str]:
    return mapped_column(String(24), primary_key=True, default=new_id)


def community_fk() -> Mapped[str]:
    return mapped_column(
        String(24), ForeignKey("communities.id", ondelete="CASCADE"), index=True, nullable=False
    )


def member_fk(*, nullable: bool = False, index: bool = False, ondelete: str = "CASCADE") -> Any:
    return mapped_column(
        String(24), ForeignKey("members.id", ondelete=ondelete), nullable=nullable, index=index
    )


def created_at() -> Mapped[datetime]:
    return mapped_column(default=utcnow, nullable=False)


def updated_at() -> Mapped[datetime]:
    return mapped_column(default=utcnow, onupdate=utcnow, nullable=False)
