"""Mentee goals and their milestone checklists (plan 5A)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, community_fk, created_at, id_column, updated_at

GOAL_STATUSES = ("active", "completed", "abandoned")


class MenteeGoal(Base):
    __tablename__ = "mentee_goals"
    __table_args__ = (Index(None, "mentorship_id", "status"),)

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    mentorship_id: Mapped[str] = mapped_column(ForeignKey("mentorships.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    target_date: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="active")
    progress: Mapped[float] = mapped_column(Float, default=0)  # 0-100
    # True once someone set progress by hand; milestones then stop driving it.
    progress_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class MenteeMilestone(Base):
    __tablename__ = "mentee_milestones"
    __table_args__ = (Index(None, "goal_id"),)

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    goal_id: Mapped[str] = mapped_column(ForeignKey("mentee_goals.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    is_completed: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column()
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
