"""``mentorbot run`` as the two-process tests start it: the real command line and wiring,
with the recurring jobs on periods of seconds (``SCALEOUT_JOB_SECONDS``, JSON: job id ->
seconds) instead of an hour and a day, so a test sees many periods."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import bot.wiring
from bot.cli import main
from bot.jobs import RecurringJob

_real = bot.wiring.recurring_jobs


def _short(service: Any, config: Any) -> list[RecurringJob]:
    from apscheduler.triggers.interval import IntervalTrigger

    periods = json.loads(os.environ["SCALEOUT_JOB_SECONDS"])
    return [
        RecurringJob(job.id, job.run, IntervalTrigger(seconds=periods[job.id], timezone="UTC"))
        for job in _real(service, config)
    ]


if __name__ == "__main__":
    bot.wiring.recurring_jobs = _short
    sys.exit(main(["run"]))
