"""The platform port: the few things the core needs a chat platform to do.

Each adapter implements :class:`PlatformPort`; the console adapter does it in memory,
which makes it the test bot. Only the delivery dispatcher calls a port.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, Protocol

from core.messages import Message


@dataclass(frozen=True)
class Target:
    """Which community (guild/workspace) an effect is for, in the platform's terms."""

    community_id: str
    platform: str
    platform_id: str
    group_category_id: str | None = None


class Attempt(NamedTuple):
    """Which queued effect a port call carries out.

    ``key`` is the effect's idempotency key: ports hand it to the platform's own
    de-duplication where there is one (Discord's message nonce, Slack message metadata).
    ``uncertain`` is True when an earlier attempt may have reached the platform without
    its outcome being recorded (a crash, a timeout, a lapsed claim): the port then checks
    what the platform already has before creating anything again.

    A named tuple, not a frozen dataclass: one is made for every effect sent, and this
    makes it at a third of the cost.
    """

    key: str
    uncertain: bool = False


# ``new_attempt((key, uncertain))``: an Attempt made without NamedTuple's Python-level
# ``__new__`` (the dispatcher makes one for every effect it sends).
new_attempt: Callable[[tuple[str, bool]], Attempt] = partial(tuple.__new__, Attempt)


class DeliveryError(Exception):
    """Base of what a port raises when the platform refused or failed."""


class RetryLater(DeliveryError):
    """Rate limits, 5xx, timeouts: try again, not before ``retry_after`` seconds if given.

    ``rate_limited=True`` says the platform refused the call without acting on it (a 429):
    it never counts toward giving up and leaves the outcome certain. Anything else
    (a 5xx, a timeout, a dropped connection) may have reached the platform, so the next
    attempt is marked uncertain and counts as a failure of the community's delivery.
    """

    def __init__(
        self, reason: str, retry_after: float | None = None, *, rate_limited: bool = False
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class PermanentFailure(DeliveryError):
    """Retrying cannot help (missing permission or scope, unknown user, ...).

    ``missing_permission`` names what an admin must grant; it is reported once to the
    community's admin channel.
    """

    def __init__(self, reason: str, missing_permission: str | None = None) -> None:
        super().__init__(reason)
        self.missing_permission = missing_permission


Sent = dict[str, Any]  # what the platform gave back (message id, channel id, ...)


class PlatformPort(Protocol):
    platform: str
    # The largest file one upload may be (bytes; None: no limit) and how many files one
    # message may carry. Adapters fit every outgoing message's files to them
    # (``core.files.fit_message``): compressed or split, never cut.
    max_file_bytes: int | None
    max_files: int | None

    async def send_dm(
        self, target: Target, user_id: str, message: Message, thread: str | None, attempt: Attempt
    ) -> Sent:
        """DM a member; return {"message_id": …} and, where threads exist, {"thread_id": …}.

        ``thread`` is a ``thread_id`` this port returned earlier for the same mentorship
        and person (continue that thread), or None (a new message or thread).
        """
        ...

    async def post(
        self, target: Target, channel_id: str, message: Message, pin: bool, attempt: Attempt
    ) -> Sent: ...

    async def ensure_role(self, target: Target, name: str, known_id: str | None) -> str:
        """Return the id of the role/user group named ``name``, creating it if missing."""
        ...

    async def grant_role(self, target: Target, user_id: str, role_id: str) -> None: ...

    async def revoke_role(self, target: Target, user_id: str, role_id: str) -> None: ...

    async def role_holders(self, target: Target, role_id: str) -> list[str] | None:
        """Who holds the role or user group now; None where the platform cannot list it
        (Discord without the privileged members intent)."""
        ...

    async def create_private_space(
        self, target: Target, name: str, topic: str, user_ids: tuple[str, ...], attempt: Attempt
    ) -> str: ...

    async def space_headroom(self, target: Target) -> int | None:
        """How many more channels the community's server can hold, where the platform caps
        them (Discord: 500 a server, categories included); None where it does not."""
        ...

    async def set_space_member(
        self, target: Target, space_id: str, user_id: str, add: bool
    ) -> None: ...

    async def archive_space(self, target: Target, space_id: str) -> None: ...

    async def create_scheduled_event(
        self,
        target: Target,
        space_id: str | None,
        title: str,
        description: str,
        start: datetime,
        end: datetime,
    ) -> str: ...

    async def session_event(
        self,
        target: Target,
        event_id: str | None,
        title: str,
        description: str,
        start: datetime,
        end: datetime,
        location: str,
        cancel: bool,
    ) -> str | None:
        """Create (``event_id`` None), update or cancel (``cancel``) a workshop's platform
        calendar event; return its id, or None where the platform has no such events."""
        ...

    async def update_scheduled_event(
        self, target: Target, event_id: str, start: datetime, end: datetime
    ) -> None:
        """Move an event this port created; one that no longer exists is left alone."""
        ...

    async def cancel_scheduled_event(self, target: Target, event_id: str) -> None:
        """Cancel an event this port created; one already gone is fine."""
        ...

    async def open_thread(self, target: Target, space_id: str, message_id: str, name: str) -> str:
        """The id of the thread under a message the port posted (opened if needed, so a
        repeat returns the same thread)."""
        ...

    async def post_in_thread(
        self, target: Target, space_id: str, thread_id: str, message: Message, attempt: Attempt
    ) -> Sent: ...
