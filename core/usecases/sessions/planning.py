"""Finding a time: free slots inside both people's daytime, and check-in nudges for
mentorships that have gone quiet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select

from core.actions import action_id, button
from core.context import Actor
from core.effects import DirectMessage
from core.errors import Conflict, UserError
from core.messages import Button, Field, Message, Reply, mention, moment
from core.models import Member, MentorSession, Mentorship
from core.uow import UnitOfWork
from core.usecases.parties import Party, load_parties, parties, party_for, party_with
from core.usecases.sessions import rules
from core.usecases.sessions.manage import create_session
from core.usecases.sessions.store import busy_between, zone_of

HORIZON_DAYS = 14
GRID_MINUTES = 30
SLOTS_SHOWN = 5
DEFAULT_TITLE = "Mentorship session"


@dataclass(frozen=True)
class SuggestTimes:
    person: str
    duration: int | None = None


def _daytime(when: datetime, end: datetime, zone: ZoneInfo, first: int, last: int) -> bool:
    """Both ends on the same local day, inside [first:00, last:00] there."""
    a, b = when.astimezone(zone), end.astimezone(zone)
    if a.date() != b.date() and not (b.hour == 0 and b.minute == 0 and last == 24):
        return False
    return a.hour >= first and (b.hour, b.minute) <= (last, 0)


def free_slots(
    now: datetime,
    duration: int,
    zones: tuple[str, str],
    busy: list[tuple[datetime, datetime]],
    first: int,
    last: int,
    *,
    most: int = SLOTS_SHOWN,
    per_day: int = 1,
) -> list[datetime]:
    """Up to ``most`` starts in the next ``HORIZON_DAYS`` days, ``per_day`` a day (the
    first zone's), inside both zones' daytime, clear of ``busy``. Computed on real dates,
    so a daylight-saving change in either zone is honoured."""
    tz = (ZoneInfo(zones[0]), ZoneInfo(zones[1]))
    step = timedelta(minutes=GRID_MINUTES)
    start = (now + timedelta(hours=1)).replace(second=0, microsecond=0)
    start += timedelta(minutes=(-start.minute) % GRID_MINUTES)
    length = timedelta(minutes=duration)
    found: list[datetime] = []
    days: dict[object, int] = {}
    at = start
    while at < now + timedelta(days=HORIZON_DAYS) and len(found) < most:
        end = at + length
        day = at.astimezone(tz[0]).date()
        if (
            days.get(day, 0) < per_day
            and all(_daytime(at, end, z, first, last) for z in tz)
            and not any(b_start < end and at < b_end for b_start, b_end in busy)
        ):
            found.append(at)
            days[day] = days.get(day, 0) + 1
        at += step
    return found


async def suggest_times(uow: UnitOfWork, actor: Actor, cmd: SuggestTimes) -> Reply:
    party = await party_with(uow, actor, cmd.person, ("active",))
    return await _suggest(uow, actor, party, cmd.duration or rules.DURATION_DEFAULT)


@button("sfree", arity=1)
async def suggest_button(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    party = await party_for(uow, actor, args[0])
    if party.mentorship.status != "active":
        raise Conflict(f"This mentorship is {party.mentorship.status}.")
    return await _suggest(uow, actor, party, rules.DURATION_DEFAULT)


async def _suggest(uow: UnitOfWork, actor: Actor, party: Party, duration: int) -> Reply:
    now, m = uow.now(), uow.settings.matching
    other = party.other(actor.member)
    zones = (zone_of(actor.member, actor.community), zone_of(other, actor.community))
    busy = await busy_between(
        uow, [actor.member.id, other.id], now, now + timedelta(days=HORIZON_DAYS + 1)
    )
    slots = free_slots(now, duration, zones, busy, m.day_start_hour, m.day_end_hour)
    if not slots:
        return Reply(
            message=Message(
                text=f"No free {duration}-minute time inside both your daytimes "
                f"({m.day_start_hour}:00–{m.day_end_hour}:00 local) in the next "
                f"{HORIZON_DAYS} days. `/session schedule` takes any time you agree on."
            )
        )
    fields = tuple(
        Field(f"Slot {n}", f"{moment(at, 'F')} ({moment(at, 'R')})", inline=False)
        for n, at in enumerate(slots, 1)
    )
    buttons = tuple(
        Button(
            f"Schedule slot {n}",
            action_id("sslot", party.mentorship.id, str(int(at.timestamp())), str(duration)),
            "primary",
        )
        for n, at in enumerate(slots, 1)
    )
    return Reply(
        message=Message(
            title=f"Free times with {other.display_name}",
            text=f"{duration} minutes inside both your daytimes, clear of your other sessions "
            "(times in your zone).",
            fields=fields,
            buttons=buttons,
        )
    )


async def slot_choices(
    uow: UnitOfWork, actor: Actor, person: str, typed: str, limit: int
) -> list[tuple[str, str]]:
    """Free times with ``person`` as (label, value) for the `when` option's autocomplete:
    the value is the time as typed in the actor's zone; nothing if they are no partners."""
    try:
        party = await party_with(uow, actor, person, ("active",))
    except UserError:
        return []
    now, m = uow.now(), uow.settings.matching
    other = party.other(actor.member)
    zones = (zone_of(actor.member, actor.community), zone_of(other, actor.community))
    busy = await busy_between(
        uow, [actor.member.id, other.id], now, now + timedelta(days=HORIZON_DAYS + 1)
    )
    slots = free_slots(
        now,
        rules.DURATION_DEFAULT,
        zones,
        busy,
        m.day_start_hour,
        m.day_end_hour,
        most=limit * 2,
        per_day=3,
    )
    tz, needle = ZoneInfo(zones[0]), typed.strip().lower()
    found = []
    for at in slots:
        local = at.astimezone(tz)
        label = f"{local:%a %d %b %H:%M} ({zones[0]}): free for you both"
        if needle in label.lower() or needle in f"{local:%Y-%m-%d %H:%M}":
            found.append((label, f"{local:%Y-%m-%d %H:%M}"))
    return found[:limit]


@button("sslot", arity=3)
async def schedule_slot(uow: UnitOfWork, actor: Actor, args: list[str]) -> Reply:
    mentorship_id, unix, minutes = args
    party = await party_for(uow, actor, mentorship_id)
    if not (unix.isdigit() and minutes.isdigit()):
        raise Conflict("That slot is not valid.")
    duration = int(minutes)
    if not rules.DURATION_MIN <= duration <= rules.DURATION_MAX:
        raise Conflict("That slot is not valid.")
    start = datetime.fromtimestamp(int(unix), UTC)
    if start <= uow.now():
        raise Conflict("That time has passed; ask for new suggestions.")
    if start > uow.now() + timedelta(days=rules.MAX_DAYS_AHEAD):
        raise Conflict("That slot is not valid.")
    other = party.other(actor.member)
    return await create_session(
        uow,
        actor,
        "one_on_one",
        start,
        duration,
        title=DEFAULT_TITLE,
        person=other.platform_user_id,
    )


# ----- check-ins ----------------------------------------------------------------------


async def nudge_check_ins(uow: UnitOfWork) -> int:
    """Nudge both people of an active mentorship with no session for ``check_in_days``.

    ``next_check_in`` says when: set after each session (its end + the gap) and after each
    nudge (now + the gap), so a quiet mentorship is nudged once per gap. A mentorship that
    never had one counts from its start. A bounded batch a pass.
    """
    now, s = uow.now(), uow.settings
    gap = timedelta(days=s.check_in_days)
    due = await load_parties(
        uow,
        parties()
        .where(
            Mentorship.status == "active",
            or_(
                Mentorship.next_check_in <= now,
                and_(Mentorship.next_check_in.is_(None), Mentorship.start_date <= now - gap),
            ),
        )
        .order_by(Mentorship.next_check_in, Mentorship.id)
        .limit(s.housekeeping_batch),
    )
    if not due:
        return 0
    # A session still ahead postpones the check-in until after it.
    ahead = dict(
        (
            await uow.session.execute(
                select(MentorSession.mentorship_id, func.max(MentorSession.scheduled_at))
                .where(
                    MentorSession.mentorship_id.in_([p.mentorship.id for p in due]),
                    MentorSession.status == "scheduled",
                    MentorSession.scheduled_at > now - timedelta(minutes=rules.DURATION_MAX),
                )
                .group_by(MentorSession.mentorship_id)
            )
        ).all()
    )
    nudged = 0
    for party in due:
        ms = party.mentorship
        if ms.id in ahead:
            ms.next_check_in = ahead[ms.id] + gap
            continue
        ms.next_check_in = now + gap
        nudged += 1
        for member in (party.mentor_member, party.mentee_member):
            await uow.outbox.add(
                ms.community_id,
                DirectMessage(
                    member.platform_user_id,
                    _check_in_message(party, member, s.check_in_days),
                    thread=ms.id,
                ),
                key=f"checkin:{ms.id}:{int(now.timestamp())}:{member.id}",
            )
    return nudged


def _check_in_message(party: Party, member: Member, days: int) -> Message:
    other = party.other(member)
    return Message(
        title="Time for a check-in?",
        text=f"You and {mention(other.platform_user_id)} have had no session for {days} days. "
        "A short call keeps things moving: here are times that suit you both.",
        buttons=(Button("Suggest times", action_id("sfree", party.mentorship.id), "primary"),),
    )
