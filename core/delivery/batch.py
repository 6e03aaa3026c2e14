"""A dispatcher batch: the rows it claimed and what became of each, written back at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, exists, select, true, update

from core.delivery.perform import Outcome
from core.effects import load
from core.models import Delivery

_T = cast(Table, Delivery.__table__)


@dataclass
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    community_id: str
    attempts: int
    idempotency_key: str
    uncertain: bool
    due_at: datetime
    destination: str | None
    last_error: str | None

    def lane(self) -> str:
        """The destination whose order this row keeps (rows queued before it was stored
        get it from their effect)."""
        if self.destination is not None:
            return self.destination
        try:
            return load(self.kind, self.payload).destination()
        except (KeyError, ValueError):
            return f"row:{self.id}"


@dataclass
class Result:
    status: str
    attempts: int
    due_at: datetime
    error: str | None
    uncertain: bool
    sent_at: datetime | None = None
    outcome: Outcome | None = None
    missing: str | None = None  # a permission the admins must grant
    counts_as_failure: bool = False

    @classmethod
    def sent(cls, row: Claimed, *, now: datetime, outcome: Outcome) -> Result:
        return cls("sent", row.attempts + 1, row.due_at, None, False, now, outcome)

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

    def params(self, row_id: int, owner: str) -> dict[str, Any]:
        sent = self.outcome.sent if self.outcome is not None else None
        return {
            "b_id": row_id,
            "b_owner": owner,
            "b_status": self.status,
            "b_attempts": self.attempts,
            "b_due": self.due_at,
            "b_error": self.error[:2000] if self.error else None,
            "b_uncertain": self.uncertain,
            "b_sent_at": self.sent_at,
            "b_result": sent or None,
        }


class Results:
    def __init__(self) -> None:
        self._by_id: dict[int, tuple[Claimed, Result]] = {}

    def add(self, row: Claimed, result: Result) -> None:
        self._by_id[row.id] = (row, result)

    def get(self, row_id: int) -> Result | None:
        found = self._by_id.get(row_id)
        return found[1] if found else None

    def writes_back(self, row_id: int) -> bool:
        result = self.get(row_id)
        return result is not None and result.outcome is not None and result.outcome.writes_back


# The claim and the mark, built once: one prepared statement each per batch.
def _claim_statement(*, lock: bool) -> Any:
    c, ahead = _T.c, _T.alias("ahead")
    now = bindparam("b_now", type_=c.due_at.type)
    due = (
        select(c.id)
        .where(
            c.status == "pending",
            c.due_at <= now,
            c.lease_until.is_(None) | (c.lease_until < now),
            # Order per destination: not while an earlier effect for it is being retried,
            # or is claimed by another dispatcher.
            ~exists().where(
                ahead.c.community_id == c.community_id,
                ahead.c.destination == c.destination,
                ahead.c.status == "pending",
                ahead.c.id < c.id,
                ahead.c.last_error.is_not(None) | (ahead.c.lease_until >= now),
            ),
        )
        .order_by(c.due_at, c.id)
        .limit(bindparam("b_limit"))
    )
    if lock:
        due = due.with_for_update(skip_locked=True)
    return (
        update(_T)
        .where(c.id.in_(due.scalar_subquery()))
        .values(
            claimed_by=bindparam("b_me"),
            lease_until=bindparam("b_lease", type_=c.lease_until.type),
            # Taken over from a claim that lapsed: that dispatcher may have sent it.
            uncertain=case((c.claimed_by.is_(None), c.uncertain), else_=true()),
        )
        .returning(
            c.id,
            c.kind,
            c.payload,
            c.community_id,
            c.attempts,
            c.idempotency_key,
            c.uncertain,
            c.due_at,
            c.destination,
            c.last_error,
        )
    )


CLAIM = _claim_statement(lock=False)
CLAIM_LOCKED = _claim_statement(lock=True)

MARK = (
    update(_T)
    .where(_T.c.id == bindparam("b_id"), _T.c.claimed_by == bindparam("b_owner"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        due_at=bindparam("b_due", type_=_T.c.due_at.type),
        last_error=bindparam("b_error"),
        uncertain=bindparam("b_uncertain"),
        sent_at=bindparam("b_sent_at", type_=_T.c.sent_at.type),
        result=bindparam("b_result", type_=_T.c.result.type),
        claimed_by=None,
        lease_until=None,
    )
)
