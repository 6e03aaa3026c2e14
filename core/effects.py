"""Effects: what must happen on the platform because something changed in the core.

An effect is data. Use cases put effects in the delivery queue (``uow.outbox``) in the
same transaction as the change; the dispatcher later turns each into a port call.

Adding a kind is declaring a frozen dataclass with a ``kind``: its fields are stored by
pydantic (:func:`dump` / :func:`load`), never by hand. Each kind also says

* ``destination``: what its effects must reach in order (a member's DMs, a channel, the
  community's roles, a group's space); the dispatcher keeps order per destination and
  works on different destinations at once;
* ``useful_for``: how long after its due time retrying after transient failures still
  makes sense (or, where that depends on the effect, ``useful_until``), and
  ``when_late`` what becomes of it after that: ``"drop"`` (recorded as expired) or
  ``"send"`` (sent once the platform is back, marked late).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import GetCoreSchemaHandler, TypeAdapter
from pydantic_core import core_schema

from core.messages import Button, ButtonStyle, Field, File, Message, moment

USEFUL_FOR_DAYS = 3
_USEFUL_FOR = timedelta(days=USEFUL_FOR_DAYS)
SPACE_CHANGES_KEPT_DAYS = 365


def _listed(build: Any, *items: core_schema.CoreSchema) -> core_schema.CoreSchema:
    """A tuple of parts each stored as a list of ``items`` (a field, a button, a file)."""
    return core_schema.tuple_variable_schema(
        core_schema.no_info_after_validator_function(
            build, core_schema.tuple_positional_schema(list(items))
        )
    )


def _field(stored: tuple[str, str, bool]) -> Field:
    return Field(*stored)


def _button(stored: tuple[str, str, ButtonStyle]) -> Button:
    return Button(*stored)


def _file(stored: tuple[str, str, str]) -> File:
    name, data, content_type = stored
    return File(name, base64.b64decode(data), content_type)


def _stored_message_schema() -> core_schema.CoreSchema:
    """Messages keep their own compact stored form (:meth:`Message.to_dict`: parts at
    their defaults left out, fields and buttons as lists), which rows queued by earlier
    versions already use. Read by pydantic-core itself, with no Python call for a plain
    message: decoding is a large share of the dispatcher's work per effect."""
    text = core_schema.str_schema()
    maybe_text = core_schema.nullable_schema(text)
    parts: list[tuple[str, core_schema.CoreSchema, Any]] = [
        ("text", text, ""),
        ("title", maybe_text, None),
        ("fields", _listed(_field, text, text, core_schema.bool_schema()), ()),
        ("buttons", _listed(_button, text, text, text), ()),
        ("footer", maybe_text, None),
        ("tone", text, "info"),
        ("files", _listed(_file, text, text, text), ()),
    ]
    assert [name for name, _, _ in parts] == [f.name for f in fields(Message)]
    return core_schema.dataclass_schema(
        Message,
        core_schema.dataclass_args_schema(
            "Message",
            [
                core_schema.dataclass_field(
                    name, core_schema.with_default_schema(schema, default=default)
                )
                for name, schema, default in parts
            ],
        ),
        [name for name, _, _ in parts],
        frozen=True,
        serialization=core_schema.plain_serializer_function_ser_schema(
            Message.to_dict, return_schema=core_schema.dict_schema()
        ),
    )


class _StoredMessage:
    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _stored_message_schema()


StoredMessage = Annotated[Message, _StoredMessage]


@dataclass(frozen=True)
class Effect:
    kind: ClassVar[str]
    when_late: ClassVar[Literal["drop", "send"]] = "drop"
    # How long after its due time every effect of this kind is useful; None where that
    # depends on the effect (the kind then says so in useful_until).
    useful_for: ClassVar[timedelta | None] = _USEFUL_FOR

    def destination(self) -> str:
        """Effects with the same destination (in one community) are delivered in order."""
        return self.kind

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Checked when the kind is declared: one whose window depends on the effect says
        # how in its own useful_until.
        if cls.useful_for is None and cls.useful_until is Effect.useful_until:
            raise TypeError(f"{cls.__name__} has no fixed useful_for, so it states useful_until")

    def useful_until(self, due_at: datetime) -> datetime:
        # useful_for is set wherever this is not overridden (see __init_subclass__).
        return due_at + (self.useful_for or _USEFUL_FOR)

    def marked_late(self, due_at: datetime) -> Effect:
        """This effect as sent after its moment (only for ``when_late == "send"``)."""
        return self


@dataclass(frozen=True)
class DirectMessage(Effect):
    """A DM to one member; ``thread`` keeps messages of one mentorship together."""

    kind: ClassVar[str] = "dm"
    user_id: str
    message: StoredMessage
    thread: str | None = None

    def destination(self) -> str:
        return f"user:{self.user_id}"


@dataclass(frozen=True)
class Reminder(Effect):
    """A DM about a moment (a session, a meeting): useful until ``at``, then sent late.

    Queued with ``due_at`` some time before ``at``; if an outage holds it past ``at`` it
    still goes out afterwards, saying it is late.
    """

    kind: ClassVar[str] = "reminder"
    when_late: ClassVar[Literal["drop", "send"]] = "send"
    useful_for: ClassVar[timedelta | None] = None
    user_id: str
    message: StoredMessage
    at: datetime
    # The session it is about, and which version of it: once the session is moved,
    # cancelled or done, a reminder made for an older version is dropped at send time.
    session_id: str | None = None
    session_version: int = 0

    def destination(self) -> str:
        return f"user:{self.user_id}"

    def useful_until(self, due_at: datetime) -> datetime:
        return max(self.at, due_at)

    def marked_late(self, due_at: datetime) -> Effect:
        note = f"Sent late: this reminder was due {moment(due_at, 'f')}."
        footer = f"{self.message.footer} · {note}" if self.message.footer else note
        return replace(self, message=replace(self.message, footer=footer))


@dataclass(frozen=True)
class ChannelPost(Effect):
    kind: ClassVar[str] = "post"
    channel_id: str
    message: StoredMessage
    pin: bool = False

    def destination(self) -> str:
        return f"channel:{self.channel_id}"


@dataclass(frozen=True)
class GrantRole(Effect):
    """Give a member the role (Discord) or user group (Slack) behind ``role_key``."""

    kind: ClassVar[str] = "grant_role"
    user_id: str
    role_key: str

    def destination(self) -> str:
        # One lane for the community's roles: a role that does not exist yet is created
        # once, by the first grant, and the next grant finds it.
        return "roles"


@dataclass(frozen=True)
class RevokeRole(Effect):
    kind: ClassVar[str] = "revoke_role"
    user_id: str
    role_key: str

    def destination(self) -> str:
        return "roles"


@dataclass(frozen=True)
class PruneRole(Effect):
    """Take the role (user group) behind ``role_key`` from everyone the community's
    awards do not give it to, where the platform can list who holds it."""

    kind: ClassVar[str] = "prune_role"
    role_key: str

    def destination(self) -> str:
        return "roles"


@dataclass(frozen=True)
class CreatePrivateSpace(Effect):
    """A private channel for a support group; its id is stored back on the group."""

    kind: ClassVar[str] = "create_space"
    group_id: str
    name: str
    topic: str
    member_user_ids: tuple[str, ...]

    def destination(self) -> str:
        return f"group:{self.group_id}"


@dataclass(frozen=True)
class SpaceMembership(Effect):
    """Add (``add=True``) or remove a member from a group's private space."""

    kind: ClassVar[str] = "space_member"
    # Who may see a group's space stays true however late: kept while a space that
    # failed to be created waits for an admin's retry.
    useful_for: ClassVar[timedelta | None] = timedelta(days=SPACE_CHANGES_KEPT_DAYS)
    group_id: str
    user_id: str
    add: bool

    def destination(self) -> str:
        return f"group:{self.group_id}"


@dataclass(frozen=True)
class ArchiveSpace(Effect):
    kind: ClassVar[str] = "archive_space"
    group_id: str

    def destination(self) -> str:
        return f"group:{self.group_id}"


@dataclass(frozen=True)
class SessionEvent(Effect):
    """A workshop's platform calendar event (Discord Guild Scheduled Event): created the
    first time, then updated, or cancelled (``cancel``). Its id is stored on the session."""

    kind: ClassVar[str] = "session_event"
    session_id: str
    title: str
    description: str
    start: datetime
    end: datetime
    location: str
    cancel: bool = False

    def destination(self) -> str:
        return f"session:{self.session_id}"


@dataclass(frozen=True)
class ScheduledEvent(Effect):
    """A platform calendar event (Discord Guild Scheduled Event) for a group meeting.

    With ``meeting_id`` the event's id is stored back on that meeting, so moving or
    cancelling the meeting changes the same event.
    """

    kind: ClassVar[str] = "scheduled_event"
    group_id: str
    title: str
    description: str
    start: datetime
    end: datetime
    meeting_id: str | None = None

    def destination(self) -> str:
        return f"group:{self.group_id}"


@dataclass(frozen=True)
class ScheduledEventChange(Effect):
    """Move (new ``start``/``end``) or cancel (``cancel=True``) a meeting's platform event.

    The event id is read from the meeting when delivered; a meeting whose event was never
    created has nothing to change.
    """

    kind: ClassVar[str] = "scheduled_event_change"
    group_id: str
    meeting_id: str
    start: datetime | None = None
    end: datetime | None = None
    cancel: bool = False

    def destination(self) -> str:
        return f"group:{self.group_id}"


@dataclass(frozen=True)
class GroupPost(Effect):
    """A message in a support group's private space, found when delivered.

    ``post_id`` names the stored post (a facilitator post or prompt) it publishes: the
    port opens a thread under it (``thread_name``) and both ids are stored back so replies
    there are recognised. ``reply_to`` instead posts into that stored post's thread (a
    reply given through a form). A reminder about a moment sets ``until``: useful until
    then, dropped after.
    """

    kind: ClassVar[str] = "group_post"
    useful_for: ClassVar[timedelta | None] = None  # see useful_until
    group_id: str
    message: StoredMessage
    pin: bool = False
    post_id: str | None = None
    thread_name: str | None = None
    reply_to: str | None = None
    until: datetime | None = None

    def destination(self) -> str:
        return f"group:{self.group_id}"

    def useful_until(self, due_at: datetime) -> datetime:
        return self.until if self.until is not None else due_at + _USEFUL_FOR


@dataclass(frozen=True)
class Report(Effect):
    """A recurring report (``"digest"``: the week's figures and a chart in the admin
    channel; ``"leaderboard"``: the month's board in the announcement channel), composed
    when it is sent, so it counts up to that moment. ``schedule_id`` is the
    ``ReportSchedule`` that queued it: once that is turned off or changed, it is dropped.
    """

    kind: ClassVar[str] = "report"
    when_late: ClassVar[Literal["drop", "send"]] = "send"
    # Composed when sent, so a late one is still current; the next is a week away.
    useful_for: ClassVar[timedelta | None] = timedelta(days=6)
    report: str
    schedule_id: str

    def destination(self) -> str:
        return f"report:{self.report}"


EFFECT_TYPES: dict[str, type[Effect]] = {
    t.kind: t
    for t in (
        DirectMessage,
        Reminder,
        ChannelPost,
        GrantRole,
        RevokeRole,
        PruneRole,
        CreatePrivateSpace,
        SpaceMembership,
        ArchiveSpace,
        ScheduledEvent,
        SessionEvent,
        ScheduledEventChange,
        GroupPost,
        Report,
    )
}

# Every effect of a kind with a fixed window is useful at least this long after its due
# time: the dispatcher need not look at the due time of those younger than that.
SURELY_USEFUL_FOR = min(t.useful_for for t in EFFECT_TYPES.values() if t.useful_for is not None)


@cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    return TypeAdapter(EFFECT_TYPES[kind])


# Each kind's pydantic-core validator, made on first use: read by :func:`load` for every
# effect sent, without the adapter's Python wrapper around it.
_VALIDATORS: dict[str, Any] = {}


def dump(effect: Effect) -> dict[str, Any]:
    """The effect's stored payload (JSON-ready; its kind is stored beside it)."""
    payload: dict[str, Any] = _adapter(effect.kind).dump_python(effect, mode="json")
    return payload


def dump_json(effect: Effect) -> str:
    """The stored payload as JSON text (what :mod:`core.queue` writes)."""
    return _adapter(effect.kind).dump_json(effect).decode()


def load(kind: str, payload: dict[str, Any] | str | bytes) -> Effect:
    """An effect from a stored row, its payload as a mapping or as JSON text; raises
    KeyError for an unknown kind, ValueError for a payload that does not fit it."""
    validator = _VALIDATORS.get(kind)
    if validator is None:
        validator = _VALIDATORS[kind] = _adapter(kind).validator
    effect: Effect = (
        validator.validate_python(payload)
        if isinstance(payload, dict)
        else validator.validate_json(payload)
    )
    return effect
