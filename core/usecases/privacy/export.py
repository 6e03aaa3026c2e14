"""``/privacy export``: everything stored about the member in this community, as JSON.

The document has one list per table (see ``scope.SECTIONS``), each row with every column
as stored, plus the names of the people they had mentorships with and how many private
reviews about them exist (their text stays with their authors). Rows are streamed from
the database a page at a time and written straight into the document, so a mentor with
tens of thousands of messages never has them all as objects at once. The file goes back
as a private reply; adapters compress or split it to fit their platform (``core.files``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from core.context import Actor
from core.messages import File, Message, Reply
from core.models import Member, Mentee, Mentor, MentorReview, Mentorship
from core.uow import UnitOfWork
from core.usecases.privacy.scope import SECTIONS, Scope, scope_of

PAGE_ROWS = 1000
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ExportMyData:
    pass


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _row(table: str, row: Mapping[Any, Any]) -> dict[str, Any]:
    out = dict(row)
    if table == "deliveries":
        # A queued message's files are carried as base64: name them, don't copy them.
        message = (out.get("payload") or {}).get("message")
        if isinstance(message, dict) and message.get("files"):
            out["payload"] = {
                **out["payload"],
                "message": {**message, "files": [f[0] for f in message["files"]]},
            }
    return out


_encoder = json.JSONEncoder(default=_plain, ensure_ascii=False)
dumps = _encoder.encode


async def export_document(uow: UnitOfWork, member: Member) -> tuple[bytes, dict[str, int]]:
    """The member's data as a JSON document, and how many rows each table gave."""
    scope = await scope_of(uow, member)
    out = io.StringIO()
    counts: dict[str, int] = {}
    head = {
        "format": FORMAT_VERSION,
        "exported_at": uow.now().isoformat(),
        "community": member.community_id,
        "member": member.id,
    }
    out.write("{\n")
    for key, value in head.items():
        out.write(f"  {json.dumps(key)}: {json.dumps(value)},\n")
    out.write(f'  "people": {json.dumps(await _people(uow, scope), ensure_ascii=False)},\n')
    hidden = await _private_reviews_about(uow, scope)
    out.write(f'  "private_reviews_about_you": {hidden},\n')
    out.write('  "tables": {')
    for n, (table, rows_of) in enumerate(SECTIONS.items()):
        out.write(("," if n else "") + f"\n    {json.dumps(table)}: [")
        count = 0
        result = await uow.session.stream(rows_of(scope).execution_options(yield_per=PAGE_ROWS))
        # A page per wait: one hand-off to the driver per PAGE_ROWS rows, not per row.
        async for page in result.mappings().partitions(PAGE_ROWS):
            for row in page:
                text = dumps(_row(table, row) if table == "deliveries" else dict(row))
                out.write(("," if count else "") + "\n      " + text)
                count += 1
        out.write("\n    ]" if count else "]")
        counts[table] = count
    out.write("\n  }\n}\n")
    return out.getvalue().encode(), counts


async def _people(uow: UnitOfWork, scope: Scope) -> dict[str, str]:
    """Member id -> name of the people the member had mentorships with (the rows name
    them by id only)."""
    sides = (
        select(Member.id, Member.display_name)
        .join(Mentor, Mentor.user_id == Member.id)
        .join(Mentorship, Mentorship.mentor_id == Mentor.id)
        .where(Mentorship.id.in_(scope.mentorship_ids))
        .union(
            select(Member.id, Member.display_name)
            .join(Mentee, Mentee.user_id == Member.id)
            .join(Mentorship, Mentorship.mentee_id == Mentee.id)
            .where(Mentorship.id.in_(scope.mentorship_ids))
        )
    )
    return {str(i): str(name) for i, name in (await uow.session.execute(sides)).all()}


async def _private_reviews_about(uow: UnitOfWork, scope: Scope) -> int:
    return int(
        (
            await uow.session.execute(
                select(func.count(MentorReview.id)).where(
                    MentorReview.mentor_id.in_(scope.mentor_ids),
                    MentorReview.is_public.is_(False),
                    MentorReview.reviewer_id != scope.member_id,
                )
            )
        ).scalar_one()
    )


async def export_my_data(uow: UnitOfWork, actor: Actor, cmd: ExportMyData) -> Reply:
    data, counts = await export_document(uow, actor.member)
    listed = ", ".join(f"{t.replace('_', ' ')}: {n}" for t, n in counts.items() if n)
    stamp = uow.now().strftime("%Y%m%d")
    return Reply(
        message=Message(
            title="Your data",
            text=(
                "Everything Mentorbot stores about you in this community, as JSON "
                f"({listed}). Only you received this file."
            ),
            files=(File(f"mentorbot-my-data-{stamp}.json", data, "application/json"),),
        )
    )
