"""Turning one effect into port calls, and writing back what the platform returned.

Used by the dispatcher (``core.delivery``); nothing here claims or marks rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.badges import BADGE_ROLE_NAMES
from core.clock import Clock
from core.defaults import ROLE_NAMES
from core.effects import (
    ArchiveSpace,
    ChannelPost,
    CreatePrivateSpace,
    DirectMessage,
    Effect,
    GrantRole,
    GroupPost,
    PruneRole,
    Reminder,
    Report,
    RevokeRole,
    ScheduledEvent,
    ScheduledEventChange,
    SessionEvent,
    SpaceMembership,
)
from core.messages import Message
from core.models import (
    BadgeAward,
    Community,
    Member,
    MentorSession,
    Mentorship,
    MentorshipThread,
    MessageRoute,
    SupportGroup,
    SupportGroupMeeting,
    SupportGroupPost,
)
from core.ports import (
    Attempt,
    DeliveryError,
    PermanentFailure,
    PlatformPort,
    RetryLater,
    Sent,
    Target,
)
from core.queue import QueueConnection
from core.uow import Outbox

# Admins are told when a new group channel leaves this few places on the server, and again
# each time another HEADROOM_STEP are used.
HEADROOM_WARNING = 25
HEADROOM_STEP = 10

# How old a batch's read of its reminders' sessions may be before a send re-reads it.
SESSION_CHECK_SECONDS = 0.25


class Superseded(DeliveryError):
    """The effect no longer applies (a reminder for a session since moved or cancelled):
    recorded as cancelled, never sent."""


@dataclass(frozen=True)
class CommunityAddress:
    """What delivery needs of a community: where it is, its roles, its admins' channel."""

    id: str
    platform: str
    platform_id: str
    group_category_id: str | None
    admin_channel_id: str | None
    roles: dict[str, Any]
    # The app was removed from the community (uninstalled): nothing more is delivered.
    uninstalled: bool = False

    @cached_property
    def target(self) -> Target:
        return Target(self.id, self.platform, self.platform_id, self.group_category_id)


def addresses(db: QueueConnection, found: Sequence[Sequence[Any]]) -> dict[str, CommunityAddress]:
    """The communities read by the communities statement (core.queue), by id."""
    return {
        row[0]: CommunityAddress(
            row[0], row[1], row[2], row[3], row[4], db.json_of(row[5]) or {}, bool(row[6])
        )
        for row in found
    }


class Outcome:
    """What to write back once the platform accepted an effect.

    Written by hand, not as a dataclass: one is made for every effect sent, nearly
    always with nothing but what the platform gave back, so only what is given is
    stored and the rest are the class's ``None``; ``writes_back`` is known when made.
    """

    role_ids: dict[str, str] | None = None  # role key -> platform id
    group_channel: tuple[str, str] | None = None  # (group id, channel id)
    # A mentorship DM: (mentorship id, recipient user id, platform message id, thread id).
    route: tuple[str, str, str | None, str | None] | None = None
    session_event: tuple[str, str] | None = None  # (session id, platform event id)
    meeting_event: tuple[str, str] | None = None  # (meeting id, platform event id)
    post_ids: tuple[str, str, str] | None = None  # (post id, message id, thread id)
    # Channels the server can still hold, when few are left (admins are told).
    space_headroom: int | None = None
    # Whether any of the above is set (then the dispatcher writes it back).
    writes_back: bool = False

    def __init__(
        self,
        sent: Sent | None = None,
        *,
        role_ids: dict[str, str] | None = None,
        group_channel: tuple[str, str] | None = None,
        route: tuple[str, str, str | None, str | None] | None = None,
        session_event: tuple[str, str] | None = None,
        meeting_event: tuple[str, str] | None = None,
        post_ids: tuple[str, str, str] | None = None,
        space_headroom: int | None = None,
    ) -> None:
        self.sent: Sent = {} if sent is None else sent
        if not (
            role_ids
            or group_channel
            or route
            or session_event
            or meeting_event
            or post_ids
            or space_headroom is not None
        ):
            return  # the usual case: nothing to write back
        self.writes_back = True
        if role_ids:
            self.role_ids = role_ids
        self.group_channel, self.route = group_channel, route
        self.session_event, self.meeting_event = session_event, meeting_event
        self.post_ids, self.space_headroom = post_ids, space_headroom

    def __repr__(self) -> str:
        return f"Outcome({vars(self)!r})"


class Performer:
    """Carries out effects through a port. ``role_ids`` remembers roles created during
    the current batch, so two grants of a role that did not exist create it once."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        sessions: Callable[[], Iterable[str]] = tuple,
    ) -> None:
        """``sessions``: the sessions the batch's reminders are about, asked for when the
        first reminder is checked (so that they are read together, not one by one)."""
        self._factory = factory
        self._clock = clock
        self.role_ids: dict[tuple[str, str], str] = {}
        # Those sessions -> (version, status), read at once for all of them and re-read
        # when older than SESSION_CHECK_SECONDS.
        self._expected = sessions
        self._sessions: set[str] | None = None
        self._states: dict[str, tuple[int, str]] = {}
        self._states_read_at = -1.0
        self._states_lock = asyncio.Lock()
        # Ids made earlier in this batch and not yet written back: a group's effects run
        # in order, so a cancel may follow its event's creation, a reply its post.
        self.event_ids: dict[str, str] = {}
        self.group_spaces: dict[str, str] = {}
        self.thread_ids: dict[str, str] = {}

    async def perform(
        self, port: PlatformPort, community: CommunityAddress, effect: Effect, attempt: Attempt
    ) -> Outcome:
        target = community.target
        match effect:
            case Reminder(
                user_id=user, message=message, session_id=str(session), session_version=v
            ):
                # Checked right before the call: a session moved or cancelled since the
                # reminder was queued (by any process) is never reminded of.
                await self._require_current_session(session, v)
                return Outcome(sent=await port.send_dm(target, user, message, None, attempt))
            case (
                DirectMessage(user_id=user, message=message, thread=None)
                | Reminder(user_id=user, message=message)
            ):
                return Outcome(sent=await port.send_dm(target, user, message, None, attempt))
            case DirectMessage(user_id=user, message=message, thread=str(thread)):
                # ``thread`` is a mentorship; the port continues that person's thread of it.
                platform_thread = await self._thread_of(community.id, thread, user)
                sent = await port.send_dm(target, user, message, platform_thread, attempt)
                message_id, thread_id = sent.get("message_id"), sent.get("thread_id")
                return Outcome(
                    sent=sent,
                    route=(
                        thread,
                        user,
                        str(message_id) if message_id else None,
                        str(thread_id) if thread_id else None,
                    ),
                )
            case ChannelPost(channel_id=channel, message=message, pin=pin):
                return Outcome(sent=await port.post(target, channel, message, pin, attempt))
            case GrantRole(user_id=user, role_key=key) | RevokeRole(user_id=user, role_key=key):
                info = community.roles.get(key) or {}
                name = info.get("name") or {**ROLE_NAMES, **BADGE_ROLE_NAMES}.get(
                    key, key.replace("_", " ").title()
                )
                known = self.role_ids.get((community.id, key)) or info.get("id")
                role_id = await port.ensure_role(target, name, known)
                self.role_ids[(community.id, key)] = role_id
                if isinstance(effect, GrantRole):
                    await port.grant_role(target, user, role_id)
                else:
                    await port.revoke_role(target, user, role_id)
                return Outcome(sent={"role_id": role_id}, role_ids={key: role_id})
            case PruneRole(role_key=key):
                info = community.roles.get(key) or {}
                known = self.role_ids.get((community.id, key)) or info.get("id")
                if known is None:
                    return Outcome()  # never created: nobody holds it
                holders = await port.role_holders(target, known)
                if holders is None:
                    return Outcome(sent={"pruned": None})
                entitled = await self._awarded(community.id, key, holders)
                strays = [user for user in holders if user not in entitled]
                for user in strays:
                    await port.revoke_role(target, user, known)
                return Outcome(sent={"pruned": len(strays)})
            case CreatePrivateSpace(group_id=group_id, name=name, topic=topic, member_user_ids=ids):
                space = await port.create_private_space(target, name, topic, ids, attempt)
                self.group_spaces[group_id] = space
                left = await port.space_headroom(target)
                return Outcome(
                    sent={"space_id": space},
                    group_channel=(group_id, space),
                    space_headroom=left if left is not None and left <= HEADROOM_WARNING else None,
                )
            case SpaceMembership(group_id=group_id, user_id=user, add=add):
                space = await self._group_space(group_id)
                await port.set_space_member(target, space, user, add)
                return Outcome()
            case ArchiveSpace(group_id=group_id):
                await port.archive_space(target, await self._group_space(group_id))
                return Outcome()
            case ScheduledEvent(group_id=group_id, title=title, description=text, start=s, end=e):
                space = await self._group_space(group_id)
                event_id = await port.create_scheduled_event(target, space, title, text, s, e)
                meeting = effect.meeting_id
                if meeting is not None:
                    self.event_ids[meeting] = event_id
                return Outcome(
                    sent={"event_id": event_id},
                    meeting_event=(meeting, event_id) if meeting else None,
                )
            case SessionEvent() as ev:
                known = await self._session_event_id(ev.session_id)
                if known is None and ev.cancel:
                    return Outcome()  # never created: nothing to cancel
                made = await port.session_event(
                    target,
                    known,
                    ev.title,
                    ev.description,
                    ev.start,
                    ev.end,
                    ev.location,
                    ev.cancel,
                )
                if made is None or made == known:
                    return Outcome(sent={"event_id": made})
                return Outcome(sent={"event_id": made}, session_event=(ev.session_id, made))
            case ScheduledEventChange(meeting_id=meeting_id, start=s, end=e, cancel=cancel):
                known = self.event_ids.get(meeting_id) or await self._event_of(meeting_id)
                if known is None:
                    return Outcome(sent={"event_id": None})  # never created: nothing to change
                if cancel:
                    await port.cancel_scheduled_event(target, known)
                elif s is not None and e is not None:
                    await port.update_scheduled_event(target, known, s, e)
                return Outcome(sent={"event_id": known})
            case Report() as report:
                # Composed now, so the figures count up to the moment it is sent.
                from core.usecases.metrics.reports import compose

                composed = await compose(self._factory, self._clock, community.id, report)
                if composed is None:
                    raise Superseded("the report was turned off or changed since")
                channel, message = composed
                return Outcome(sent=await port.post(target, channel, message, False, attempt))
            case GroupPost(group_id=group_id, message=message, reply_to=str(post_id)):
                space = await self._group_space(group_id)
                thread = self.thread_ids.get(post_id) or await self._thread_of_post(post_id)
                sent = await port.post_in_thread(target, space, thread, message, attempt)
                return Outcome(sent=sent)
            case GroupPost(group_id=group_id, message=message, pin=pin, post_id=post_id):
                space = await self._group_space(group_id)
                sent = await port.post(target, space, message, pin, attempt)
                if post_id is None:
                    return Outcome(sent=sent)
                message_id = str(sent["message_id"])
                name = effect.thread_name or "Replies"
                thread = await port.open_thread(target, space, message_id, name)
                self.thread_ids[post_id] = thread
                return Outcome(
                    sent={**sent, "thread_id": thread}, post_ids=(post_id, message_id, thread)
                )
        raise PermanentFailure(f"unknown effect kind {effect.kind}")

    async def _require_current_session(self, session_id: str, version: int) -> None:
        """Refuse a reminder whose session has moved on since it was queued.

        The change that moved it also cancelled its queued reminders in the same
        transaction; this catches one another process had already claimed. The states
        are read for the whole batch in one query and re-read once they are older than
        ``SESSION_CHECK_SECONDS``, which bounds how stale a check can be.
        """
        loop = asyncio.get_running_loop()
        async with self._states_lock:
            if (
                session_id not in self._states
                or loop.time() - self._states_read_at > SESSION_CHECK_SECONDS
            ):
                if self._sessions is None:
                    self._sessions = set(self._expected())
                wanted = self._sessions | {session_id}
                async with self._factory() as session:
                    rows = await session.execute(
                        select(MentorSession.id, MentorSession.version, MentorSession.status).where(
                            MentorSession.id.in_(wanted)
                        )
                    )
                    self._states = {sid: (v, status) for sid, v, status in rows}
                self._states_read_at = loop.time()
        found = self._states.get(session_id)
        if found is None or found != (version, "scheduled"):
            raise Superseded("the session was moved, cancelled or held since")

    async def _session_event_id(self, session_id: str) -> str | None:
        async with self._factory() as session:
            return await session.scalar(
                select(MentorSession.event_id).where(MentorSession.id == session_id)
            )

    async def _awarded(self, community_id: str, badge: str, users: list[str]) -> set[str]:
        """Which of ``users`` (platform ids) hold the award ``badge`` in the community."""
        if not users:
            return set()
        async with self._factory() as session:
            found = await session.execute(
                select(Member.platform_user_id)
                .join(BadgeAward, BadgeAward.member_id == Member.id)
                .where(
                    Member.community_id == community_id,
                    BadgeAward.badge == badge,
                    Member.platform_user_id.in_(users),
                )
            )
            return set(found.scalars())

    async def _thread_of(self, community_id: str, mentorship_id: str, user_id: str) -> str | None:
        async with self._factory() as session:
            found = await session.execute(
                select(MentorshipThread.platform_thread_id)
                .join(Member, Member.id == MentorshipThread.member_id)
                .where(
                    MentorshipThread.mentorship_id == mentorship_id,
                    Member.community_id == community_id,
                    Member.platform_user_id == user_id,
                )
            )
            return found.scalar_one_or_none()

    async def _group_space(self, group_id: str) -> str:
        if group_id in self.group_spaces:
            return self.group_spaces[group_id]
        async with self._factory() as session:
            group = await session.get(SupportGroup, group_id)
        if group is None:
            raise PermanentFailure(f"support group {group_id} no longer exists")
        if group.channel_id is None:
            raise RetryLater("the group's channel is not created yet", rate_limited=True)
        return group.channel_id

    async def _event_of(self, meeting_id: str) -> str | None:
        async with self._factory() as session:
            meeting = await session.get(SupportGroupMeeting, meeting_id)
        return None if meeting is None else meeting.event_id

    async def _thread_of_post(self, post_id: str) -> str:
        async with self._factory() as session:
            post = await session.get(SupportGroupPost, post_id)
        if post is None:
            raise PermanentFailure(f"group post {post_id} no longer exists")
        if post.platform_thread_id is None:
            raise RetryLater("the post's thread is not open yet", rate_limited=True)
        return post.platform_thread_id

    async def apply(self, session: AsyncSession, community_id: str, outcome: Outcome) -> None:
        """Write back, in the transaction that marks the effect sent, what it produced."""
        if outcome.role_ids:
            community = await session.get(Community, community_id, with_for_update=True)
            if community is not None:
                roles = dict(community.roles)
                for key, role_id in outcome.role_ids.items():
                    roles[key] = {**roles.get(key, {}), "id": role_id}
                community.roles = roles
        if outcome.route is not None:
            await self._record_route(session, community_id, outcome.route)
        if outcome.session_event is not None:
            found = await session.get(MentorSession, outcome.session_event[0])
            if found is not None:
                found.event_id = outcome.session_event[1]
        if outcome.group_channel is not None:
            group = await session.get(SupportGroup, outcome.group_channel[0])
            if group is not None:
                group.channel_id = outcome.group_channel[1]
        if outcome.meeting_event is not None:
            meeting = await session.get(SupportGroupMeeting, outcome.meeting_event[0])
            if meeting is not None:
                meeting.event_id = outcome.meeting_event[1]
        if outcome.post_ids is not None:
            post = await session.get(SupportGroupPost, outcome.post_ids[0])
            if post is not None:
                post.platform_message_id, post.platform_thread_id = outcome.post_ids[1:]
        if outcome.space_headroom is not None:
            await self._warn_of_headroom(session, community_id, outcome.space_headroom)

    async def _warn_of_headroom(self, session: AsyncSession, community_id: str, left: int) -> None:
        """Tell the admins, once per step of ``HEADROOM_STEP`` channels, that the server is
        close to its channel cap, before a group's channel is refused for it."""
        community = await session.get(Community, community_id)
        if community is None or community.admin_channel_id is None:
            return
        text = (
            f"This server can hold only {left} more channels (Discord allows 500, categories "
            "included). New support groups need one each: delete channels you no longer "
            "need, e.g. archived group channels in the “Mentorbot archive” categories."
        )
        await Outbox(session, self._clock).add(
            community_id,
            ChannelPost(
                community.admin_channel_id,
                Message(title="Running out of channels", text=text, tone="warning"),
            ),
            key=f"space-headroom:{community_id}:{left // HEADROOM_STEP}",
        )

    async def _record_route(
        self,
        session: AsyncSession,
        community_id: str,
        route: tuple[str, str, str | None, str | None],
    ) -> None:
        """Remember where a mentorship DM landed, so replies to it find their way back."""
        mentorship_id, user_id, message_id, thread_id = route
        member = (
            await session.execute(
                select(Member).where(
                    Member.community_id == community_id, Member.platform_user_id == user_id
                )
            )
        ).scalar_one_or_none()
        if member is None or await session.get(Mentorship, mentorship_id) is None:
            return  # the person or the mentorship was deleted meanwhile (F15)
        if message_id is not None:
            known = await session.execute(
                select(MessageRoute.id).where(
                    MessageRoute.community_id == community_id,
                    MessageRoute.platform_message_id == message_id,
                )
            )
            if known.first() is None:
                session.add(
                    MessageRoute(
                        community_id=community_id,
                        mentorship_id=mentorship_id,
                        recipient_id=member.id,
                        platform_message_id=message_id,
                        created_at=self._clock.now(),
                    )
                )
        if thread_id is not None:
            existing = await session.execute(
                select(MentorshipThread.id).where(
                    MentorshipThread.mentorship_id == mentorship_id,
                    MentorshipThread.member_id == member.id,
                )
            )
            if existing.first() is None:
                session.add(
                    MentorshipThread(
                        community_id=community_id,
                        mentorship_id=mentorship_id,
                        member_id=member.id,
                        platform_thread_id=thread_id,
                        created_at=self._clock.now(),
                    )
                )
