"""Fields that every log line of one interaction carries (for structured logs).

An adapter opens a scope where an interaction comes in (``log_scope(interaction=...)``);
the core adds what it learns on the way (the command, the community) with ``annotate``,
and so does ``core.service.new_reference`` with the error reference an apology shows. The
scope is one mutable mapping held in a context variable: a task started inside it (the
core call an adapter runs beside its deadline) shares it, so the adapter's own log line
after the call still carries what the core added. ``bot/logs.py`` writes the fields
into each JSON line; the plain text format ignores them.

Only ids and names belong here, never message content or a secret.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

# The fields a scope may hold, and the JSON keys they are written under.
FIELDS = ("command", "community", "interaction", "error_ref", "platform", "job")

_scope: ContextVar[dict[str, str] | None] = ContextVar("mentorbot_log_scope", default=None)


@contextmanager
def log_scope(**fields: str | None) -> Iterator[None]:
    """A scope for one interaction (or job): its fields, plus those of an enclosing scope."""
    outer = _scope.get()
    inner = dict(outer) if outer else {}
    inner.update(_clean(fields))
    token = _scope.set(inner)
    try:
        yield
    finally:
        _scope.reset(token)


def annotate(**fields: str | None) -> None:
    """Add fields to the current scope; outside any scope this does nothing (there is no
    interaction for them to describe)."""
    scope = _scope.get()
    if scope is not None:
        scope.update(_clean(fields))


def current_fields() -> Mapping[str, str]:
    return _scope.get() or {}


def _clean(fields: Mapping[str, str | None]) -> dict[str, str]:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a log field: {', '.join(sorted(unknown))}")
    return {k: str(v) for k, v in fields.items() if v is not None and v != ""}
