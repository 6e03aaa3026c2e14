"""Mentors, mentees, mentorships and what happens inside one (plan phases 1-3, 5B)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
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

MENTOR_STATUSES = ("pending", "active", "paused", "retired", "rejected")
MENTOR_STYLES = ("async", "scheduled", "casual")
MENTEE_STYLES = ("any", *MENTOR_STYLES)
MENTEE_STATUSES = ("seeking", "matched", "completed")
# "pending" is a request (or a round's proposal) waiting for answers; "declined" and
# "expired" close a request that never became a mentorship.
MENTORSHIP_STATUSES = ("pending", "active", "paused", "completed", "ended", "declined", "expired")
MENTORSHIP_ORIGINS = ("request", "round")
SESSION_TYPES = ("one_on_one", "group", "workshop")
SESSION_STATUSES = ("scheduled", "completed", "cancelled", "no_show")


class Mentor(Base):
    __tablename__ = "mentors"
    __table_args__ = (
        # The plan's ``userId @unique``: one mentor profile per member.
        UniqueConstraint("user_id"),
        Index(None, "status", "is_accepting"),
        Index("ix_mentors_expertise", "expertise", postgresql_using="gin"),
        # The mentor listing's version check (count and newest change per community) and
        # its refresh, which reads (id, updated_at) of recent changes from the index alone.
        Index(None, "community_id", "updated_at", "id"),
        Index(None, "community_id", "status"),  # impact metrics: mentors by status
    )

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    user_id: Mapped[str] = member_fk()
    bio: Mapped[str] = mapped_column(Text)
    expertise: Mapped[list[str]] = mapped_column(default=list)
    availability: Mapped[int] = mapped_column(Integer)  # hours per month
    max_mentees: Mapped[int] = mapped_column(Integer, default=3)
    current_mentees: Mapped[int] = mapped_column(Integer, default=0)
    preferred_style: Mapped[str] = mapped_column(String(16))
    languages: Mapped[list[str]] = mapped_column(default=list)
    timezone: Mapped[str | None] = mapped_column(String(64))
    is_accepting: Mapped[bool] = mapped_column(Boolean, default=True)
    application_date: Mapped[datetime] = mapped_column()
    approved_date: Mapped[datetime | None] = mapped_column()
    approved_by: Mapped[str | None] = member_fk(nullable=True, ondelete="SET NULL")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    # Raised on every (re-)application; Approve / Reject buttons carry it, so a card left
    # over from an earlier application can never decide a newer one.
    application_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    total_mentees: Mapped[int] = mapped_column(Integer, default=0)
    avg_rating: Mapped[float | None] = mapped_column(Float)
    # False once the mentor opted out of public leaderboards (``/mentor leaderboard``).
    listed_on_boards: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Mentee(Base):
    __tablename__ = "mentees"
    __table_args__ = (
        UniqueConstraint("user_id"),
        Index(None, "status"),
        # Impact metrics: mentees waiting, and new mentee profiles in a period.
        Index(None, "community_id", "status"),
        Index(None, "community_id", "created_at"),
    )

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    user_id: Mapped[str] = member_fk()
    goals: Mapped[list[str]] = mapped_column(default=list)
    challenges: Mapped[str | None] = mapped_column(Text)
    preferred_style: Mapped[str] = mapped_column(String(16), default="any")
    timezone: Mapped[str | None] = mapped_column(String(64))
    languages: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="seeking")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Mentorship(Base):
    __tablename__ = "mentorships"
    __table_args__ = (
        UniqueConstraint("mentor_id", "mentee_id"),
        Index(None, "mentor_id", "status"),
        Index(None, "mentee_id", "status"),
        Index(None, "status", "requested_at"),
        Index(None, "status", "next_check_in"),
        # Impact metrics: mentorships started in a period, with all the figures read of
        # them (time to match, retention, first and returning mentees) in the index; and
        # those closed in a period.
        Index(
            "ix_mentorships_metrics_started",
            "community_id",
            "status",
            "start_date",
            "requested_at",
            "end_date",
            "mentee_id",
        ),
        Index(None, "community_id", "status", "end_date"),
        # ... and per mentee (first mentorships, returning mentees, how long one waits).
        Index(
            "ix_mentorships_metrics_mentees",
            "community_id",
            "mentee_id",
            "start_date",
            "status",
            "end_date",
        ),
    )

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    mentor_id: Mapped[str] = mapped_column(ForeignKey("mentors.id", ondelete="CASCADE"))
    mentee_id: Mapped[str] = mapped_column(ForeignKey("mentees.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    origin: Mapped[str] = mapped_column(String(16), default="request")
    # Both must say yes: a mentee's own request counts as the mentee's yes.
    mentee_accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    mentor_accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    request_note: Mapped[str | None] = mapped_column(Text)
    match_score: Mapped[float | None] = mapped_column(Float)
    nudged_at: Mapped[datetime | None] = mapped_column()
    # When the current request or proposal was made (a declined pair may ask again; the
    # row is reused and ``created_at`` keeps the first time). Nudges and expiry read it.
    requested_at: Mapped[datetime] = mapped_column()
    # Raised each time the row is reopened as a new request; Accept / Decline carry it.
    request_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    goals: Mapped[list[str]] = mapped_column(default=list)
    start_date: Mapped[datetime] = created_at()
    end_date: Mapped[datetime | None] = mapped_column()
    next_check_in: Mapped[datetime | None] = mapped_column()
    notes: Mapped[str | None] = mapped_column(Text)
    completion_notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class MentorMessage(Base):
    __tablename__ = "mentor_messages"
    __table_args__ = (Index(None, "mentorship_id", "created_at"),)

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    mentorship_id: Mapped[str] = mapped_column(ForeignKey("mentorships.id", ondelete="CASCADE"))
    sender_id: Mapped[str] = member_fk()
    content: Mapped[str] = mapped_column(Text)
    # [{"url": ..., "filename": ..., "content_type": ...}]: carried as links, never copied.
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, default=None)
    read_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()


class MentorSession(Base):
    """A scheduled session (F7): one-on-one within a mentorship, or a workshop open to all.

    ``version`` is raised on every change (moved, cancelled, completed): it is the
    calendar file's SEQUENCE, buttons carry it, and a queued reminder made for an older
    version is dropped at send time.
    """

    __tablename__ = "mentor_sessions"
    __table_args__ = (
        Index(None, "mentor_id", "scheduled_at"),
        Index(None, "mentorship_id", "scheduled_at"),
        Index(None, "community_id", "type", "status", "scheduled_at"),
        # Impact metrics: sessions held / missed in a period, per community and per mentor.
        Index(None, "community_id", "status", "scheduled_at"),
        Index(None, "mentor_id", "status", "scheduled_at"),
    )

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    mentorship_id: Mapped[str | None] = mapped_column(ForeignKey("mentorships.id"))
    mentor_id: Mapped[str] = mapped_column(ForeignKey("mentors.id", ondelete="CASCADE"))
    # Who scheduled it, in which zone they typed the time.
    host_id: Mapped[str | None] = member_fk(nullable=True, ondelete="SET NULL")
    timezone: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    scheduled_at: Mapped[datetime] = mapped_column()
    duration: Mapped[int] = mapped_column(Integer)  # minutes
    type: Mapped[str] = mapped_column(String(16))
    meeting_link: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    notes: Mapped[str | None] = mapped_column(Text)
    feedback: Mapped[str | None] = mapped_column(Text)
    no_show_id: Mapped[str | None] = member_fk(nullable=True, ondelete="SET NULL")
    capacity: Mapped[int | None] = mapped_column(Integer)  # workshops only
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The platform's calendar event (Discord Guild Scheduled Event), once created.
    event_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime | None] = mapped_column()


class SessionAttendee(Base):
    """Who a session is for: both people of a one-on-one, a workshop's host and RSVPs.

    Agenda, reminders, free-time checks and the calendar feed all read a member's
    sessions through this table (indexed by member), never by scanning sessions.
    """

    __tablename__ = "session_attendees"
    __table_args__ = (
        UniqueConstraint("session_id", "member_id"),
        Index(None, "member_id", "session_id"),
    )

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    session_id: Mapped[str] = mapped_column(ForeignKey("mentor_sessions.id", ondelete="CASCADE"))
    member_id: Mapped[str] = member_fk()
    role: Mapped[str] = mapped_column(String(16))  # host, participant, attendee
    created_at: Mapped[datetime] = created_at()


class CalendarFeed(Base):
    """A member's private calendar feed: its URL carries this unguessable token (revocable)."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (UniqueConstraint("member_id"), UniqueConstraint("token"))

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    member_id: Mapped[str] = member_fk()
    token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()


class MentorReview(Base):
    __tablename__ = "mentor_reviews"
    __table_args__ = (
        Index(None, "mentor_id"),
        Index(None, "community_id", "created_at", "rating"),  # impact metrics: ratings
        # One review per reviewer per mentorship (F11).
        UniqueConstraint("mentorship_id", "reviewer_id"),
    )

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    mentor_id: Mapped[str] = mapped_column(ForeignKey("mentors.id", ondelete="CASCADE"))
    mentorship_id: Mapped[str | None] = mapped_column(
        ForeignKey("mentorships.id", ondelete="SET NULL")
    )
    reviewer_id: Mapped[str] = member_fk()
    rating: Mapped[float] = mapped_column(Float)
    content: Mapped[str | None] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = created_at()
    # Set when the reviewer changed it within the edit window.
    edited_at: Mapped[datetime | None] = mapped_column()


class MessageRoute(Base):
    """A relayed DM on the platform -> the mentorship it belongs to and who received it.

    A reply to that platform message is routed to this mentorship, never guessed.
    """

    __tablename__ = "message_routes"
    __table_args__ = (
        UniqueConstraint("community_id", "platform_message_id"),
        Index(None, "created_at"),  # housekeeping prunes by age
    )

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    mentorship_id: Mapped[str] = mapped_column(
        ForeignKey("mentorships.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[str] = member_fk()
    platform_message_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at()


class MentorshipThread(Base):
    """Where one participant's side of a mentorship lives on the platform (Slack thread)."""

    __tablename__ = "mentorship_threads"
    __table_args__ = (UniqueConstraint("mentorship_id", "member_id"),)

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    mentorship_id: Mapped[str] = mapped_column(ForeignKey("mentorships.id", ondelete="CASCADE"))
    member_id: Mapped[str] = member_fk()
    platform_thread_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at()


class PendingRelay(Base):
    """A DM the bot could not place (several mentorships): kept until the sender picks one."""

    __tablename__ = "pending_relays"
    __table_args__ = (Index(None, "created_at"),)  # housekeeping prunes by age

    id: Mapped[str] = id_column()
    community_id: Mapped[str] = community_fk()
    member_id: Mapped[str] = member_fk(index=True)
    content: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, default=None)
    created_at: Mapped[datetime] = created_at()
