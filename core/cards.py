"""Platform-free message builders for the things members look at (profiles, applications)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from core.actions import action_id
from core.messages import Button, Field, Message, mention, moment
from core.models import Community, Member, Mentor
from core.validation import language_name

STYLE_LABELS = {
    "async": "Async (messages)",
    "scheduled": "Scheduled calls",
    "casual": "Casual check-ins",
    "any": "Any style",
}
MENTOR_STATUS_LABELS = {
    "pending": "Application under review",
    "active": "Active mentor",
    "paused": "Paused (not taking mentees)",
    "retired": "Retired",
    "rejected": "Application not approved",
}


class ShownMember(Protocol):
    """What a card shows of a member: a Member row, or plain columns read in bulk."""

    @property
    def display_name(self) -> str: ...
    @property
    def platform_user_id(self) -> str: ...


class ShownMentor(Protocol):
    """What cards and scores use of a mentor: a Mentor row, or plain columns read in bulk."""

    @property
    def id(self) -> str: ...
    @property
    def expertise(self) -> list[str]: ...
    @property
    def languages(self) -> list[str]: ...
    @property
    def preferred_style(self) -> str: ...
    @property
    def availability(self) -> int: ...
    @property
    def current_mentees(self) -> int: ...
    @property
    def max_mentees(self) -> int: ...
    @property
    def timezone(self) -> str | None: ...


class ShownMentee(Protocol):
    """What cards and scores use of a mentee: a Mentee row, or plain columns read in bulk."""

    @property
    def id(self) -> str: ...
    @property
    def goals(self) -> list[str]: ...
    @property
    def challenges(self) -> str | None: ...
    @property
    def preferred_style(self) -> str: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def languages(self) -> list[str]: ...
    @property
    def status(self) -> str: ...


def local_time(tz: str | None, now: datetime) -> str:
    """The wall-clock time in ``tz`` now, e.g. "14:05 (Europe/Madrid, UTC+01:00)"."""
    if not tz:
        return "timezone not set"
    local = now.astimezone(ZoneInfo(tz))
    offset = local.strftime("%z")
    return f"{local:%H:%M} ({tz}, UTC{offset[:3]}:{offset[3:]})"


def languages_text(codes: list[str]) -> str:
    return ", ".join(_language_label(c) for c in codes) or "—"


@lru_cache(maxsize=1024)
def _language_label(code: str) -> str:
    # pycountry's look-up costs ~20 µs; a round's cards name the same few languages
    # tens of thousands of times.
    return f"{language_name(code)} ({code})"


def mentor_fields(mentor: ShownMentor, now: datetime) -> tuple[Field, ...]:
    return (
        Field("Expertise", ", ".join(mentor.expertise) or "—", inline=True),
        Field("Languages", languages_text(mentor.languages), inline=True),
        Field("Style", STYLE_LABELS.get(mentor.preferred_style, mentor.preferred_style), True),
        Field("Availability", f"{mentor.availability} h/month", inline=True),
        Field("Mentees", f"{mentor.current_mentees} of {mentor.max_mentees}", inline=True),
        Field("Local time", local_time(mentor.timezone, now), inline=True),
    )


def application_ref(mentor: Mentor) -> tuple[str, str]:
    """What an Approve/Reject id carries: the mentor row and which application on it."""
    return mentor.id, str(mentor.application_version)


def application_card(
    mentor: Mentor, applicant: Member, now: datetime, *, decided: str | None = None
) -> Message:
    """The card admins decide on; once decided its buttons are gone and it says how."""
    buttons: tuple[Button, ...] = ()
    if decided is None:
        buttons = (
            Button("Approve", action_id("approve", *application_ref(mentor)), "success"),
            Button("Reject", action_id("reject", *application_ref(mentor)), "danger"),
        )
    return Message(
        title=f"Mentor application: {applicant.display_name}",
        text=f"{mention(applicant.platform_user_id)} applied to mentor.\n\n{mentor.bio}",
        fields=mentor_fields(mentor, now),
        buttons=buttons,
        footer=decided or f"Applied {moment(mentor.application_date, 'f')} · id {mentor.id}",
        tone="info" if decided is None else ("success" if "Approved" in decided else "warning"),
    )


def mentor_profile(mentor: Mentor, member: Member, now: datetime) -> Message:
    rating = f"{mentor.avg_rating:.1f} ★" if mentor.avg_rating is not None else "no ratings yet"
    return Message(
        title=f"Mentor profile: {member.display_name}",
        text=mentor.bio,
        fields=(
            Field("Status", MENTOR_STATUS_LABELS.get(mentor.status, mentor.status)),
            *mentor_fields(mentor, now),
            Field("Rating", rating, inline=True),
            Field("Mentored so far", str(mentor.total_mentees), inline=True),
        ),
        footer=f"Profile id {mentor.id}",
    )


def mentee_profile(mentee: ShownMentee, member: ShownMember) -> Message:
    return Message(
        title=f"Mentee profile: {member.display_name}",
        text=mentee.challenges or "",
        fields=(
            Field("Goals", ", ".join(mentee.goals) or "—"),
            Field("Style", STYLE_LABELS.get(mentee.preferred_style, mentee.preferred_style), True),
            Field("Timezone", mentee.timezone or "not set", inline=True),
            Field("Languages", languages_text(mentee.languages), inline=True),
            Field("Status", mentee.status, inline=True),
        ),
    )


def community_settings(community: Community) -> tuple[Field, ...]:
    def channel(value: str | None) -> str:
        return f"<#{value}>" if value else "not set"

    mentor_role = community.roles.get("mentor", {})
    return (
        Field("Admin role", f"<@&{community.admin_role_id}>" if community.admin_role_id else "—"),
        Field("Admin channel", channel(community.admin_channel_id)),
        Field("Announcements", channel(community.announcement_channel_id)),
        Field("Group category", channel(community.group_category_id)),
        Field("Default timezone", community.default_timezone),
        Field("Mentor role", mentor_role.get("name", "Mentor")),
        Field("Expertise", ", ".join(community.expertise_options)),
        Field("Mentee goals", ", ".join(community.goal_options)),
    )
