"""The community's listed mentors, in memory: what ``suggest`` scores and ``browse`` pages.

A mentor is listed while active, accepting and still a member (full ones included;
callers filter capacity). The listing is cached per process and checked against the
database with one query per use: the newest ``updated_at`` of the community's mentor
rows, read from the end of an index (it does not grow with the number of mentors; a
count of the rows would read all of them on every call). Every change to a mentor row
stamps ``updated_at``, so anything that changes whether or how a mentor is listed
(pause, retire, a new mentee, leaving the community) must touch the mentor row; the next
use then sees it at once. A deleted row stamps nothing: the rows are counted on each
refresh (when a stamp moved, and on the periodic look back below), so a deletion alone
is found within INDEX_MAX_AGE; meanwhile readers simply do not find the row (``browse``
and ``suggest`` show only the rows they load, so a deleted mentor is never shown; a page
may be one card short until then).

A refresh reads only (id, updated_at) pairs, straight from an index: of the rows stamped
after the newest stamp it knew, and, at least every INDEX_MAX_AGE seconds, of those
stamped up to INDEX_LOOKBACK before it (another process's slower transaction may commit
an older stamp late). It then loads the full rows of only those whose stamp it has not
seen: a bulk import that gave thousands of rows one ``updated_at`` is loaded once, not
on every refresh. Only when the set of listed mentors really changed are the arrays
rebuilt. A suggestion or page built on a slightly stale listing is still safe: capacity
is checked again, atomically, when a request is made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select, update

from core import matching
from core.models import Member, Mentor
from core.models.base import utcnow
from core.uow import UnitOfWork

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# Writers in other processes may commit a slightly older updated_at after a newer one;
# re-reading this far back, and at least every INDEX_MAX_AGE, bounds how stale it gets.
INDEX_LOOKBACK = timedelta(seconds=60)
INDEX_MAX_AGE = 30.0  # seconds
_LOAD_CHUNK = 500  # ids per IN (...) when loading changed rows

_COLUMNS = (
    Mentor.id,
    Mentor.updated_at,
    Mentor.status,
    Mentor.is_accepting,
    Mentor.expertise,
    Mentor.languages,
    Mentor.timezone,
    Mentor.preferred_style,
    Mentor.max_mentees,
    Mentor.current_mentees,
    Mentor.availability,
    Member.id,
    Member.display_name,
    Member.left_at,
)


@dataclass(frozen=True)
class Listed:
    facts: matching.MentorFacts
    owner: str  # the mentor's member id
    name: str  # display name, for browse's order


@dataclass
class MentorListing:
    """Listed mentors as a scoring index plus browse's order, positions shared."""

    index: matching.MentorIndex
    names: list[str]
    position: dict[str, int]  # mentor id -> position
    name_rank: npt.NDArray[np.intp]  # each position's place in name order (then id)
    browse_order: npt.NDArray[np.intp]  # positions: most free places, then name, then id

    @classmethod
    def build(cls, listed: Sequence[Listed], full_availability_hours: int) -> MentorListing:
        import numpy as np

        ordered = sorted(listed, key=lambda x: x.facts.id)
        index = matching.MentorIndex.build(
            [x.facts for x in ordered],
            [x.owner for x in ordered],
            full_availability_hours=full_availability_hours,
        )
        names = [x.name for x in ordered]
        name_rank = np.empty(len(ordered), dtype=np.intp)
        name_rank[sorted(range(len(names)), key=lambda k: (names[k].lower(), k))] = np.arange(
            len(names)
        )
        return cls(
            index,
            names,
            {x.facts.id: k for k, x in enumerate(ordered)},
            name_rank,
            _browse_order(index, name_rank),
        )

    def patched(
        self, changed: Mapping[str, Listed], full_availability_hours: int
    ) -> MentorListing | None:
        """This listing with some listed mentors' facts changed (same mentors, same
        names), without rebuilding it; None when only a rebuild will do."""
        moved = {}
        for mentor_id, entry in changed.items():
            k = self.position.get(mentor_id)
            if k is None or self.names[k] != entry.name or self.index.owners[k] != entry.owner:
                return None
            moved[k] = entry.facts
        index = self.index.with_changed(moved, full_availability_hours=full_availability_hours)
        if index is None:
            return None
        return MentorListing(
            index, self.names, self.position, self.name_rank, _browse_order(index, self.name_rank)
        )

    def browse(
        self,
        *,
        only_free: bool,
        expertise: str | None,
        language: str | None,
        style: str | None,
        zones: set[str] | None,
        exclude_owner: str,
    ) -> npt.NDArray[np.intp]:
        """Positions of the mentors that pass every filter, in browse order.

        ``zones`` is the set of timezones within reach (None: no timezone filter).
        """
        import numpy as np

        index = self.index
        keep = np.ones(len(index.facts), dtype=bool)
        if only_free:
            keep &= index.capacity_left > 0
        for vocab, table, wanted in (
            (index.expertise_vocab, index.expertise, expertise),
            (index.language_vocab, index.languages, language),
        ):
            if wanted is not None:
                column = vocab.get(wanted)
                keep &= table[:, column] > 0 if column is not None else False
        if style is not None:
            code = index.style_vocab.get(style)
            keep &= index.style == code if code is not None else False
        if zones is not None:
            reachable = np.array([z in zones for z in index.zones], dtype=bool)
            keep &= reachable[index.zone_cols] if reachable.size else False
        keep[index.positions_of(exclude_owner)] = False
        return self.browse_order[keep[self.browse_order]]


def _browse_order(
    index: matching.MentorIndex, name_rank: npt.NDArray[np.intp]
) -> npt.NDArray[np.intp]:
    import numpy as np

    order: npt.NDArray[np.intp] = np.lexsort((name_rank, -index.capacity_left))
    return order


@dataclass
class _Cached:
    newest: datetime | None
    swept: float  # time.monotonic() of the last look INDEX_LOOKBACK back
    stamps: dict[str, datetime]  # every mentor row of the community -> its updated_at
    listed: dict[str, Listed]  # mentor id -> listed mentor
    listing: MentorListing


def _stamp(value: Any) -> datetime:
    return _aware(value) or datetime.min.replace(tzinfo=UTC)


def _aware(value: Any) -> datetime | None:
    if isinstance(value, str):  # SQLite returns max() of a datetime column as text
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


def _listed(row: Any) -> Listed | None:
    (mentor_id, _stamp, status, accepting, expertise, languages, zone, style) = row[:8]
    (most, current, hours, member_id, name, left_at) = row[8:]
    if status != "active" or not accepting or left_at is not None:
        return None
    facts = matching.MentorFacts(
        id=mentor_id,
        expertise=tuple(expertise or ()),
        languages=tuple(languages or ()),
        timezone=zone,
        style=style,
        capacity_left=max(most - current, 0),
        max_mentees=most,
        availability=hours,
    )
    return Listed(facts, member_id, name)


# Built once: every suggest and browse runs it.
_NEWEST_STAMP = select(func.max(Mentor.updated_at)).where(
    Mentor.community_id == bindparam("community_id")
)


async def mentor_listing(uow: UnitOfWork, community_id: str) -> MentorListing:
    """The community's listed mentors, fresh as of this call (see the module docstring)."""
    found = await uow.session.execute(_NEWEST_STAMP, {"community_id": community_id})
    newest = _aware(found.scalar_one())
    key = ("mentor-index", community_id)
    cached: _Cached | None = uow.cache.get(key)
    if cached is not None and _current(cached, newest):
        return cached.listing
    # One refresh at a time per community; the others wait and then use its result.
    lock: asyncio.Lock = uow.cache.setdefault(("mentor-index-lock", community_id), asyncio.Lock())
    async with lock:
        latest: _Cached | None = uow.cache.get(key)  # another call may have refreshed it
        if latest is not None and _current(latest, newest):
            return latest.listing
        refreshed = await _refresh(uow, community_id, latest, newest)
        uow.cache[key] = refreshed
        return refreshed.listing


def _current(cached: _Cached, newest: datetime | None) -> bool:
    fresh = time.monotonic() - cached.swept < INDEX_MAX_AGE
    return fresh and cached.newest == newest


async def _refresh(
    uow: UnitOfWork,
    community_id: str,
    cached: _Cached | None,
    newest: datetime | None,
) -> _Cached:
    hours = uow.settings.matching.full_availability_hours
    in_community = Mentor.community_id == community_id
    if cached is None or cached.newest is None:
        stamps: dict[str, datetime] = {}
        listed: dict[str, Listed] = {}
        # Streamed in batches: the rows are never all in memory at once, only their facts.
        streamed = await uow.session.stream(
            select(*_COLUMNS)
            .join(Member, Member.id == Mentor.user_id)
            .where(in_community)
            .execution_options(yield_per=_LOAD_CHUNK)
        )
        async for row in streamed:
            stamps[row[0]] = _stamp(row[1])
            if (entry := _listed(row)) is not None:
                listed[entry.facts.id] = entry
        listing = MentorListing.build(list(listed.values()), hours)
        return _Cached(newest, time.monotonic(), stamps, listed, listing)

    stamps, listed = dict(cached.stamps), dict(cached.listed)
    sweep = time.monotonic() - cached.swept >= INDEX_MAX_AGE
    since = (
        Mentor.updated_at >= cached.newest - INDEX_LOOKBACK
        if sweep
        else Mentor.updated_at > cached.newest
    )
    recent = await uow.session.execute(
        select(Mentor.id, Mentor.updated_at).where(in_community, since)
    )
    changed = {}
    for mentor_id, raw in recent:
        stamp = _stamp(raw)
        if stamps.get(mentor_id) != stamp:
            changed[mentor_id] = stamp
    gone: set[str] = set()
    # Rows are counted only here, when something changed or on the periodic look back.
    count = (
        await uow.session.execute(select(func.count(Mentor.id)).where(in_community))
    ).scalar_one()
    if len(stamps.keys() | changed.keys()) != count:
        # A row was deleted: find which from the ids alone.
        present = set((await uow.session.execute(select(Mentor.id).where(in_community))).scalars())
        gone = stamps.keys() - present
    ids = list(changed)
    joined_or_left = False  # a mentor was added to or removed from the listing
    modified: dict[str, Listed] = {}  # listed before and after, with new facts
    for start in range(0, len(ids), _LOAD_CHUNK):
        rows = await uow.session.execute(
            select(*_COLUMNS)
            .join(Member, Member.id == Mentor.user_id)
            .where(Mentor.id.in_(ids[start : start + _LOAD_CHUNK]))
        )
        for row in rows:
            stamps[row[0]] = _stamp(row[1])
            entry, before = _listed(row), listed.get(row[0])
            if entry is None:
                joined_or_left |= listed.pop(row[0], None) is not None
            else:
                joined_or_left |= before is None
                if before is not None and before != entry:
                    modified[row[0]] = entry
                listed[row[0]] = entry
    for mentor_id in gone:
        stamps.pop(mentor_id, None)
        joined_or_left |= listed.pop(mentor_id, None) is not None
    listing = cached.listing
    if joined_or_left:
        listing = MentorListing.build(list(listed.values()), hours)
    elif modified:
        # Usually a mentor's free places or profile changed: patch those rows only.
        listing = cached.listing.patched(modified, hours) or MentorListing.build(
            list(listed.values()), hours
        )
    swept = time.monotonic() if sweep else cached.swept
    return _Cached(newest, swept, stamps, listed, listing)


async def forget_listed_mentor(uow: UnitOfWork, community_id: str) -> None:
    """A mentor row was deleted (or emptied) in this transaction: make every process's
    listing drop it at its next use, not within INDEX_MAX_AGE.

    A deletion stamps nothing, so the community's newest remaining mentor row is stamped
    again: the newest ``updated_at`` moves, every process refreshes, and the refresh's
    count finds the row gone.
    """
    uow.cache.pop(("mentor-index", community_id), None)
    newest = (
        select(Mentor.id)
        .where(Mentor.community_id == community_id)
        .order_by(Mentor.updated_at.desc(), Mentor.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    await uow.session.execute(
        update(Mentor)
        .where(Mentor.id == newest)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
