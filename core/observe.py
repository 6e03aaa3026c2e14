"""What the core tells an operator's instruments, without knowing which ones there are.

The core and the adapters report what happened (a command finished, an effect was
delivered, a job ran) to an :class:`Observer`; the composition root binds one to its
metrics (``bot/metrics.py``, Prometheus). The default observer does nothing, so tests and
the console need none.

Label values an observer receives are bounded and carry no member data: platform names,
catalog command paths, button and form names, effect kinds, job ids and the fixed outcome
and reason words below, never an id or anything a member typed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter
from typing import Literal, Protocol

from core.errors import UserError

Outcome = Literal["ok", "user_error", "failure"]
InteractionKind = Literal["command", "button", "form"]
UNKNOWN = "unknown"  # the name of a command, button or form that does not exist


class Observer(Protocol):
    def interaction_finished(
        self, platform: str, kind: InteractionKind, name: str, outcome: Outcome, seconds: float
    ) -> None:
        """A command, button press or form submission was handled by the core."""

    def first_response(self, platform: str, seconds: float) -> None:
        """An adapter first answered an interaction (a reply, a deferral, an ack),
        ``seconds`` after the interaction reached the process."""

    def delivery_result(
        self, platform: str, kind: str, outcome: str, reason: str | None, count: int = 1
    ) -> None:
        """The dispatcher tried ``count`` queued effects (sent ones are told once per
        batch). ``outcome``: sent, retry, failed, expired or cancelled; ``reason`` (for
        retry, failed, expired) one of :data:`REASONS`."""

    def job_finished(self, job: str, outcome: Outcome, seconds: float) -> None:
        """A recurring job (housekeeping, badge sync, ...) ran once in this process."""

    def pool_wait(self, pool: str, seconds: float) -> None:
        """A unit of work waited ``seconds`` for a database connection from ``pool``
        ("writer" or "reader")."""


# Why an effect was retried or given up on (delivery_result's reason).
REASONS = (
    "rate_limited",  # 429: waits, never counts
    "transient",  # 5xx, timeout, dropped connection
    "unexpected",  # an error of ours or an unknown one (retried)
    "no_adapter",  # the community's platform is not running in this process
    "permanent",  # the platform refused for good (permission, unknown user, ...)
    "unreadable",  # the stored effect cannot be loaded
    "community_deleted",
    "no_longer_useful",
    "superseded",
)


class NullObserver:
    """Reports go nowhere (tests, the console, anything without metrics)."""

    def interaction_finished(
        self, platform: str, kind: InteractionKind, name: str, outcome: Outcome, seconds: float
    ) -> None:
        return None

    def first_response(self, platform: str, seconds: float) -> None:
        return None

    def delivery_result(
        self, platform: str, kind: str, outcome: str, reason: str | None, count: int = 1
    ) -> None:
        return None

    def job_finished(self, job: str, outcome: Outcome, seconds: float) -> None:
        return None

    def pool_wait(self, pool: str, seconds: float) -> None:
        return None


NULL_OBSERVER = NullObserver()


@contextmanager
def timed_outcome(report: ReportOutcome) -> Iterator[None]:
    """Time the block and report its outcome: ``user_error`` for a ``UserError``,
    ``failure`` for any other exception (re-raised either way), else ``ok``. A cancelled
    block (the process stopping) is not reported: it neither succeeded nor failed."""
    started = perf_counter()
    try:
        yield
    except UserError:
        report("user_error", perf_counter() - started)
        raise
    except Exception:
        report("failure", perf_counter() - started)
        raise
    report("ok", perf_counter() - started)


class ReportOutcome(Protocol):
    def __call__(self, outcome: Outcome, seconds: float, /) -> None: ...
