"""The metrics commands: figures with charts, CSV exports, the leaderboard, and a
mentor's choice to appear on public boards."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from core.context import Actor
from core.effects import ChannelPost
from core.errors import InvalidValue, NotFound
from core.messages import Message, Reply, say
from core.models import Mentor
from core.uow import UnitOfWork
from core.usecases.metrics.cards import figure_fields
from core.usecases.metrics.charts import CHARTS, build_charts, draw
from core.usecases.metrics.export import mentors_csv, metrics_csv
from core.usecases.metrics.figures import compute
from core.usecases.metrics.leaderboard import board
from core.usecases.metrics.periods import parse_period

CHART_CHOICES = ("all", "none", *CHARTS)


@dataclass(frozen=True)
class ShowMetrics:
    period: str | None = None
    chart: str | None = None


@dataclass(frozen=True)
class ExportFigures:
    period: str | None = None


@dataclass(frozen=True)
class ShowLeaderboard:
    period: str | None = None
    post: bool | None = None


@dataclass(frozen=True)
class SetListing:
    listed: bool | None = None


def _zone(actor: Actor) -> str:
    return actor.member.timezone or actor.community.default_timezone


async def show_metrics(uow: UnitOfWork, actor: Actor, cmd: ShowMetrics) -> Reply:
    actor.require_admin("read the impact metrics")
    window = parse_period(cmd.period, uow.now())
    chart = (cmd.chart or "all").lower()
    if chart not in CHART_CHOICES:
        raise InvalidValue("chart", f"must be one of {', '.join(CHART_CHOICES)}", cmd.chart)
    figures = await compute(uow, actor.community.id, window)
    names = CHARTS if chart == "all" else () if chart == "none" else (chart,)
    charts = await build_charts(uow, actor.community.id, window, _zone(actor), names)
    files = await draw(charts) if charts else ()
    versus = window.versus()
    intro = (
        f"Compared with {versus}. " if versus else "No earlier period to compare with. "
    ) + "Figures marked (now) are as of this moment."
    words = "\n".join(f"📈 {c.summary}" for c in charts)
    return Reply(
        message=Message(
            title=f"Impact metrics · {window.describe()}",
            text=intro + (f"\n\n{words}" if words else ""),
            fields=figure_fields(figures),
            footer="CSV: /admin export metrics and /admin export mentors",
            files=files,
        )
    )


async def export_metrics(uow: UnitOfWork, actor: Actor, cmd: ExportFigures) -> Reply:
    actor.require_admin("export the impact metrics")
    window = parse_period(cmd.period, uow.now())
    figures = await compute(uow, actor.community.id, window)
    return Reply(
        message=Message(
            title=f"Impact metrics · {window.describe()} (CSV)",
            text=f"{len(figures.items)} figures, each with the previous period's.",
            files=(metrics_csv(figures),),
        )
    )


async def export_mentors(uow: UnitOfWork, actor: Actor, cmd: ExportFigures) -> Reply:
    actor.require_admin("export the mentor table")
    window = parse_period(cmd.period, uow.now())
    table, rows = await mentors_csv(uow, actor.community.id, window)
    return Reply(
        message=Message(
            title=f"Mentors · {window.describe()} (CSV)",
            text=f"{rows} mentors: mentees, mentorships completed, sessions held and "
            "no-shows, rating and reviews in the period.",
            files=(table,),
        )
    )


async def show_leaderboard(uow: UnitOfWork, actor: Actor, cmd: ShowLeaderboard) -> Reply:
    actor.require_admin("see or post the leaderboard")
    window = parse_period(cmd.period, uow.now())
    message = await board(uow, actor.community.id, window)
    if not cmd.post:
        return Reply(message=message)
    channel = actor.community.announcement_channel_id
    if channel is None:
        raise InvalidValue(
            "post", "needs an announcement channel: set one with /admin setup announcement_channel"
        )
    await uow.outbox.add(
        actor.community.id,
        ChannelPost(channel, message),
        key=f"leaderboard:{actor.community.id}:{window.label}:{int(uow.now().timestamp())}",
    )
    uow.audit(
        actor.community.id,
        actor.member.id,
        "leaderboard.post",
        target_type="community",
        target_id=actor.community.id,
        summary=f"posted the leaderboard ({window.describe()})",
    )
    return Reply(
        message=Message(
            title=message.title,
            text=f"Posted in <#{channel}>.",
            fields=message.fields,
            footer=message.footer,
            tone="success",
        )
    )


async def set_listing(uow: UnitOfWork, actor: Actor, cmd: SetListing) -> Reply:
    mentor = (
        await uow.session.execute(
            select(Mentor).where(
                Mentor.community_id == actor.community.id, Mentor.user_id == actor.member.id
            )
        )
    ).scalar_one_or_none()
    if mentor is None:
        raise NotFound("mentor profile (apply first with /mentor apply)")
    if cmd.listed is None:
        state = "are" if mentor.listed_on_boards else "are not"
        return say(
            f"You {state} shown on public leaderboards. "
            "Change it with `/mentor leaderboard listed:yes` or `listed:no`."
        )
    mentor.listed_on_boards = cmd.listed
    if cmd.listed:
        return say("You are shown on public leaderboards again.", tone="success")
    return say(
        "You are no longer shown on public leaderboards. Admins still see your figures "
        "in their exports.",
        tone="success",
    )
