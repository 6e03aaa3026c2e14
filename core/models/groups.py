"""Peer support groups, their members, meetings, facilitator posts and replies (plan 4A)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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

GROUP_TYPES = ("new_givers", "loan_funders", "community_leaders")
GROUP_STATUSES = ("forming", "active", "full", "archived")
GROUP_MEMBER_ROLES = ("facilitator", "member")
# active: in the group; waitlisted: waiting for a place (``offer_expires_at`` set while a
# freed place is offered); requested: asked to join a private group; left / removed.
GROUP_MEMBER_STATUSES = ("active", "waitlisted", "requested", "left", "removed")
MEETING_STATUSES = ("scheduled", "cancelled")
PROMPT_KINDS = ("guide", "icebreaker", "topic")


class SupportGroup(Base):
    __tablename__ = "support_groups"
    __table_args__ = (
        Index(None, "type", "status"),
        Index(None, "community_id", "status", "name"),
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
    # The structured meeting rule (core.recurrence.Schedule.to_dict); meeting_schedule
    # keeps its readable summary.
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Housekeeping extends the rolling window of meetings when this moment has passed.
    meetings_due_at: Mapped[datetime | None] = mapped_column(index=True)
    # A recurring prompt: {"weekday", "at", "kind", "tag"} in the group's zone.
    prompt_schedule: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    next_prompt_at: Mapped[datetime | None] = mapped_column(index=True)
    archived_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class SupportGroupMember(Base):
    __tablename__ = "support_group_members"
    __table_args__ = (
        UniqueConstraint("group_id", "user_id"),
        Index(None, "user_id"),
        Index(None, "group_id", "status", "queued_at"),
    )

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    group_id: Mapped[str] = mapped_column(ForeignKey("support_groups.id", ondelete="CASCADE"))
    user_id: Mapped[str] = member_fk()
    role: Mapped[str] = mapped_column(String(16), default="member")
    joined_at: Mapped[datetime] = created_at()
    status: Mapped[str] = mapped_column(String(16), default="active")  # see GROUP_MEMBER_STATUSES
    # Where the member stands in line (waitlist and requests are served oldest first).
    queued_at: Mapped[datetime | None] = mapped_column()
    # A freed place offered to this waitlisted member, until then.
    offer_expires_at: Mapped[datetime | None] = mapped_column(index=True)
    offer_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SupportGroupMeeting(Base):
    __tablename__ = "support_group_meetings"
    __table_args__ = (
        Index(None, "group_id", "scheduled_at"),
        # Impact metrics: meetings held in a period and their attendance.
        Index(
            "ix_support_group_meetings_metrics",
            "community_id",
            "status",
            "scheduled_at",
            "attendee_count",
        ),
        # One row per occurrence of the series: materialising again never duplicates.
        UniqueConstraint("group_id", "occurrence_at"),
    )

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
    # The series occurrence this row is (its rule time, UTC), even once moved.
    occurrence_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="scheduled", server_default="scheduled")
    # The platform's calendar event (Discord Guild Scheduled Event), once created.
    event_id: Mapped[str | None] = mapped_column(String(64))
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
    platform_message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # The thread under it (Discord: a thread channel; Slack: the message's ts).
    platform_thread_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # Set when the post is a library prompt.
    prompt_id: Mapped[str | None] = mapped_column(String(64))
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


class DiscussionPrompt(Base):
    """A prompt a community added to the shipped library (``core/data/prompts.json``)."""

    __tablename__ = "discussion_prompts"

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    kind: Mapped[str] = mapped_column(String(16))  # PROMPT_KINDS
    title: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_by: Mapped[str | None] = member_fk(nullable=True, ondelete="SET NULL")
    created_at: Mapped[datetime] = created_at()


class GroupPromptUse(Base):
    """A prompt a group has been shown in the current round of its library (rotation)."""

    __tablename__ = "group_prompt_uses"
    __table_args__ = (UniqueConstraint("group_id", "prompt_id"),)

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    group_id: Mapped[str] = mapped_column(ForeignKey("support_groups.id", ondelete="CASCADE"))
    prompt_id: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime] = created_at()
