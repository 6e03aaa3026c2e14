"""Facilitator posts and their replies (F8).

A post is stored as a ``SupportGroupPost`` and published in the group's space with a
thread under it (a queued ``GroupPost``); the platform ids come back onto the post, so
replies in that thread are recognised and stored as ``SupportGroupReply``. Anything else
said in the space is never stored. Where replies cannot be read (Discord without the
Message Content intent) the post's Reply button opens a form; the reply is stored and
posted into the thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from core import validation
from core.actions import action_id, button, form
from core.context import Actor
from core.effects import GroupPost
from core.errors import NotAllowed
from core.ids import new_id
from core.messages import Button, Form, FormField, Message, Reply, mention, say
from core.models import (
    Member,
    SupportGroup,
    SupportGroupPost,
    SupportGroupReply,
)
from core.uow import Queued, UnitOfWork
from core.usecases.badges import award_badges
from core.usecases.groups import (
    group_to_lead,
    membership,
    require_open,
)

POST_MAX, REPLY_MAX = 3000, 2000


# ----- posts and replies ---------------------------------------------------------------------


@dataclass(frozen=True)
class PostToGroup:
    group: str
    text: str
    pin: bool | None = None


async def post(uow: UnitOfWork, actor: Actor, cmd: PostToGroup) -> Reply:
    group = await group_to_lead(uow, actor, cmd.group, "post in this group", facilitator_only=True)
    text = validation.text("text", cmd.text, min_length=1, max_length=POST_MAX)
    await publish(uow, group, actor.member, text, title=None, pin=bool(cmd.pin))
    return say(f"Posted in “{group.name}”, with a thread for replies.", tone="success")


def prepare_post(
    uow: UnitOfWork,
    group: SupportGroup,
    author: Member,
    text: str,
    *,
    title: str | None,
    pin: bool = False,
    prompt_id: str | None = None,
    key: str | None = None,
) -> tuple[SupportGroupPost, Queued]:
    """A post row (not yet added) and the queued effect that publishes it with a thread."""
    now = uow.now()
    stored = SupportGroupPost(
        id=new_id(),
        community_id=group.community_id,
        group_id=group.id,
        author_id=author.id,
        content=text if title is None else f"{title}\n{text}",
        is_pinned=pin,
        prompt_id=prompt_id,
        created_at=now,
        updated_at=now,
    )
    thread = (title or text.split("\n", 1)[0])[:90] or "Replies"
    effect = GroupPost(
        group.id,
        Message(
            title=title,
            text=text,
            footer=f"From {author.display_name} · reply in the thread",
            buttons=(Button("Reply", action_id("greply", stored.id)),),
        ),
        pin=pin,
        post_id=stored.id,
        thread_name=thread,
    )
    return stored, Queued(effect, key or f"post:{stored.id}")


async def publish(
    uow: UnitOfWork,
    group: SupportGroup,
    author: Member,
    text: str,
    *,
    title: str | None,
    pin: bool = False,
) -> SupportGroupPost:
    stored, queued = prepare_post(uow, group, author, text, title=title, pin=pin)
    uow.session.add(stored)
    await uow.session.flush()
    await uow.outbox.add_many(group.community_id, [queued])
    return stored


async def thread_reply(
    uow: UnitOfWork, actor: Actor, thread_id: str, content: str
) -> SupportGroupReply | None:
    """A message in a post's thread, as the platform saw it; stored if it belongs to one.

    Returns None (and stores nothing) for anything that is not a reply in a known post's
    thread by a member of its group: ordinary chatter is never kept.
    """
    found = (
        await uow.session.execute(
            select(SupportGroupPost, SupportGroup)
            .join(SupportGroup, SupportGroup.id == SupportGroupPost.group_id)
            .where(
                SupportGroupPost.community_id == actor.community.id,
                SupportGroupPost.platform_thread_id == thread_id,
            )
            .limit(1)
        )
    ).first()
    if found is None:
        return None
    stored_post, group = found
    row = await membership(uow, group.id, actor.member.id)
    if group.status == "archived" or row is None or row.status != "active":
        return None
    text = validation.clean(content)[:REPLY_MAX]
    return await _store_reply(uow, actor, stored_post, text) if text else None


async def _store_reply(
    uow: UnitOfWork, actor: Actor, stored_post: SupportGroupPost, text: str
) -> SupportGroupReply:
    """Keep a reply; it counts toward the author's Peer Supporter badge at once."""
    reply = SupportGroupReply(
        community_id=stored_post.community_id,
        post_id=stored_post.id,
        author_id=actor.member.id,
        content=text,
        created_at=uow.now(),
    )
    uow.session.add(reply)
    await uow.session.flush()
    await award_badges(uow, actor.community, [actor.member.id], ["peer_replies"])
    return reply


@button("greply")
async def ask_reply(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    stored_post, group = await _post_for_member(uow, actor, args[0])
    return Reply(
        form=Form(
            action=action_id("greply", stored_post.id),
            title=f"Reply in {group.name[:35]}",
            fields=(
                FormField("text", "Your reply", long=True, min_length=1, max_length=REPLY_MAX),
            ),
        )
    )


async def _post_for_member(
    uow: UnitOfWork, actor: Actor, post_id: str
) -> tuple[SupportGroupPost, SupportGroup]:
    stored_post = await uow.get_scoped(SupportGroupPost, post_id, actor.community.id, "post")
    group = await uow.get_scoped(SupportGroup, stored_post.group_id, actor.community.id, "group")
    require_open(group)
    row = await membership(uow, group.id, actor.member.id)
    if row is None or row.status != "active":
        raise NotAllowed("reply here", f"only members of “{group.name}” reply to its posts")
    return stored_post, group


@form("greply")
async def submit_reply(
    uow: UnitOfWork, actor: Actor, args: list[str], values: Mapping[str, str]
) -> Reply:
    stored_post, group = await _post_for_member(uow, actor, args[0])
    text = validation.text("text", values.get("text", ""), min_length=1, max_length=REPLY_MAX)
    reply = await _store_reply(uow, actor, stored_post, text)
    await uow.outbox.add(
        group.community_id,
        GroupPost(
            group.id, Message(text=f"{mention(actor.user_id)}: {text}"), reply_to=stored_post.id
        ),
        key=f"reply:{reply.id}",
    )
    return say("Your reply is posted in the thread.", tone="success")
