"""Communities (a Discord guild or Slack workspace), their members, badges and audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import (
    Base,
    JSONType,
    community_fk,
    created_at,
    id_column,
    member_fk,
    updated_at,
)

PLATFORMS = ("discord", "slack", "console")


class Community(Base):
    """One Discord guild or one Slack workspace, with its own settings."""

    __tablename__ = "communities"
    __table_args__ = (UniqueConstraint("platform", "platform_id"),)

    id: Mapped[str] = id_column()
    platform: Mapped[str] = mapped_column(String(16))
    platform_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    admin_role_id: Mapped[str | None] = mapped_column(String(64))
    admin_channel_id: Mapped[str | None] = mapped_column(String(64))
    announcement_channel_id: Mapped[str | None] = mapped_column(String(64))
    group_category_id: Mapped[str | None] = mapped_column(String(64))
    default_timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    expertise_options: Mapped[list[str]] = mapped_column(default=list)
    goal_options: Mapped[list[str]] = mapped_column(default=list)
    # badge/role key -> {"name": shown name, "id": platform role or user-group id once created}
    roles: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Free-form per-community overrides (matching weights, thresholds, ...).
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_set_up: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the app was removed from the workspace (Slack: uninstalled, or its bot token
    # revoked); NULL while installed. Its deliveries stop, and its data is erased once
    # ``uninstalled_retention_days`` have passed unless it is installed again.
    uninstalled_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Member(Base):
    """A person in one community: (community, platform user id). The plan's ``userId``."""

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("community_id", "platform_user_id"),
        Index(None, "deletion_due_at"),  # housekeeping finds deletions that fell due
    )

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    platform_user_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str | None] = mapped_column(String(64))
    languages: Mapped[list[str]] = mapped_column(default=list)
    left_at: Mapped[datetime | None] = mapped_column()
    # Minutes before a session this member is reminded; NULL = the defaults, [] = none.
    session_reminders: Mapped[list[int] | None] = mapped_column(JSONType, default=None)
    # A pending deletion of this member's data (F15, core.usecases.privacy): when it is
    # due and why ("request" or "left"); "forgotten" once done, while its last platform
    # effects (role revokes) are on their way.
    deletion_due_at: Mapped[datetime | None] = mapped_column()
    deletion_reason: Mapped[str | None] = mapped_column(String(16))
    # Raised on every deletion request and cancel; the confirm button carries it.
    privacy_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class BadgeAward(Base):
    """A badge a member earned; awarded once."""

    __tablename__ = "badge_awards"
    __table_args__ = (UniqueConstraint("member_id", "badge"),)

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    member_id: Mapped[str] = member_fk()
    badge: Mapped[str] = mapped_column(String(64))
    awarded_at: Mapped[datetime] = created_at()


class AuditEntry(Base):
    """Who did what to which record, for every admin action (F14)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "community_id", "created_at"),)

    # Append-only: an increasing integer keeps entries in the order they happened.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    community_id: Mapped[str] = mapped_column(
        String(24), ForeignKey("communities.id", ondelete="CASCADE"), nullable=False
    )
    actor_id: Mapped[str | None] = member_fk(nullable=True, ondelete="SET NULL")
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str | None] = mapped_column(String(24))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = created_at()
