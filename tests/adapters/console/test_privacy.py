"""Privacy (F15) on the console: the export holds every table's rows of the member and
nobody else's private data; a confirmed deletion, after its grace period, leaves no row
naming them while the other person's history reads on with tombstones; a cancel within the
grace period restores nothing because nothing was removed; bad input says so."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.console.bot import ConsoleBot
from core.actions import action_id
from core.clock import FakeClock
from core.context import Invocation
from core.errors import NotAllowed, OutdatedCard
from core.models import (
    CalendarFeed,
    Member,
    Mentee,
    Mentor,
    MentorMessage,
    MentorReview,
    Mentorship,
    MentorshipThread,
    PendingRelay,
    SupportGroupReply,
)
from core.usecases.privacy.forget import FORMER_NAME, POST_TOMBSTONE, TOMBSTONE
from core.usecases.privacy.scope import SECTIONS
from tests.helpers import snapshot
from tests.privacy_checks import (
    assert_export_holds,
    member_named,
    rows_naming,
    rows_pointing_at,
)

SETUP = (
    "/admin setup admin_role:Admins admin_channel:mentor-admin "
    "announcement_channel:general default_timezone:UTC"
)
GROUP = 'group:"New givers circle"'
CREATE_GROUP = (
    '/group create name:"New givers circle" type:new_givers facilitator:@alice '
    "frequency:weekly day:wednesday time:19:00 timezone:UTC"
)
WHO = "zoravia"  # the member whose data is exported and deleted


async def run(console: ConsoleBot, *lines: str) -> list[str]:
    out: list[str] = []
    for line in lines:
        out += await console.say(line)
    assert console.parse_errors == 0, out
    return out


async def mentor(console: ConsoleBot, name: str) -> None:
    await run(
        console,
        f"as @{name}",
        f'/mentor apply bio:"{name.capitalize()} has mentored newcomers for years." '
        "expertise:giving availability:10 max_mentees:3 style:async languages:en timezone:UTC",
        "as @owner",
        "click Approve",
    )


async def connect(console: ConsoleBot, mentee: str, mentor_name: str) -> None:
    await run(
        console,
        f"as @{mentee}",
        "/mentee profile goals:learn_giving languages:en timezone:UTC",
        f"/mentor request mentor:@{mentor_name}",
        f"as @{mentor_name}",
        "click Accept",
    )


async def end_and_review(
    console: ConsoleBot, mentee: str, mentor_name: str, comment: str, public: str
) -> None:
    await run(
        console,
        f"as @{mentor_name}",
        f"/mentorship end person:@{mentee}",
        'submit notes:"Goals met, well done."',
        f"as @{mentee}",
        "click 4",
        f'submit comment:"{comment}" public:{public}',
    )


@pytest.fixture
async def community(
    console: ConsoleBot,
    clock: FakeClock,
    tmp_path: Path,
    factory: async_sessionmaker[AsyncSession],
) -> ConsoleBot:
    """zoravia: a past mentorship with bea (reviewed, public), an active one with alice
    (messages both ways, a session, a goal with a ticked milestone), a support group with a
    reply, badges, an admin action, a prompt. erin and frank: a mentorship of their own
    with messages and a private review, none of it zoravia's."""
    clock.set(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    console.files_dir = tmp_path
    await run(console, "as @owner --admin", SETUP)
    for name in ("alice", "bea", "erin"):
        await mentor(console, name)
    await connect(console, WHO, "bea")
    await run(
        console, f"as @{WHO}", "dm Hello, thanks for taking me on.", "as @bea", "reply Glad to."
    )
    await end_and_review(console, WHO, "bea", "Kind and clear.", "yes")
    await connect(console, WHO, "alice")
    await run(
        console,
        f"as @{WHO}",
        "dm My first question is about budgets.",
        "as @alice",
        "reply Let us start with a monthly plan.",
        f"as @{WHO}",
        '/session schedule person:@alice title:"Budget review" when:"2026-12-03 18:30"',
        '/goal add person:@alice title:"Fund a first loan" '
        'milestones:"Read the guide;Pick a borrower"',
        'click "Read the guide"',
    )
    await connect(console, "frank", "erin")
    await run(
        console, "as @frank", "dm A private matter for erin only.", "as @erin", "reply Noted."
    )
    await end_and_review(console, "frank", "erin", "Private words about erin.", "no")
    await run(
        console,
        "as @owner",
        CREATE_GROUP,
        f"as @{WHO}",
        f"/group join {GROUP}",
        "as @alice",
        f'/group post {GROUP} text:"How was your week?"',
        f"as @{WHO} --admin",
        'thread "Good, thanks for asking"',
        '/admin prompt-add kind:guide title:"Saving first" text:"What did you save for first?"',
        "/privacy grace days:7",
    )
    member = await member_named(factory, WHO)
    async with factory() as session, session.begin():
        ms = await session.scalar(select(Mentorship.id).where(Mentorship.status == "active"))
        assert ms is not None
        session.add_all(
            [
                CalendarFeed(community_id=member.community_id, member_id=member.id, token="tok1"),
                MentorshipThread(
                    community_id=member.community_id,
                    mentorship_id=ms,
                    member_id=member.id,
                    platform_thread_id="t-1",
                ),
                PendingRelay(
                    community_id=member.community_id, member_id=member.id, content="unplaced"
                ),
            ]
        )
    return console


def last_file(console: ConsoleBot) -> tuple[str, bytes]:
    shown = next(s for s in reversed(console.shown) if s.message.files)
    (file,) = shown.message.files
    return file.name, file.data


async def export(console: ConsoleBot, who: str) -> dict[str, Any]:
    out = await run(console, f"as @{who}", "/privacy export")
    assert any("Only you received this file" in line for line in out)
    shown = console.shown[-1]
    assert (shown.where, shown.audience) == ("private", who)
    _, data = last_file(console)
    document: dict[str, Any] = json.loads(data)
    return document


async def test_export_holds_every_table_of_the_member_and_no_one_elses_private_data(
    community: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    document = await export(community, WHO)
    member = await member_named(factory, WHO)
    assert document["member"] == member.id
    expected = await rows_pointing_at(factory, member.id)
    assert_export_holds(document, expected)
    tables = document["tables"]
    for table in (
        "members",
        "mentees",
        "mentorships",
        "mentor_messages",
        "mentor_sessions",
        "session_attendees",
        "calendar_feeds",
        "mentor_reviews",
        "mentorship_threads",
        "pending_relays",
        "mentee_goals",
        "mentee_milestones",
        "goal_progress",
        "support_groups",
        "support_group_members",
        "support_group_replies",
        "discussion_prompts",
        "badge_awards",
        "audit_log",
    ):
        assert tables[table], table
    # Their messages and the ones sent to them, from both mentorships.
    texts = {m["content"] for m in tables["mentor_messages"]}
    assert {
        "Hello, thanks for taking me on.",
        "Glad to.",
        "My first question is about budgets.",
        "Let us start with a monthly plan.",
    } == texts
    assert document["people"][member.id] == WHO
    assert {"alice", "bea"} <= set(document["people"].values())
    # Nothing of erin and frank's: not their DMs, not frank's private review of erin.
    dumped = json.dumps(document)
    for private in ("A private matter for erin only.", "Noted.", "Private words about erin."):
        assert private not in dumped
    assert [r["content"] for r in tables["mentor_reviews"]] == ["Kind and clear."]
    assert document["private_reviews_about_you"] == 0


async def test_an_export_larger_than_the_platform_limit_is_compressed_or_split_never_cut(
    community: ConsoleBot,
) -> None:
    full = json.dumps(await export(community, WHO), sort_keys=True)
    whole = len(last_file(community)[1])
    packed = len(gzip.compress(last_file(community)[1], 9, mtime=0))

    community.port.max_file_bytes = packed + 10  # too big as it is, fits compressed
    out = await run(community, "/privacy export")
    name, data = last_file(community)
    assert name.endswith(".json.gz")
    assert len(data) < whole
    assert json.loads(gzip.decompress(data))["member"] == json.loads(full)["member"]
    assert any("compressed" in line for line in out)

    community.port.max_file_bytes = 1000  # even compressed it needs parts
    out = await run(community, "/privacy export")
    parts = community.shown[-1].message.files
    assert len(parts) == -(-packed // 1000) > 1
    assert all(len(p.data) <= 1000 for p in parts)
    assert [p.name[-3:] for p in parts] == [f"{n:03d}" for n in range(1, len(parts) + 1)]
    joined = gzip.decompress(b"".join(p.data for p in parts))
    again = json.loads(joined)
    again["exported_at"] = json.loads(full)["exported_at"]
    assert json.dumps(again, sort_keys=True) == full
    assert any("split into" in line for line in out)

    community.port.max_files = 2  # more parts than one message may carry: said, not cut
    out = await run(community, "/privacy export")
    assert not community.shown[-1].message.files
    assert any("none were sent" in line for line in out)


async def counts(factory: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    async with factory() as session:
        alice = await session.scalar(
            select(Mentor)
            .join(Member, Member.id == Mentor.user_id)
            .where(Member.display_name == "alice")
        )
        bea = await session.scalar(
            select(Mentor)
            .join(Member, Member.id == Mentor.user_id)
            .where(Member.display_name == "bea")
        )
        assert alice is not None
        assert bea is not None
        return {
            "alice_current": alice.current_mentees,
            "bea_rating": bea.avg_rating,
            "messages": await session.scalar(select(func.count(MentorMessage.id))),
            "members": await session.scalar(select(func.count(Member.id))),
            "mentorships": await session.scalar(select(func.count(Mentorship.id))),
        }


async def test_deleting_after_the_grace_period_forgets_the_member_and_keeps_the_other_side(
    community: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    before = await counts(factory)
    assert (before["alice_current"], before["bea_rating"]) == (1, 4.0)
    assert community.port.roles[WHO]  # badge roles, taken back below
    asked = await run(community, f"as @{WHO}", "/privacy delete")
    assert any("Delete your data?" in line for line in asked)
    confirmed = await run(community, 'click "Delete my data"')
    assert any("Your data will be deleted" in line for line in confirmed)
    again = await run(community, "/privacy delete")
    assert any("You asked for this already" in line for line in again)
    assert any("06 December 2026 12:00 UTC (in 7 days)" in line for line in again)

    await run(community, "advance 6d23h")
    assert await rows_naming(factory, WHO)  # not yet: nothing happens before its time
    out = await run(community, "advance 2h", "advance 15m")
    assert any("[DM → @alice]" in line for line in out)
    assert any("Mentorship ended" in line for line in out)

    assert await rows_naming(factory, WHO) == []
    after = await counts(factory)
    assert after["alice_current"] == 0  # the ended mentorship no longer counts
    assert after["bea_rating"] is None  # the only review of bea was theirs
    assert (after["members"], after["mentorships"], after["messages"]) == (
        before["members"],
        before["mentorships"],
        before["messages"],
    )
    async with factory() as session:
        gone = await session.scalar(select(Member).where(Member.display_name == FORMER_NAME))
        assert gone is not None
        assert gone.timezone is None
        assert gone.languages == []
        assert (
            await session.scalar(select(func.count(Mentee.id)).where(Mentee.user_id == gone.id))
            == 1
        )
        assert (
            await session.scalar(
                select(func.count(MentorReview.id)).where(MentorReview.reviewer_id == gone.id)
            )
            == 0
        )
    assert community.port.roles[WHO] == set()
    assert community.port.spaces["new-givers-circle"] == {"alice"}
    # alice's history: her own messages as written, theirs replaced by a note.
    history = await run(
        community, "as @alice", f"/mentorship history person:@{gone.platform_user_id}"
    )
    joined = "\n".join(history)
    assert "Let us start with a monthly plan." in joined
    assert TOMBSTONE in joined
    assert "budgets" not in joined
    posts = await run(community, f"/group info {GROUP}")
    assert posts  # the group goes on
    audit = await run(community, "as @owner", "/admin audit")
    assert any("deleted a member's data (asked for by the member)" in line for line in audit)
    # Their group reply reads as removed.
    async with factory() as session:
        assert (await session.execute(select(SupportGroupReply.content))).scalars().all() == [
            POST_TOMBSTONE
        ]


async def test_cancel_within_the_grace_period_restores_nothing_because_nothing_was_removed(
    community: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await run(community, f"as @{WHO}")
    before = await snapshot(factory)
    card = (await member_named(factory, WHO)).privacy_version
    await run(community, "/privacy delete", 'click "Delete my data"')
    during = await snapshot(factory)
    changed = {t for t in before if before[t] != during[t]}
    assert changed <= {"members"}  # only the date of the pending deletion
    out = await run(community, "/privacy cancel")
    assert any("Cancelled: your data stays" in line for line in out)
    cancelled = await snapshot(factory)
    assert {t for t in before if before[t] != cancelled[t]} <= {"members"}
    # Unplaced DMs are pruned after a day and the queue moves on anyway; the rest stays.
    kept = set(SECTIONS) - {"pending_relays", "deliveries"}
    sizes = {t: len(rows) for t, rows in cancelled.items() if t in kept}
    await run(community, "advance 8d")  # well past the date it had
    after = await snapshot(factory)
    assert {t: len(rows) for t, rows in after.items() if t in kept} == sizes
    assert await rows_naming(factory, WHO)
    member = await member_named(factory, WHO)
    assert (member.deletion_due_at, member.deletion_reason) == (None, None)
    # The confirm card from before the cancel cannot start it again.
    stale = action_id("pdelete", member.id, str(card))
    with pytest.raises(OutdatedCard):
        await community.service.press(Invocation("console", "console", WHO), stale)
    assert (await member_named(factory, WHO)).deletion_reason is None


async def test_bad_input_nothing_stored_nothing_pending_and_someone_elses_button(
    community: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    out = await run(community, "as @newcomer", "/privacy delete")
    assert any("there is nothing to delete" in line for line in out)
    out = await run(community, "/privacy cancel")
    assert any("nothing to cancel" in line for line in out)
    member = await member_named(factory, WHO)
    forged = action_id("pdelete", member.id, str(member.privacy_version))
    with pytest.raises(NotAllowed):
        await community.service.press(Invocation("console", "console", "newcomer"), forged)
    assert (await member_named(factory, WHO)).deletion_reason is None
    out = await run(community, "as @owner", "/privacy grace days:0")
    assert any("`days`" in line for line in out)
    out = await run(community, "as @newcomer", "/privacy grace days:3")
    assert any("only community admins" in line for line in out)


async def test_a_deleted_mentor_leaves_suggestions_and_browse_at_once(
    community: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    await mentor(community, "quinby")
    await run(
        community, "as @seeker", "/mentee profile goals:learn_giving languages:en timezone:UTC"
    )
    assert any("quinby" in line for line in await run(community, "/mentor browse"))
    assert any("quinby" in line for line in await run(community, "/mentor suggest"))
    await run(community, "as @quinby", "/privacy delete", 'click "Delete my data"', "advance 7d1h")
    # Gone from the listing at once; the sent role revoke's row goes on the next pass.
    await run(community, "as @seeker")
    assert not any("quinby" in line for line in await run(community, "/mentor suggest"))
    await run(community, "advance 15m")
    assert await rows_naming(factory, "quinby") == []
    await run(community, "as @seeker")
    assert not any("quinby" in line for line in await run(community, "/mentor browse"))
    assert not any("quinby" in line for line in await run(community, "/mentor suggest"))
    async with factory() as session:
        # Nothing hung from the profile, so it is gone, not kept as an empty anchor.
        names = (
            await session.execute(
                select(Member.display_name).join(Mentor, Mentor.user_id == Member.id)
            )
        ).scalars()
        assert FORMER_NAME not in set(names)


async def test_an_export_reads_thousands_of_messages_a_page_at_a_time_and_misses_none(
    community: ConsoleBot, factory: async_sessionmaker[AsyncSession]
) -> None:
    member = await member_named(factory, WHO)
    async with factory() as session, session.begin():
        ms = await session.scalar(select(Mentorship.id).where(Mentorship.status == "active"))
        rows = [
            {
                "id": f"bulk{n:020d}",
                "community_id": member.community_id,
                "mentorship_id": ms,
                "sender_id": member.id,
                "content": f"message {n}",
                "created_at": datetime(2026, 11, 1, tzinfo=UTC),
            }
            for n in range(2345)
        ]
        await session.execute(insert(MentorMessage), rows)
    document = await export(community, WHO)
    contents = {m["content"] for m in document["tables"]["mentor_messages"]}
    assert {f"message {n}" for n in range(2345)} <= contents
    assert len(document["tables"]["mentor_messages"]) == 2345 + 4
