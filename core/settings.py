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
    # Requests one housekeeping pass nudges or expires at most (the rest wait a pass).
    housekeeping_batch: int = 500
    # Requests a mentee may have waiting at once.
    max_open_requests: int = 3
    browse_page_size: int = 5
    # Housekeeping deletes rows past their useful life (core/usecases/pruning.py): dedupe
    # records outlive any platform retry, a DM not placed within a day is dropped, and a
    # reply to a relayed DM older than half a year is no longer routed.
    dedupe_retention_days: int = 7
    pending_relay_retention_days: int = 1
    route_retention_days: int = 180
    prune_batch: int = 1000
    prune_max_batches: int = 50
    history_page_size: int = 20
    # Support groups (F8): below this many members a group is "forming".
    group_min_members: int = 3
    groups_page_size: int = 5
    # A place freed in a full group is offered to the first waiting member this long.
    waitlist_offer_hours: int = 24
    # Meetings kept materialised ahead, and reminders posted in the group's space.
    meeting_window: int = 4
    meeting_reminder_hours: tuple[int, ...] = (24, 1)
    # Groups one housekeeping pass extends, offers it expires or prompts it posts, at most.
    group_batch: int = 200
