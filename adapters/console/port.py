"""The console's platform: DMs, channels, roles and spaces kept in memory.

It implements the core's PlatformPort, so the delivery queue runs exactly as it does on
Discord or Slack; what it "sends" is shown in the transcript instead. Channel, role and
user ids are their names, so scripts stay readable.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from core.messages import Message
from core.ports import Attempt, PermanentFailure, RetryLater, Sent, Target


@dataclass
class Shown:
    """A message as someone saw it: where, to whom, and whether it can still be clicked."""

    id: int
    where: str  # "dm", "channel", "private", "reply"
    audience: str | None  # user id for dm/private; None when every member sees it
    channel: str | None
    message: Message


@dataclass
class ConsolePort:
    """In-memory PlatformPort; ``fail_next`` lets tests make the platform misbehave."""

    emit: Callable[[Shown], None]
    emit_line: Callable[[str], None]
    # Awaited before a DM is shown to a member (the console reads their time zone).
    before_dm: Callable[[str], Awaitable[None]] | None = None
    platform: str = "console"
    # No upload limit in a terminal; tests set one to see files compressed or split.
    max_file_bytes: int | None = None
    max_files: int | None = None
    roles: dict[str, set[str]] = field(default_factory=dict)  # user id -> role ids
    known_roles: set[str] = field(default_factory=set)
    spaces: dict[str, set[str]] = field(default_factory=dict)  # space id -> user ids
    archived: set[str] = field(default_factory=set)
    events: list[tuple[str, str, datetime]] = field(default_factory=list)
    cancelled_events: set[str] = field(default_factory=set)
    threads: dict[str, str] = field(default_factory=dict)  # thread id -> space id
    failures: list[Exception] = field(default_factory=list)
    calls: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)
    # Idempotency key -> what the first call with it returned; a repeat returns that
    # and shows nothing, as Discord's nonce and Slack's metadata look-up do.
    done: dict[str, Sent] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail_next(self, *errors: Exception) -> None:
        """The next calls raise these, in order (RetryLater, PermanentFailure, ...)."""
        self.failures.extend(errors)

    def _call(self, name: str, *args: object) -> None:
        self.calls.append((name, args))
        if self.failures:
            raise self.failures.pop(0)

    async def send_dm(
        self, target: Target, user_id: str, message: Message, thread: str | None, attempt: Attempt
    ) -> Sent:
        self._call("send_dm", user_id, message)
        if attempt.key in self.done:
            return dict(self.done[attempt.key])
        if self.before_dm is not None:
            await self.before_dm(user_id)
        shown = Shown(next(self._ids), "dm", user_id, None, message)
        self.emit(shown)
        return self._remember(attempt, {"message_id": str(shown.id)})

    def _remember(self, attempt: Attempt, sent: Sent) -> Sent:
        self.done[attempt.key] = dict(sent)
        return sent

    async def post(
        self, target: Target, channel_id: str, message: Message, pin: bool, attempt: Attempt
    ) -> Sent:
        self._call("post", channel_id, message)
        if channel_id in self.archived:
            raise PermanentFailure(f"#{channel_id} is archived")
        if attempt.key in self.done:
            return dict(self.done[attempt.key])
        shown = Shown(next(self._ids), "channel", None, channel_id, message)
        self.emit(shown)
        return self._remember(attempt, {"message_id": str(shown.id)})

    async def ensure_role(self, target: Target, name: str, known_id: str | None) -> str:
        self._call("ensure_role", name)
        role_id = known_id or name
        if role_id not in self.known_roles:
            self.known_roles.add(role_id)
            self.emit_line(f"[role created] @{role_id}")
        return role_id

    async def grant_role(self, target: Target, user_id: str, role_id: str) -> None:
        self._call("grant_role", user_id, role_id)
        held = self.roles.setdefault(user_id, set())
        if role_id in held:
            return  # as on the platforms: the current state is checked first
        held.add(role_id)
        self.emit_line(f"[role] @{user_id} +{role_id}")

    async def revoke_role(self, target: Target, user_id: str, role_id: str) -> None:
        self._call("revoke_role", user_id, role_id)
        held = self.roles.setdefault(user_id, set())
        if role_id not in held:
            return
        held.discard(role_id)
        self.emit_line(f"[role] @{user_id} -{role_id}")

    async def role_holders(self, target: Target, role_id: str) -> list[str] | None:
        return sorted(user for user, held in self.roles.items() if role_id in held)

    async def create_private_space(
        self, target: Target, name: str, topic: str, user_ids: tuple[str, ...], attempt: Attempt
    ) -> str:
        self._call("create_private_space", name)
        if attempt.key in self.done:
            return str(self.done[attempt.key]["space_id"])
        # A named room: the name as a channel-style id, numbered when taken.
        base = re.sub(r"[^\w-]+", "-", name.lower()).strip("-") or "group"
        room, n = base, 1
        while room in self.spaces:
            n += 1
            room = f"{base}-{n}"
        self.done[attempt.key] = {"space_id": room}
        self.spaces[room] = set(user_ids)
        self.emit_line(
            f"[channel created] #{room} (private: {', '.join('@' + u for u in user_ids)})"
        )
        return room

    async def space_headroom(self, target: Target) -> int | None:
        return None  # no cap on private channels here

    async def set_space_member(
        self, target: Target, space_id: str, user_id: str, add: bool
    ) -> None:
        self._call("set_space_member", space_id, user_id, add)
        if space_id not in self.spaces:
            raise RetryLater(f"#{space_id} does not exist yet")
        (self.spaces[space_id].add if add else self.spaces[space_id].discard)(user_id)
        self.emit_line(f"[channel] #{space_id} {'+' if add else '-'}@{user_id}")

    async def archive_space(self, target: Target, space_id: str) -> None:
        self._call("archive_space", space_id)
        self.archived.add(space_id)
        self.emit_line(f"[channel archived] #{space_id}")

    async def create_scheduled_event(
        self,
        target: Target,
        space_id: str | None,
        title: str,
        description: str,
        start: datetime,
        end: datetime,
    ) -> str:
        self._call("create_scheduled_event", title, start)
        self.events.append((title, space_id or "", start))
        self.emit_line(f"[event] {title} at {start:%Y-%m-%d %H:%M} UTC")
        return str(len(self.events))

    async def session_event(
        self,
        target: Target,
        event_id: str | None,
        title: str,
        description: str,
        start: datetime,
        end: datetime,
        location: str,
        cancel: bool,
    ) -> str | None:
        self._call("session_event", event_id, title, start, cancel)
        if event_id is None:
            self.events.append((title, location, start))
            event_id = str(len(self.events))
            self.emit_line(f"[event {event_id}] {title} at {start:%Y-%m-%d %H:%M} UTC")
        elif cancel:
            self.emit_line(f"[event {event_id} cancelled] {title}")
        else:
            self.emit_line(f"[event {event_id} moved] {title} to {start:%Y-%m-%d %H:%M} UTC")
        return event_id

    async def update_scheduled_event(
        self, target: Target, event_id: str, start: datetime, end: datetime
    ) -> None:
        self._call("update_scheduled_event", event_id, start)
        title, space, _ = self.events[int(event_id) - 1]
        self.events[int(event_id) - 1] = (title, space, start)
        self.emit_line(f"[event moved] {title} to {start:%Y-%m-%d %H:%M} UTC")

    async def cancel_scheduled_event(self, target: Target, event_id: str) -> None:
        self._call("cancel_scheduled_event", event_id)
        if event_id not in self.cancelled_events:
            self.cancelled_events.add(event_id)
            self.emit_line(f"[event cancelled] {self.events[int(event_id) - 1][0]}")

    async def open_thread(self, target: Target, space_id: str, message_id: str, name: str) -> str:
        self._call("open_thread", space_id, message_id)
        if message_id not in self.threads:
            self.threads[message_id] = space_id
            self.emit_line(f"[thread] #{space_id} › {name}")
        return message_id

    async def post_in_thread(
        self, target: Target, space_id: str, thread_id: str, message: Message, attempt: Attempt
    ) -> Sent:
        self._call("post_in_thread", space_id, thread_id, message)
        if attempt.key in self.done:
            return dict(self.done[attempt.key])
        shown = Shown(next(self._ids), "channel", None, f"{space_id}/thread-{thread_id}", message)
        self.emit(shown)
        return self._remember(attempt, {"message_id": str(shown.id)})
