"""A member's own dashboard: where they stand and what they can do next (Slack App Home)."""

from __future__ import annotations

from sqlalchemy import func, select

from core import cards
from core.actions import action_id, button
from core.context import Actor
from core.messages import Button, Field, Message, Reply, moment
from core.models import Member, Mentor
from core.uow import UnitOfWork
from core.usecases import mentors
from core.usecases.discovery import badges_of
from core.usecases.mentees import find_mentee
from core.usecases.sessions.store import upcoming

MAX_APPLICATIONS_SHOWN = 5
MAX_SESSIONS_SHOWN = 3


async def dashboard(uow: UnitOfWork, actor: Actor) -> Message:
    fields: list[Field] = []
    buttons: list[Button] = []
    mentor = await mentors.find_mentor(uow, actor.member)
    if mentor is None or mentor.status in ("retired", "rejected"):
        fields.append(Field("Mentoring", "Share what you know: `/mentor apply`."))
    elif mentor.status == "pending":
        sent = moment(mentor.application_date, "R")
        fields.append(Field("Mentoring", f"Your application is with the admins (sent {sent})."))
    else:
        state = "taking mentees" if mentor.status == "active" else "paused"
        fields.append(
            Field(
                "Mentoring",
                f"You are a mentor, {state}: {mentor.current_mentees} of {mentor.max_mentees} "
                f"mentees, {mentor.total_mentees} mentored so far.",
            )
        )
        if mentor.status == "active":
            buttons.append(Button("Pause mentoring", action_id("pause")))
        else:
            buttons.append(Button("Resume mentoring", action_id("resume"), "primary"))

    mentee = await find_mentee(uow, actor.member)
    if mentee is None:
        fields.append(
            Field("Finding a mentor", "Tell mentors what you need: `/mentee profile goals:…`.")
        )
    else:
        fields.append(
            Field(
                "Finding a mentor",
                f"Your goals: {', '.join(mentee.goals)}. Status: {mentee.status}.",
            )
        )

    sessions = await upcoming(uow, actor.member.id, MAX_SESSIONS_SHOWN)
    if sessions:
        fields.append(
            Field(
                "Next sessions",
                "\n".join(
                    f"{s.title}: {moment(s.scheduled_at, 'f')} ({moment(s.scheduled_at, 'R')})"
                    + (f" · {s.meeting_link}" if s.meeting_link else "")
                    for s, _ in sessions
                ),
            )
        )
    earned = (await badges_of(uow, [actor.member.id])).get(actor.member.id)
    if earned:
        # On Slack without user groups this is where badges live (besides announcements).
        fields.append(Field("Badges", "🏅 " + ", ".join(earned) + " · `/mentor badges`"))

    if actor.is_admin:
        waiting = (Mentor.community_id == actor.community.id, Mentor.status == "pending")
        # Only what the dashboard shows: how many, and the first few by name.
        total = (
            await uow.session.execute(select(func.count()).select_from(Mentor).where(*waiting))
        ).scalar_one()
        rows = (
            await uow.session.execute(
                select(Mentor, Member)
                .join(Member, Member.id == Mentor.user_id)
                .where(*waiting)
                .order_by(Mentor.application_date)
                .limit(MAX_APPLICATIONS_SHOWN)
            )
        ).all()
        if not actor.community.is_set_up:
            fields.append(Field("Admin", "Mentorbot is not set up yet: run `/admin setup`."))
        elif not rows:
            fields.append(Field("Admin", "No mentor applications are waiting."))
        else:
            names = ", ".join(m.display_name for _, m in rows)
            more = total - len(rows)
            fields.append(
                Field(
                    f"Admin: {total} application(s) waiting",
                    names + (f" and {more} more (`/admin applications`)" if more > 0 else ""),
                )
            )
            for pending, member in rows:
                buttons.append(
                    Button(
                        f"Approve {member.display_name}"[:80],
                        action_id("approve", *cards.application_ref(pending)),
                        "success",
                    )
                )
                buttons.append(
                    Button(
                        f"Reject {member.display_name}"[:80],
                        action_id("reject", *cards.application_ref(pending)),
                        "danger",
                    )
                )
    return Message(
        title=f"Mentorbot in {actor.community.name}",
        text=f"Hi {actor.member.display_name}! Here is where you stand.",
        fields=tuple(fields),
        buttons=tuple(buttons),
        footer="/mentor help lists every command",
    )


@button("pause", arity=0)
async def pause_button(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    return await mentors.pause(uow, actor, mentors.NoOptions())


@button("resume", arity=0)
async def resume_button(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    return await mentors.resume(uow, actor, mentors.NoOptions())
