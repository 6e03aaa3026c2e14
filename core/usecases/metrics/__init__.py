"""Impact metrics (F13): figures, charts, CSV exports, the leaderboard and recurring reports.

* ``periods``: 30d / 90d / 365d / all, each beside the period before;
* ``sql``: portable SQL pieces (seconds between moments, percentiles on both databases);
* ``figures``: every figure as an SQL aggregate;  ``cards``: figures in words;
* ``series`` and ``charts``: what the four charts count, their PNGs and summaries;
* ``export``: CSV of the figures and of the per-mentor table (paged);
* ``leaderboard``: mentors ranked, opt-outs honoured;
* ``reports``: the weekly digest and monthly leaderboard as scheduled deliveries;
* ``admin``: the use cases behind ``COMMANDS``, this feature's catalog entries.
"""

from __future__ import annotations

from core.catalog import Access, Command, Option, OptionType
from core.usecases.metrics import admin, reports
from core.usecases.metrics.periods import PERIODS

__all__ = ["COMMANDS", "admin", "reports"]

_PERIOD = Option(
    "period",
    OptionType.STRING,
    "30d (default), 90d, 365d or all; compared with the period before",
    choices=tuple(PERIODS),
)

COMMANDS = (
    Command(
        "admin",
        "metrics",
        "Impact metrics with charts, each figure beside the previous period's",
        admin.show_metrics,
        admin.ShowMetrics,
        (
            _PERIOD,
            Option(
                "chart",
                OptionType.STRING,
                "Which charts: all (default), none, or one of them",
                choices=admin.CHART_CHOICES,
            ),
        ),
        access=Access.ADMIN,
        read_only=True,
    ),
    Command(
        "admin",
        "export metrics",
        "The period's figures as a CSV file",
        admin.export_metrics,
        admin.ExportFigures,
        (_PERIOD,),
        access=Access.ADMIN,
        read_only=True,
    ),
    Command(
        "admin",
        "export mentors",
        "Every mentor's mentees, completions, sessions and rating in the period (CSV)",
        admin.export_mentors,
        admin.ExportFigures,
        (_PERIOD,),
        access=Access.ADMIN,
        read_only=True,
    ),
    Command(
        "admin",
        "leaderboard",
        "Mentors ranked by sessions held, mentees helped and rating (post:yes to announce)",
        admin.show_leaderboard,
        admin.ShowLeaderboard,
        (
            _PERIOD,
            Option("post", OptionType.BOOLEAN, "Also post it in the announcement channel"),
        ),
        access=Access.ADMIN,
    ),
    Command(
        "admin",
        "reports",
        "Weekly digest to the admin channel, monthly leaderboard to the announcement channel",
        reports.set_reports,
        reports.SetReports,
        (
            Option("digest", OptionType.BOOLEAN, "Post a weekly digest of the figures"),
            Option(
                "digest_day",
                OptionType.STRING,
                "The digest's day (default monday)",
                choices=reports.WEEKDAYS,
            ),
            Option(
                "hour",
                OptionType.INTEGER,
                "Hour of the day reports go out, community timezone (default 9)",
                min_value=0,
                max_value=23,
            ),
            Option("leaderboard", OptionType.BOOLEAN, "Post the leaderboard monthly"),
        ),
        access=Access.ADMIN,
    ),
    Command(
        "mentor",
        "leaderboard",
        "Whether you appear on public leaderboards (listed:no to leave them)",
        admin.set_listing,
        admin.SetListing,
        (Option("listed", OptionType.BOOLEAN, "yes to be shown, no to leave the boards"),),
    ),
)
