"""Operator metrics in Prometheus format (``GET /metrics``), one registry per process.

:class:`Metrics` is the core's observer (core/observe.py) bound to ``prometheus_client``:
the core, the adapters and the dispatcher report; this module counts. Each process has its
own ``CollectorRegistry`` (never the library's global one), so two bots in one test
process, or a test after another, never mix their counts. With several processes each
serves its own counters; the queue gauges describe the shared queue, so every process
reports the same values (aggregate them with max, not sum).

Gauges about the queue are read when scraped, by :class:`QueueCollector`, from a few
indexed queries on a reader connection, cached for ``QUEUE_CACHE_SECONDS`` so a burst of
scrapes costs one read.

Labels carry no member data: platform names, catalog command paths, button and form
names, effect kinds, job ids, and fixed outcome and reason words.

Adding a metric (e.g. a "this process is the leader" gauge): create it in
``Metrics.__init__`` with ``registry=self.registry`` and set it from the part that knows
(the composition root holds the ``Metrics``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.clock import Clock
from core.delivery.stats import QueueStats
from core.observe import InteractionKind, Outcome

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUEUE_CACHE_SECONDS = 5.0
QUEUE_READ_TIMEOUT_SECONDS = 2.0
# Platforms want a first answer within 3 s; the buckets are dense around that.
FIRST_RESPONSE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0)
HANDLING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
POOL_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)


class Metrics:
    """This process's metrics, and the observer that feeds them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.interactions = Counter(
            "mentorbot_interactions",
            "Commands, button presses and form submissions handled, by name and outcome "
            "(ok, user_error: refused with a message naming the rule, failure: an apology).",
            ["platform", "kind", "name", "outcome"],
            registry=r,
        )
        self.handling = Histogram(
            "mentorbot_interaction_seconds",
            "Time the core took to handle a command, press or form.",
            ["platform", "kind"],
            buckets=HANDLING_BUCKETS,
            registry=r,
        )
        self.first_responses = Histogram(
            "mentorbot_first_response_seconds",
            "From an interaction reaching the process to its first answer (reply, deferral "
            "or acknowledgement); platforms give up after 3 s.",
            ["platform"],
            buckets=FIRST_RESPONSE_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "mentorbot_deliveries",
            "Delivery attempts by this process's dispatcher, by outcome "
            "(sent, retry, failed, expired, cancelled).",
            ["platform", "kind", "outcome"],
            registry=r,
        )
        self.retries = Counter(
            "mentorbot_delivery_retries",
            "Deliveries put back for a later attempt, by reason.",
            ["platform", "reason"],
            registry=r,
        )
        self.failures = Counter(
            "mentorbot_delivery_failures",
            "Deliveries given up on (failed or expired), by reason.",
            ["platform", "reason"],
            registry=r,
        )
        self.job_runs = Counter(
            "mentorbot_scheduler_job_runs",
            "Recurring jobs run by this process, by job and outcome.",
            ["job", "outcome"],
            registry=r,
        )
        self.job_seconds = Histogram(
            "mentorbot_scheduler_job_seconds",
            "How long each recurring job run took.",
            ["job"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.pool_waits = Histogram(
            "mentorbot_db_pool_wait_seconds",
            "Checkouts that found no idle database connection, and how long each waited.",
            ["pool"],
            buckets=POOL_WAIT_BUCKETS,
            registry=r,
        )
        self.queue: QueueCollector | None = None
        # More metrics of this process (e.g. whether it holds the leader lock for the
        # recurring jobs) are created here, each with ``registry=r``.

    def watch_queue(self, read: Callable[[], Awaitable[QueueStats]], clock: Clock) -> None:
        """Report the delivery queue's gauges, read with ``read`` at scrape time."""
        self.queue = QueueCollector(read, clock)
        self.registry.register(self.queue)

    # ----- the core's observer (core.observe.Observer) -------------------------------------

    def interaction_finished(
        self, platform: str, kind: InteractionKind, name: str, outcome: Outcome, seconds: float
    ) -> None:
        self.interactions.labels(platform, kind, name, outcome).inc()
        self.handling.labels(platform, kind).observe(seconds)

    def first_response(self, platform: str, seconds: float) -> None:
        self.first_responses.labels(platform).observe(max(seconds, 0.0))

    def delivery_result(
        self, platform: str, kind: str, outcome: str, reason: str | None, count: int = 1
    ) -> None:
        self.deliveries.labels(platform, kind, outcome).inc(count)
        if outcome == "retry":
            self.retries.labels(platform, reason or "unexpected").inc(count)
        elif outcome in ("failed", "expired"):
            self.failures.labels(platform, reason or outcome).inc(count)

    def job_finished(self, job: str, outcome: Outcome, seconds: float) -> None:
        self.job_runs.labels(job, outcome).inc()
        self.job_seconds.labels(job).observe(seconds)

    def pool_wait(self, pool: str, seconds: float) -> None:
        self.pool_waits.labels(pool).observe(seconds)

    # ----- exposition ---------------------------------------------------------------------

    async def exposition(self) -> bytes:
        """The text a Prometheus scrape gets (queue gauges refreshed first if stale)."""
        if self.queue is not None:
            await self.queue.refresh()
        return generate_latest(self.registry)


class QueueCollector(Collector):
    """Queue depth, the oldest due effect's age and the reminders of the next hour, read
    at scrape time and cached briefly. A failed read reports ``mentorbot_queue_read_ok 0``
    and leaves the queue gauges out rather than showing stale values."""

    def __init__(
        self,
        read: Callable[[], Awaitable[QueueStats]],
        clock: Clock,
        *,
        cache_seconds: float = QUEUE_CACHE_SECONDS,
        timeout: float = QUEUE_READ_TIMEOUT_SECONDS,
    ) -> None:
        self._read = read
        self._clock = clock
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._stats: QueueStats | None = None
        self._lag = 0.0
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:  # concurrent scrapes share one read
            if time.monotonic() - self._read_at < self.cache_seconds:
                return
            try:
                stats = await asyncio.wait_for(self._read(), self.timeout)
            except Exception as exc:
                log.warning("metrics: could not read the delivery queue (%s)", type(exc).__name__)
                self._stats = None
            else:
                self._stats = stats
                self._lag = stats.lag_seconds(self._clock.now())
            self._read_at = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        ok = GaugeMetricFamily(
            "mentorbot_queue_read_ok", "1 if the delivery queue could be read for this scrape."
        )
        ok.add_metric([], 0.0 if self._stats is None else 1.0)
        yield ok
        stats = self._stats
        if stats is None:
            return
        depth = GaugeMetricFamily(
            "mentorbot_delivery_queue_depth",
            "Pending effects in the shared queue: due (waiting for a dispatcher) or "
            "scheduled (due later: reminders, retries backing off).",
            labels=["state"],
        )
        depth.add_metric(["due"], stats.due)
        depth.add_metric(["scheduled"], stats.scheduled)
        yield depth
        oldest = GaugeMetricFamily(
            "mentorbot_delivery_oldest_due_age_seconds",
            "How long the oldest due, unsent effect has waited (0 when none waits).",
        )
        oldest.add_metric([], self._lag)
        yield oldest
        upcoming = GaugeMetricFamily(
            "mentorbot_reminders_due_next_hour",
            "Effects never tried yet that fall due within the hour (session and meeting "
            "reminders, scheduled prompts), by kind.",
            labels=["kind"],
        )
        for kind, count in sorted(stats.upcoming.items()):
            upcoming.add_metric([kind], count)
        yield upcoming

    def describe(self) -> Iterator[Metric]:
        return iter(())  # names depend on the read; nothing to check at registration
