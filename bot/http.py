"""The bot's one HTTP server (aiohttp): the Slack HTTP mode's events (and, installing by
OAuth, the "Add to Slack" page and the OAuth redirect), the live calendar feed, and the
health endpoints and metrics (bot/health.py), on one host and port.

Built by the composition root when something needs it; each part adds its routes before
the server starts (aiohttp freezes the router then).
"""

from __future__ import annotations

import logging

from aiohttp import web

from core.errors import Busy
from core.service import Mentorbot

log = logging.getLogger(__name__)

FEED_PATH = "/calendar/{token}.ics"
# On stop, requests under way get this long to finish.
HTTP_SHUTDOWN_SECONDS = 5.0


class HttpServer:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.app = web.Application()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        # No access log: feed URLs carry their member's secret token.
        self._runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=HTTP_SHUTDOWN_SECONDS
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])
        log.info("HTTP server listening on %s", self.base_url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def add_calendar_feed(server: HttpServer, service: Mentorbot) -> None:
    """``GET /calendar/<token>.ics``: the member's sessions; 404 for any other token."""

    async def feed(request: web.Request) -> web.StreamResponse:
        try:
            body = await service.calendar_feed(request.match_info["token"])
        except Busy:
            return web.Response(status=503, headers={"Retry-After": "5"})
        if body is None:
            return web.Response(status=404, text="No such calendar.")
        return web.Response(
            body=body,
            content_type="text/calendar",
            charset="utf-8",
            headers={"Cache-Control": "private, max-age=300"},
        )

    server.app.router.add_get(FEED_PATH, feed)
