"""When a community's recurring reports (the weekly metrics digest, the monthly
leaderboard) are next due: the one queued report's moment, advanced by housekeeping."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, community_fk, created_at, id_column

REPORT_KINDS = ("digest", "leaderboard")


class ReportSchedule(Base):
    """A report a community turned on. Its next run is queued (a delivery with that
    ``due_at``) in the transaction that sets ``next_at``; once ``next_at`` has passed,
    housekeeping queues the following one and moves ``next_at`` on, in one transaction."""

    __tablename__ = "report_schedules"
    __table_args__ = (UniqueConstraint("community_id", "report"), Index(None, "next_at"))

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    report: Mapped[str] = mapped_column(String(16))  # REPORT_KINDS
    next_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = created_at()
