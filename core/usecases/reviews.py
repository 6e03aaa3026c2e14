"""F11 reviews: the mentee rates the mentor 1–5, with an optional comment, public or not.

A mentee is invited by DM when a mentorship ends (and, with ``review_after_sessions``,
after each completed session): five buttons, each opening the review form with that
rating. One review per reviewer per mentorship (a unique constraint); sending it again
within ``review_edit_window_hours`` edits it, later it is refused. The mentor's average
rating is recomputed in the same transaction. A public review counts toward the rating
cards show (from three up); a private one is seen only by the mentor and the reviewer.
A rating at or below ``review_flag_threshold`` is flagged to the admin channel, with a
button that opens the mentorship's summary (never its messages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select, update

from core import validation
from core.actions import action_id, button, form
from core.context import Actor, find_member
from core.effects import ChannelPost, DirectMessage
from core.errors import Conflict, InvalidValue, NotAllowed, StaleAction
from core.messages import Button, Field, Form, FormField, Message, Reply, mention, moment, say
from core.models import Member, MenteeGoal, Mentor, MentorMessage, MentorReview, MentorSession
from core.models.base import utcnow
from core.uow import UnitOfWork
from core.usecases.mentors import find_mentor
from core.usecases.parties import Party, load_party, party_for

RATING_MIN, RATING_MAX = 1, 5
COMMENT_MAX = 1000
YES, NO = ("yes", "y", "true", "public"), ("no", "n", "false", "private", "")


def stars(rating: float) -> str:
    whole = round(rating)
    return "★" * whole + "☆" * (RATING_MAX - whole)


def rating_buttons(mentorship_id: str) -> tuple[Button, ...]:
    return tuple(
        Button(
            f"{n} ★", action_id("rate", mentorship_id, str(n)), "primary" if n == 5 else "secondary"
        )
        for n in range(RATING_MIN, RATING_MAX + 1)
    )


async def invite_review(uow: UnitOfWork, party: Party, occasion: str) -> None:
    """DM the mentee the 1–5 buttons; ``occasion`` keeps one invite per event ("end",
    or a session id)."""
    ms = party.mentorship
    await uow.outbox.add(
        ms.community_id,
        DirectMessage(
            party.mentee_member.platform_user_id,
            Message(
                title=f"How was mentoring with {party.mentor_member.display_name}?",
                text=(
                    f"Rate {mention(party.mentor_member.platform_user_id)} from 1 to 5; you can "
                    "add a comment and choose whether it shows on their card."
                ),
                buttons=rating_buttons(ms.id),
            ),
        ),
        key=f"review-invite:{ms.id}:{occasion}",
    )


def _rating(value: str) -> int:
    if not value.isdigit() or not RATING_MIN <= int(value) <= RATING_MAX:
        raise InvalidValue("rating", f"must be a whole number from {RATING_MIN} to {RATING_MAX}")
    return int(value)


async def _reviewable(
    uow: UnitOfWork, actor: Actor, mentorship_id: str
) -> tuple[Party, MentorReview | None]:
    """The mentorship, if the actor is its mentee and may review it now, and their review."""
    party = await party_for(uow, actor, mentorship_id)
    if party.role_of(actor.member) != "mentee":
        raise NotAllowed("review this mentorship", "only its mentee reviews the mentor")
    ms = party.mentorship
    if ms.status not in ("completed", "ended"):
        had_session = (
            uow.settings.review_after_sessions
            and (
                await uow.session.execute(
                    select(MentorSession.id)
                    .where(
                        MentorSession.mentorship_id == ms.id, MentorSession.status == "completed"
                    )
                    .limit(1)
                )
            ).first()
            is not None
        )
        if not had_session:
            raise Conflict("You can review this mentorship once it has ended.")
    review = (
        await uow.session.execute(
            select(MentorReview)
            .where(MentorReview.mentorship_id == ms.id, MentorReview.reviewer_id == actor.member.id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if review is not None and uow.now() > review.created_at + timedelta(
        hours=uow.settings.review_edit_window_hours
    ):
        raise Conflict(
            f"You reviewed this mentorship {moment(review.created_at, 'R')}; a review can be "
            f"changed only within {uow.settings.review_edit_window_hours} hours."
        )
    return party, review


@button("rate", arity=2)
async def ask_review(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    mentorship_id, value = args
    rating = _rating(value)
    _party, review = await _reviewable(uow, actor, mentorship_id)
    again = " (changes your review)" if review is not None else ""
    return Reply(
        form=Form(
            action=action_id("review", mentorship_id, str(rating)),
            title=f"Review: {rating} of {RATING_MAX}{again}"[:45],
            fields=(
                FormField(
                    "comment",
                    "Comment (optional)",
                    long=True,
                    required=False,
                    max_length=COMMENT_MAX,
                ),
                FormField(
                    "public",
                    "Show it on their card? yes or no",
                    required=False,
                    max_length=7,
                    placeholder="no",
                ),
            ),
        )
    )


@form("review", arity=2)
async def submit_review(
    uow: UnitOfWork, actor: Actor, args: list[str], values: Mapping[str, str]
) -> Reply:
    mentorship_id, value = args
    rating = _rating(value)
    comment = validation.text("comment", values.get("comment", ""), max_length=COMMENT_MAX) or None
    public_text = validation.clean(values.get("public", "")).lower()
    if public_text not in YES + NO:
        raise InvalidValue("public", "must be yes or no", public_text)
    is_public = public_text in YES
    party, review = await _reviewable(uow, actor, mentorship_id)
    now = uow.now()
    if review is None:
        review = MentorReview(
            community_id=actor.community.id,
            mentor_id=party.mentor.id,
            mentorship_id=party.mentorship.id,
            reviewer_id=actor.member.id,
            rating=float(rating),
            content=comment,
            is_public=is_public,
            created_at=now,
        )
        uow.session.add(review)
        edited = False
    else:
        review.rating, review.content, review.is_public = float(rating), comment, is_public
        review.edited_at = now
        edited = True
    await uow.session.flush()
    await recompute_rating(uow, party.mentor.id)
    if rating <= uow.settings.review_flag_threshold:
        await _flag(uow, actor, party, review, rating)
    await uow.outbox.add(
        actor.community.id,
        DirectMessage(
            party.mentor_member.platform_user_id,
            Message(
                title="A review of your mentoring",
                text=f"{mention(actor.user_id)} rated you {stars(rating)} ({rating}/5)"
                + (f":\n> {comment}" if comment else ".")
                + ("" if is_public else "\n(Private: only you and they see it.)"),
            ),
        ),
        key=f"review:{review.id}:{now.timestamp()}",
    )
    word = "updated" if edited else "saved"
    where = "shown on their card" if is_public else "private (only you and your mentor see it)"
    return say(f"Thank you! Your review is {word}, {where}.", tone="success")


async def recompute_rating(uow: UnitOfWork, mentor_id: str) -> None:
    """The mentor's average over all their reviews, in this transaction."""
    average = (
        select(func.avg(MentorReview.rating))
        .where(MentorReview.mentor_id == mentor_id)
        .scalar_subquery()
    )
    await uow.session.execute(
        update(Mentor)
        .where(Mentor.id == mentor_id)
        .values(avg_rating=average, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def _flag(
    uow: UnitOfWork, actor: Actor, party: Party, review: MentorReview, rating: int
) -> None:
    channel = actor.community.admin_channel_id
    if channel is None:
        return
    said = f"\n> {review.content}" if review.is_public and review.content else ""
    await uow.outbox.add(
        actor.community.id,
        ChannelPost(
            channel,
            Message(
                title="Low rating",
                text=(
                    f"{mention(actor.user_id)} rated "
                    f"{mention(party.mentor_member.platform_user_id)} {rating}/5 "
                    f"for their mentorship.{said}"
                ),
                buttons=(
                    Button("Open mentorship summary", action_id("ms-summary", party.mentorship.id)),
                ),
                tone="warning",
            ),
        ),
        key=f"review-flag:{review.id}:{uow.now().timestamp()}",
    )


@button("ms-summary", arity=1)
async def mentorship_summary(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    """What admins may see of a mentorship: who, when, how it went; never its messages."""
    actor.require_admin("open a mentorship's summary")
    party = await load_party(uow, actor.community.id, args[0])
    ms = party.mentorship

    async def count(stmt: object) -> int:
        return int((await uow.session.execute(stmt)).scalar_one())  # type: ignore[call-overload]

    sessions = await count(
        select(func.count())
        .select_from(MentorSession)
        .where(MentorSession.mentorship_id == ms.id, MentorSession.status == "completed")
    )
    goals = (
        await uow.session.execute(
            select(MenteeGoal.status, func.count())
            .where(MenteeGoal.mentorship_id == ms.id)
            .group_by(MenteeGoal.status)
        )
    ).all()
    messages = await count(
        select(func.count()).select_from(MentorMessage).where(MentorMessage.mentorship_id == ms.id)
    )
    ratings = (
        await uow.session.execute(
            select(MentorReview.rating, MentorReview.is_public, MentorReview.content).where(
                MentorReview.mentorship_id == ms.id
            )
        )
    ).all()
    goal_text = ", ".join(f"{n} {status}" for status, n in goals) or "none"
    review_text = (
        "; ".join(
            f"{int(r)}/5" + (f": {c}" if public and c else " (comment private)" if c else "")
            for r, public, c in ratings
        )
        or "none"
    )
    fields = [
        Field("Mentor", mention(party.mentor_member.platform_user_id), inline=True),
        Field("Mentee", mention(party.mentee_member.platform_user_id), inline=True),
        Field("Status", ms.status, inline=True),
        Field("Started", moment(ms.start_date, "D"), inline=True),
        Field("Ended", moment(ms.end_date, "D") if ms.end_date else "—", inline=True),
        Field("Sessions completed", str(sessions), inline=True),
        Field("Goals", goal_text, inline=True),
        Field("Messages exchanged", str(messages), inline=True),
        Field("Reviews", review_text),
    ]
    if ms.completion_notes:
        fields.append(Field("Completion notes", ms.completion_notes))
    return Reply(message=Message(title="Mentorship summary", fields=tuple(fields)))


# ----- /mentor reviews ---------------------------------------------------------------


@dataclass(frozen=True)
class ShowReviews:
    mentor: str | None = None
    page: int | None = None


async def show_reviews(uow: UnitOfWork, actor: Actor, cmd: ShowReviews) -> Reply:
    if cmd.mentor is None or cmd.mentor == actor.user_id:
        mentor = await find_mentor(uow, actor.member)
        member = actor.member
        if mentor is None:
            return say("Whose reviews? Name a mentor: `/mentor reviews mentor:@name`.")
    else:
        found = await find_member(uow, actor.community.id, cmd.mentor)
        mentor = await find_mentor(uow, found) if found is not None else None
        if found is None or mentor is None:
            raise InvalidValue("mentor", f"{mention(cmd.mentor)} is not a mentor here")
        member = found
    return await _reviews_page(uow, actor, mentor, member, cmd.page or 1)


async def _reviews_page(
    uow: UnitOfWork, actor: Actor, mentor: Mentor, member: Member, page: int
) -> Reply:
    size = uow.settings.reviews_page_size
    # Public reviews, and private ones to the mentor and to their own reviewer.
    visible = [MentorReview.mentor_id == mentor.id]
    if member.id != actor.member.id:
        visible.append(
            or_(MentorReview.is_public.is_(True), MentorReview.reviewer_id == actor.member.id)
        )
    total = int(
        (
            await uow.session.execute(
                select(func.count()).select_from(MentorReview).where(*visible)
            )
        ).scalar_one()
    )
    pages = max((total + size - 1) // size, 1)
    page = min(page, pages)
    rows = (
        await uow.session.execute(
            select(MentorReview, Member)
            .join(Member, Member.id == MentorReview.reviewer_id)
            .where(*visible)
            .order_by(MentorReview.created_at.desc(), MentorReview.id)
            .offset((page - 1) * size)
            .limit(size)
        )
    ).all()
    whose = "your" if member.id == actor.member.id else f"{member.display_name}'s"
    if not rows:
        return say(f"No reviews of {whose} mentoring to show yet.")
    fields = tuple(
        Field(
            f"{stars(r.rating)} {int(r.rating)}/5 · {reviewer.display_name} · "
            f"{moment(r.created_at, 'D')}" + ("" if r.is_public else " · private"),
            r.content or "(no comment)",
        )
        for r, reviewer in rows
    )
    buttons = []
    if page > 1:
        buttons.append(Button("◀ Previous", action_id("reviews", mentor.id, str(page - 1))))
    if page < pages:
        buttons.append(Button("Next ▶", action_id("reviews", mentor.id, str(page + 1))))
    return Reply(
        message=Message(
            title=f"Reviews of {whose} mentoring",
            text=f"{total} review(s), page {page} of {pages}.",
            fields=fields,
            buttons=tuple(buttons),
        )
    )


@button("reviews", arity=2)
async def reviews_page(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    mentor_id, page = args
    if not page.isdigit() or int(page) < 1:
        raise StaleAction()
    mentor = await uow.get_scoped(Mentor, mentor_id, actor.community.id, "mentor")
    member = await uow.get_scoped(Member, mentor.user_id, actor.community.id, "member")
    reply = await _reviews_page(uow, actor, mentor, member, int(page))
    return Reply(update_origin=reply.message)
