"""Syncing app commands with Discord only when the catalog changed.

Discord rate-limits command registration hard, and a global sync takes time to reach
every client, so the tree is never synced blindly on start-up. The JSON payload discord.py
would send is hashed; the hash of the last successful sync is kept in the database
(``discord:command-hash:<application id>:<guild id or "global">``), shared by every bot
process. A different hash, or ``force`` (``mentorbot discord-sync``), syncs. Commands
changed by hand in Discord are not noticed: run ``mentorbot discord-sync`` then.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import discord
from discord import app_commands
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.state import read_state, write_state

log = logging.getLogger(__name__)


def state_key(application_id: int, guild_id: str | None) -> str:
    return f"discord:command-hash:{application_id}:{guild_id or 'global'}"


def payload(tree: app_commands.CommandTree[Any], guild_id: str | None) -> list[dict[str, Any]]:
    """What ``tree.sync`` sends for this scope (global, or one guild)."""
    guild = discord.Object(int(guild_id)) if guild_id else None
    return [command.to_dict(tree) for command in tree.get_commands(guild=guild)]


def payload_hash(commands: list[dict[str, Any]]) -> str:
    canonical = json.dumps(commands, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def sync_if_changed(
    tree: app_commands.CommandTree[Any],
    factory: async_sessionmaker[AsyncSession],
    application_id: int,
    guild_id: str | None,
    *,
    force: bool = False,
) -> bool:
    """Sync the global commands (or a copy of them in one guild); True if it synced."""
    guild = discord.Object(int(guild_id)) if guild_id else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    digest = payload_hash(payload(tree, guild_id))
    key = state_key(application_id, guild_id)
    stored = await read_state(factory, key)
    if not force and stored is not None and stored.get("hash") == digest:
        log.info("app commands for %s unchanged; not syncing", guild_id or "all servers")
        return False
    synced = await tree.sync(guild=guild)
    await write_state(factory, key, {"hash": digest, "commands": len(synced)})
    log.info("synced %d app commands to %s", len(synced), guild_id or "all servers")
    return True
