"""A dispatcher batch: the rows it claimed, what its lanes share, and what became of each
row, written back at once."""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from core.delivery.perform import CommunityAddress, Outcome, Performer
from core.effects import load
from core.ports import PlatformPort, Sent, Target
from core.queue import QueueConnection, json_text


class Claimed:
    """A row the claim statement returned (see core.queue), and what became of it in
    this batch: ``sent_at`` and ``sent`` once sent (the usual case, kept on the row
    itself: no object is made for it), else ``result`` once tried."""

    __slots__ = (
        "_due_at",
        "_time_of",
        "attempts",
        "community_id",
        "destination",
        "id",
        "idempotency_key",
        "kind",
        "last_error",
        "payload",
        "result",
        "sent",
        "sent_at",
        "stored_due",
        "uncertain",
    )

    id: int
    kind: str
    payload: dict[str, Any] | str  # JSON text on SQLite
    community_id: str
    attempts: int
    idempotency_key: str
    uncertain: bool
    stored_due: Any  # due_at as the driver returned it (written back as is)
    destination: str | None
    last_error: str | None
    sent_at: datetime | None  # when the platform took it
    sent: Sent | None  # what the platform gave back
    result: Result | None  # what else became of it (None: not tried)

    def __init__(self, row: Sequence[Any], time_of: Callable[[Any], datetime]) -> None:
        """``row`` as the claim returns it; ``time_of``: the connection's (see
        QueueConnection.time_of)."""
        (
            self.id,
            self.kind,
            self.payload,
            self.community_id,
            self.attempts,
            self.idempotency_key,
            uncertain,
            self.stored_due,
            self.destination,
            self.last_error,
        ) = row
        self.uncertain = bool(uncertain)
        self._time_of = time_of
        self._due_at: datetime | None = None
        self.sent_at = None
        self.sent = None
        self.result = None

    @property
    def due_at(self) -> datetime:
        """When it was due (read from ``stored_due`` when first asked: a row sent at
        once never needs it)."""
        due = self._due_at
        if due is None:
            due = self._due_at = self._time_of(self.stored_due)
        return due

    def lane(self) -> str:
        """The destination whose order this row keeps (rows queued before it was stored
        get it from their effect)."""
        if self.destination is not None:
            return self.destination
        try:
            return load(self.kind, self.payload).destination()
        except (KeyError, ValueError):
            return f"row:{self.id}"


def marks(
    claimed: list[Claimed], owner: str, db: QueueConnection, cut_off: Container[int]
) -> list[tuple[Any, ...]]:
    """The mark statement's parameters (see core.queue) for what became of each row; a
    row not tried is released (``cut_off``: rows whose call a stop cut off, which may
    have reached the platform)."""
    time, false = db.time, db.false
    return [
        # Sent: the usual case, written for nearly every row (its due time as read).
        (
            row.id,
            owner,
            "sent",
            row.attempts + 1,
            row.stored_due,
            None,
            false,
            time(row.sent_at),
            json_text(row.sent) if row.sent else None,
        )
        if row.sent_at is not None
        else (
            row.result or Result.released(row, uncertain=row.uncertain or row.id in cut_off)
        ).params(row, owner, db)
        for row in claimed
    ]


@dataclass(slots=True)
class Result:
    status: str
    attempts: int
    due_at: datetime
    error: str | None
    uncertain: bool
    missing: str | None = None  # a permission the admins must grant
    counts_as_failure: bool = False
    reason: str | None = None  # why it was retried or given up on (core.observe.REASONS)

    @classmethod
    def failed(cls, row: Claimed, reason: str, *, missing: str | None = None) -> Result:
        return cls("failed", row.attempts + 1, row.due_at, reason, row.uncertain, missing=missing)

    @classmethod
    def expired(cls, row: Claimed, reason: str) -> Result:
        return cls("expired", row.attempts, row.due_at, reason, row.uncertain)

    @classmethod
    def cancelled(cls, row: Claimed, reason: str) -> Result:
        return cls("cancelled", row.attempts, row.due_at, reason, row.uncertain)

    @classmethod
    def retry(cls, row: Claimed, due: datetime, error: str, *, counts: bool) -> Result:
        # Only a clean refusal (a rate limit) leaves the outcome of this attempt known.
        return cls(
            "pending",
            row.attempts + counts,
            due,
            error,
            row.uncertain or counts,
            counts_as_failure=counts,
        )

    @classmethod
    def held(cls, row: Claimed) -> Result:
        return cls("pending", row.attempts, row.due_at, row.last_error, row.uncertain)

    @classmethod
    def released(cls, row: Claimed, *, uncertain: bool) -> Result:
        return cls("pending", row.attempts, row.due_at, row.last_error, uncertain)

    def params(self, row: Claimed, owner: str, db: QueueConnection) -> tuple[Any, ...]:
        """The mark statement's parameters (see core.queue) for this result."""
        unchanged = self.due_at is row.due_at
        return (
            row.id,
            owner,
            self.status,
            self.attempts,
            row.stored_due if unchanged else db.time(self.due_at),
            self.error[:2000] if self.error else None,
            db.flag(self.uncertain),
            None,
            None,
        )


class Route(NamedTuple):
    """Where a community's rows go: the community, its platform's port and the target
    the port is handed."""

    community: CommunityAddress
    port: PlatformPort
    target: Target


class Batch:
    """What a batch's lanes share: its performer; ``targets``, the community and port of
    each community whose rows can be delivered here; until when every effect of a kind
    useful for a fixed time is surely useful (its oldest row's due time plus the shortest
    such time); and, for its record, the rows whose sending created something to write
    back, and whether every tried row was sent."""

    __slots__ = ("all_sent", "communities", "fresh_until", "performer", "targets", "writes_back")

    def __init__(
        self,
        performer: Performer,
        communities: dict[str, CommunityAddress],
        targets: dict[str, Route],
        fresh_until: datetime,
    ) -> None:
        self.performer = performer
        self.communities = communities
        self.targets = targets
        self.fresh_until = fresh_until
        self.writes_back: list[tuple[Claimed, Outcome]] = []
        self.all_sent = True


def reminded_sessions(rows: list[Claimed]) -> set[str]:
    """The sessions the reminders among ``rows`` are about."""
    return {
        str(session)
        for row in rows
        if row.kind == "reminder" and (session := _payload(row).get("session_id"))
    }


def _payload(row: Claimed) -> dict[str, Any]:
    """A claimed row's payload as a mapping (SQLite returns the JSON text)."""
    return row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
