"""The Slack Web API clients: base URL, retries, and what a failure means for delivery.

slack_sdk's built-in retry handlers absorb short trouble in place: connection resets,
HTTP 500/503 and, for the app's interactive calls (a member is waiting for the answer),
rate limits whose Retry-After is short. They share one attempt counter
(``RetryState.current_attempt``), so each handler's ``max_retry_count`` is a ceiling on
*all* retries of a call, not its own budget; the counts below leave room for a 429
followed by 500s.

The delivery port's client never waits out a rate limit (:func:`delivery_retry_handlers`):
the call fails at once with ``RetryLater(retry_after=…, rate_limited=True)`` and the
queue reschedules that one effect, so a throttled channel holds back nothing else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler, default_interval_calculator
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from core.messages import File
from core.ports import DeliveryError, PermanentFailure, RetryLater

MAX_IN_PLACE_WAIT_SECONDS = 5
REQUEST_TIMEOUT_SECONDS = 15
# Slack errors that say "try again" rather than "this will never work".
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class ShortRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's rate-limit handler, for waits of at most ``max_wait_seconds``."""

    def __init__(self, max_retry_count: int = 3, max_wait_seconds: float = 5) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after(response.headers)
        return wait is not None and wait <= self.max_wait_seconds


def retry_after(headers: Any) -> float | None:
    """The Retry-After header in seconds (any header container, any case)."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return float(raw)
            except (TypeError, ValueError):
                return None
    return None


def default_retry_handlers(
    interval: RetryIntervalCalculator = default_interval_calculator,
) -> list[AsyncRetryHandler]:
    """Connection errors, short rate limits and 500/503, at most 3 retries per call.

    ``interval`` spaces the connection/server-error retries (default: exponential backoff
    with jitter; tests pass a fixed short one).
    """
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=interval),
        ShortRateLimitRetryHandler(max_retry_count=3, max_wait_seconds=MAX_IN_PLACE_WAIT_SECONDS),
        AsyncServerErrorRetryHandler(max_retry_count=3, interval_calculator=interval),
    ]


def delivery_retry_handlers(handlers: Sequence[AsyncRetryHandler]) -> list[AsyncRetryHandler]:
    """``handlers`` without any that sleeps through a rate limit."""
    return [h for h in handlers if not isinstance(h, AsyncRateLimitErrorRetryHandler)]


def configure(
    client: AsyncWebClient,
    base_url: str,
    retry_handlers: Sequence[AsyncRetryHandler] | None = None,
) -> AsyncWebClient:
    """Point ``client`` at ``base_url`` with our timeout and retries (all read per call)."""
    if not base_url.endswith("/"):
        raise ValueError("the Slack api_base_url must end with '/'")
    client.base_url = base_url
    client.timeout = REQUEST_TIMEOUT_SECONDS
    client.retry_handlers = list(
        retry_handlers if retry_handlers is not None else default_retry_handlers()
    )
    return client


def web_client(
    token: str, base_url: str, retry_handlers: Sequence[AsyncRetryHandler] | None = None
) -> AsyncWebClient:
    return configure(AsyncWebClient(token=token), base_url, retry_handlers)


# Slack takes files up to 1 GB (larger ones are compressed or split, see core.files).
MAX_FILE_BYTES = 10**9


async def upload_files(
    client: AsyncWebClient, channel: str, files: Sequence[File], *, thread_ts: str | None = None
) -> None:
    """Share a message's files in ``channel`` (slack_sdk's files_upload_v2: get an upload
    URL, send the bytes there, complete the upload into the channel)."""
    for file in files:
        await client.files_upload_v2(
            channel=channel,
            file=file.data,
            filename=file.name,
            title=file.name,
            thread_ts=thread_ts,
        )


def delivery_error(exc: SlackApiError, what: str) -> DeliveryError:
    """What a Slack failure means for the delivery queue: try again later, or never."""
    response = exc.response
    status = int(getattr(response, "status_code", 200) or 200)
    error = str(response.get("error") or f"HTTP {status}")
    if status == 429 or error == "ratelimited":
        return RetryLater(f"{what}: rate limited", retry_after(response.headers), rate_limited=True)
    if status >= 500 or error in TRANSIENT_ERRORS:
        return RetryLater(f"{what}: {error}")
    if error == "missing_scope":
        needed = response.get("needed") or "a missing"
        return PermanentFailure(f"{what}: missing_scope", missing_permission=f"the {needed} scope")
    if error == "paid_teams_only":
        return PermanentFailure(
            f"{what}: user groups need a paid Slack plan",
            missing_permission="a paid Slack plan for user groups (or badge_usergroups = false)",
        )
    return PermanentFailure(f"{what}: {error}")


@contextlib.asynccontextmanager
async def delivering(
    what: str, *, ignore: Sequence[str] = (), missing: Mapping[str, str] | None = None
) -> AsyncIterator[None]:
    """Turn Slack failures inside the block into RetryLater / PermanentFailure.

    Errors named in ``ignore`` mean the platform is already as wanted (``already_in_channel``);
    ``missing`` maps an error to what an admin must grant (reported in the admin channel).
    """
    try:
        yield
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error in ignore:
            return
        if missing and error in missing:
            raise PermanentFailure(f"{what}: {error}", missing[error]) from exc
        raise delivery_error(exc, what) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RetryLater(f"{what}: {type(exc).__name__} {exc}") from exc
