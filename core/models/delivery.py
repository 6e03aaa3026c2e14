"""The delivery queue (outbox): every effect on a platform is a row here first.

Rows are written in the same transaction as the state change that causes them, so an
effect exists if and only if its cause was committed. The dispatcher claims due rows
under a lease, hands them to the platform port and marks them sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, created_at

# "expired": an effect whose kind drops it once it is no longer useful (recorded, unsent).
DELIVERY_STATUSES = ("pending", "sent", "failed", "cancelled", "expired")

# None is SQL NULL here, not the JSON text 'null'.
_NULLABLE_JSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        Index(None, "status", "due_at"),
        Index(None, "community_id", "group_key"),
        Index(None, "community_id", "destination", "status"),
        Index(None, "lease_until"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    community_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("communities.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column()
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    # Effects that belong together (a session's reminders) share a key to cancel them at once.
    group_key: Mapped[str | None] = mapped_column(String(100))
    # What must be reached in order (see Effect.destination); NULL on rows queued before.
    destination: Mapped[str | None] = mapped_column(String(160))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # An earlier attempt may have reached the platform without its outcome being recorded.
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    result: Mapped[dict[str, Any] | None] = mapped_column(_NULLABLE_JSON)
    created_at: Mapped[datetime] = created_at()


class ProcessedEvent(Base):
    """Platform event/interaction ids already handled, so retries never act twice."""

    __tablename__ = "processed_events"
    __table_args__ = (Index(None, "created_at"),)  # housekeeping prunes by age

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = created_at()


class DispatcherHeartbeat(Base):
    """A running dispatcher. Its claims on deliveries last only while it keeps beating."""

    __tablename__ = "dispatchers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column()
    heartbeat_at: Mapped[datetime] = mapped_column()
