"""Health endpoints for operators, on the bot's one HTTP server (bot/http.py).

``GET /healthz``: the process is alive (its event loop answers). ``GET /readyz``: this
process can do its work: the database answers within ``database_timeout`` seconds (on a
reader connection, so a busy writer never makes it look down), every adapter it runs is
connected (Discord gateway ready, Slack socket connected or HTTP mode serving), and the
oldest due, unsent effect has waited less than ``max_delivery_lag`` seconds; otherwise
503 with the reasons as JSON. ``GET /metrics``: bot/metrics.py.

Both answers are per process: with several processes behind a load balancer each is
probed on its own address. The delivery lag is that of the effects this process's
dispatcher claims (its platforms and Discord shards; 0 turns that check off).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.http import HttpServer
from bot.metrics import CONTENT_TYPE, Metrics
from core.clock import Clock
from core.delivery.stats import QueueStats, queue_stats
from core.queue import ClaimScope

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"


class Connected(Protocol):
    """What readiness asks of an adapter (bot.wiring.Platform has it)."""

    @property
    def port(self) -> Any: ...

    async def unready_reason(self) -> str | None: ...


def queue_reader(
    readers: async_sessionmaker[AsyncSession], clock: Clock, scope: ClaimScope | None = None
) -> Callable[[], Awaitable[QueueStats]]:
    """Read the queue's figures on a reader connection (never the writer); with ``scope``,
    the due effects counted are only those this process's dispatcher claims."""

    async def read() -> QueueStats:
        async with readers() as session:
            return await queue_stats(session, clock.now(), scope)

    return read


class Readiness:
    def __init__(
        self,
        read_queue: Callable[[], Awaitable[QueueStats]],
        clock: Clock,
        adapters: Sequence[Connected] = (),
        *,
        database_timeout: float = 2.0,
        max_delivery_lag: float = 300.0,
    ) -> None:
        self._read_queue = read_queue
        self._clock = clock
        self.adapters = list(adapters)
        self.database_timeout = database_timeout
        self.max_delivery_lag = max_delivery_lag
        self._was_ready: bool | None = None
        # False while the process is still starting (the server answers before the
        # dispatcher and the scheduler run): ready means every part is running.
        self.started = True

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """(ready, the JSON body): each check's finding and, when not ready, the reasons."""
        reasons: list[str] = []
        checks: dict[str, Any] = {"started": {"ok": self.started}}
        if not self.started:
            reasons.append("starting: not every part is running yet")
        started = time.perf_counter()
        try:
            stats = await asyncio.wait_for(self._read_queue(), self.database_timeout)
        except TimeoutError:
            stats = None
            reasons.append(f"database: no answer within {self.database_timeout:g} s")
        except Exception as exc:
            stats = None
            reasons.append(f"database: {type(exc).__name__}")
            log.debug("readiness: database check failed", exc_info=True)
        checks["database"] = {
            "ok": stats is not None,
            "seconds": round(time.perf_counter() - started, 4),
        }
        for adapter in self.adapters:
            name = adapter.port.platform
            try:
                problem = await adapter.unready_reason()
            except Exception as exc:
                problem = f"cannot tell ({type(exc).__name__})"
            checks[name] = {"ok": problem is None}
            if problem is not None:
                reasons.append(f"{name}: {problem}")
        if stats is not None:
            lag = stats.lag_seconds(self._clock.now())
            late = self.max_delivery_lag > 0 and lag > self.max_delivery_lag
            checks["delivery"] = {
                "ok": not late,
                "lag_seconds": round(lag, 3),
                "max_lag_seconds": self.max_delivery_lag,
                "due": stats.due,
            }
            if late:
                reasons.append(
                    f"delivery: the oldest due effect has waited {lag:.0f} s "
                    f"(more than {self.max_delivery_lag:g} s)"
                )
        ready = not reasons
        self._log_change(ready, reasons)
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
        if reasons:
            body["reasons"] = reasons
        return ready, body

    def _log_change(self, ready: bool, reasons: list[str]) -> None:
        """Logged when readiness changes, not at every probe."""
        if ready != self._was_ready:
            if ready:
                log.info("ready")
            else:
                log.warning("not ready: %s", "; ".join(reasons))
        self._was_ready = ready


def add_operator_routes(
    server: HttpServer, readiness: Readiness, metrics: Metrics | None = None
) -> None:
    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"}, headers=_NO_STORE)

    async def readyz(_request: web.Request) -> web.Response:
        ready, body = await readiness.check()
        return web.json_response(body, status=200 if ready else 503, headers=_NO_STORE)

    server.app.router.add_get(HEALTH_PATH, healthz)
    server.app.router.add_get(READY_PATH, readyz)
    if metrics is not None:

        async def scrape(_request: web.Request) -> web.Response:
            body = await metrics.exposition()
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, **_NO_STORE})

        server.app.router.add_get(METRICS_PATH, scrape)


_NO_STORE = {"Cache-Control": "no-store"}
