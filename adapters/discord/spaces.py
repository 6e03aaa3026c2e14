"""Support-group spaces on Discord: private text channels under a category, and events.

A group's channel is a text channel in the community's group category, hidden from
@everyone and visible to its members and the bot (permission overwrites). Discord allows
50 channels per category, so past that the channel goes to an overflow category named
after the first ("Support groups 2", "… 3"), created with the same overwrites when none
has room. With no group category configured, a "Mentorbot groups" category is used.

Channel creation is not idempotent on Discord. When an earlier attempt may have created the
channel (its answer was lost), :func:`find_private_channel` reads the server's channels and
recognises it by what creation set: its name, hidden from @everyone, and exactly the
requested members' overwrites.

Discord cannot archive a text channel; archiving moves it to an archive category ("Mentorbot
archive", with its own overflow past 50), makes it read-only for its members and prefixes
its name with "archived-", keeping the history readable.

A server holds at most 500 channels (categories included): a group channel that would go
past that is refused with a message saying so, which admins see in ``/admin deliveries``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

import discord
from discord.http import HTTPClient

from adapters.discord.render import clip
from core.ports import PermanentFailure

CATEGORY_CAP = 50
GUILD_CHANNEL_CAP = 500  # every channel of a server, categories included
DEFAULT_CATEGORY = "Mentorbot groups"
ARCHIVE_CATEGORY = "Mentorbot archive"
THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080  # a week of quiet before a thread hides
ARCHIVED_PREFIX = "archived-"
REASON = "Mentorbot support group"
MEMBER_OVERWRITE = discord.PermissionOverwrite(view_channel=True)
MEMBER: Literal[1] = 1  # overwrite type: a member (0 is a role)
Overwrites = dict[discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite]


def channel_name(name: str) -> str:
    """Discord's text-channel style: lower case, dashes, at most 100 characters."""
    slug = re.sub(r"[^\w-]+", "-", name.lower(), flags=re.UNICODE).strip("-")
    return slug[:100] or "group"


def _bot_overwrite() -> discord.PermissionOverwrite:
    return discord.PermissionOverwrite(view_channel=True, send_messages=True, embed_links=True)


async def category_with_room(
    guild: discord.Guild, category_id: str | None, default_name: str = DEFAULT_CATEGORY
) -> discord.CategoryChannel:
    """The group category, or its first overflow category with room (created if needed)."""
    base = guild.get_channel(int(category_id)) if category_id and category_id.isdigit() else None
    if not isinstance(base, discord.CategoryChannel):
        base = discord.utils.get(guild.categories, name=default_name)
    base_name = base.name if base is not None else default_name
    overflow = re.compile(rf"{re.escape(base_name)} (\d+)")
    family = [base] if base is not None else []
    family += sorted(
        (c for c in guild.categories if overflow.fullmatch(c.name) and c != base),
        key=lambda c: int(overflow.fullmatch(c.name).group(1)),  # type: ignore[union-attr]
    )
    for category in family:
        if len(category.channels) < CATEGORY_CAP:
            return category
    if base is None:
        overwrites: Overwrites = {
            guild.default_role: discord.PermissionOverwrite(view_channel=False),
            guild.me: _bot_overwrite(),
        }
        return await guild.create_category(default_name, overwrites=overwrites, reason=REASON)
    return await guild.create_category(
        f"{base_name} {len(family) + 1}", overwrites=base.overwrites, reason=REASON
    )


async def create_private_channel(
    guild: discord.Guild,
    category_id: str | None,
    name: str,
    topic: str,
    user_ids: tuple[str, ...],
) -> discord.TextChannel:
    if len(guild.channels) + 2 > GUILD_CHANNEL_CAP:  # the channel, and maybe a category
        raise PermanentFailure(
            f"cannot create #{channel_name(name)}: the server has {len(guild.channels)} of "
            f"Discord's {GUILD_CHANNEL_CAP} channels. Delete some (archived group channels "
            "are in the “Mentorbot archive” categories), then retry it in /admin deliveries."
        )
    category = await category_with_room(guild, category_id)
    overwrites: dict[
        discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite
    ] = {
        guild.default_role: discord.PermissionOverwrite(view_channel=False),
        guild.me: _bot_overwrite(),
    }
    for user_id in user_ids:
        overwrites[discord.Object(int(user_id))] = MEMBER_OVERWRITE  # Object → member overwrite
    extra: dict[str, Any] = {"topic": clip(topic, 1024)} if topic else {}
    return await guild.create_text_channel(
        channel_name(name), category=category, overwrites=overwrites, reason=REASON, **extra
    )


def _member_ids(guild: discord.Guild, channel: discord.TextChannel) -> set[int]:
    bot_id = guild.me.id if guild.me else None
    return {
        target.id
        for target in channel.overwrites
        if not isinstance(target, discord.Role) and target.id != bot_id
    }


async def find_private_channel(
    guild: discord.Guild, name: str, user_ids: tuple[str, ...]
) -> discord.TextChannel | None:
    """The newest channel :func:`create_private_channel` would have made, if any.

    Read over REST, not from the cache: the gateway event of a channel created moments ago
    may not have arrived.
    """
    wanted_name, wanted_members = channel_name(name), {int(u) for u in user_ids}
    found = [
        channel
        for channel in await guild.fetch_channels()
        if isinstance(channel, discord.TextChannel)
        and channel.name == wanted_name
        and channel.overwrites_for(guild.default_role).view_channel is False
        and _member_ids(guild, channel) == wanted_members
    ]
    return max(found, key=lambda c: c.id, default=None)


async def set_channel_member(http: HTTPClient, channel_id: str, user_id: str, add: bool) -> None:
    # By id: discord.py's set_permissions wants a cached Member, which needs the
    # privileged members intent.
    if add:
        allow, deny = MEMBER_OVERWRITE.pair()
        await http.edit_channel_permissions(
            int(channel_id), int(user_id), str(allow.value), str(deny.value), MEMBER, reason=REASON
        )
    else:
        await http.delete_channel_permissions(int(channel_id), int(user_id), reason=REASON)


async def archive_channel(guild: discord.Guild, channel_id: str) -> None:
    channel = guild.get_channel(int(channel_id)) or await guild.fetch_channel(int(channel_id))
    if not isinstance(channel, discord.TextChannel):
        return
    overwrites = dict(channel.overwrites)
    for target, overwrite in overwrites.items():
        if isinstance(target, discord.Role) or target.id == guild.me.id:
            continue
        read_only = discord.PermissionOverwrite.from_pair(*overwrite.pair())
        read_only.update(send_messages=False, add_reactions=False, create_public_threads=False)
        overwrites[target] = read_only
    name = channel.name
    if not name.startswith(ARCHIVED_PREFIX):
        name = (ARCHIVED_PREFIX + name)[:100]
    category = channel.category
    if category is None or not category.name.startswith(ARCHIVE_CATEGORY):
        category = await category_with_room(guild, None, ARCHIVE_CATEGORY)
    await channel.edit(
        name=name, category=category, overwrites=overwrites, reason=f"{REASON} archived"
    )


async def create_event(
    guild: discord.Guild,
    space_id: str | None,
    title: str,
    description: str,
    start: datetime,
    end: datetime,
    location: str | None = None,
) -> discord.ScheduledEvent:
    # An "external" event: Discord events can only be *in* voice or stage channels, so the
    # group's text channel is given as the location (a link that opens it).
    if location is None:
        location = f"https://discord.com/channels/{guild.id}/{space_id}" if space_id else guild.name
    return await guild.create_scheduled_event(
        name=clip(title, 100),
        description=clip(description, 1000),
        start_time=start,
        end_time=end,
        entity_type=discord.EntityType.external,
        location=clip(location, 100),
        privacy_level=discord.PrivacyLevel.guild_only,
        reason=REASON,
    )


async def put_event(
    guild: discord.Guild,
    event_id: str | None,
    title: str,
    description: str,
    start: datetime,
    end: datetime,
    location: str,
    cancel: bool,
) -> str:
    """Create, move or cancel a workshop's event (an external event at its link)."""
    if event_id is None:
        event = await create_event(guild, None, title, description, start, end, location)
        return str(event.id)
    try:
        event = await guild.fetch_scheduled_event(int(event_id))
    except discord.NotFound:
        if cancel:
            return event_id  # already gone
        created = await create_event(guild, None, title, description, start, end, location)
        return str(created.id)
    if cancel:
        if event.status is discord.EventStatus.scheduled:
            await event.cancel(reason=REASON)
        return event_id
    await event.edit(
        name=clip(title, 100),
        description=clip(description, 1000),
        start_time=start,
        end_time=end,
        location=clip(location or guild.name, 100),
        reason=REASON,
    )
    return event_id


async def open_thread(http: HTTPClient, channel_id: str, message_id: str, name: str) -> str:
    """The public thread under a message (Discord gives it the message's id); one that
    exists already is answered as if just opened."""
    try:
        thread = await http.start_thread_with_message(
            int(channel_id),
            int(message_id),
            name=clip(name, 100),
            auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            reason=REASON,
        )
    except discord.HTTPException as exc:
        if exc.code == THREAD_ALREADY_CREATED:
            return message_id
        raise
    return str(thread["id"])


THREAD_ALREADY_CREATED = 160004
EVENT_CANCELED = 3  # Guild Scheduled Event status


async def move_event(
    http: HTTPClient, guild_id: int, event_id: str, start: datetime, end: datetime
) -> None:
    await http.edit_scheduled_event(
        guild_id,
        int(event_id),
        scheduled_start_time=start.isoformat(),
        scheduled_end_time=end.isoformat(),
        reason=f"{REASON} meeting moved",
    )


async def cancel_event(http: HTTPClient, guild_id: int, event_id: str) -> None:
    await http.edit_scheduled_event(
        guild_id, int(event_id), status=EVENT_CANCELED, reason=f"{REASON} meeting cancelled"
    )
