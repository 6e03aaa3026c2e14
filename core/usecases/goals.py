"""F10 goals and milestones: added by either side of a mentorship, ticked with buttons.

A goal's progress follows its milestones (ticked / all) unless someone set it by hand
(``/goal progress``); every change is recorded (``GoalProgress``), which is what the
progress chart draws. Each press is checked against the database: the milestone must
belong to a goal of a mentorship the presser is part of, in this community.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, or_, select

from core import validation
from core.actions import action_id, button, form
from core.charts import GoalSeries, Point, describe_progress, draw_progress_chart, drawn
from core.context import Actor
from core.effects import DirectMessage
from core.errors import Conflict, InvalidValue, NotFound, StaleAction
from core.messages import Button, Field, File, Form, FormField, Message, Reply, mention, moment, say
from core.models import GoalProgress, MenteeGoal, MenteeMilestone, Mentorship
from core.uow import UnitOfWork
from core.usecases.badges import award_badges
from core.usecases.parties import (
    Party,
    load_parties,
    load_party,
    parties,
    parties_of,
    party_with,
)

TITLE_MAX = 100
DESCRIPTION_MAX = 1000
MILESTONES_MAX = 20
MILESTONE_MAX = 200
TARGET_MAX_DAYS = 366
BAR_CELLS = 8
LIVE = ("active", "paused")


@dataclass(frozen=True)
class AddGoal:
    person: str
    title: str
    target_date: str | None = None
    description: str | None = None
    milestones: str | None = None


@dataclass(frozen=True)
class ListGoals:
    person: str | None = None
    page: int | None = None


@dataclass(frozen=True)
class SetGoalProgress:
    goal: str
    progress: int
    person: str | None = None


@dataclass(frozen=True)
class ShowChart:
    person: str | None = None


def bar(progress: float) -> str:
    """``▓▓▓▓░░░░ 50%``"""
    filled = round(progress / 100 * BAR_CELLS)
    return "▓" * filled + "░" * (BAR_CELLS - filled) + f" {progress:.0f}%"


def _zone(actor: Actor) -> str:
    return actor.member.timezone or actor.community.default_timezone or "UTC"


def parse_target(value: str, zone: str, now: datetime) -> datetime:
    """``YYYY-MM-DD`` → the end of that day in ``zone``; in the future, within a year."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidValue("target_date", "must be a date written YYYY-MM-DD", value) from None
    end = datetime.combine(day, time(23, 59), ZoneInfo(zone))
    if end <= now:
        raise InvalidValue("target_date", "must be in the future", value)
    if end > now + timedelta(days=TARGET_MAX_DAYS):
        raise InvalidValue("target_date", "must be within a year from today", value)
    return end


def parse_milestones(value: str | None) -> list[str]:
    """One milestone per line (or separated by ``;``), each 1–200 characters, at most 20."""
    if not value:
        return []
    parts = value.split("\n") if "\n" in value else value.split(";")
    items = [validation.clean(p).lstrip("-•*").strip() for p in parts]
    items = [i for i in items if i]
    if len(items) > MILESTONES_MAX:
        raise InvalidValue(
            "milestones", f"may list at most {MILESTONES_MAX} (there are {len(items)})"
        )
    for item in items:
        if len(item) > MILESTONE_MAX:
            raise InvalidValue(
                "milestones",
                f"each must be at most {MILESTONE_MAX} characters (one is {len(item)})",
            )
    return items


async def _record(
    uow: UnitOfWork,
    goal: MenteeGoal,
    change: str,
    actor: Actor | None,
    milestone: str | None = None,
) -> None:
    """Keep this change of ``goal`` (locked by the caller) for its history. Times are
    strictly increasing per goal, so changes made within one clock tick keep their order."""
    last = (
        await uow.session.execute(
            select(func.max(GoalProgress.at)).where(GoalProgress.goal_id == goal.id)
        )
    ).scalar_one()
    at = uow.now() if last is None else max(uow.now(), last + timedelta(microseconds=1))
    uow.session.add(
        GoalProgress(
            community_id=goal.community_id,
            goal_id=goal.id,
            progress=goal.progress,
            change=change,
            milestone_id=milestone,
            actor_id=actor.member.id if actor else None,
            at=at,
        )
    )


async def add_goal(uow: UnitOfWork, actor: Actor, cmd: AddGoal) -> Reply:
    title = validation.text("title", cmd.title, min_length=1, max_length=TITLE_MAX)
    description = (
        validation.text("description", cmd.description, max_length=DESCRIPTION_MAX) or None
        if cmd.description
        else None
    )
    milestones = parse_milestones(cmd.milestones)
    target = parse_target(cmd.target_date, _zone(actor), uow.now()) if cmd.target_date else None
    party = await party_with(uow, actor, cmd.person, LIVE)
    goal = MenteeGoal(
        community_id=actor.community.id,
        mentorship_id=party.mentorship.id,
        title=title,
        description=description,
        target_date=target,
        status="active",
        progress=0.0,
        progress_manual=False,
        created_by=actor.member.id,
        created_at=uow.now(),
    )
    uow.session.add(goal)
    await uow.session.flush()
    for position, name in enumerate(milestones):
        uow.session.add(
            MenteeMilestone(
                community_id=actor.community.id,
                goal_id=goal.id,
                title=name,
                position=position,
                is_completed=False,
                created_at=uow.now(),
            )
        )
    await _record(uow, goal, "created", actor)
    await uow.session.flush()
    await _tell_other(
        uow,
        actor,
        party,
        f"{mention(actor.user_id)} added a goal for your mentorship: **{title}**"
        + (f", due {moment(target, 'D')}" if target else "")
        + ". `/goal list` shows it.",
        f"goal-added:{goal.id}",
    )
    card = await goal_card(uow, goal)
    return Reply(message=card)


# ----- reading goals -----------------------------------------------------------------


async def _milestones(uow: UnitOfWork, goal_ids: Sequence[str]) -> dict[str, list[MenteeMilestone]]:
    found: dict[str, list[MenteeMilestone]] = {g: [] for g in goal_ids}
    if not goal_ids:
        return found
    rows = await uow.session.execute(
        select(MenteeMilestone)
        .where(MenteeMilestone.goal_id.in_(goal_ids))
        .order_by(MenteeMilestone.position, MenteeMilestone.created_at)
    )
    for milestone in rows.scalars():
        found[milestone.goal_id].append(milestone)
    return found


def _checklist(milestones: list[MenteeMilestone]) -> str:
    return "\n".join(("☑ " if m.is_completed else "☐ ") + m.title for m in milestones)


def _summary(goal: MenteeGoal, milestones: list[MenteeMilestone]) -> str:
    lines = [bar(goal.progress) + (" (set by hand)" if goal.progress_manual else "")]
    if goal.target_date is not None:
        lines.append(f"Target: {moment(goal.target_date, 'D')}")
    if milestones:
        lines.append(_checklist(milestones))
    return "\n".join(lines)


async def goal_card(uow: UnitOfWork, goal: MenteeGoal) -> Message:
    """One goal with its checklist; while it is active, a button per milestone."""
    milestones = (await _milestones(uow, [goal.id]))[goal.id]
    buttons: list[Button] = []
    if goal.status == "active":
        for m in milestones:
            label = ("☑ " if m.is_completed else "☐ ") + m.title
            buttons.append(
                Button(label[:80], action_id("tick", m.id, "0" if m.is_completed else "1"))
            )
        buttons += [
            Button("Set progress", action_id("goal-progress", goal.id)),
            Button("Chart", action_id("goal-chart", goal.mentorship_id)),
            Button("Complete goal", action_id("goal-done", goal.id), "success"),
            Button("Abandon goal", action_id("goal-drop", goal.id), "danger"),
        ]
    text = _summary(goal, milestones)
    if goal.description:
        text = goal.description + "\n\n" + text
    return Message(
        title=f"🎯 {goal.title}" + ("" if goal.status == "active" else f" · {goal.status}"),
        text=text,
        buttons=tuple(buttons),
        tone="success" if goal.status == "completed" else "info",
    )


async def _my_mentorships(uow: UnitOfWork, actor: Actor, person: str | None) -> list[Party]:
    """The actor's mentorships (all of them, or the one with ``person``)."""
    if person is not None:
        return [await party_with(uow, actor, person, (*LIVE, "completed", "ended"))]
    found = await parties_of(uow, actor, (*LIVE, "completed", "ended"))
    return sorted(found, key=lambda p: (p.mentorship.created_at, p.mentorship.id), reverse=True)


async def list_goals(uow: UnitOfWork, actor: Actor, cmd: ListGoals) -> Reply:
    found = await _my_mentorships(uow, actor, cmd.person)
    if not found:
        return say("You have no mentorships with goals yet.")
    by_id = {p.mentorship.id: p for p in found}
    size = uow.settings.goals_per_page
    where = MenteeGoal.mentorship_id.in_(list(by_id))
    total = int(
        (
            await uow.session.execute(select(func.count()).select_from(MenteeGoal).where(where))
        ).scalar_one()
    )
    if not total:
        return say("No goals yet. Add one with `/goal add`.")
    pages = (total + size - 1) // size
    page = min(cmd.page or 1, pages)
    goals = list(
        (
            await uow.session.execute(
                select(MenteeGoal)
                .where(where)
                .order_by(
                    case((MenteeGoal.status == "active", 0), else_=1),
                    MenteeGoal.created_at,
                    MenteeGoal.id,
                )
                .offset((page - 1) * size)
                .limit(size)
            )
        ).scalars()
    )
    milestones = await _milestones(uow, [g.id for g in goals])
    fields = []
    buttons = []
    for goal in goals:
        other = by_id[goal.mentorship_id].other(actor.member).display_name
        fields.append(
            Field(
                f"{goal.title} · {goal.status} · with {other}", _summary(goal, milestones[goal.id])
            )
        )
        buttons.append(Button(f"Open: {goal.title}"[:80], action_id("goal", goal.id)))
    return Reply(
        message=Message(
            title="Goals",
            text=f"{total} goal(s)" + (f", page {page} of {pages}" if pages > 1 else "") + ".",
            fields=tuple(fields),
            buttons=tuple(buttons),
        )
    )


async def _goal_for(
    uow: UnitOfWork, actor: Actor, goal_id: str, *, active: bool = True
) -> tuple[MenteeGoal, Party]:
    """The goal, locked, if the actor is one of its mentorship's two people."""
    goal = await uow.get_scoped(MenteeGoal, goal_id, actor.community.id, "goal", lock=True)
    party = await load_party(uow, actor.community.id, goal.mentorship_id)
    if party.role_of(actor.member) is None:
        raise NotFound("goal")  # someone else's goal looks like one that does not exist
    if active and goal.status != "active":
        raise Conflict(f"This goal is {goal.status}; it can no longer change.")
    return goal, party


@button("goal", arity=1)
async def open_goal(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    goal, _ = await _goal_for(uow, actor, args[0], active=False)
    return Reply(message=await goal_card(uow, goal))


# ----- changing goals ----------------------------------------------------------------


async def _follow_milestones(uow: UnitOfWork, goal: MenteeGoal) -> None:
    if goal.progress_manual:
        return
    done, total = (
        await uow.session.execute(
            select(
                func.count().filter(MenteeMilestone.is_completed.is_(True)),
                func.count(),
            ).where(MenteeMilestone.goal_id == goal.id)
        )
    ).one()
    goal.progress = round(100 * done / total, 1) if total else 0.0


@button("tick", arity=2)
async def tick_milestone(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    milestone_id, state = args
    if state not in ("0", "1"):
        raise StaleAction()
    milestone = await uow.get_scoped(MenteeMilestone, milestone_id, actor.community.id, "milestone")
    goal, party = await _goal_for(uow, actor, milestone.goal_id)
    ticked = state == "1"
    if milestone.is_completed != ticked:
        milestone.is_completed = ticked
        milestone.completed_at = uow.now() if ticked else None
        await uow.session.flush()
        await _follow_milestones(uow, goal)
        await _record(uow, goal, "milestone" if ticked else "unticked", actor, milestone.id)
        if ticked:
            await _tell_other(
                uow,
                actor,
                party,
                f"{mention(actor.user_id)} ticked “{milestone.title}” of **{goal.title}**: "
                f"{bar(goal.progress)}",
                f"milestone:{milestone.id}:{uow.now().timestamp()}",
            )
    return Reply(update_origin=await goal_card(uow, goal))


@button("goal-progress", arity=1)
async def ask_progress(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    goal, _ = await _goal_for(uow, actor, args[0])
    return Reply(
        form=Form(
            action=action_id("goal-progress", goal.id),
            title=f"Progress of {goal.title}"[:45],
            fields=(FormField("progress", "Progress, 0 to 100 (%)", max_length=3),),
        )
    )


@form("goal-progress", arity=1)
async def submit_progress(
    uow: UnitOfWork, actor: Actor, args: list[str], values: Mapping[str, str]
) -> Reply:
    raw = validation.clean(values.get("progress", ""))
    if not raw.isdigit():
        raise InvalidValue("progress", "must be a whole number from 0 to 100", raw)
    goal, _party = await _goal_for(uow, actor, args[0])
    await _set_progress(
        uow, actor, goal, validation.integer("progress", int(raw), minimum=0, maximum=100)
    )
    return Reply(message=await goal_card(uow, goal))


async def _set_progress(uow: UnitOfWork, actor: Actor, goal: MenteeGoal, progress: int) -> None:
    goal.progress, goal.progress_manual = float(progress), True
    await _record(uow, goal, "manual", actor)


async def set_goal_progress(uow: UnitOfWork, actor: Actor, cmd: SetGoalProgress) -> Reply:
    found = await _my_mentorships(uow, actor, cmd.person)
    wanted = validation.clean(cmd.goal).casefold()
    goals = (
        list(
            (
                await uow.session.execute(
                    select(MenteeGoal)
                    .where(
                        MenteeGoal.mentorship_id.in_([p.mentorship.id for p in found]),
                        MenteeGoal.status == "active",
                    )
                    .order_by(MenteeGoal.created_at)
                    .limit(200)
                )
            ).scalars()
        )
        if found
        else []
    )
    exact = [g for g in goals if g.title.casefold() == wanted]
    matches = exact or [g for g in goals if g.title.casefold().startswith(wanted)]
    if len(matches) != 1:
        names = ", ".join(f"“{g.title}”" for g in matches[:5])
        rule = (
            f"matches several active goals ({names}); type more of it"
            if matches
            else ("must be the title (or its start) of one of your active goals")
        )
        raise InvalidValue("goal", rule, cmd.goal)
    goal, _ = await _goal_for(uow, actor, matches[0].id)
    await _set_progress(uow, actor, goal, cmd.progress)
    return Reply(message=await goal_card(uow, goal))


@button("goal-done", arity=1)
async def complete_goal(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    goal, party = await _goal_for(uow, actor, args[0])
    goal.status, goal.progress, goal.completed_at = "completed", 100.0, uow.now()
    await _record(uow, goal, "completed", actor)
    await uow.session.flush()
    await _tell_other(
        uow,
        actor,
        party,
        f"🎉 {mention(actor.user_id)} marked **{goal.title}** achieved!",
        f"goal-done:{goal.id}",
    )
    await award_badges(uow, actor.community, [party.mentee_member.id], ("goals_achieved",))
    return Reply(update_origin=await goal_card(uow, goal))


@button("goal-drop", arity=1)
async def abandon_goal(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    goal, party = await _goal_for(uow, actor, args[0])
    goal.status = "abandoned"
    await _record(uow, goal, "abandoned", actor)
    await _tell_other(
        uow,
        actor,
        party,
        f"{mention(actor.user_id)} set **{goal.title}** aside (abandoned).",
        f"goal-drop:{goal.id}",
    )
    return Reply(update_origin=await goal_card(uow, goal))


async def _tell_other(uow: UnitOfWork, actor: Actor, party: Party, text: str, key: str) -> None:
    other = party.other(actor.member)
    await uow.outbox.add(
        actor.community.id,
        DirectMessage(other.platform_user_id, Message(text=text), thread=party.mentorship.id),
        key=key,
    )


# ----- the chart ---------------------------------------------------------------------


async def show_chart(uow: UnitOfWork, actor: Actor, cmd: ShowChart) -> Reply:
    found = await _my_mentorships(uow, actor, cmd.person)
    live = [p for p in found if p.mentorship.status in LIVE] or found
    if not live:
        return say("You have no mentorships with goals yet.")
    if len(live) > 1:
        raise InvalidValue("person", "is required: you have several mentorships; name one")
    return await chart_reply(uow, actor, live[0])


@button("goal-chart", arity=1)
async def chart_button(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    party = await load_party(uow, actor.community.id, args[0])
    if party.role_of(actor.member) is None:
        raise NotFound("mentorship")
    return await chart_reply(uow, actor, party)


CHART_GOALS_MAX = 8


async def chart_reply(uow: UnitOfWork, actor: Actor, party: Party) -> Reply:
    """The progress chart of the mentorship's goals (newest few), as a PNG and in words."""
    goals = list(
        (
            await uow.session.execute(
                select(MenteeGoal)
                .where(MenteeGoal.mentorship_id == party.mentorship.id)
                .order_by(
                    case((MenteeGoal.status == "active", 0), else_=1), MenteeGoal.created_at.desc()
                )
                .limit(CHART_GOALS_MAX)
            )
        ).scalars()
    )
    if not goals:
        return say("No goals yet. Add one with `/goal add`.")
    titles = dict(
        (
            await uow.session.execute(
                select(MenteeMilestone.id, MenteeMilestone.title).where(
                    MenteeMilestone.goal_id.in_([g.id for g in goals])
                )
            )
        ).all()
    )
    history: dict[str, list[Point]] = {g.id: [] for g in goals}
    for row in (
        await uow.session.execute(
            select(GoalProgress)
            .where(GoalProgress.goal_id.in_(list(history)))
            .order_by(GoalProgress.at, GoalProgress.id)
        )
    ).scalars():
        ticked = titles.get(row.milestone_id or "") if row.change == "milestone" else None
        history[row.goal_id].append(Point(row.at, row.progress, ticked))
    series = [
        GoalSeries(
            g.title,
            g.status,
            tuple(history[g.id]) or (Point(g.created_at, g.progress),),
            g.target_date,
        )
        for g in goals
    ]
    zone = _zone(actor)
    png = await drawn(draw_progress_chart, series, zone, uow.now())
    other = party.other(actor.member).display_name
    return Reply(
        message=Message(
            title=f"Goal progress with {other}",
            text=describe_progress(series, zone),
            files=(File("goal-progress.png", png, "image/png"),),
        )
    )


# ----- nudges (housekeeping) ---------------------------------------------------------


async def nudge_goals(uow: UnitOfWork) -> int:
    """Tell both people about active goals due within ``goal_nudge_days`` (once) and about
    goals whose target passed unmet (once). At most ``housekeeping_batch`` a pass."""
    now, s = uow.now(), uow.settings
    soon = now + timedelta(days=s.goal_nudge_days)
    due = (
        (
            await uow.session.execute(
                select(MenteeGoal)
                .where(
                    MenteeGoal.status == "active",
                    MenteeGoal.target_date.is_not(None),
                    or_(
                        (MenteeGoal.target_date <= now) & MenteeGoal.overdue_at.is_(None),
                        (MenteeGoal.target_date <= soon)
                        & (MenteeGoal.target_date > now)
                        & MenteeGoal.reminded_at.is_(None),
                    ),
                )
                .order_by(MenteeGoal.target_date, MenteeGoal.id)
                .limit(s.housekeeping_batch)
            )
        )
        .scalars()
        .all()
    )
    if not due:
        return 0
    people = {
        p.mentorship.id: p
        for p in await load_parties(
            uow, parties().where(Mentorship.id.in_({g.mentorship_id for g in due}))
        )
    }
    for goal in due:
        party = people.get(goal.mentorship_id)
        assert goal.target_date is not None
        passed = goal.target_date <= now
        if passed:
            goal.overdue_at = now
            goal.reminded_at = goal.reminded_at or now
            title = "A goal's target date passed"
            text = (
                f"**{goal.title}** was due {moment(goal.target_date, 'D')} and is at "
                f"{bar(goal.progress)}. Complete it, set a new goal, or set it aside."
            )
        else:
            goal.reminded_at = now
            title = "A goal is due soon"
            text = f"**{goal.title}** is due {moment(goal.target_date, 'R')}: {bar(goal.progress)}."
        if party is None or party.mentorship.status not in LIVE:
            continue
        for member in (party.mentor_member, party.mentee_member):
            await uow.outbox.add(
                goal.community_id,
                DirectMessage(
                    member.platform_user_id,
                    Message(
                        title=title,
                        text=text,
                        buttons=(Button("Open goal", action_id("goal", goal.id)),),
                    ),
                    thread=goal.mentorship_id,
                ),
                key=f"goal-{'overdue' if passed else 'soon'}:{goal.id}:{member.id}",
            )
    return len(due)
