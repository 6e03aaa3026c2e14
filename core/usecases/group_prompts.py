"""Facilitated discussions (F9): the prompt library, posting prompts, their rotation and
schedule, and the community's own prompts.

Prompts come from the library (``core.prompts``): shipped plus the community's own. A
group never sees a prompt again until it has seen all of them (``GroupPromptUse``). A
prompt is published as a group post (``group_posts.prepare_post``), with its thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from core import validation
from core.context import Actor
from core.errors import Conflict, InvalidValue
from core.ids import new_id
from core.messages import Field, Message, Reply, say
from core.models import DiscussionPrompt, Member, SupportGroup, SupportGroupPost
from core.models.groups import GroupPromptUse
from core.prompts import KIND_NAMES, KINDS, Prompt, matches, pick, shipped
from core.recurrence import Schedule, parse_time, weekday
from core.uow import Queued, UnitOfWork
from core.usecases.group_posts import prepare_post
from core.usecases.groups import group_to_lead

PROMPT_TITLE_MAX, PROMPT_TEXT_MAX = 100, 1500


# ----- prompts -----------------------------------------------------------------------------------


async def library(uow: UnitOfWork, community_id: str) -> list[Prompt]:
    own = await uow.session.execute(
        select(DiscussionPrompt)
        .where(DiscussionPrompt.community_id == community_id)
        .order_by(DiscussionPrompt.created_at, DiscussionPrompt.id)
    )
    return [
        *shipped(),
        *(Prompt(p.id, p.kind, p.title, p.text, tuple(p.tags)) for p in own.scalars()),
    ]


@dataclass(frozen=True)
class PromptRequest:
    group: SupportGroup
    author: Member
    kind: str | None
    tag: str | None
    key: str | None = None


async def post_prompts(
    uow: UnitOfWork, requests: Sequence[PromptRequest], *, strict: bool
) -> list[Prompt | None]:
    """Post each group's next prompt and record it in the group's rotation, for a whole
    batch in a few statements (the groups' rotations, each community's library once, one
    insert of posts and uses, one of effects).

    ``strict``: a filter nothing unseen matches is refused (a command, one group);
    otherwise the filter is dropped (a scheduled prompt always posts something).
    """
    if not requests:
        return []
    used: dict[str, set[str]] = {r.group.id: set() for r in requests}
    rows = await uow.session.execute(
        select(GroupPromptUse.group_id, GroupPromptUse.prompt_id).where(
            GroupPromptUse.group_id.in_(list(used))
        )
    )
    for group_id, prompt_id in rows:
        used[group_id].add(prompt_id)
    libraries: dict[str, list[Prompt]] = {}
    chosen_prompts: list[Prompt | None] = []
    new_rows: list[SupportGroupPost | GroupPromptUse] = []
    queued: dict[str, list[Queued]] = {}
    restart: list[str] = []
    for request in requests:
        group = request.group
        if group.community_id not in libraries:
            libraries[group.community_id] = await library(uow, group.community_id)
        prompts = libraries[group.community_id]
        chosen = pick(prompts, used[group.id], group.id, request.kind, request.tag)
        if chosen is None and strict:
            _refuse(group, prompts, request.kind, request.tag)
        chosen = chosen or pick(prompts, used[group.id], group.id)
        if chosen is None:
            chosen_prompts.append(None)  # an empty library: nothing to post
            continue
        if chosen.new_round:
            restart.append(group.id)
            used[group.id].clear()
        prompt = chosen.prompt
        used[group.id].add(prompt.id)
        post, effect = prepare_post(
            uow,
            group,
            request.author,
            prompt.text,
            title=f"{KIND_NAMES[prompt.kind]}: {prompt.title}",
            prompt_id=prompt.id,
            key=request.key,
        )
        use = GroupPromptUse(
            id=new_id(),
            community_id=group.community_id,
            group_id=group.id,
            prompt_id=prompt.id,
            used_at=uow.now(),
        )
        new_rows += [post, use]
        queued.setdefault(group.community_id, []).append(effect)
        chosen_prompts.append(prompt)
    if restart:
        await uow.session.execute(
            delete(GroupPromptUse).where(GroupPromptUse.group_id.in_(restart))
        )
    uow.session.add_all(new_rows)
    await uow.session.flush()
    for community_id, effects in queued.items():
        await uow.outbox.add_many(community_id, effects)
    return chosen_prompts


def _refuse(
    group: SupportGroup, prompts: Sequence[Prompt], kind: str | None, tag: str | None
) -> None:
    if not any(matches(p, kind, tag) for p in prompts):
        raise InvalidValue("tag", f"no {kind or 'prompt'} in the library has the tag {tag}", tag)
    what = " ".join(x for x in (tag, KIND_NAMES.get(kind or "", "prompt").lower()) if x)
    raise Conflict(
        f"“{group.name}” has already seen every {what} (others remain unseen, and the "
        "library starts over only once all are used). Try another kind or tag."
    )


@dataclass(frozen=True)
class PromptNow:
    group: str
    kind: str | None = None
    tag: str | None = None


async def prompt_now(uow: UnitOfWork, actor: Actor, cmd: PromptNow) -> Reply:
    group = await group_to_lead(
        uow, actor, cmd.group, "post prompts in this group", facilitator_only=True
    )
    tag = validation.clean(cmd.tag or "").lower() or None
    (prompt,) = await post_prompts(
        uow, [PromptRequest(group, actor.member, cmd.kind, tag)], strict=True
    )
    if prompt is None:
        raise Conflict("The prompt library is empty.")
    return say(f"Posted “{prompt.title}” in “{group.name}”.", tone="success")


@dataclass(frozen=True)
class PromptSchedule:
    group: str
    day: str | None = None
    time: str | None = None
    kind: str | None = None
    tag: str | None = None
    off: bool | None = None


def next_prompt_at(group: SupportGroup, after: datetime) -> datetime | None:
    plan = group.prompt_schedule
    if not plan:
        return None
    rule = Schedule(
        "weekly",
        int(plan["weekday"]),
        parse_time("time", plan["at"]),
        15,
        group.timezone or "UTC",
    )
    found = rule.occurrences(after, 1)
    return found[0].start if found else None


async def prompt_schedule(uow: UnitOfWork, actor: Actor, cmd: PromptSchedule) -> Reply:
    group = await group_to_lead(uow, actor, cmd.group, "schedule this group's prompts")
    if cmd.off:
        group.prompt_schedule, group.next_prompt_at = None, None
        return say(f"No more scheduled prompts in “{group.name}”.", tone="success")
    if cmd.day is None or cmd.time is None:
        raise InvalidValue("day", "and `time` are both needed (or give off:yes to stop)")
    day, at = weekday("day", cmd.day), parse_time("time", cmd.time)
    group.prompt_schedule = {
        "weekday": day,
        "at": at.strftime("%H:%M"),
        "kind": cmd.kind,
        "tag": validation.clean(cmd.tag or "").lower() or None,
    }
    group.next_prompt_at = next_prompt_at(group, uow.now())
    zone = ZoneInfo(group.timezone or "UTC")
    when = group.next_prompt_at.astimezone(zone) if group.next_prompt_at else None
    return say(
        f"A {KIND_NAMES.get(cmd.kind or '', 'prompt').lower()} will be posted in "
        f"“{group.name}” every {when:%A at %H:%M} ({zone.key}); the first on "
        f"{when:%Y-%m-%d}."
        if when
        else "Scheduled.",
        tone="success",
    )


async def post_scheduled_prompts(uow: UnitOfWork) -> int:
    """Housekeeping: post the prompts that fell due, a bounded batch of groups a pass.

    The post's key is the due moment, and the next moment is set in the same transaction,
    so a restart neither skips nor repeats one.
    """
    now = uow.now()
    due = (
        await uow.session.execute(
            select(SupportGroup, Member)
            .join(Member, Member.id == SupportGroup.facilitator_id)
            .where(SupportGroup.next_prompt_at <= now, SupportGroup.status != "archived")
            .order_by(SupportGroup.next_prompt_at, SupportGroup.id)
            .limit(uow.settings.group_batch)
        )
    ).all()
    requests = []
    for group, facilitator in due:
        plan = group.prompt_schedule or {}
        moment_due = group.next_prompt_at
        assert moment_due is not None
        requests.append(
            PromptRequest(
                group,
                facilitator,
                plan.get("kind"),
                plan.get("tag"),
                key=f"prompt:{group.id}:{int(moment_due.timestamp())}",
            )
        )
        group.next_prompt_at = next_prompt_at(group, max(now, moment_due))
    await post_prompts(uow, requests, strict=False)
    return len(due)


# ----- the community's own prompts ------------------------------------------------------------


@dataclass(frozen=True)
class AddPrompt:
    kind: str
    title: str
    text: str
    tags: list[str] | None = None


async def add_prompt(uow: UnitOfWork, actor: Actor, cmd: AddPrompt) -> Reply:
    actor.require_admin("add prompts")
    kind = validation.choice("kind", cmd.kind, KINDS)
    title = validation.text("title", cmd.title, min_length=3, max_length=PROMPT_TITLE_MAX)
    text = validation.text("text", cmd.text, min_length=10, max_length=PROMPT_TEXT_MAX)
    tags = validation.tags("tags", cmd.tags) if cmd.tags else []
    prompt = DiscussionPrompt(
        community_id=actor.community.id,
        kind=kind,
        title=title,
        text=text,
        tags=tags,
        created_by=actor.member.id,
        created_at=uow.now(),
    )
    uow.session.add(prompt)
    await uow.session.flush()
    uow.audit(
        actor.community.id,
        actor.member.id,
        "prompt.add",
        target_type="prompt",
        target_id=prompt.id,
        summary=f"added the {kind} “{title}”",
    )
    return say(
        f"Added the {KIND_NAMES[kind].lower()} “{title}” (id `{prompt.id}`).", tone="success"
    )


@dataclass(frozen=True)
class ListPrompts:
    kind: str | None = None
    page: int | None = None


async def list_prompts(uow: UnitOfWork, actor: Actor, cmd: ListPrompts) -> Reply:
    actor.require_admin("list prompts")
    size, page = 10, cmd.page or 1
    prompts = [p for p in await library(uow, actor.community.id) if cmd.kind in (None, p.kind)]
    shown = prompts[(page - 1) * size : page * size]
    if not shown:
        return say("No prompts here." if page == 1 else "No more prompts.")
    own = {p.id for p in prompts} - {p.id for p in shipped()}
    fields = tuple(
        Field(
            f"{p.title} ({p.kind}{', yours' if p.id in own else ''})",
            f"`{p.id}` · {', '.join(p.tags) or 'any group'}\n{p.text[:150]}",
        )
        for p in shown
    )
    more = len(prompts) > page * size
    return Reply(
        message=Message(
            title=f"Prompt library ({len(prompts)})",
            fields=fields,
            footer=f"Page {page}" + (f" · more with page:{page + 1}" if more else ""),
        )
    )


@dataclass(frozen=True)
class RemovePrompt:
    prompt: str


async def remove_prompt(uow: UnitOfWork, actor: Actor, cmd: RemovePrompt) -> Reply:
    actor.require_admin("remove prompts")
    if any(p.id == cmd.prompt for p in shipped()):
        raise InvalidValue("prompt", "is part of the shipped library, which cannot be removed")
    prompt = await uow.get_scoped(DiscussionPrompt, cmd.prompt, actor.community.id, "prompt")
    await uow.session.delete(prompt)
    uow.audit(
        actor.community.id,
        actor.member.id,
        "prompt.remove",
        target_type="prompt",
        target_id=prompt.id,
        summary=f"removed the {prompt.kind} “{prompt.title}”",
    )
    return say(f"Removed “{prompt.title}”.", tone="success")
