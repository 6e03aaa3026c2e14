"""Discord's failures in the delivery queue's terms: retry later, or give up and say why.

discord.py itself waits out a 429 whose ``retry_after`` is at most the client's
``max_ratelimit_timeout`` (30 s, the least discord.py accepts; see ``adapters.discord.bot``)
and retries a 500/502/504 (up to five times). What still reaches us is sorted here:

* 403 Missing Permissions (50013) / Missing Access (50001) → ``PermanentFailure`` naming
  the permission an admin must grant (chosen per call); the dispatcher reports it once to
  the community's admin channel.
* 403 "Cannot send messages to this user" (50007) → ``PermanentFailure`` (the member's
  privacy settings; nothing an admin can grant).
* 404 → ``PermanentFailure`` (the member, role or channel is gone).
* 429 that discord.py gave up on (``RateLimited``: a ``retry_after`` or an exhausted
  bucket beyond ``max_ratelimit_timeout``; or a Cloudflare ban without discord.py's
  headers), any 5xx (503 is not retried by discord.py), connection errors and timeouts →
  ``RetryLater``, never sooner than Discord's ``retry_after``: the delivery queue
  reschedules that effect while others go on.
* Any other 4xx is a request Discord will never accept → ``PermanentFailure``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import discord

from core.ports import PermanentFailure, RetryLater

MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
CANNOT_DM = 50007
UNKNOWN_MEMBER = 10007
UNKNOWN_ROLE = 10011
MAX_ROLES = 30005


def _retry_after(exc: discord.HTTPException) -> float | None:
    value = getattr(exc.response, "headers", {}).get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@contextmanager
def platform_call(action: str, permission: str | None) -> Iterator[None]:
    """Translate what a Discord call inside the block raises; ``permission`` is what a
    403 means is missing (e.g. "Manage Roles")."""
    try:
        yield
    except (RetryLater, PermanentFailure):
        raise
    except discord.RateLimited as exc:
        raise RetryLater(
            f"{action}: rate limited by Discord", exc.retry_after, rate_limited=True
        ) from exc
    except discord.Forbidden as exc:
        if exc.code == CANNOT_DM:
            raise PermanentFailure(
                f"{action}: the member does not accept direct messages from the bot"
            ) from exc
        raise PermanentFailure(
            f"{action}: Discord refused ({exc.code} {exc.text or 'Forbidden'})",
            missing_permission=permission,
        ) from exc
    except discord.NotFound as exc:
        raise PermanentFailure(f"{action}: {exc.text or 'not found'} ({exc.code})") from exc
    except discord.DiscordServerError as exc:
        raise RetryLater(f"{action}: Discord server error {exc.status}") from exc
    except discord.HTTPException as exc:
        if exc.status == 429:
            raise RetryLater(
                f"{action}: rate limited by Discord", _retry_after(exc), rate_limited=True
            ) from exc
        if exc.status >= 500:
            raise RetryLater(f"{action}: Discord server error {exc.status}") from exc
        if exc.code == MAX_ROLES:
            raise PermanentFailure(
                f"{action}: the server already has Discord's maximum of 250 roles"
            ) from exc
        raise PermanentFailure(
            f"{action}: Discord rejected the request ({exc.status} {exc.code}: {exc.text})"
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:  # includes TimeoutError
        raise RetryLater(f"{action}: {type(exc).__name__}: {exc}") from exc
