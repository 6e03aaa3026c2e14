"""What becomes of a claimed row that was not sent: given up on, cancelled, or retried
after a backoff; and what the metrics observer is told of each row."""

from __future__ import annotations

import logging
import random
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

from core.clock import Clock
from core.delivery.batch import Claimed, Result
from core.delivery.perform import CommunityAddress, Superseded
from core.observe import NULL_OBSERVER, Observer
from core.ports import PermanentFailure, RetryLater
from core.uow import UNINSTALLED

if TYPE_CHECKING:
    from core.delivery.dispatcher import DeliverySettings

log = logging.getLogger(__name__)


class Verdicts:
    """The dispatcher's rulings on rows it could not send (see the package: failures)."""

    def __init__(
        self, settings: DeliverySettings, clock: Clock, rng: random.Random, observer: Observer
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._rng = rng
        self.observer = observer

    def undeliverable(self, row: Claimed, community: CommunityAddress | None) -> Result:
        """What becomes of ``row`` when its community is gone, uninstalled, or on a
        platform this process runs no adapter for."""
        if community is None:
            return because(
                Result.failed(row, "the community was deleted before delivery"),
                "community_deleted",
            )
        if community.uninstalled:
            # Queued after the uninstall cancelled the rest (a recurring job's reminder).
            return Result.cancelled(row, UNINSTALLED)
        retry = self.retry(row, f"no adapter running for {community.platform}", None, True)
        return because(retry, "no_adapter")

    def failure(self, row: Claimed, exc: Exception) -> Result:
        """What became of ``row`` when its platform call raised ``exc``."""
        if isinstance(exc, Superseded):
            return because(Result.cancelled(row, str(exc)), "superseded")
        if isinstance(exc, RetryLater):
            retry = self.retry(row, str(exc), exc.retry_after, exc.rate_limited)
            return because(retry, "rate_limited" if exc.rate_limited else "transient")
        if isinstance(exc, PermanentFailure):
            log.warning("delivery %s (%s) failed permanently: %s", row.id, row.kind, exc)
            failed = Result.failed(row, str(exc), missing=exc.missing_permission)
            return because(failed, "permanent")
        log.warning("delivery %s (%s) failed unexpectedly", row.id, row.kind, exc_info=exc)
        retry = self.retry(row, f"{type(exc).__name__}: {exc}", None, False)
        return because(retry, "unexpected")

    def backoff(self, failures: int) -> float:
        """Exponential backoff with jitter: base * 2^(n-1), capped, times 0.5-1.0."""
        s = self._settings
        ceiling = min(s.max_backoff_seconds, s.base_backoff_seconds * 2.0 ** max(failures - 1, 0))
        return ceiling * (0.5 + self._rng.random() / 2)

    def retry(
        self, row: Claimed, error: str, retry_after: float | None, rate_limited: bool
    ) -> Result:
        # A rate limit is no failure: it neither grows the backoff nor counts as an attempt.
        failures = row.attempts if rate_limited else row.attempts + 1
        delay = max(retry_after or 0.0, self.backoff(max(failures, 1)))
        log.info("delivery %s (%s) retrying in %.1fs: %s", row.id, row.kind, delay, error[:200])
        due = self._clock.now() + timedelta(seconds=delay)
        return Result.retry(row, due, error, counts=not rate_limited)

    def report(self, row: Claimed, community: CommunityAddress | None, result: Result) -> None:
        """Tell the observer what became of a row that was not sent."""
        outcome = "retry" if result.status == "pending" else result.status
        platform = community.platform if community is not None else "unknown"
        self.observer.delivery_result(platform, row.kind, outcome, result.reason)

    def report_sent(self, claimed: list[Claimed], communities: dict[str, CommunityAddress]) -> None:
        """Tell the observer how many of a batch's rows were sent, per platform and kind
        (once per batch, not once per row: sending is the dispatcher's busiest path;
        not at all without a metrics observer)."""
        if self.observer is NULL_OBSERVER:
            return
        sent: Counter[tuple[str, str]] = Counter()
        for row in claimed:
            if row.sent_at is not None:
                community = communities.get(row.community_id)
                sent[community.platform if community else "unknown", row.kind] += 1
        for (platform, kind), count in sent.items():
            self.observer.delivery_result(platform, kind, "sent", None, count)


def because(result: Result, reason: str) -> Result:
    """``result``, with why (core.observe.REASONS)."""
    result.reason = reason
    return result
