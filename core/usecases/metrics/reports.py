"""Recurring reports: the weekly digest (headline figures and one chart, in the admin
channel) and the monthly leaderboard (in the announcement channel).

Turning one on (``/admin reports``) records a :class:`ReportSchedule` and queues its first
run as a delivery due then, in the same transaction. Housekeeping, once a run's moment has
passed, queues the next one and moves ``next_at`` on, again in one transaction; the key of
each run is (schedule, moment), so a restart or a second process never queues one twice,
and the queued row is the truth, so none is lost. A run is composed when it is delivered
(:func:`compose`), so its figures count up to that moment. Turning a report off or
changing it cancels what is queued and starts a new schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import db
from core.clock import Clock
from core.context import Actor
from core.effects import Report
from core.errors import InvalidValue
from core.messages import Field, Message, Reply
from core.models import Community, ReportSchedule
from core.ports import PermanentFailure
from core.uow import ReadOnlyUnitOfWork, UnitOfWork
from core.usecases.metrics.cards import headline_lines
from core.usecases.metrics.charts import draw, mentorships_chart
from core.usecases.metrics.figures import compute
from core.usecases.metrics.leaderboard import board
from core.usecases.metrics.periods import Window, week_window

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEFAULT_DAY, DEFAULT_HOUR = "monday", 9
DIGEST_CHART_WEEKS = 12
LEADERBOARD_DAYS = 30


@dataclass(frozen=True)
class SetReports:
    digest: bool | None = None
    digest_day: str | None = None
    hour: int | None = None
    leaderboard: bool | None = None


def report_settings(community: Community) -> dict[str, Any]:
    return dict(community.settings.get("reports") or {})


def next_run(report: str, plan: dict[str, Any], zone: str, after: datetime) -> datetime:
    """The first moment after ``after`` the report is due: the digest on its weekday,
    the leaderboard on the 1st of the month, at ``hour`` in the community's zone."""
    tz = ZoneInfo(zone)
    hour = int(plan.get("hour", DEFAULT_HOUR))
    local = after.astimezone(tz)

    def at(day: date) -> datetime:
        return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)

    if report == "digest":
        weekday = WEEKDAYS.index(plan.get("day", DEFAULT_DAY))
        day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
        return at(day) if at(day) > after else at(day + timedelta(days=7))
    first = local.date().replace(day=1)
    if at(first) > after:
        return at(first)
    return at((first + timedelta(days=32)).replace(day=1))


async def _queue(uow: UnitOfWork, schedule: ReportSchedule) -> None:
    await uow.outbox.add(
        schedule.community_id,
        Report(schedule.report, schedule.id),
        key=f"report:{schedule.id}:{int(schedule.next_at.timestamp())}",
        due_at=schedule.next_at,
        group_key=f"report:{schedule.community_id}:{schedule.report}",
    )


async def _restart(
    uow: UnitOfWork, community: Community, report: str, plan: dict[str, Any] | None
) -> None:
    """Stop what is queued for ``report``; with a ``plan``, start a new schedule."""
    await uow.outbox.cancel(
        community.id, f"report:{community.id}:{report}", "cancelled: the report was changed"
    )
    await uow.session.execute(
        delete(ReportSchedule).where(
            ReportSchedule.community_id == community.id, ReportSchedule.report == report
        )
    )
    if plan is None:
        return
    await uow.session.flush()
    schedule = ReportSchedule(
        community_id=community.id,
        report=report,
        next_at=next_run(report, plan, community.default_timezone, uow.now()),
        created_at=uow.now(),
    )
    uow.session.add(schedule)
    await uow.session.flush()
    await _queue(uow, schedule)


def _describe(community: Community) -> tuple[Field, ...]:
    plans = report_settings(community)
    digest, board_plan = plans.get("digest"), plans.get("leaderboard")
    zone = community.default_timezone
    return (
        Field(
            "Weekly digest",
            f"on: {digest['day'].title()}s at {digest['hour']:02d}:00 ({zone}), "
            "in the admin channel"
            if digest
            else "off",
        ),
        Field(
            "Monthly leaderboard",
            f"on: the 1st of each month at {board_plan['hour']:02d}:00 ({zone}), "
            "in the announcement channel"
            if board_plan
            else "off",
        ),
    )


async def set_reports(uow: UnitOfWork, actor: Actor, cmd: SetReports) -> Reply:
    actor.require_admin("change the community's reports")
    community = actor.community
    plans = report_settings(community)
    before = {k: dict(v) for k, v in plans.items()}
    if cmd.digest_day is not None and cmd.digest_day not in WEEKDAYS:
        raise InvalidValue("digest_day", f"must be one of {', '.join(WEEKDAYS)}", cmd.digest_day)
    digest_on = cmd.digest if cmd.digest is not None else "digest" in plans
    board_on = cmd.leaderboard if cmd.leaderboard is not None else "leaderboard" in plans
    if cmd.digest_day is not None and not digest_on:
        raise InvalidValue("digest_day", "sets the weekly digest's day; turn it on with digest:yes")
    if cmd.hour is not None and not (digest_on or board_on):
        raise InvalidValue("hour", "sets when reports go out; turn one on (digest or leaderboard)")
    if digest_on:
        if community.admin_channel_id is None:
            raise InvalidValue("digest", "needs an admin channel: set one with /admin setup")
        old = plans.get("digest", {})
        plans["digest"] = {
            "day": cmd.digest_day or old.get("day", DEFAULT_DAY),
            "hour": cmd.hour if cmd.hour is not None else old.get("hour", DEFAULT_HOUR),
        }
    else:
        plans.pop("digest", None)
    if board_on:
        if community.announcement_channel_id is None:
            raise InvalidValue(
                "leaderboard",
                "needs an announcement channel: set one with /admin setup announcement_channel",
            )
        old = plans.get("leaderboard", {})
        plans["leaderboard"] = {
            "hour": cmd.hour if cmd.hour is not None else old.get("hour", DEFAULT_HOUR)
        }
    else:
        plans.pop("leaderboard", None)
    changed = [r for r in ("digest", "leaderboard") if before.get(r) != plans.get(r)]
    if changed:
        community.settings = {**community.settings, "reports": plans}
        for report in changed:
            await _restart(uow, community, report, plans.get(report))
        uow.audit(
            community.id,
            actor.member.id,
            "reports.set",
            target_type="community",
            target_id=community.id,
            summary=f"changed reports: {', '.join(changed)}",
            changes={r: {"from": before.get(r), "to": plans.get(r)} for r in changed},
        )
    return Reply(
        message=Message(
            title="Reports" if not changed else "Reports saved",
            text=f"Changed: {', '.join(changed)}." if changed else "Nothing changed.",
            fields=_describe(community),
            tone="success" if changed else "info",
        )
    )


async def queue_due_reports(uow: UnitOfWork) -> int:
    """Housekeeping: for each schedule whose run has come, queue the next run and move
    ``next_at`` on (one transaction). A bot down for weeks resumes from now, skipping the
    runs it missed rather than sending them all."""
    now = uow.now()
    stmt = (
        select(ReportSchedule, Community)
        .join(Community, Community.id == ReportSchedule.community_id)
        .where(ReportSchedule.next_at <= now)
        .order_by(ReportSchedule.next_at, ReportSchedule.id)
        .limit(uow.settings.group_batch)
    )
    if db.is_postgres(uow.session):
        stmt = stmt.with_for_update(of=ReportSchedule, skip_locked=True)
    due = (await uow.session.execute(stmt)).all()
    for schedule, community in due:
        plan = report_settings(community).get(schedule.report)
        if plan is None:  # turned off in a way that left the row: stop here
            await uow.session.delete(schedule)
            continue
        schedule.next_at = next_run(
            schedule.report, plan, community.default_timezone, max(now, schedule.next_at)
        )
        await _queue(uow, schedule)
    return len(due)


async def compose(
    factory: async_sessionmaker[AsyncSession], clock: Clock, community_id: str, effect: Report
) -> tuple[str, Message] | None:
    """The channel and message of a queued report, as of now; None when its schedule was
    turned off or changed since it was queued. Reads on a reader connection."""
    async with ReadOnlyUnitOfWork(db.read_session_factory(factory), clock) as uow:
        found = (
            await uow.session.execute(
                select(ReportSchedule, Community)
                .join(Community, Community.id == ReportSchedule.community_id)
                .where(ReportSchedule.id == effect.schedule_id)
            )
        ).first()
        if found is None:
            return None
        _schedule, community = found
        if effect.report == "leaderboard":
            channel = community.announcement_channel_id
            if channel is None:
                raise PermanentFailure("no announcement channel is set (/admin setup)")
            window = Window(f"{LEADERBOARD_DAYS}d", uow.now(), LEADERBOARD_DAYS)
            return channel, await board(uow, community.id, window)
        channel = community.admin_channel_id
        if channel is None:
            raise PermanentFailure("no admin channel is set (/admin setup)")
        return channel, await digest_message(uow, community)


async def digest_message(uow: UnitOfWork, community: Community) -> Message:
    """The week's headline figures beside the week before, and mentorships per week over
    the last twelve weeks (chart and words)."""
    week = week_window(uow.now())
    figures = await compute(uow, community.id, week)
    days = DIGEST_CHART_WEEKS * 7
    chart = await mentorships_chart(
        uow, community.id, Window(f"{days}d", uow.now(), days), community.default_timezone
    )
    files = await draw([chart])
    return Message(
        title="Weekly digest · the last 7 days",
        text=f"{headline_lines(figures)}\n\n📈 {chart.summary}\n"
        "Everything, with charts: `/admin metrics`.",
        files=files,
    )
