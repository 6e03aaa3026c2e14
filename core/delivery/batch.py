"""A dispatcher batch: the rows it claimed and what became of each, written back at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.delivery.perform import Outcome
from core.effects import load
from core.ports import Sent
from core.queue import QueueConnection, json_text


@dataclass(slots=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any] | str  # JSON text on SQLite
    community_id: str
    attempts: int
    idempotency_key: str
    uncertain: bool
    due_at: datetime
    destination: str | None
    last_error: str | None
    stored_due: Any = None  # due_at as the driver returned it (written back as is)
    result: Result | None = None  # what became of it in this batch (None: not tried)

    @classmethod
    def of(cls, row: Sequence[Any], db: QueueConnection) -> Claimed:
        """A row returned by the claim statement (see core.queue)."""
        id_, kind, payload, community, attempts, key, uncertain, due, dest, error = row
        return cls(
            id_,
            kind,
            payload,
            community,
            attempts,
            key,
            bool(uncertain),
            db.time_of(due),
            dest,
            error,
            due,
        )

    def lane(self) -> str:
        """The destination whose order this row keeps (rows queued before it was stored
        get it from their effect)."""
        if self.destination is not None:
            return self.destination
        try:
            return load(self.kind, self.payload).destination()
        except (KeyError, ValueError):
            return f"row:{self.id}"


@dataclass(slots=True)
class Result:
    status: str
    attempts: int
    due_at: datetime
    error: str | None
    uncertain: bool
    sent_at: datetime | None = None
    sent: Sent | None = None  # what the platform gave back
    outcome: Outcome | None = None  # only if something is to be written back
    missing: str | None = None  # a permission the admins must grant
    counts_as_failure: bool = False
    reason: str | None = None  # why it was retried or given up on (core.observe.REASONS)

    @classmethod
    def done(cls, row: Claimed, at: datetime, sent: Sent, outcome: Outcome | None) -> Result:
        """Sent at ``at``; ``outcome``: what to write back, if anything."""
        return cls("sent", row.attempts + 1, row.due_at, None, False, at, sent, outcome)

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
        sent = self.sent
        if self.sent_at is not None and row.stored_due is not None:
            # Sent: the usual case, written for nearly every row (its due time as read).
            return (
                row.id,
                owner,
                "sent",
                self.attempts,
                row.stored_due,
                None,
                db.false,
                db.time(self.sent_at),
                json_text(sent) if sent else None,
            )
        unchanged = self.due_at is row.due_at and row.stored_due is not None
        return (
            row.id,
            owner,
            self.status,
            self.attempts,
            row.stored_due if unchanged else db.time(self.due_at),
            self.error[:2000] if self.error else None,
            db.flag(self.uncertain),
            db.time(self.sent_at) if self.sent_at is not None else None,
            json_text(sent or None),
        )
