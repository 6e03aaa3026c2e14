"""Slash-option values waiting for their modal: the second half of a long-form command.

A form command (``/mentor apply``) takes its short options as slash options and its long
text (the bio) in a modal. Discord sends the two as separate interactions, and a modal
``custom_id`` (100 characters) cannot hold the options (an expertise list and an IANA
timezone alone can exceed it). So the options wait here, in memory, under a random nonce
that becomes the modal's custom id, for at most ``ttl`` seconds.

Trade-off: a modal left open across a bot restart, or for longer than the TTL, cannot be
completed; its submitter is told to run the command again. Keeping drafts in memory needs
no cleanup job and no table, and a guild's interactions always reach the same process.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_TTL_SECONDS = 30 * 60
DEFAULT_LIMIT = 10_000


@dataclass(frozen=True)
class Draft:
    path: str  # the catalog command, e.g. "mentor apply"
    user_id: str
    guild_id: str
    options: Mapping[str, object]


class FormDrafts:
    def __init__(
        self,
        ttl: float = DEFAULT_TTL_SECONDS,
        limit: int = DEFAULT_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.limit = limit
        self._clock = clock
        self._drafts: OrderedDict[str, tuple[float, Draft]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._drafts)

    def put(self, draft: Draft) -> str:
        """Keep ``draft``; return the nonce that fetches it back (URL-safe, 16 characters)."""
        now = self._clock()
        while self._drafts:
            nonce, (expires, _) = next(iter(self._drafts.items()))
            if expires > now and len(self._drafts) < self.limit:
                break
            del self._drafts[nonce]
        nonce = secrets.token_urlsafe(12)
        self._drafts[nonce] = (now + self.ttl, draft)
        return nonce

    def take(self, nonce: str, user_id: str, guild_id: str) -> Draft | None:
        """The draft, once, if it has not expired and belongs to this member and guild."""
        entry = self._drafts.get(nonce)
        if entry is None:
            return None
        expires, draft = entry
        if draft.user_id != user_id or draft.guild_id != guild_id:
            return None  # someone else's form: leave it for its owner
        del self._drafts[nonce]
        return draft if expires > self._clock() else None
