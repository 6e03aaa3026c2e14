"""Forgetting a member (F15): what happens when a deletion falls due, in one transaction.

Removed: their mentor and mentee profiles and applications, their sessions (those of
their mentorships; their RSVPs), goals they set as a mentee, reviews they wrote, group
memberships, badges, calendar feed, DM threads and routes, unplaced DMs, and every
delivery-queue row about them. Ended: their open mentorships (the other person is told by
a queued DM; the mentor's count of active mentees is corrected). Replaced by a tombstone:
the text of their messages, group posts and replies, so the other person's history still
reads in order. Anonymised: the member row (name, platform id, timezone, languages), so
counts over members, mentorships and messages stay right; names in the audit log.
Queued: their roles taken back and their removal from group spaces.

A profile that other people's history still hangs from (a mentorship, a workshop it
hosted) is kept as an empty anchor instead of deleted: every personal field cleared,
status retired. The audit log records that a deletion happened and why, never what.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, select, update

from core.effects import ChannelPost, DirectMessage, RevokeRole, SpaceMembership
from core.messages import Message, moment
from core.models import (
    AuditEntry,
    BadgeAward,
    CalendarFeed,
    Community,
    Delivery,
    Member,
    Mentee,
    MenteeGoal,
    Mentor,
    MentorMessage,
    MentorReview,
    MentorSession,
    Mentorship,
    MentorshipThread,
    MessageRoute,
    PendingRelay,
    SessionAttendee,
    SupportGroup,
    SupportGroupMember,
    SupportGroupPost,
    SupportGroupReply,
)
from core.models.base import utcnow
from core.uow import UnitOfWork
from core.usecases.group_membership import offer_places
from core.usecases.mentor_index import forget_listed_mentor
from core.usecases.parties import Party, load_parties, parties
from core.usecases.reviews import recompute_rating
from core.usecases.sessions import workshops
from core.usecases.sessions.notices import announce, stop_reminders
from core.usecases.sessions.store import attendees

TOMBSTONE = "[message removed: its author deleted their data]"
POST_TOMBSTONE = "[removed: its author deleted their data]"
FORMER_NAME = "Former member"
FORMER_MENTION = "a former member"
OPEN = ("pending", "active", "paused")
FINISHED = ("sent", "failed", "cancelled", "expired")
PAGE_ROWS = 500


def forget_key(member_id: str) -> str:
    """The delivery-queue group of the effects a deletion queues (role revokes, space
    removals): they carry the member's platform id until sent, then are deleted too."""
    return f"forget:{member_id}"


@dataclass
class Forgotten:
    """What one deletion did, in counts (for logs and tests; never stored)."""

    mentorships_ended: int = 0
    messages_tombstoned: int = 0
    reviews_removed: int = 0
    sessions_removed: int = 0
    groups_left: int = 0
    badges_removed: int = 0
    deliveries_removed: int = 0
    audit_scrubbed: int = 0
    profiles: list[str] = field(default_factory=list)


class _Names:
    """Finds and replaces a member's name and platform id in stored text."""

    def __init__(self, platform_user_id: str, name: str, token: str) -> None:
        self.pid, self.name, self.token = platform_user_id, name, token
        words = [re.escape(platform_user_id)]
        if name:
            words.append(re.escape(name))
        self._mention = re.compile(rf"<@!?{re.escape(platform_user_id)}>")
        self._word = re.compile(rf"(?<!\w)(?:{'|'.join(words)})(?!\w)")

    def needles(self) -> list[str]:
        """Substrings to look for in stored JSON and text (raw and JSON-escaped)."""
        found = {self.pid, json.dumps(self.pid)[1:-1]}
        if self.name:
            found |= {self.name, json.dumps(self.name)[1:-1]}
        return sorted(found)

    def named_in(self, text: str) -> bool:
        return bool(self._mention.search(text) or self._word.search(text))

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            if value == self.pid:
                return self.token
            return self._word.sub(FORMER_MENTION, self._mention.sub(FORMER_MENTION, value))
        if isinstance(value, list):
            return [self.scrub(v) for v in value if v != self.pid]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value


async def forget_member(
    uow: UnitOfWork, community: Community, member: Member, reason: str
) -> Forgotten:
    """Remove the member's personal data now (see the module docstring)."""
    done = Forgotten()
    now = uow.now()
    token = f"gone-{secrets.token_hex(6)}"
    names = _Names(member.platform_user_id, member.display_name, token)
    mentor = await uow.session.scalar(select(Mentor).where(Mentor.user_id == member.id))
    mentee = await uow.session.scalar(select(Mentee).where(Mentee.user_id == member.id))
    sides = []
    if mentor is not None:
        sides.append(Mentorship.mentor_id == mentor.id)
    if mentee is not None:
        sides.append(Mentorship.mentee_id == mentee.id)
    found = await load_parties(uow, parties().where(or_(*sides))) if sides else []
    mentorship_ids = [p.mentorship.id for p in found]
    # First, before this deletion queues effects of its own that must still go out.
    done.deliveries_removed = await _deliveries(uow, community, names, mentorship_ids)
    for party in found:
        done.mentorships_ended += await _close(uow, community, party, member)
    done.sessions_removed = await _sessions(uow, community, member, mentor, mentorship_ids)
    done.messages_tombstoned = await _tombstone_messages(uow, community, member)
    done.reviews_removed = await _reviews(uow, member)
    if mentee is not None:
        await uow.session.execute(
            delete(MenteeGoal)
            .where(
                MenteeGoal.mentorship_id.in_(
                    select(Mentorship.id).where(Mentorship.mentee_id == mentee.id)
                )
            )
            .execution_options(synchronize_session=False)
        )
    done.groups_left = await _groups(uow, community, member)
    done.badges_removed = await _badges_and_roles(uow, community, member, mentor)
    for model, column in (
        (CalendarFeed, CalendarFeed.member_id),
        (MentorshipThread, MentorshipThread.member_id),
        (MessageRoute, MessageRoute.recipient_id),
        (PendingRelay, PendingRelay.member_id),
        (SessionAttendee, SessionAttendee.member_id),
    ):
        await uow.session.execute(
            delete(model).where(column == member.id).execution_options(synchronize_session=False)
        )
    done.profiles = await _profiles(uow, community, mentor, mentee)
    done.audit_scrubbed = await _audit(uow, community, names)
    uow.audit(
        community.id,
        None,
        "privacy.forget",
        target_type="member",
        target_id=member.id,
        summary="deleted a member's data "
        + ("(asked for by the member)" if reason == "request" else "(left the community)"),
    )
    member.platform_user_id = token
    member.display_name = FORMER_NAME
    member.timezone = None
    member.languages = []
    member.session_reminders = None
    member.left_at = member.left_at or now
    # Stays marked until the role revokes queued above were sent and deleted.
    member.deletion_reason, member.deletion_due_at = "forgotten", now
    member.privacy_version += 1
    await uow.session.flush()
    return done


async def _close(uow: UnitOfWork, community: Community, party: Party, member: Member) -> int:
    """End an open mentorship of the member's; tell the other person (by a queued DM that
    names nobody) and correct the counts."""
    ms, now = party.mentorship, uow.now()
    if ms.status not in OPEN:
        return 0
    was = ms.status
    is_mentor = party.mentor_member.id == member.id
    other = party.other(member)
    ms.status = "ended" if was != "pending" else "expired"
    ms.end_date = now
    if was in ("active", "paused") and not is_mentor:
        await uow.session.execute(
            update(Mentor)
            .where(Mentor.id == party.mentor.id, Mentor.current_mentees > 0)
            .values(current_mentees=Mentor.current_mentees - 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    if is_mentor:
        still = await uow.session.scalar(
            select(func.count(Mentorship.id)).where(
                Mentorship.mentee_id == party.mentee.id,
                Mentorship.id != ms.id,
                Mentorship.status.in_(("active", "paused")),
            )
        )
        if was in ("active", "paused"):
            party.mentee.status = "matched" if still else "seeking"
    role = "mentor" if is_mentor else "mentee"
    since = moment(ms.start_date, "D")
    if was == "pending":
        text = (
            f"A mentorship request from {since} can't go ahead: the {role} has left "
            "Mentorbot in this community and their data was deleted."
        )
    else:
        text = (
            f"Your mentorship with your {role} (since {since}) has ended: they left "
            "Mentorbot in this community and their data was deleted. Your conversation "
            "stays readable (`/mentorship history`); their messages are replaced by a note, "
            "and sessions you had planned together are cancelled."
        )
    await uow.outbox.add(
        community.id,
        DirectMessage(
            other.platform_user_id, Message(title="Mentorship ended", text=text), thread=ms.id
        ),
        key=f"forget:{ms.id}:{other.id}",
    )
    return 1


async def _sessions(
    uow: UnitOfWork,
    community: Community,
    member: Member,
    mentor: Mentor | None,
    mentorship_ids: list[str],
) -> int:
    """Delete the sessions of the member's mentorships (reminders stopped); cancel the
    workshops they host that are still ahead (attendees told, the event cancelled), kept
    for their attendees' history."""
    removed = 0
    mine = (
        (
            await uow.session.execute(
                select(MentorSession).where(MentorSession.mentorship_id.in_(mentorship_ids))
            )
        )
        .scalars()
        .all()
        if mentorship_ids
        else []
    )
    for session in mine:
        await stop_reminders(uow, session, "cancelled: a participant's data was deleted")
        await uow.session.delete(session)
        removed += 1
    hosted = [
        MentorSession.host_id == member.id,
        *([MentorSession.mentor_id == mentor.id] if mentor is not None else []),
    ]
    workshops_ahead = (
        (
            await uow.session.execute(
                select(MentorSession).where(
                    MentorSession.community_id == community.id,
                    MentorSession.mentorship_id.is_(None),
                    or_(*hosted),
                    MentorSession.status == "scheduled",
                    MentorSession.scheduled_at > uow.now(),
                )
            )
        )
        .scalars()
        .all()
    )
    for session in workshops_ahead:
        session.status, session.version = "cancelled", session.version + 1
        session.updated_at = uow.now()
        await stop_reminders(uow, session, "superseded: the session was cancelled")
        people = [(m, r) for m, r in await attendees(uow, session.id) if m.id != member.id]
        await announce(
            uow,
            session,
            people,
            "Session cancelled",
            {"": "This workshop is cancelled: its host is no longer with Mentorbot here."},
        )
        if session.type == "workshop":
            await workshops.update_event(uow, session)
    await uow.session.flush()
    return removed


async def _tombstone_messages(uow: UnitOfWork, community: Community, member: Member) -> int:
    """One statement for all their messages, however many: the other person's stay."""
    result = await uow.session.execute(
        update(MentorMessage)
        .where(MentorMessage.community_id == community.id, MentorMessage.sender_id == member.id)
        .values(content=TOMBSTONE, attachments=None)
        .execution_options(synchronize_session=False)
    )
    for model in (SupportGroupPost, SupportGroupReply):
        await uow.session.execute(
            update(model)
            .where(model.community_id == community.id, model.author_id == member.id)
            .values(content=POST_TOMBSTONE)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def _reviews(uow: UnitOfWork, member: Member) -> int:
    """Delete the reviews they wrote; recompute the averages of the mentors they rated."""
    rated = list(
        (
            await uow.session.execute(
                select(MentorReview.mentor_id).where(MentorReview.reviewer_id == member.id)
            )
        )
        .scalars()
        .unique()
    )
    if not rated:
        return 0
    result = await uow.session.execute(
        delete(MentorReview)
        .where(MentorReview.reviewer_id == member.id)
        .execution_options(synchronize_session=False)
    )
    for mentor_id in rated:
        await recompute_rating(uow, mentor_id)
    return int(getattr(result, "rowcount", 0) or 0)


async def _groups(uow: UnitOfWork, community: Community, member: Member) -> int:
    """Leave every group: out of its space (queued), places offered on; a group they led
    keeps going without a facilitator and its admins are told."""
    rows = (
        await uow.session.execute(
            select(SupportGroupMember, SupportGroup)
            .join(SupportGroup, SupportGroup.id == SupportGroupMember.group_id)
            .where(SupportGroupMember.user_id == member.id)
        )
    ).all()
    for row, group in rows:
        if row.status == "active" and group.status != "archived":
            await uow.outbox.add(
                community.id,
                SpaceMembership(group.id, member.platform_user_id, False),
                key=f"forget:{member.id}:space:{group.id}",
                group_key=forget_key(member.id),
            )
        await uow.session.delete(row)
    await uow.session.flush()
    led = (
        (
            await uow.session.execute(
                select(SupportGroup).where(SupportGroup.facilitator_id == member.id)
            )
        )
        .scalars()
        .all()
    )
    for group in led:
        group.facilitator_id = None
        if group.status != "archived" and community.admin_channel_id:
            await uow.outbox.add(
                community.id,
                ChannelPost(
                    community.admin_channel_id,
                    Message(
                        title="A group has no facilitator",
                        text=f"The facilitator of “{group.name}” left Mentorbot here and "
                        "their data was deleted. The group goes on; give it a new "
                        "facilitator or archive it with `/group archive`.",
                        tone="warning",
                    ),
                ),
                key=f"forget:{member.id}:facilitator:{group.id}",
            )
    for group in {g.id: g for _, g in rows}.values():
        if group.status != "archived":
            await offer_places(uow, group)
    return len(rows)


async def _badges_and_roles(
    uow: UnitOfWork, community: Community, member: Member, mentor: Mentor | None
) -> int:
    badges = list(
        (
            await uow.session.execute(
                select(BadgeAward.badge).where(BadgeAward.member_id == member.id)
            )
        ).scalars()
    )
    roles = list(badges)
    if mentor is not None and mentor.status in ("active", "paused"):
        roles.append("mentor")
    await uow.outbox.add_many(
        community.id,
        [
            (RevokeRole(member.platform_user_id, key), f"forget:{member.id}:role:{key}")
            for key in roles
        ],
        group_key=forget_key(member.id),
    )
    await uow.session.execute(
        delete(BadgeAward)
        .where(BadgeAward.member_id == member.id)
        .execution_options(synchronize_session=False)
    )
    return len(badges)


async def _profiles(
    uow: UnitOfWork, community: Community, mentor: Mentor | None, mentee: Mentee | None
) -> list[str]:
    """Delete the profiles; keep an emptied anchor where others' history hangs from one."""
    done = []
    if mentor is not None:
        anchored = await _referenced(
            uow,
            (
                select(Mentorship.id).where(Mentorship.mentor_id == mentor.id),
                select(MentorSession.id).where(MentorSession.mentor_id == mentor.id),
                select(MentorReview.id).where(MentorReview.mentor_id == mentor.id),
            ),
        )
        if anchored:
            mentor.bio, mentor.expertise, mentor.languages = "", [], []
            mentor.timezone, mentor.rejection_reason = None, None
            mentor.availability, mentor.current_mentees = 0, 0
            mentor.status, mentor.is_accepting = "retired", False
            mentor.updated_at = uow.now()
            done.append("mentor emptied")
        else:
            await uow.session.delete(mentor)
            done.append("mentor deleted")
        # Suggestions and browse forget them now, in every process (see mentor_index).
        await forget_listed_mentor(uow, community.id)
    if mentee is not None:
        anchored = await _referenced(
            uow, (select(Mentorship.id).where(Mentorship.mentee_id == mentee.id),)
        )
        if anchored:
            mentee.goals, mentee.challenges, mentee.languages = [], None, []
            mentee.timezone, mentee.preferred_style = None, "any"
            mentee.status = "completed"
            done.append("mentee emptied")
        else:
            await uow.session.delete(mentee)
            done.append("mentee deleted")
    await uow.session.flush()
    return done


async def _referenced(uow: UnitOfWork, queries: Iterable[Any]) -> bool:
    for query in queries:
        if (await uow.session.execute(query.limit(1))).first() is not None:
            return True
    return False


async def _deliveries(
    uow: UnitOfWork, community: Community, names: _Names, mentorship_ids: list[str]
) -> int:
    """Every queue row about the member: what waits for them is dropped, what was sent
    or failed is deleted, what waits for someone else and names them is reworded."""
    in_community = Delivery.community_id == community.id
    removed = 0
    # Theirs: DMs and reminders to them, role and space changes for them.
    theirs = or_(
        Delivery.destination == f"user:{names.pid}",
        *[cast(Delivery.payload, Text).contains(n, autoescape=True) for n in names.needles()],
        *[cast(Delivery.payload, Text).contains(i, autoescape=True) for i in mentorship_ids],
    )
    last = 0
    while True:
        rows = (
            await uow.session.execute(
                select(Delivery.id, Delivery.kind, Delivery.status, Delivery.payload)
                .where(in_community, theirs, Delivery.id > last)
                .order_by(Delivery.id)
                .limit(PAGE_ROWS)
            )
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        drop, reword = [], []
        for row_id, kind, status, payload in rows:
            text = json.dumps(payload, ensure_ascii=False)
            mine = payload.get("user_id") == names.pid or (
                kind in ("dm", "reminder") and payload.get("thread") in mentorship_ids
            )
            if status in FINISHED or mine:
                drop.append(row_id)
            elif names.named_in(text) or names.pid in text:
                reword.append((row_id, names.scrub(payload)))
        if drop:
            result = await uow.session.execute(
                delete(Delivery)
                .where(Delivery.id.in_(drop))
                .execution_options(synchronize_session=False)
            )
            removed += int(getattr(result, "rowcount", 0) or 0)
        for row_id, payload in reword:
            await uow.session.execute(
                update(Delivery)
                .where(Delivery.id == row_id)
                .values(payload=payload)
                .execution_options(synchronize_session=False)
            )
    return removed


async def _audit(uow: UnitOfWork, community: Community, names: _Names) -> int:
    """Entries that name the member (an approval of their application, their removal
    from a group) keep what happened, with the name replaced."""
    named = or_(
        *[AuditEntry.summary.contains(n, autoescape=True) for n in names.needles()],
        *[cast(AuditEntry.details, Text).contains(n, autoescape=True) for n in names.needles()],
    )
    changed = 0
    last = 0
    while True:
        rows = (
            (
                await uow.session.execute(
                    select(AuditEntry)
                    .where(AuditEntry.community_id == community.id, named, AuditEntry.id > last)
                    .order_by(AuditEntry.id)
                    .limit(PAGE_ROWS)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        last = rows[-1].id
        for entry in rows:
            summary, details = names.scrub(entry.summary), names.scrub(dict(entry.details))
            if summary != entry.summary or details != entry.details:
                entry.summary, entry.details = summary, details
                changed += 1
    await uow.session.flush()
    return changed
