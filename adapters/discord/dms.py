"""Direct messages to the bot: passed on to the member's mentor or mentee (F6).

A Discord DM belongs to no server, and one person may have mentorships in several
servers that share the bot. Every DM the bot sends names its server (see
``adapters.discord.render``), so a DM finds its community like this, never by guessing:

1. a Discord reply to one of the bot's DMs → that DM's server (and the core routes it to
   the mentorship that DM belongs to);
2. otherwise the servers where the person has a mentorship, from the stored mentorships
   (one query, see ``Mentorbot.conversation_communities``; no DM history is read from
   Discord): exactly one → that one; several → the member is asked to reply to a message
   from the right conversation (within one server the core asks which mentorship).

Replying to a relayed message marks it read when the reply is passed on (one core call,
``incoming_dm``, does both in one transaction; a refused reply marks nothing); reacting to
one marks it read too (the core's read receipts; Discord tells bots nothing about messages
merely opened).
"""

from __future__ import annotations

import logging

import discord

from adapters.discord import render
from adapters.discord.interactions import PLATFORM
from core.apologies import apology, new_reference, refusal
from core.context import Invocation
from core.errors import UserError
from core.logcontext import log_scope
from core.messages import Message, Reply
from core.service import Mentorbot
from core.usecases.threads import Attachment

log = logging.getLogger(__name__)

NO_CONVERSATION = (
    "I pass messages on between mentors and mentees, and you have no conversation through me "
    "yet. Find a mentor with `/mentor browse` in your server."
)


def several_servers(names: list[str]) -> str:
    listed = ", ".join(f"**{n}**" for n in names)
    return (
        f"You have conversations through me in several servers ({listed}). Use Discord's "
        "*Reply* on a message from the conversation you mean, so I know where this goes."
    )


class DirectMessages:
    def __init__(self, service: Mentorbot, client: discord.Client) -> None:
        self.service = service
        self.client = client

    def _server(self, guild_id: str) -> render.Server:
        guild = self.client.get_guild(int(guild_id))
        return render.Server(guild_id, guild.name if guild else "")

    def _ours(self, message: discord.Message) -> bool:
        return self.client.user is not None and message.author.id == self.client.user.id

    async def on_message(self, message: discord.Message) -> None:
        if message.guild is not None or message.author.bot:
            return
        with log_scope(platform=PLATFORM, interaction=str(message.id)):
            await self._on_dm(message)

    async def _on_dm(self, message: discord.Message) -> None:
        reply_to = message.reference.message_id if message.reference else None
        try:
            servers = await self._servers(message, reply_to)
        except UserError as exc:  # the database stayed busy: "try again"
            await self._send(message, refusal(exc), None)
            return
        except Exception:
            ref = new_reference()
            log.exception("finding the server of DM %s failed (ref %s)", message.id, ref)
            await self._send(message, apology(ref), None)
            return
        if len(servers) != 1:
            text = several_servers([self._server(s).name for s in servers])
            await self._send(message, Message(text=text if servers else NO_CONVERSATION), None)
            return
        server = self._server(servers[0])
        inv = Invocation(PLATFORM, server.id, str(message.author.id))
        reply = await self._relay(message, inv, str(reply_to) if reply_to else None)
        if reply is not None and reply.message is not None:
            await self._send(message, reply.message, server)

    async def _relay(
        self, message: discord.Message, inv: Invocation, reply_to: str | None
    ) -> Reply | None:
        attachments = [Attachment(a.url, a.filename, a.content_type) for a in message.attachments]
        try:
            return await self.service.incoming_dm(
                inv,
                message.content,
                attachments=attachments,
                reply_to=reply_to,
                dedupe_key=f"discord:message:{message.id}",
            )
        except UserError as exc:
            return Reply(message=refusal(exc))
        except Exception:
            ref = new_reference()
            log.exception("relaying DM %s failed (ref %s)", message.id, ref)
            return Reply(message=apology(ref))

    async def _servers(self, message: discord.Message, reply_to: int | None) -> list[str]:
        """The server(s) this DM may belong to: the replied-to DM's, else the servers of
        the sender's stored mentorships."""
        if reply_to is not None:
            assert message.reference is not None
            referenced = message.reference.resolved
            if not isinstance(referenced, discord.Message):
                try:
                    referenced = await message.channel.fetch_message(reply_to)
                except discord.HTTPException:
                    log.warning("could not read replied-to DM %s", reply_to, exc_info=True)
                    referenced = None
            found = render.server_of(referenced) if referenced and self._ours(referenced) else None
            if found is not None:
                return [found]
        return await self.service.conversation_communities(PLATFORM, str(message.author.id))

    async def _send(
        self, message: discord.Message, reply: Message, server: render.Server | None
    ) -> None:
        try:
            await message.channel.send(**render.render(reply, server=server).send_kwargs())
        except discord.HTTPException:
            log.warning("could not answer DM %s", message.id, exc_info=True)

    async def on_reaction(self, event: discord.RawReactionActionEvent) -> None:
        """A reaction in a DM on one of the bot's relayed messages: it has been read."""
        if event.guild_id is not None or (
            self.client.user and event.user_id == self.client.user.id
        ):
            return
        try:
            channel = await self.client.create_dm(discord.Object(event.user_id))
            reacted = await channel.fetch_message(event.message_id)
            guild = render.server_of(reacted) if self._ours(reacted) else None
            if guild is not None:
                inv = Invocation(PLATFORM, guild, str(event.user_id))
                await self.service.mark_read(inv, str(event.message_id))
        except Exception:
            log.warning("could not record a read receipt for %s", event.message_id, exc_info=True)
