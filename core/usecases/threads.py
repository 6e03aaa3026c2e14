"""F6: mentor and mentee talk through the bot; every message is stored and relayed.

A DM to the bot is routed by the relayed message it replies to (recorded as a
MessageRoute when it was delivered), else to the sender's only active mentorship, else
the sender picks one with a button. Nothing is ever routed by guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, union_all, update

from core import validation
from core.actions import action_id, button
from core.context import Actor
from core.effects import DirectMessage
from core.errors import Conflict, InvalidValue, NotFound
from core.messages import Button, Field, File, Message, Reply, mention, moment
from core.models import (
    Community,
    Member,
    Mentee,
    Mentor,
    MentorMessage,
    Mentorship,
    MessageRoute,
    PendingRelay,
)
from core.uow import UnitOfWork
from core.usecases.parties import (
    Party,
    load_party,
    parties_of,
    party_for,
    party_with,
)

CONTENT_MAX = 4000
MAX_ATTACHMENTS = 10
READABLE = ("active", "paused", "completed", "ended")


@dataclass(frozen=True)
class Attachment:
    url: str
    filename: str
    content_type: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "filename": self.filename, "content_type": self.content_type}


def _check_content(content: str, attachments: list[Attachment]) -> str:
    if len(attachments) > MAX_ATTACHMENTS:
        raise InvalidValue("attachments", f"send at most {MAX_ATTACHMENTS} at once")
    content = validation.clean(content)  # invisible-only text is empty
    if not content and not attachments:
        raise InvalidValue("text", "write something (or attach a file)")
    return validation.text("text", content, max_length=CONTENT_MAX)


async def send_message(
    uow: UnitOfWork,
    actor: Actor,
    party: Party,
    content: str,
    attachments: list[Attachment] | None = None,
) -> Reply:
    attachments = attachments or []
    content = _check_content(content, attachments)
    ms = party.mentorship
    if ms.status != "active":
        state = {"paused": "paused", "pending": "not started yet"}.get(ms.status, ms.status)
        raise Conflict(
            f"Your mentorship with {party.other(actor.member).display_name} is {state}, so "
            "messages are not passed on."
            + (" `/mentorship resume` restarts it." if ms.status == "paused" else "")
        )
    stored = MentorMessage(
        community_id=actor.community.id,
        mentorship_id=ms.id,
        sender_id=actor.member.id,
        content=content,
        attachments=[a.as_dict() for a in attachments] or None,
        created_at=uow.now(),
    )
    uow.session.add(stored)
    await uow.session.flush()
    other = party.other(actor.member)
    role = "mentor" if party.role_of(actor.member) == "mentor" else "mentee"
    links = "\n".join(f"📎 [{a.filename}]({a.url})" for a in attachments)
    await uow.outbox.add(
        actor.community.id,
        DirectMessage(
            other.platform_user_id,
            Message(
                title=f"💬 {actor.member.display_name} (your {role})",
                text="\n\n".join(part for part in (content, links) if part),
                footer=f"Reply to this message to answer {actor.member.display_name}",
            ),
            thread=ms.id,
        ),
        key=f"message:{stored.id}",
    )
    return Reply(
        message=Message(text=f"Sent to {mention(other.platform_user_id)}.", tone="success")
    )


@dataclass(frozen=True)
class SendToPerson:
    person: str
    text: str


async def message_command(uow: UnitOfWork, actor: Actor, cmd: SendToPerson) -> Reply:
    party = await party_with(uow, actor, cmd.person, READABLE)
    return await send_message(uow, actor, party, cmd.text)


async def _active_parties(uow: UnitOfWork, actor: Actor) -> list[Party]:
    found = await parties_of(uow, actor, ("active",))
    # Oldest first; mentorships started at the same moment by the other person's name.
    return sorted(
        found, key=lambda p: (p.mentorship.start_date, p.other(actor.member).display_name)
    )


async def conversation_communities(
    uow: UnitOfWork, platform: str, platform_user_id: str
) -> list[str]:
    """The communities (platform ids) a DM from this person outside any server may belong
    to: those where they have an active mentorship, else those where they have any
    mentorship (so the core can say where it stands), oldest community first.

    One statement over the stored mentorships, for a platform whose DMs carry no server
    (Discord): each side is reached through the (community, user) member index.
    """
    sides = [
        select(Community.platform_id, Community.created_at, Mentorship.status)
        .join(Member, Member.community_id == Community.id)
        .join(role, role.user_id == Member.id)
        .join(Mentorship, column == role.id)
        .where(
            Community.platform == platform,
            Member.platform_user_id == platform_user_id,
            Member.left_at.is_(None),
        )
        for role, column in ((Mentor, Mentorship.mentor_id), (Mentee, Mentorship.mentee_id))
    ]
    rows = (await uow.session.execute(union_all(*sides))).all()
    order = sorted({(created, pid) for pid, created, _ in rows})
    active = {pid for pid, _, status in rows if status == "active"}
    return [pid for _, pid in order if not active or pid in active]


async def relay(
    uow: UnitOfWork,
    actor: Actor,
    content: str,
    attachments: list[Attachment],
    reply_to: str | None,
) -> Reply:
    """A DM the member sent to the bot: pass it on within the right mentorship."""
    if reply_to is not None:
        route = (
            await uow.session.execute(
                select(MessageRoute).where(
                    MessageRoute.community_id == actor.community.id,
                    MessageRoute.platform_message_id == reply_to,
                )
            )
        ).scalar_one_or_none()
        if route is not None and route.recipient_id == actor.member.id:
            party = await load_party(uow, actor.community.id, route.mentorship_id)
            return await send_message(uow, actor, party, content, attachments)
    content = _check_content(content, attachments)
    active = await _active_parties(uow, actor)
    if not active:
        # Refused like any bad input, so a stranger's DM writes nothing (not even a member).
        raise Conflict(
            "You have no active mentorship to pass this on to. `/mentor browse` finds a mentor; "
            "`/mentorship list` shows where your mentorships stand."
        )
    if len(active) == 1:
        return await send_message(uow, actor, active[0], content, attachments)
    pending = PendingRelay(
        community_id=actor.community.id,
        member_id=actor.member.id,
        content=content,
        attachments=[a.as_dict() for a in attachments] or None,
        created_at=uow.now(),
    )
    uow.session.add(pending)
    await uow.session.flush()
    buttons = []
    for party in active:
        name = party.other(actor.member).display_name
        ref = action_id("relay", pending.id, party.mentorship.id)
        buttons.append(Button(f"To {name}"[:80], ref, "primary"))
    return Reply(
        message=Message(
            text="Who is this message for? (Next time, reply to one of their messages.)",
            buttons=tuple(buttons),
        )
    )


async def receive(
    uow: UnitOfWork,
    actor: Actor,
    content: str,
    attachments: list[Attachment],
    reply_to: str | None,
) -> Reply:
    """An incoming DM: relayed (or the member asked where to), and answering a relayed
    message means having read it. Only once the relay went through: a refusal raises and
    the unit of work writes nothing."""
    reply = await relay(uow, actor, content, attachments, reply_to)
    if reply_to is not None:
        await mark_read(uow, actor, reply_to)
    return reply


@button("relay", arity=2)
async def relay_chosen(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    pending = await uow.get_scoped(PendingRelay, args[0], actor.community.id, "message")
    if pending.member_id != actor.member.id:
        raise NotFound("message")
    party = await party_for(uow, actor, args[1])
    attachments = [Attachment(**a) for a in pending.attachments or []]
    reply = await send_message(uow, actor, party, pending.content, attachments)
    await uow.session.delete(pending)
    # The chooser becomes the receipt: said once, where the choice was made.
    return Reply(update_origin=reply.message)


# ----- history, export, read receipts ---------------------------------------------------


@dataclass(frozen=True)
class ShowHistory:
    person: str
    limit: int | None = None


async def _mark_read_from_other(uow: UnitOfWork, actor: Actor, mentorship_id: str) -> None:
    await uow.session.execute(
        update(MentorMessage)
        .where(
            MentorMessage.mentorship_id == mentorship_id,
            MentorMessage.sender_id != actor.member.id,
            MentorMessage.read_at.is_(None),
        )
        .values(read_at=uow.now())
        .execution_options(synchronize_session=False)
    )


async def _messages(uow: UnitOfWork, mentorship_id: str) -> list[MentorMessage]:
    """Every message, oldest first: only for the member's own export."""
    rows = await uow.session.execute(
        select(MentorMessage)
        .where(MentorMessage.mentorship_id == mentorship_id)
        .order_by(MentorMessage.created_at, MentorMessage.id)
    )
    return list(rows.scalars())


async def _last_messages(uow: UnitOfWork, mentorship_id: str, limit: int) -> list[MentorMessage]:
    """The last ``limit`` messages, oldest first: only those rows are read."""
    rows = await uow.session.execute(
        select(MentorMessage)
        .where(MentorMessage.mentorship_id == mentorship_id)
        .order_by(MentorMessage.created_at.desc(), MentorMessage.id.desc())
        .limit(limit)
    )
    return list(reversed(rows.scalars().all()))


async def history(uow: UnitOfWork, actor: Actor, cmd: ShowHistory) -> Reply:
    party = await party_with(uow, actor, cmd.person, READABLE)
    shown = await _last_messages(
        uow, party.mentorship.id, cmd.limit or uow.settings.history_page_size
    )
    total = (
        await uow.session.execute(
            select(func.count()).where(MentorMessage.mentorship_id == party.mentorship.id)
        )
    ).scalar_one()
    names = {
        party.mentor_member.id: party.mentor_member,
        party.mentee_member.id: party.mentee_member,
    }
    fields = tuple(
        Field(
            f"{names[m.sender_id].display_name} · {moment(m.created_at, 'f')}"
            + (" · read" if m.read_at and m.sender_id == actor.member.id else ""),
            (m.content or "")
            + "".join(f"\n📎 {a['filename']}: {a['url']}" for a in m.attachments or []),
        )
        for m in shown
    )
    await _mark_read_from_other(uow, actor, party.mentorship.id)
    other = party.other(actor.member)
    return Reply(
        message=Message(
            title=f"Messages with {other.display_name}",
            text=(f"The last {len(shown)} of {total} messages." if total else "No messages yet."),
            fields=fields,
        )
    )


@dataclass(frozen=True)
class ExportHistory:
    person: str


async def export(uow: UnitOfWork, actor: Actor, cmd: ExportHistory) -> Reply:
    party = await party_with(uow, actor, cmd.person, READABLE)
    ms = party.mentorship
    names = {
        party.mentor_member.id: party.mentor_member,
        party.mentee_member.id: party.mentee_member,
    }
    document = {
        "mentorship": {
            "id": ms.id,
            "mentor": party.mentor_member.display_name,
            "mentee": party.mentee_member.display_name,
            "status": ms.status,
            "start_date": ms.start_date.isoformat(),
            "end_date": ms.end_date.isoformat() if ms.end_date else None,
            "completion_notes": ms.completion_notes,
        },
        "messages": [
            {
                "from": names[m.sender_id].display_name,
                "sent_at": m.created_at.isoformat(),
                "read_at": m.read_at.isoformat() if m.read_at else None,
                "content": m.content,
                "attachments": m.attachments or [],
            }
            for m in await _messages(uow, ms.id)
        ],
    }
    await _mark_read_from_other(uow, actor, ms.id)
    data = json.dumps(document, indent=2, ensure_ascii=False).encode()
    return Reply(
        message=Message(
            text=f"Your conversation with {party.other(actor.member).display_name}, as JSON.",
            files=(File(f"mentorship-{ms.id}.json", data, "application/json"),),
        )
    )


async def mark_read(uow: UnitOfWork, actor: Actor, platform_message_id: str) -> bool:
    """The member read or reacted to a relayed message: their side's messages are read."""
    route = (
        await uow.session.execute(
            select(MessageRoute).where(
                MessageRoute.community_id == actor.community.id,
                MessageRoute.platform_message_id == platform_message_id,
                MessageRoute.recipient_id == actor.member.id,
            )
        )
    ).scalar_one_or_none()
    if route is None:
        return False
    await _mark_read_from_other(uow, actor, route.mentorship_id)
    return True
