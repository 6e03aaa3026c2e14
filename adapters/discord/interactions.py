"""Interactions in, core calls out, replies back: the one place Discord meets the core.

Routing. Slash commands arrive through the generated app commands (``run_command``).
Button presses and modal submissions are routed here by ``custom_id`` from the client's
``on_interaction`` (``route``), for every id in the core's ``mb:`` namespace, with no
per-message state in discord.py: a button posted before a restart works after it, and
so does a form whose id carries ids (``mb:reject:<id>``), which discord.py's own modal
store (in-process, keyed by exact id) could not route. The core authorises every press,
so one generic route is right. (A ``DynamicItem`` would only cover buttons, and drops a
press silently when the button is missing from the interaction's message.)

Answering in time. Discord wants an answer within 3 s of the interaction's creation, not
of when we get round to it: under load an interaction can wait in the gateway socket and
in the event loop before its handler starts. So the clock starts at receipt, taken
conservatively as the earlier of the interaction id's snowflake time (Discord's clock)
and the moment the gateway message was parsed (ours, stamped by the client through
``received``). Each core call runs as a task; if it has not finished ``defer_after``
seconds (2 s) after receipt the interaction is deferred (a "thinking" ephemeral reply for
commands, a silent update for buttons) and the reply follows when the core is done. One
already past that point when handling starts is deferred before any work, and so is one
arriving while ``busy_after`` (16) others are being answered: behind such a queue the
core rarely answers in time, and deferring all of them at the 2 s mark at once would
itself miss the deadline (a burst of 400 did). A reply that
is a form (a modal) can only be sent undeferred, which the fast path gives. (A host clock
running seconds ahead of Discord's makes every interaction look late: all still answered,
but deferred.)

Errors. A ``UserError`` is shown only to the member, as it is (it names the field and
the rule); anything else is logged with its traceback under a short reference id, and
the member sees an apology with that id (both messages are the core's).

Duplicates. Discord may deliver one interaction twice (a resumed gateway session
replays it). Only the first delivery is answered: a second answer attempt would fail
("already acknowledged") and be logged as an error. The router remembers recent
interaction ids and drops a repeat quietly, for commands and autocomplete (through the
command tree's check) and for buttons and forms alike; the core's dedupe key still
covers a repeat this process never saw.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import discord
from discord import app_commands

from adapters.discord import render
from adapters.discord.commands import modal_inputs, option_value
from adapters.discord.drafts import Draft, FormDrafts
from core.apologies import apology, new_reference, refusal
from core.catalog import Autocomplete, Command
from core.context import Invocation
from core.errors import StaleAction, UserError
from core.logcontext import log_scope
from core.messages import Message, Reply
from core.service import Mentorbot

log = logging.getLogger(__name__)

PLATFORM = "discord"
CORE_PREFIX = "mb:"
DRAFT_PREFIX = "mbdraft:"
UNKNOWN_INTERACTION = 10062  # answered too late: Discord's 3 s window has passed
DEFER_AFTER_SECONDS = 2.0
# Interactions being answered at once beyond which a new one is deferred before any work.
BUSY_AFTER = 16
AUTOCOMPLETE_TIMEOUT_SECONDS = 2.5
AUTOCOMPLETE_MAX = 25
# Interaction ids remembered to drop a repeated delivery; a replay comes within seconds.
SEEN_INTERACTIONS_MAX = 10_000
# Receipt stamps kept for interactions not (yet) handled, e.g. ones the router ignores.
RECEIVED_MAX = 10_000
FORM_TOO_LATE = (
    "This needs a form, but Discord only lets a form open right after the click and this "
    "took too long. Please click again."
)

Deferred = Literal["update", "thinking"] | None
CoreCall = Callable[[Invocation], Awaitable[Reply | None]]
T = TypeVar("T")


class OutsideServer(UserError):
    def __init__(self) -> None:
        super().__init__("That only works inside a server, not in DMs.")


def dedupe_key(interaction: discord.Interaction) -> str:
    return f"discord:interaction:{interaction.id}"


def invocation(interaction: discord.Interaction, guild_hint: str | None = None) -> Invocation:
    """The platform's facts about who acted where. ``guild_hint``: from a DM button's id."""
    user = interaction.user
    if interaction.guild_id is not None:
        member = user if isinstance(user, discord.Member) else None
        permissions = interaction.permissions
        return Invocation(
            platform=PLATFORM,
            community_platform_id=str(interaction.guild_id),
            user_id=str(user.id),
            display_name=user.display_name,
            community_name=interaction.guild.name if interaction.guild else "",
            role_ids=frozenset(str(r.id) for r in member.roles) if member else frozenset(),
            is_platform_admin=permissions.manage_guild or permissions.administrator,
            channel_id=str(interaction.channel_id) if interaction.channel_id else None,
        )
    if guild_hint is None:
        raise OutsideServer()
    # A button in a DM names its server in its id, which the presser's client sends. The
    # message it is on comes from Discord and was written by the bot for this member about
    # one server: an id naming any other server is forged (or from a mix-up) and refused.
    message, me = interaction.message, interaction.client.user
    if message is None or me is None or message.author.id != me.id:
        raise StaleAction()
    if render.server_of(message) != guild_hint:
        raise StaleAction()
    # No member data in a DM, so no roles or admin rights; keep the member's server
    # nickname rather than overwriting it with their global name.
    return Invocation(platform=PLATFORM, community_platform_id=guild_hint, user_id=str(user.id))


class Router:
    def __init__(
        self,
        service: Mentorbot,
        drafts: FormDrafts | None = None,
        *,
        defer_after: float = DEFER_AFTER_SECONDS,
    ) -> None:
        self.service = service
        self.drafts = drafts or FormDrafts()
        self.defer_after = defer_after
        self.busy_after = BUSY_AFTER
        self._in_flight = 0
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._received: OrderedDict[int, float] = OrderedDict()

    def received(self, interaction_id: int, at: float | None = None) -> None:
        """Stamp an interaction as it comes off the gateway (wall-clock seconds)."""
        self._received[interaction_id] = time.time() if at is None else at
        if len(self._received) > RECEIVED_MAX:
            self._received.popitem(last=False)

    def arrived_at(self, interaction: discord.Interaction) -> float:
        """When the interaction arrived: the earlier of its creation and our receipt."""
        created = interaction.created_at.timestamp()
        received = self._received.pop(interaction.id, None)
        return created if received is None else min(created, received)

    def first_delivery(self, interaction: discord.Interaction) -> bool:
        """False for an interaction this router has seen (and answered) before."""
        if interaction.id in self._seen:
            log.debug("dropping a repeated delivery of interaction %s", interaction.id)
            return False
        self._seen[interaction.id] = None
        if len(self._seen) > SEEN_INTERACTIONS_MAX:
            self._seen.popitem(last=False)
        return True

    # ----- entry points ---------------------------------------------------------------

    async def run_command(
        self, interaction: discord.Interaction, command: Command, options: dict[str, object]
    ) -> None:
        """A catalog slash command (called by the generated app-command callbacks)."""
        with log_scope(platform=PLATFORM, interaction=str(interaction.id)):
            await self._run_command(interaction, command, options)

    async def _run_command(
        self, interaction: discord.Interaction, command: Command, options: dict[str, object]
    ) -> None:
        async def raw_options() -> dict[str, object]:
            given = {name: v for name, v in options.items() if v is not None}
            return {name: await option_value(interaction, v) for name, v in given.items()}

        if modal_inputs(command):

            async def open_draft() -> None:
                await self._open_draft(interaction, command, await raw_options())

            arrived = self.arrived_at(interaction)
            await self._guard_send(interaction, open_draft)
            self._answered(interaction, arrived)
            return

        async def call(inv: Invocation) -> Reply | None:
            raw = await raw_options()
            return await self.service.execute(
                inv, command.path, raw, dedupe_key=dedupe_key(interaction)
            )

        await self._answer(interaction, None, call)

    async def route(self, interaction: discord.Interaction) -> None:
        """Buttons and modal submissions in the core's namespace (from ``on_interaction``)."""
        if interaction.type not in (
            discord.InteractionType.component,
            discord.InteractionType.modal_submit,
        ) or not self.first_delivery(interaction):
            return  # commands and autocomplete come through the command tree
        with log_scope(platform=PLATFORM, interaction=str(interaction.id)):
            await self._route(interaction)

    async def _route(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id") or "")
        if interaction.type is discord.InteractionType.component:
            action, guild = render.split_guild(custom_id)
            if action.startswith(CORE_PREFIX):
                await self._answer(
                    interaction,
                    guild,
                    lambda inv: self.service.press(inv, action, dedupe_key=dedupe_key(interaction)),
                )
        elif interaction.type is discord.InteractionType.modal_submit:
            values = render.modal_values(data)
            if custom_id.startswith(DRAFT_PREFIX):
                await self._submit_draft(interaction, custom_id.removeprefix(DRAFT_PREFIX), values)
                return
            action, guild = render.split_guild(custom_id)
            if action.startswith(CORE_PREFIX):
                await self._answer(
                    interaction,
                    guild,
                    lambda inv: self.service.submit(
                        inv, action, values, dedupe_key=dedupe_key(interaction)
                    ),
                )

    async def suggest(
        self, interaction: discord.Interaction, source: Autocomplete, current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        # Free times depend on whom they are with: the `person` typed so far, if any.
        person = getattr(interaction.namespace, "person", None)
        try:
            found = await asyncio.wait_for(
                self.service.autocomplete(
                    PLATFORM,
                    str(interaction.guild_id),
                    source,
                    current,
                    user_id=str(interaction.user.id),
                    person=str(getattr(person, "id", person)) if person is not None else None,
                ),
                AUTOCOMPLETE_TIMEOUT_SECONDS,
            )
        except Exception:
            # Not what was typed: a member's words stay out of the logs.
            log.exception("autocomplete (%s) failed", source.value)
            return []
        return [
            app_commands.Choice(name=render.clip(label, 100), value=value)
            for label, value in found
            if label and 1 <= len(value) <= 100
        ][:AUTOCOMPLETE_MAX]

    # ----- forms of catalog commands ------------------------------------------------------

    async def _open_draft(
        self, interaction: discord.Interaction, command: Command, raw: dict[str, object]
    ) -> None:
        try:
            inv = invocation(interaction)
        except UserError as exc:
            await interaction.response.send_message(embed=_error(refusal(exc)), ephemeral=True)
            return
        nonce = self.drafts.put(Draft(command.path, inv.user_id, inv.community_platform_id, raw))
        assert command.form_title is not None
        await interaction.response.send_modal(
            render.modal(DRAFT_PREFIX + nonce, command.form_title, modal_inputs(command))
        )

    async def _submit_draft(
        self, interaction: discord.Interaction, nonce: str, values: dict[str, str]
    ) -> None:
        async def call(inv: Invocation) -> Reply | None:
            draft = self.drafts.take(nonce, inv.user_id, inv.community_platform_id)
            if draft is None:
                raise StaleAction(
                    "Forms are kept for 30 minutes and not across restarts of the bot; "
                    "please run the command again."
                )
            asked = {i.name for i in modal_inputs(self.service.catalog.find(draft.path))}
            options = {**draft.options, **{k: v for k, v in values.items() if k in asked}}
            return await self.service.execute(
                inv, draft.path, options, dedupe_key=dedupe_key(interaction)
            )

        await self._answer(interaction, None, call)

    # ----- calling the core, in time --------------------------------------------------

    async def _answer(
        self, interaction: discord.Interaction, guild_hint: str | None, call: CoreCall
    ) -> None:
        arrived = self.arrived_at(interaction)
        self._in_flight += 1
        try:
            reply, deferred = await self._in_time(interaction, guild_hint, call, arrived)
        finally:
            self._in_flight -= 1
        server = None
        if interaction.guild_id is None and guild_hint is not None:
            guild = interaction.client.get_guild(int(guild_hint))
            server = render.Server(guild_hint, guild.name if guild else "")
        await self._guard_send(
            interaction, lambda: self._respond(interaction, reply, deferred, server)
        )
        if deferred is None:
            self._answered(interaction, arrived)

    def _answered(self, interaction: discord.Interaction, arrived: float) -> None:
        """Report the first answer's latency, if the interaction got one (operator metrics)."""
        if interaction.response.is_done():
            self.service.observer.first_response(PLATFORM, time.time() - arrived)

    async def _in_time(
        self,
        interaction: discord.Interaction,
        guild_hint: str | None,
        call: CoreCall,
        arrived: float,
    ) -> tuple[Reply | None, Deferred]:
        """The core's reply, and whether (how) the interaction was deferred meanwhile."""
        left = arrived + self.defer_after - time.time()
        deferred: Deferred = None
        late = left <= 0 or self._in_flight > self.busy_after
        if late:
            deferred = await self._guard_send(interaction, lambda: self._defer(interaction))
            self._answered(interaction, arrived)
        work = asyncio.ensure_future(self._outcome(interaction, guild_hint, call))
        if not late:
            done, _ = await asyncio.wait({work}, timeout=left)
            if not done:
                deferred = await self._guard_send(interaction, lambda: self._defer(interaction))
                self._answered(interaction, arrived)
        return await work, deferred

    async def _outcome(
        self, interaction: discord.Interaction, guild_hint: str | None, call: CoreCall
    ) -> Reply | None:
        try:
            return await call(invocation(interaction, guild_hint))
        except UserError as exc:
            return Reply(message=refusal(exc))
        except Exception:
            ref = new_reference()
            log.exception("interaction %s failed (ref %s)", interaction.id, ref)
            return Reply(message=apology(ref))

    @staticmethod
    async def _defer(interaction: discord.Interaction) -> Deferred:
        if interaction.type is discord.InteractionType.component or (
            interaction.type is discord.InteractionType.modal_submit
            and interaction.message is not None
        ):
            await interaction.response.defer()
            return "update"
        await interaction.response.defer(ephemeral=True, thinking=True)
        return "thinking"

    # ----- replying -------------------------------------------------------------------

    async def _respond(
        self,
        interaction: discord.Interaction,
        reply: Reply | None,
        deferred: Deferred,
        server: render.Server | None,
    ) -> None:
        if reply is None:
            return  # a redelivered interaction; the first delivery answered it
        response = interaction.response
        has_origin = interaction.message is not None and interaction.type in (
            discord.InteractionType.component,
            discord.InteractionType.modal_submit,
        )
        dm_guild = server.id if server is not None else None
        if reply.form is not None:
            if deferred is None and interaction.type is not discord.InteractionType.modal_submit:
                await response.send_modal(render.form_modal(reply.form, guild_id=dm_guild))
                return
            reply = Reply(message=Message(text=FORM_TOO_LATE, tone="warning"))
        if reply.update_origin is not None and has_origin:
            edit = render.render(reply.update_origin, server=server).edit_kwargs()
            if deferred is None:
                await response.edit_message(**edit)
            else:
                await interaction.edit_original_response(**edit)
            if reply.message is not None:
                await interaction.followup.send(
                    **render.render(reply.message, server=server).send_kwargs(),
                    ephemeral=reply.private,
                )
            return
        message = reply.message or reply.update_origin
        if message is None:
            await self._acknowledge(interaction, deferred, has_origin)
            return
        kwargs = render.render(message, server=server).send_kwargs()
        if deferred is None:
            await response.send_message(**kwargs, ephemeral=reply.private)
            return
        if deferred == "thinking" and not reply.private:
            # The "thinking" placeholder is ephemeral; a public reply replaces it.
            await interaction.delete_original_response()
        await interaction.followup.send(**kwargs, ephemeral=reply.private)

    @staticmethod
    async def _acknowledge(
        interaction: discord.Interaction, deferred: Deferred, has_origin: bool
    ) -> None:
        """Close an interaction whose reply says nothing (the core had nothing to add)."""
        if deferred == "thinking":
            await interaction.edit_original_response(content="Done.")
        elif deferred is None and has_origin:
            await interaction.response.defer()
        elif deferred is None:
            await interaction.response.send_message("Done.", ephemeral=True)

    async def _guard_send(
        self, interaction: discord.Interaction, send: Callable[[], Awaitable[T]]
    ) -> T | None:
        """Talk to Discord; on failure log with a reference and try to say sorry once."""
        try:
            return await send()
        except Exception as exc:
            if isinstance(exc, discord.NotFound) and exc.code == UNKNOWN_INTERACTION:
                log.warning("interaction %s expired before it was answered", interaction.id)
                return None
            ref = new_reference()
            log.exception("answering interaction %s failed (ref %s)", interaction.id, ref)
        sorry = _error(apology(ref))
        try:
            if interaction.response.is_done():
                await interaction.followup.send(embed=sorry, ephemeral=True)
            else:
                await interaction.response.send_message(embed=sorry, ephemeral=True)
        except Exception:
            log.warning("could not apologise for interaction %s", interaction.id, exc_info=True)
        return None


def _error(message: Message) -> discord.Embed:
    embed = render.embed(message)
    assert embed is not None  # the message has text
    return embed
