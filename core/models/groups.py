"""Peer support groups, their members, meetings, facilitator posts and replies (plan 4A)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, community_fk, created_at, id_column, member_fk, updated_at

GROUP_TYPES = ("new_givers", "loan_funders", "community_leaders")
GROUP_STATUSES = ("forming", "active", "full", "archived")
GROUP_MEMBER_ROLES = ("facilitator", "member")


class SupportGroup(Base):
    __tablename__ = "support_groups"
    __table_args__ = (
        Index(None, "type", "status"),
        Index(None, "facilitator_id"),  # the Group Facilitator badge's counter
    )

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32))
    facilitator_id: Mapped[str | None] = member_fk(nullable=True, ondelete="SET NULL")
    max_members: Mapped[int] = mapped_column(Integer, default=12)
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    meeting_schedule: Mapped[str | None] = mapped_column(String(64))  # "weekly_wednesday_19:00"
    timezone: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    # The group's private channel on the platform, once the delivery queue created it.
    channel_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class SupportGroupMember(Base):
    __tablename__ = "support_group_members"
    __table_args__ = (UniqueConstraint("group_id", "user_id"), Index(None, "user_id"))

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    group_id: Mapped[str] = mapped_column(ForeignKey("support_groups.id", ondelete="CASCADE"))
    user_id: Mapped[str] = member_fk()
    role: Mapped[str] = mapped_column(String(16), default="member")
    joined_at: Mapped[datetime] = created_at()
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, waitlisted, left


class SupportGroupMeeting(Base):
    __tablename__ = "support_group_meetings"
    __table_args__ = (Index(None, "group_id", "scheduled_at"),)

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    group_id: Mapped[str] = mapped_column(ForeignKey("support_groups.id", ondelete="CASCADE"))
    title: Mapped[str | None] = mapped_column(String(200))
    scheduled_at: Mapped[datetime] = mapped_column()
    duration: Mapped[int] = mapped_column(Integer, default=60)
    topic: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    recording_url: Mapped[str | None] = mapped_column(String(500))
    attendee_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()


class SupportGroupPost(Base):
    __tablename__ = "support_group_posts"
    __table_args__ = (Index(None, "group_id", "created_at"),)

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    group_id: Mapped[str] = mapped_column(ForeignKey("support_groups.id", ondelete="CASCADE"))
    author_id: Mapped[str] = member_fk()
    content: Mapped[str] = mapped_column(Text)
    is_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where the post lives on the platform, so replies in its thread can be matched to it.
    platform_message_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class SupportGroupReply(Base):
    __tablename__ = "support_group_replies"
    __table_args__ = (
        Index(None, "post_id"),
        Index(None, "author_id", "created_at"),  # the Peer Supporter badge's counter
    )

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    post_id: Mapped[str] = mapped_column(ForeignKey("support_group_posts.id", ondelete="CASCADE"))
    author_id: Mapped[str] = member_fk()
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
