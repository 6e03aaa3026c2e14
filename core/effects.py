"""Effects: what must happen on the platform because something changed in the core.

An effect is data. Use cases put effects in the delivery queue (``uow.outbox``) in the
same transaction as the change; the dispatcher later turns each into a port call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from core.messages import Message


@dataclass(frozen=True)
class Effect(ABC):
    kind: ClassVar[str]

    @abstractmethod
    def to_payload(self) -> dict[str, Any]: ...

    @classmethod
    @abstractmethod
    def from_payload(cls, payload: dict[str, Any]) -> Effect: ...

    @staticmethod
    def from_row(kind: str, payload: dict[str, Any]) -> Effect:
        return EFFECT_TYPES[kind].from_payload(payload)


@dataclass(frozen=True)
class DirectMessage(Effect):
    """A DM to one member; ``thread`` keeps messages of one mentorship together."""

    kind: ClassVar[str] = "dm"
    user_id: str
    message: Message
    thread: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "message": self.message.to_dict(), "thread": self.thread}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> DirectMessage:
        return cls(payload["user_id"], Message.from_dict(payload["message"]), payload.get("thread"))


@dataclass(frozen=True)
class ChannelPost(Effect):
    kind: ClassVar[str] = "post"
    channel_id: str
    message: Message
    pin: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {"channel_id": self.channel_id, "message": self.message.to_dict(), "pin": self.pin}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ChannelPost:
        return cls(
            payload["channel_id"], Message.from_dict(payload["message"]), bool(payload.get("pin"))
        )


@dataclass(frozen=True)
class GrantRole(Effect):
    """Give a member the role (Discord) or user group (Slack) behind ``role_key``."""

    kind: ClassVar[str] = "grant_role"
    user_id: str
    role_key: str

    def to_payload(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "role_key": self.role_key}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> GrantRole:
        return cls(payload["user_id"], payload["role_key"])


@dataclass(frozen=True)
class RevokeRole(Effect):
    kind: ClassVar[str] = "revoke_role"
    user_id: str
    role_key: str

    def to_payload(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "role_key": self.role_key}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> RevokeRole:
        return cls(payload["user_id"], payload["role_key"])


@dataclass(frozen=True)
class CreatePrivateSpace(Effect):
    """A private channel for a support group; its id is stored back on the group."""

    kind: ClassVar[str] = "create_space"
    group_id: str
    name: str
    topic: str
    member_user_ids: tuple[str, ...]

    def to_payload(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "name": self.name,
            "topic": self.topic,
            "member_user_ids": list(self.member_user_ids),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> CreatePrivateSpace:
        return cls(
            payload["group_id"],
            payload["name"],
            payload["topic"],
            tuple(payload["member_user_ids"]),
        )


@dataclass(frozen=True)
class SpaceMembership(Effect):
    """Add (``add=True``) or remove a member from a group's private space."""

    kind: ClassVar[str] = "space_member"
    group_id: str
    user_id: str
    add: bool

    def to_payload(self) -> dict[str, Any]:
        return {"group_id": self.group_id, "user_id": self.user_id, "add": self.add}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> SpaceMembership:
        return cls(payload["group_id"], payload["user_id"], bool(payload["add"]))


@dataclass(frozen=True)
class ArchiveSpace(Effect):
    kind: ClassVar[str] = "archive_space"
    group_id: str

    def to_payload(self) -> dict[str, Any]:
        return {"group_id": self.group_id}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ArchiveSpace:
        return cls(payload["group_id"])


@dataclass(frozen=True)
class ScheduledEvent(Effect):
    """A platform calendar event (Discord Guild Scheduled Event) for a group meeting."""

    kind: ClassVar[str] = "scheduled_event"
    group_id: str
    title: str
    description: str
    start: datetime
    end: datetime

    def to_payload(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "title": self.title,
            "description": self.description,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ScheduledEvent:
        return cls(
            payload["group_id"],
            payload["title"],
            payload["description"],
            datetime.fromisoformat(payload["start"]),
            datetime.fromisoformat(payload["end"]),
        )


EFFECT_TYPES: dict[str, type[Effect]] = {
    t.kind: t
    for t in (
        DirectMessage,
        ChannelPost,
        GrantRole,
        RevokeRole,
        CreatePrivateSpace,
        SpaceMembership,
        ArchiveSpace,
        ScheduledEvent,
    )
}
