"""F12 badges: awarding them (in the transaction that earns them), showing them, and
keeping the platform's roles in line with the awards.

:func:`award_badges` is what every feature calls after a change that may satisfy a rule
(a session completed, a group facilitated, a goal achieved …), in its own unit of work.
It locks the members' rows first, so two transactions racing to satisfy the same rule
are serialised: the second sees the first's change (and its award) once it may go on,
and the unique ``(member_id, badge)`` award row makes a second award impossible anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core.badges import BADGES, Badge, Counts, badge_name, badges_counting
from core.context import Actor, find_member
from core.db import dialect_insert
from core.effects import ChannelPost, DirectMessage, Effect, GrantRole, PruneRole
from core.errors import InvalidValue
from core.ids import new_id
from core.messages import Field, Message, Reply, mention, moment, say
from core.models import BadgeAward, Community, Member
from core.uow import UnitOfWork
from core.usecases.mentees import find_mentee
from core.usecases.mentors import find_mentor

# Community.settings keys.
BADGES_ON = "badges"
BACKFILL_CURSOR = "badges_backfill_after"  # set while earlier history is being awarded
SYNC_CURSOR = "badges_sync_after"  # set while a sync is under way
SYNC_RUN = "badges_sync_run"
SYNCED_DAY = "badges_synced_day"


@dataclass(frozen=True)
class Awarded:
    member_id: str
    platform_user_id: str
    badge: Badge
    award_id: str


def badges_enabled(community: Community) -> bool:
    return bool(community.settings.get(BADGES_ON, True))


async def award_badges(
    uow: UnitOfWork,
    community: Community,
    member_ids: Sequence[str],
    reasons: Sequence[str] | None = None,
    *,
    announce: bool = True,
) -> list[Awarded]:
    """Award every badge whose rule now holds for these members, once, in this transaction.

    ``reasons`` are the counters that changed (``core.badges`` counter keys such as
    ``"completed_sessions"``); None checks every badge. Each award queues its role (or
    Slack user group) grant and, with ``announce``, an announcement in the community's
    announcement channel (a DM to the member when there is none). Returns the new awards.
    """
    if BACKFILL_CURSOR in community.settings:
        # Earlier history is being awarded in member-id order: members it has not reached
        # yet get their badges from it (quietly), the others as usual.
        reached = str(community.settings[BACKFILL_CURSOR])
        member_ids = [m for m in member_ids if m <= reached]
    if not member_ids or not badges_enabled(community):
        return []
    candidates = badges_counting(reasons)
    if not candidates:
        return []
    ids = sorted(set(member_ids))
    # Serialise awards per member (rows locked in id order, so never a deadlock).
    members = {
        m.id: m
        for m in (
            await uow.session.execute(
                select(Member)
                .where(Member.id.in_(ids), Member.community_id == community.id)
                .order_by(Member.id)
                .with_for_update()
            )
        ).scalars()
    }
    if not members:
        return []
    ids = list(members)
    counts: dict[str, Counts] = {}
    for badge in candidates:
        if badge.counter.key not in counts:
            counts[badge.counter.key] = await badge.counter.query(uow.session, ids, uow.settings)
    held = {
        (member_id, key)
        for member_id, key in await uow.session.execute(
            select(BadgeAward.member_id, BadgeAward.badge).where(
                BadgeAward.member_id.in_(ids), BadgeAward.badge.in_([b.key for b in candidates])
            )
        )
    }
    now = uow.now()
    awarded: list[Awarded] = []
    insert = dialect_insert(uow.session)
    for member_id in ids:
        for badge in candidates:
            count = counts[badge.counter.key].get(member_id, 0)
            if count < badge.needs(uow.settings) or (member_id, badge.key) in held:
                continue
            award_id = new_id()
            inserted = await uow.session.execute(
                insert(BadgeAward)
                .values(
                    id=award_id,
                    community_id=community.id,
                    member_id=member_id,
                    badge=badge.key,
                    awarded_at=now,
                )
                .on_conflict_do_nothing(index_elements=["member_id", "badge"])
            )
            if not getattr(inserted, "rowcount", 0):
                continue  # awarded meanwhile by another transaction
            awarded.append(Awarded(member_id, members[member_id].platform_user_id, badge, award_id))
    for award in awarded:
        await _queue_award(uow, community, award, announce=announce)
    return awarded


async def _queue_award(
    uow: UnitOfWork, community: Community, award: Awarded, *, announce: bool
) -> None:
    user = award.platform_user_id
    await uow.outbox.add(
        community.id, GrantRole(user, award.badge.key), key=f"badge:{award.award_id}:role"
    )
    if not announce:
        return
    text = f"🏅 {mention(user)} earned the **{award.badge.name}** badge: {award.badge.description}."
    effect: Effect
    if community.announcement_channel_id:
        effect = ChannelPost(community.announcement_channel_id, Message(text=text, tone="success"))
    else:
        effect = DirectMessage(user, Message(title="A new badge", text=text, tone="success"))
    await uow.outbox.add(community.id, effect, key=f"badge:{award.award_id}:announce")


# ----- /mentor badges ------------------------------------------------------------------


@dataclass(frozen=True)
class ShowBadges:
    member: str | None = None


async def show_badges(uow: UnitOfWork, actor: Actor, cmd: ShowBadges) -> Reply:
    """Earned badges, and for each rule the member is on, progress to the next badge."""
    member = actor.member
    if cmd.member is not None and cmd.member != actor.user_id:
        found = await find_member(uow, actor.community.id, cmd.member)
        if found is None:
            raise InvalidValue("member", f"{mention(cmd.member)} has not used Mentorbot here yet")
        member = found
    whose = "Your" if member.id == actor.member.id else f"{member.display_name}'s"
    if not badges_enabled(actor.community):
        return say("Badges are turned off in this community.")
    earned = dict(
        (
            await uow.session.execute(
                select(BadgeAward.badge, BadgeAward.awarded_at)
                .where(BadgeAward.member_id == member.id)
                .order_by(BadgeAward.awarded_at)
            )
        ).all()
    )
    audiences = {"mentee"}  # anyone may reply in support groups or be mentored
    if await find_mentor(uow, member) is not None:
        audiences.add("mentor")
    if await find_mentee(uow, member) is None and "mentor" in audiences:
        audiences.discard("mentee")
    progress: list[str] = []
    counts: dict[str, Counts] = {}
    seen_counters: set[str] = set()
    for badge in sorted(BADGES, key=lambda b: b.needs(uow.settings)):
        counter = badge.counter
        if badge.key in earned or counter.key in seen_counters:
            continue
        if badge.audience not in audiences and counter.key != "peer_replies":
            continue
        seen_counters.add(counter.key)
        if counter.key not in counts:
            counts[counter.key] = await counter.query(uow.session, [member.id], uow.settings)
        have, need = counts[counter.key].get(member.id, 0), badge.needs(uow.settings)
        progress.append(f"{min(have, need)} of {need} {counter.unit} to **{badge.name}**")
    fields = []
    if earned:
        fields.append(
            Field(
                "Earned",
                "\n".join(f"🏅 {badge_name(k)} ({moment(at, 'D')})" for k, at in earned.items()),
            )
        )
    if progress:
        fields.append(Field("Next", "\n".join(progress)))
    return Reply(
        message=Message(
            title=f"{whose} badges",
            text="" if earned else "No badges yet.",
            fields=tuple(fields),
        )
    )


# ----- turning badges on, backfill and sync -------------------------------------------


def set_badges(community: Community, on: bool) -> bool:
    """Turn badges on or off; True when they were just turned on (history to award)."""
    was = badges_enabled(community)
    settings = dict(community.settings)
    settings[BADGES_ON] = on
    if on and not was:
        settings[BACKFILL_CURSOR] = ""
    if not on:
        settings.pop(BACKFILL_CURSOR, None)
    community.settings = settings
    return on and not was


async def backfill_step(uow: UnitOfWork) -> int:
    """Award one batch of members of one community whose badges were just turned on.

    Earlier history earns its badges without an announcement each; when the last batch
    is done the community gets one summary announcement. Returns members looked at.
    """
    community = (
        await uow.session.execute(
            select(Community)
            .where(Community.settings[BACKFILL_CURSOR].as_string().is_not(None))
            .limit(1)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if community is None or BACKFILL_CURSOR not in community.settings:
        return 0
    after = str(community.settings[BACKFILL_CURSOR])
    batch = list(
        (
            await uow.session.execute(
                select(Member.id)
                .where(Member.community_id == community.id, Member.id > after)
                .order_by(Member.id)
                .limit(uow.settings.badge_batch)
            )
        ).scalars()
    )
    settings: dict[str, Any] = dict(community.settings)
    total = int(settings.pop("badges_backfill_awarded", 0))
    del settings[BACKFILL_CURSOR]
    community.settings = settings  # award_badges holds back while the cursor is set
    total += len(await award_badges(uow, community, batch, announce=False))
    settings = dict(community.settings)
    if len(batch) == uow.settings.badge_batch:
        settings[BACKFILL_CURSOR] = batch[-1]
        settings["badges_backfill_awarded"] = total
    else:
        await _announce_backfill(uow, community, total)
    community.settings = settings
    return len(batch)


async def _announce_backfill(uow: UnitOfWork, community: Community, total: int) -> None:
    channel = community.announcement_channel_id or community.admin_channel_id
    if channel is None:
        return
    text = (
        f"Badges are on. Members' earlier mentoring earned {total} badge(s), now shown with "
        "`/mentor badges` and granted as roles."
        if total
        else "Badges are on. Members earn them from now on: see `/mentor badges`."
    )
    await uow.outbox.add(
        community.id,
        ChannelPost(channel, Message(title="🏅 Badges", text=text, tone="success")),
        key=f"badges-backfill:{community.id}:{uow.now().timestamp()}",
    )


@dataclass(frozen=True)
class SyncBadges:
    pass


async def sync_badges(uow: UnitOfWork, actor: Actor, cmd: SyncBadges) -> Reply:
    """/admin badges sync: re-grant every awarded badge's role (grants check first)."""
    actor.require_admin("sync badge roles")
    community = actor.community
    if not badges_enabled(community):
        return say("Badges are turned off in this community; nothing to sync.")
    start_sync(community, uow.now().strftime("%Y%m%dT%H%M%S"))
    queued = 0
    while SYNC_CURSOR in community.settings:
        queued += await sync_step(uow, community)
    uow.audit(
        community.id,
        actor.member.id,
        "badges.sync",
        target_type="community",
        target_id=community.id,
        summary=f"synced badge roles ({queued} grants checked)",
    )
    return say(
        f"Checking {queued} badge role(s): missing ones are granted again shortly.",
        tone="success",
    )


def start_sync(community: Community, run: str) -> None:
    settings = dict(community.settings)
    settings[SYNC_CURSOR] = ""
    settings[SYNC_RUN] = run
    community.settings = settings


async def sync_step(uow: UnitOfWork, community: Community) -> int:
    """Queue a grant for one batch of the community's awards; the port changes only a
    member who lacks the role, and recreates a deleted role."""
    after = str(community.settings.get(SYNC_CURSOR, ""))
    run = str(community.settings.get(SYNC_RUN, ""))
    rows = (
        await uow.session.execute(
            select(BadgeAward.id, BadgeAward.badge, Member.platform_user_id)
            .join(Member, Member.id == BadgeAward.member_id)
            .where(BadgeAward.community_id == community.id, BadgeAward.id > after)
            .order_by(BadgeAward.id)
            .limit(uow.settings.badge_batch)
        )
    ).all()
    await uow.outbox.add_many(
        community.id,
        [
            (GrantRole(user, badge), f"badge-sync:{run}:{award_id}")
            for award_id, badge, user in rows
        ],
    )
    settings = dict(community.settings)
    if len(rows) == uow.settings.badge_batch:
        settings[SYNC_CURSOR] = rows[-1][0]
    else:
        settings.pop(SYNC_CURSOR, None)
        settings.pop(SYNC_RUN, None)
        # Every award is granted again; now take each badge role from those without one.
        await uow.outbox.add_many(
            community.id, [(PruneRole(b.key), f"badge-prune:{run}:{b.key}") for b in BADGES]
        )
    community.settings = settings
    return len(rows)


async def daily_sync_step(uow: UnitOfWork, day: str) -> int | None:
    """The daily job: start ``day``'s sync in each community not synced that day, one
    batch of one community per call. Returns the grants queued, None when all are done."""
    community = (
        await uow.session.execute(
            select(Community)
            .where(Community.settings[SYNC_CURSOR].as_string().is_not(None))
            .limit(1)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if community is None:
        candidates = (
            await uow.session.execute(
                select(Community).where(Community.is_set_up.is_(True)).order_by(Community.id)
            )
        ).scalars()
        community = next(
            (c for c in candidates if badges_enabled(c) and c.settings.get(SYNCED_DAY) != day),
            None,
        )
        if community is None:
            return None
        start_sync(community, day)
        settings = dict(community.settings)
        settings[SYNCED_DAY] = day
        community.settings = settings
    return await sync_step(uow, community)
