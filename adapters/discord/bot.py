"""The Discord adapter: a discord.py client serving the catalog's commands, buttons and
forms, and the platform port the delivery dispatcher uses.

``DiscordAdapter`` is what the composition root wires into ``mentorbot run``,
``mentorbot discord-sync`` and ``mentorbot discord-invite``:

* ``start()`` points discord.py at the configured REST and gateway URLs, logs in,
  connects in a background task, returns once the gateway is ready, and syncs the app
  commands only if the catalog changed since the last sync (see ``adapters.discord.sync``).
* ``sync_commands(guild, force=True)`` works without ``start()``: it only logs in.
* ``port`` is the ``DiscordPort`` for ``Dispatcher(…, {"discord": adapter.port}, …)``.

``api_base_url`` and ``gateway_url`` exist for proxies and fakes. discord.py reads both
from class attributes (``discord.http.Route.BASE`` for REST and interaction webhooks,
``DiscordWebSocket.DEFAULT_GATEWAY`` for the first connection; resumes use the gateway's
own ``resume_gateway_url``), so they apply to the whole process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands

from adapters.discord import render
from adapters.discord.commands import catalog_groups
from adapters.discord.dms import DirectMessages
from adapters.discord.interactions import PLATFORM, Router
from adapters.discord.port import DiscordPort
from adapters.discord.sync import sync_if_changed
from core.apologies import apology, new_reference
from core.context import Invocation
from core.messages import Message
from core.service import Mentorbot

log = logging.getLogger(__name__)

# discord.py waits this long with no further rate limit before raising RateLimited,
# which the port turns into a retry by the delivery queue instead of a blocked dispatcher.
MAX_RATELIMIT_WAIT_SECONDS = 30.0
READY_TIMEOUT_SECONDS = 60.0
WELCOME = Message(
    title="Thanks for adding Mentorbot",
    text=(
        "To start, someone with **Manage Server** runs `/admin setup` and picks the admin "
        "role and the channel where mentor applications arrive. `/mentor help` lists every "
        "command."
    ),
)


def intents(*, capture_group_replies: bool = False, member_events: bool = False) -> discord.Intents:
    """The minimum: no privileged intent (members, message content, presences) at all,
    unless ``capture_group_replies`` or ``member_events`` is on (see below)."""
    chosen = discord.Intents.none()
    # GUILD_CREATE / GUILD_DELETE (a new server gets its community and a welcome note) and
    # the cache of roles, channels and categories the port reads (roles by name, the
    # support-group category and how full it is, the bot's own member).
    chosen.guilds = True
    # Members DM the bot to write to their mentor or mentee (F6). The content of DMs to the
    # bot needs no privileged message-content intent.
    chosen.dm_messages = True
    # A reaction on a relayed DM marks it read (F6 read receipts).
    chosen.dm_reactions = True
    # Slash commands, buttons and modals arrive as interactions, which need no intent.
    if capture_group_replies:
        # Opt-in: replies in the threads of support-group posts are stored (F8). Reading
        # their text needs the privileged Message Content intent, enabled for the app in
        # the Developer Portal. Without it, a post's Reply button opens a form instead.
        chosen.guild_messages = True
        chosen.message_content = True
    if member_events:
        # Opt-in: a member leaving the server starts the deletion of their data after the
        # grace period, and coming back cancels it (F15). GUILD_MEMBER_REMOVE and
        # GUILD_MEMBER_ADD need the privileged Server Members intent.
        chosen.members = True
    return chosen


def point_discord_py_at(api_base_url: str, gateway_url: str) -> None:
    discord.http.Route.BASE = api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


class CommandTree(app_commands.CommandTree["MentorbotClient"]):
    """The app-command tree; a repeated delivery of a command or autocomplete is dropped."""

    def __init__(self, client: MentorbotClient, router: Router) -> None:
        super().__init__(client)
        self.router = router

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return self.router.first_delivery(interaction)


class MentorbotClient(discord.Client):
    def __init__(
        self,
        service: Mentorbot,
        router: Router,
        *,
        application_id: int | None,
        capture_group_replies: bool = False,
        member_events: bool = False,
        **options: object,
    ) -> None:
        if application_id is not None:
            options["application_id"] = application_id  # else learnt at login
        self.capture_group_replies = capture_group_replies
        if member_events:
            # Leaving and joining arrive as events; the member list itself is not needed.
            options["chunk_guilds_at_startup"] = False
        super().__init__(
            intents=intents(
                capture_group_replies=capture_group_replies, member_events=member_events
            ),
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT_SECONDS,
            **options,  # type: ignore[arg-type]
        )
        self.service = service
        self.router = router
        self.dms = DirectMessages(service, self)
        self.tree = CommandTree(self, router)
        # Set once every server seen at start has its community: "ready" means that.
        self.communities_recorded = asyncio.Event()
        for group in catalog_groups(service.catalog, router):
            self.tree.add_command(group)
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]
        self._stamp_interactions()

    def _stamp_interactions(self) -> None:
        """Tell the router when each interaction came off the gateway, before discord.py
        queues its handlers: the 3 s deadline runs from there (see ``Router.arrived_at``)."""
        parsers = self._connection.parsers
        parse = parsers["INTERACTION_CREATE"]

        def stamped(data: dict[str, object]) -> None:
            self.router.received(int(str(data["id"])))
            parse(data)

        parsers["INTERACTION_CREATE"] = stamped

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.router.route(interaction)

    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None:
            await self.dms.on_message(message)
        elif self.capture_group_replies and not isinstance(message.channel, discord.TextChannel):
            # A thread (or one discord.py has not cached, so only partly known): the core
            # keeps it only if it is a group post's thread. Top-level chatter in a text
            # channel never reaches the core.
            await self._thread_message(message)

    async def _thread_message(self, message: discord.Message) -> None:
        """A message in a thread: the core keeps it if the thread is a group post's."""
        if message.author.bot or message.guild is None:
            return
        inv = Invocation(
            PLATFORM,
            str(message.guild.id),
            str(message.author.id),
            display_name=message.author.display_name,
            community_name=message.guild.name,
        )
        try:
            await self.service.group_thread_reply(
                inv,
                str(message.channel.id),
                message.content,
                dedupe_key=f"discord:message:{message.id}",
            )
        except Exception:
            log.exception("could not store a reply in thread %s", message.channel.id)

    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        await self.dms.on_reaction(event)

    async def on_raw_member_remove(self, event: discord.RawMemberRemoveEvent) -> None:
        """A member left (or was removed from) the server: the deletion of their data
        starts, after the grace period (only with ``member_events``)."""
        try:
            await self.service.member_left(PLATFORM, str(event.guild_id), str(event.user.id))
        except Exception:
            log.exception("could not record that %s left server %s", event.user.id, event.guild_id)

    async def on_member_join(self, member: discord.Member) -> None:
        """A member joined: one who left within the grace period keeps their data."""
        try:
            await self.service.member_returned(PLATFORM, str(member.guild.id), str(member.id))
        except Exception:
            log.exception("could not record that %s joined server %s", member.id, member.guild.id)

    async def on_ready(self) -> None:
        for guild in self.guilds:
            await self._ensure_community(guild)
        self.communities_recorded.set()

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self._ensure_community(guild)

    async def _ensure_community(self, guild: discord.Guild) -> None:
        """Create the community of a server the bot is in; greet it the first time."""
        try:
            known = await self.service.community(PLATFORM, str(guild.id))
            if known is not None and known.name == guild.name:
                return
            await self.service.join_community(PLATFORM, str(guild.id), guild.name)
        except Exception:
            log.exception("could not record the community for server %s", guild.id)
            return
        if known is None:
            await self._welcome(guild)

    async def _welcome(self, guild: discord.Guild) -> None:
        """A short note where the people who added the bot will see it: the system channel,
        else the first channel the bot may post in, else the owner's DMs."""
        me = guild.me
        channels = [guild.system_channel, *sorted(guild.text_channels, key=lambda c: c.position)]
        for channel in channels:
            if channel is None or me is None:
                continue
            allowed = channel.permissions_for(me)
            if allowed.send_messages and allowed.embed_links:
                with contextlib.suppress(discord.HTTPException):
                    await channel.send(**render.render(WELCOME).send_kwargs())
                    return
        if guild.owner_id is not None:
            try:
                owner = await self.create_dm(discord.Object(guild.owner_id))
                await owner.send(**render.render(WELCOME).send_kwargs())
            except discord.HTTPException:
                log.warning("could not tell server %s how to set Mentorbot up", guild.id)

    async def _on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        # Reached only when discord.py itself fails before our callback runs (an option it
        # cannot resolve, a stale command signature); the router answers everything else.
        ref = new_reference()
        log.error("app command failed (ref %s)", ref, exc_info=error)
        embed = render.embed(apology(ref))
        assert embed is not None
        with contextlib.suppress(discord.HTTPException):
            if not interaction.response.is_done():
                await interaction.response.send_message(embed=embed, ephemeral=True)


class ShardedMentorbotClient(MentorbotClient, discord.AutoShardedClient):
    """The same client over several gateway connections (shards) of one process. With
    ``shard_ids`` it connects only those: several processes split the servers between
    them, each serving the commands and events of its own shards' servers."""


class DiscordAdapter:
    platform = PLATFORM

    def __init__(
        self,
        service: Mentorbot,
        *,
        token: str,
        application_id: str | None,
        api_base_url: str,
        gateway_url: str,
        dev_guild_id: str | None = None,
        guild_ready_timeout: float = 2.0,
        capture_group_replies: bool = False,
        list_role_members: bool = False,
        member_events: bool = False,
        shard_count: int | None = None,
        shard_ids: list[int] | None = None,
    ) -> None:
        self.service = service
        self.api_base_url = api_base_url
        self.gateway_url = gateway_url
        self.dev_guild_id = dev_guild_id
        self._token = token
        self.router = Router(service)
        sharding: dict[str, object] = {}
        client_class = MentorbotClient
        if shard_count is not None:
            client_class = ShardedMentorbotClient
            sharding = {"shard_count": shard_count, "shard_ids": shard_ids}
        self.client = client_class(
            service,
            self.router,
            application_id=int(application_id) if application_id else None,
            guild_ready_timeout=guild_ready_timeout,
            capture_group_replies=capture_group_replies,
            member_events=member_events,
            **sharding,
        )
        self.port = DiscordPort(self.client, list_role_members=list_role_members)
        self._connection: asyncio.Task[None] | None = None

    async def _login(self) -> None:
        if self.client.user is None:
            point_discord_py_at(self.api_base_url, self.gateway_url)
            await self.client.login(self._token)

    async def start(self) -> None:
        """Log in, connect in the background, wait until ready, sync commands if changed."""
        await self._login()
        self._connection = asyncio.create_task(
            self.client.connect(reconnect=True), name="discord-gateway"
        )
        ready = asyncio.create_task(self.client.wait_until_ready())
        try:
            done, _ = await asyncio.wait(
                {self._connection, ready},
                timeout=READY_TIMEOUT_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if self._connection in done:
                self._connection.result()  # the connection error, if there was one
                raise RuntimeError("the Discord gateway closed before the bot was ready")
            if ready not in done:
                raise TimeoutError(f"Discord not ready after {READY_TIMEOUT_SECONDS:.0f}s")
            await asyncio.wait_for(self.client.communities_recorded.wait(), READY_TIMEOUT_SECONDS)
            await self.sync_commands()
        except BaseException:
            ready.cancel()
            await self.stop()
            raise

    async def unready_reason(self) -> str | None:
        """Why Discord cannot be served now (for the health check), or None when ready."""
        client = self.client
        if client.is_closed():
            return "the client is closed"
        if not client.is_ready():
            return "the gateway is not ready"
        shards = getattr(client, "shards", None)  # an AutoShardedClient's, by shard id
        if isinstance(shards, dict) and shards:
            down = sorted(i for i, shard in shards.items() if shard.is_closed())
            if down:
                return "shard(s) " + ", ".join(map(str, down)) + " disconnected"
        elif client.ws is None or not client.ws.open:
            return "the gateway connection is down (reconnecting)"
        return None

    async def stop(self) -> None:
        await self.client.close()
        if self._connection is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connection
            self._connection = None

    async def sync_commands(self, guild_id: str | None = None, *, force: bool = False) -> bool:
        """Sync the app commands (to ``guild_id``, else the dev guild, else globally) if
        the catalog changed since the last sync, or always with ``force``."""
        await self._login()
        application_id = self.client.application_id
        assert application_id is not None  # known after login
        return await sync_if_changed(
            self.client.tree,
            self.service.factory,
            application_id,
            guild_id or self.dev_guild_id,
            force=force,
        )
