"""The delivery queue (outbox): every effect on a platform is a row here first.

Rows are written in the same transaction as the state change that causes them, so an
effect exists if and only if its cause was committed. The dispatcher claims due rows
under a lease, hands them to the platform port and marks them sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, created_at

DELIVERY_STATUSES = ("pending", "sent", "failed", "cancelled")


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        Index(None, "status", "due_at"),
        Index(None, "community_id", "group_key"),
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
    status: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    result: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()


class ProcessedEvent(Base):
    """Platform event/interaction ids already handled, so retries never act twice."""

    __tablename__ = "processed_events"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = created_at()
