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
    # A community the app was removed from (Slack: uninstalled) keeps its data this long,
    # in case it is installed again; then it is erased (core/usecases/community_erasure.py).
    uninstalled_retention_days: int = 30
    prune_max_batches: int = 50
    history_page_size: int = 20
    # Sessions (F7): reminders before the start unless a member chose their own, in
    # minutes; a mentorship without a session this many days is nudged to check in; the
    # public base URL of the calendar feed (None: the feed is off).
    session_reminder_minutes: tuple[int, ...] = (24 * 60, 15)
    check_in_days: int = 14
    calendar_base_url: str | None = None
    agenda_page_size: int = 5
    # Goals (F10): both people are nudged this many days before a goal's target date.
    goal_nudge_days: int = 3
    goals_per_page: int = 10
    # Reviews (F11): also invite one after each completed session; a review can be
    # changed this long after it was written; a rating at or below the threshold is
    # flagged to the admins.
    review_after_sessions: bool = False
    review_edit_window_hours: int = 48
    review_flag_threshold: int = 2
    reviews_page_size: int = 5
    # Badges (F12): Peer Supporter after this many support-group replies, counting at
    # most ``peer_supporter_daily_cap`` a day; sync and backfill work this many awards
    # (or members) per transaction.
    peer_supporter_replies: int = 10
    peer_supporter_daily_cap: int = 3
    badge_batch: int = 500
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
    # Privacy (F15): days between asking for deletion (or leaving) and the deletion; a
    # community may set its own (/privacy grace). Deletions one housekeeping pass does.
    privacy_grace_days: int = 7
    privacy_batch: int = 20
    # Impact metrics (F13): mentors read per page of the per-mentor CSV.
    export_page_size: int = 500
