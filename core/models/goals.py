"""Mentee goals, their milestone checklists and the history of their progress (plan 5A)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, community_fk, created_at, id_column, member_fk, updated_at

GOAL_STATUSES = ("active", "completed", "abandoned")
# What a progress record says happened (the chart marks milestones).
GOAL_CHANGES = ("created", "milestone", "unticked", "manual", "completed", "abandoned")


class MenteeGoal(Base):
    __tablename__ = "mentee_goals"
    __table_args__ = (
        Index(None, "mentorship_id", "status"),
        # Housekeeping's nudges: active goals by target date.
        Index(None, "status", "target_date"),
    )

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
    created_by: Mapped[str | None] = member_fk(nullable=True, ondelete="SET NULL")
    # Each nudge goes once: before the target date, and when it passed unmet.
    reminded_at: Mapped[datetime | None] = mapped_column()
    overdue_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class MenteeMilestone(Base):
    __tablename__ = "mentee_milestones"
    __table_args__ = (Index(None, "goal_id"),)

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    goal_id: Mapped[str] = mapped_column(ForeignKey("mentee_goals.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    # The checklist's order, as the goal's author listed the milestones.
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    is_completed: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column()
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()


class GoalProgress(Base):
    """One change of a goal's progress, kept so its history can be charted."""

    __tablename__ = "goal_progress"
    __table_args__ = (
        Index(None, "goal_id", "at"),
        Index(None, "community_id", "change", "at"),  # impact metrics: goals closed a period
    )

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    goal_id: Mapped[str] = mapped_column(ForeignKey("mentee_goals.id", ondelete="CASCADE"))
    progress: Mapped[float] = mapped_column(Float)
    change: Mapped[str] = mapped_column(String(16))
    milestone_id: Mapped[str | None] = mapped_column(
        ForeignKey("mentee_milestones.id", ondelete="SET NULL")
    )
    actor_id: Mapped[str | None] = member_fk(nullable=True, ondelete="SET NULL")
    at: Mapped[datetime] = mapped_column()
