"""Settings the core's rules read (thresholds, page sizes, matching weights)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.matching import MatchingSettings


@dataclass(frozen=True)
class CoreSettings:
    matching: MatchingSettings = field(default_factory=MatchingSettings)
    # A request unanswered this long is nudged once, then expires.
    request_nudge_days: int = 3
    request_expiry_days: int = 7
    # Requests a mentee may have waiting at once.
    max_open_requests: int = 3
    browse_page_size: int = 5
    history_page_size: int = 20
