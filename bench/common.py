"""What the benchmarks share: a seeded community's vocabulary and an emptied database."""

from __future__ import annotations

from sqlalchemy import text

from core import db
from core.models import Base
from core.service import Mentorbot

ZONES = [
    "Europe/London",
    "Europe/Madrid",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Africa/Lagos",
    "Europe/Berlin",
]
LANGS = ["en", "es", "fr", "de", "pt", "ja", "hi", "yo"]
STYLES = ["async", "scheduled", "casual"]


async def reset(url: str) -> str:
    """Empty every table; return a fresh community's id."""
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    community = await Mentorbot(db.session_factory(engine)).join_community("console", "bench")
    await engine.dispose()
    return community.id
