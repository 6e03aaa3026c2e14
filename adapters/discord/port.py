"""DiscordPort: the core's platform port on Discord (called only by the delivery dispatcher).

DMs open (or reuse) the member's DM channel; posts go to a channel by id without needing
it cached; roles are looked up in the guild cache (kept current by the ``guilds``
intent) and created when missing; channel-permission changes are single REST calls by id,
so no member needs caching. Support-group channels and scheduled events live in
:mod:`adapters.discord.spaces`. Failures are sorted into retry / give up by
:func:`adapters.discord.failures.platform_call`.

Repeats are harmless. Every message carries a nonce derived from its effect's
idempotency key, sent with ``enforce_nonce``: Discord answers a second create with the
same nonce (same author, a few minutes) with the first message instead of a new one. A
role grant or removal reads the member's roles first and changes nothing already so. A
support-group channel whose creation may have happened (``attempt.uncertain``) is looked
for before another is made.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

import discord

from adapters.discord import render, spaces
from adapters.discord.failures import UNKNOWN_MEMBER, UNKNOWN_ROLE, platform_call
from core.messages import Message
from core.ports import Attempt, PermanentFailure, RetryLater, Sent, Target

log = logging.getLogger(__name__)

ROLE_CAP = 250
AUDIT_REASON = "Mentorbot"
MAX_NONCE = 25  # Discord: a nonce is an integer or a string of at most 25 characters


def message_nonce(key: str) -> str:
    """A stable Discord nonce for an idempotency key (keys can be longer than 25)."""
    return hashlib.sha256(key.encode()).hexdigest()[:MAX_NONCE]


MEMBERS_PAGE = 1000  # Discord's most per request


class DiscordPort:
    platform = "discord"
    max_file_bytes: int | None = render.MAX_FILE_BYTES
    max_files: int | None = render.MAX_FILES

    def __init__(self, client: discord.Client, *, list_role_members: bool = False) -> None:
        self.client = client
        # Listing members needs the privileged Server Members intent (see role_holders).
        self.list_role_members = list_role_members

    # ----- where --------------------------------------------------------------------

    def _connected(self) -> None:
        if self.client.user is None or self.client.is_closed():
            raise RetryLater("the Discord adapter is not connected")

    def _guild(self, target: Target) -> discord.Guild:
        self._connected()
        if not self.client.is_ready():
            raise RetryLater("the Discord gateway is not ready yet")
        guild = self.client.get_guild(int(target.platform_id))
        if guild is None:
            raise PermanentFailure(f"Mentorbot is not in the Discord server {target.platform_id}")
        if guild.unavailable:
            raise RetryLater(f"the Discord server {target.platform_id} is unavailable")
        return guild

    # ----- messages -----------------------------------------------------------------

    async def send_dm(
        self, target: Target, user_id: str, message: Message, thread: str | None, attempt: Attempt
    ) -> Sent:
        # Discord DMs have no threads: replies find their mentorship through the message
        # they answer (Discord's reply), so ``thread`` is not needed and none is returned.
        self._connected()
        guild = self.client.get_guild(int(target.platform_id))
        server = render.Server(target.platform_id, guild.name if guild else "")
        with platform_call(f"DM <@{user_id}>", None):
            channel = await self.client.create_dm(discord.Object(int(user_id)))
            # discord.py sends ``enforce_nonce`` with every nonce.
            sent = await channel.send(
                **render.render(message, server=server).send_kwargs(),
                nonce=message_nonce(attempt.key),
            )
        return {"message_id": str(sent.id), "channel_id": str(channel.id)}

    async def post(
        self, target: Target, channel_id: str, message: Message, pin: bool, attempt: Attempt
    ) -> Sent:
        self._connected()
        needs = "View Channel, Send Messages, Embed Links and Attach Files"
        with platform_call(f"post in <#{channel_id}>", f"{needs} in <#{channel_id}>"):
            channel = self.client.get_partial_messageable(
                int(channel_id), guild_id=int(target.platform_id)
            )
            sent = await channel.send(
                **render.render(message).send_kwargs(), nonce=message_nonce(attempt.key)
            )
        result: Sent = {"message_id": str(sent.id), "channel_id": channel_id}
        if pin:
            result["pinned"] = await self._pin(sent, channel_id)
        return result

    async def _pin(self, sent: discord.Message, channel_id: str) -> bool:
        """Pin a message just posted; a transient failure leaves it unpinned rather than
        failing the effect, whose retry would post it a second time."""
        try:
            with platform_call(
                f"pin a message in <#{channel_id}>", f"Pin Messages in <#{channel_id}>"
            ):
                await sent.pin(reason=AUDIT_REASON)
        except RetryLater as exc:
            log.warning("message %s posted but not pinned: %s", sent.id, exc)
            return False
        return True

    # ----- roles --------------------------------------------------------------------

    async def ensure_role(self, target: Target, name: str, known_id: str | None) -> str:
        guild = self._guild(target)
        if known_id is not None and known_id.isdigit() and guild.get_role(int(known_id)):
            return known_id
        existing = discord.utils.find(lambda r: r.name == name and not r.managed, guild.roles)
        if existing is not None:
            return str(existing.id)
        if len(guild.roles) >= ROLE_CAP:
            raise PermanentFailure(
                f"cannot create the role “{name}”: the server already has Discord's maximum "
                f"of {ROLE_CAP} roles"
            )
        with platform_call(f"create the role “{name}”", "Manage Roles"):
            role = await guild.create_role(name=name, reason=f"{AUDIT_REASON}: {name} role")
        return str(role.id)

    def _role_permission(self, guild: discord.Guild, role_id: str) -> str:
        role = guild.get_role(int(role_id))
        above = f" with its own role placed above “{role.name}”" if role else ""
        return f"Manage Roles{above}"

    async def grant_role(self, target: Target, user_id: str, role_id: str) -> None:
        guild = self._guild(target)
        try:
            with platform_call(f"give <@{user_id}> the role <@&{role_id}>", None):
                await self._change_role(guild, user_id, role_id, add=True)
        except PermanentFailure as exc:
            cause = exc.__cause__
            if isinstance(cause, discord.NotFound) and cause.code == UNKNOWN_ROLE:
                # Deleted since ensure_role saw it: the retry recreates it.
                raise RetryLater(f"the role {role_id} was deleted meanwhile") from cause
            if isinstance(cause, discord.Forbidden):
                raise PermanentFailure(
                    str(exc), missing_permission=self._role_permission(guild, role_id)
                ) from cause
            raise

    async def revoke_role(self, target: Target, user_id: str, role_id: str) -> None:
        guild = self._guild(target)
        try:
            with platform_call(f"take the role <@&{role_id}> from <@{user_id}>", None):
                await self._change_role(guild, user_id, role_id, add=False)
        except PermanentFailure as exc:
            cause = exc.__cause__
            if isinstance(cause, discord.NotFound) and cause.code in (UNKNOWN_MEMBER, UNKNOWN_ROLE):
                return  # the member left or the role is gone: nothing left to take away
            if isinstance(cause, discord.Forbidden):
                raise PermanentFailure(
                    str(exc), missing_permission=self._role_permission(guild, role_id)
                ) from cause
            raise

    async def role_holders(self, target: Target, role_id: str) -> list[str] | None:
        """Who holds the role, read over REST a page of members at a time. Listing members
        needs the privileged Server Members intent, so only with ``list_role_members``
        (the operator enabled it); otherwise None: strays are left to admins."""
        if not self.list_role_members:
            return None
        guild = self._guild(target)
        holders: list[str] = []
        after = 0
        with platform_call("list the server's members", "the Server Members intent"):
            while True:
                page = await self.client.http.get_members(guild.id, MEMBERS_PAGE, after)
                holders += [str(m["user"]["id"]) for m in page if role_id in m["roles"]]
                if len(page) < MEMBERS_PAGE:
                    return holders
                after = int(page[-1]["user"]["id"])

    async def _change_role(
        self, guild: discord.Guild, user_id: str, role_id: str, add: bool
    ) -> None:
        # By id: without the privileged members intent no member is cached, so their
        # roles are read over REST; nothing is changed that is already as wanted.
        http = self.client.http
        member = await http.get_member(guild.id, int(user_id))
        if (role_id in member["roles"]) == add:
            return
        change = http.add_role if add else http.remove_role
        await change(guild.id, int(user_id), int(role_id), reason=AUDIT_REASON)

    # ----- support-group spaces -----------------------------------------------------

    async def create_private_space(
        self, target: Target, name: str, topic: str, user_ids: tuple[str, ...], attempt: Attempt
    ) -> str:
        guild = self._guild(target)
        with platform_call(f"create the channel #{name}", "Manage Channels and Manage Roles"):
            if attempt.uncertain:
                made = await spaces.find_private_channel(guild, name, user_ids)
                if made is not None:
                    log.info("reusing #%s (%s) from an earlier attempt", made.name, made.id)
                    return str(made.id)
            channel = await spaces.create_private_channel(
                guild, target.group_category_id, name, topic, user_ids
            )
        return str(channel.id)

    async def space_headroom(self, target: Target) -> int | None:
        return spaces.GUILD_CHANNEL_CAP - len(self._guild(target).channels)

    async def set_space_member(
        self, target: Target, space_id: str, user_id: str, add: bool
    ) -> None:
        self._connected()
        action = (
            f"{'add' if add else 'remove'} <@{user_id}> {'to' if add else 'from'} <#{space_id}>"
        )
        try:
            with platform_call(action, f"Manage Roles (Manage Permissions) in <#{space_id}>"):
                await spaces.set_channel_member(self.client.http, space_id, user_id, add)
        except PermanentFailure as exc:
            if not add and isinstance(exc.__cause__, discord.NotFound):
                return  # no overwrite (or no channel): the member is already out
            raise

    async def archive_space(self, target: Target, space_id: str) -> None:
        guild = self._guild(target)
        try:
            with platform_call(f"archive <#{space_id}>", f"Manage Channels in <#{space_id}>"):
                await spaces.archive_channel(guild, space_id)
        except PermanentFailure as exc:
            if isinstance(exc.__cause__, discord.NotFound):
                return  # deleted by someone: nothing left to archive
            raise

    async def create_scheduled_event(
        self,
        target: Target,
        space_id: str | None,
        title: str,
        description: str,
        start: datetime,
        end: datetime,
    ) -> str:
        guild = self._guild(target)
        with platform_call(f"create the event “{title}”", "Create Events"):
            event = await spaces.create_event(guild, space_id, title, description, start, end)
        return str(event.id)

    async def session_event(
        self,
        target: Target,
        event_id: str | None,
        title: str,
        description: str,
        start: datetime,
        end: datetime,
        location: str,
        cancel: bool,
    ) -> str | None:
        guild = self._guild(target)
        with platform_call(f"update the event “{title}”", "Create Events"):
            return await spaces.put_event(
                guild, event_id, title, description, start, end, location, cancel
            )

    async def update_scheduled_event(
        self, target: Target, event_id: str, start: datetime, end: datetime
    ) -> None:
        guild = self._guild(target)
        try:
            with platform_call(f"move the event {event_id}", "Create Events"):
                await spaces.move_event(self.client.http, guild.id, event_id, start, end)
        except PermanentFailure as exc:
            if isinstance(exc.__cause__, discord.NotFound):
                return  # deleted by someone: nothing left to move
            raise

    async def cancel_scheduled_event(self, target: Target, event_id: str) -> None:
        guild = self._guild(target)
        try:
            with platform_call(f"cancel the event {event_id}", "Create Events"):
                await spaces.cancel_event(self.client.http, guild.id, event_id)
        except PermanentFailure as exc:
            if isinstance(exc.__cause__, discord.NotFound):
                return  # deleted already: as good as cancelled
            raise

    async def open_thread(self, target: Target, space_id: str, message_id: str, name: str) -> str:
        self._connected()
        with platform_call(
            f"open a thread in <#{space_id}>", f"Create Public Threads in <#{space_id}>"
        ):
            return await spaces.open_thread(self.client.http, space_id, message_id, name)

    async def post_in_thread(
        self, target: Target, space_id: str, thread_id: str, message: Message, attempt: Attempt
    ) -> Sent:
        self._connected()
        with platform_call(
            f"post in the thread <#{thread_id}>", f"Send Messages in Threads in <#{space_id}>"
        ):
            thread = self.client.get_partial_messageable(
                int(thread_id), guild_id=int(target.platform_id)
            )
            sent = await thread.send(
                **render.render(message).send_kwargs(), nonce=message_nonce(attempt.key)
            )
        return {"message_id": str(sent.id), "channel_id": thread_id}
