"""Bolt listeners: a Slack request in, one core call, the answer out. Thin on purpose.

Acknowledge first. The app runs with ``process_before_response=False``: Bolt starts each
listener as a task and answers Slack the moment ``ack()`` is called, so every listener
calls it before anything slow (Web API calls, the database) and Slack's 3-second deadline
holds. Two answers must travel *in* the acknowledgement and are computed before it: a
modal submission's outcome (``response_action: errors`` puts a core ``InvalidValue`` on
its field) and select-menu suggestions.

A modal submission's deadline runs from the request's receipt (stamped by the app as the
request comes in, see ``RECEIVED_AT``), not from when its listener starts: behind a long
queue the listener may start late. A command form's options are checked against the
catalog first, without the database, so a field error is in the acknowledgement at once.
The core call then runs as a task; when it is done within ``ack_after`` seconds (2 s) of
receipt its outcome travels in the acknowledgement as before. Otherwise the form is
acknowledged (closed) at that point and the outcome follows privately, a refusal or an
apology included, so a write that fails after the acknowledgement is still reported.
While more than ``busy_after`` (16) core calls are under way, a submission is
acknowledged as soon as a command form's fields are checked (a core form's at once)
rather than at the 2 s mark: behind that
queue the core rarely answers in time, and a burst of acknowledgements all due at once
would itself run late.

No second effects. Each core call carries a dedupe key that a redelivery repeats and a new
action never does: ``event_id`` for events (Slack's HTTP retries, Socket Mode
redeliveries), ``trigger_id`` for commands and clicks, the view id for a submission.
A double-click is two real interactions: they are serialised per button in this process,
so the second meets the core's state check ("already approved") and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp

from adapters.slack.blocks import Renderer, plain, truncate
from adapters.slack.commands import (
    COMMAND_FORM_PREFIX,
    SUGGEST_PREFIX,
    SlashCommands,
    submitted_values,
)
from adapters.slack.home import AppHome
from adapters.slack.identity import PLATFORM, Directory
from adapters.slack.replies import Origin, Replies, dedupe_key
from adapters.slack.workspaces import Workspaces
from core.apologies import apology, new_reference, refusal
from core.catalog import Autocomplete, Command
from core.context import Invocation
from core.errors import InvalidValue, UserError
from core.messages import Message, Reply
from core.observe import UNKNOWN
from core.service import Mentorbot

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[Any]]
Body = Mapping[str, Any]
MAX_FIELD_ERROR = 150
ACK_AFTER_SECONDS = 2.0
# Core calls under way beyond which a submission is acknowledged once its fields are checked.
BUSY_AFTER = 16
# Core calls run at once; the rest wait their turn here rather than for a database
# connection (a burst's calls, started together, would otherwise queue at the pool and
# the last ones give up after its timeout, telling the member the bot is busy).
CORE_CALLS = 16
# Bolt context key: when the request reached this process (wall-clock seconds).
RECEIVED_AT = "mentorbot_received_at"
# Slack's deadline for an acknowledgement (seconds).
ACK_DEADLINE = 3.0
# Requests closer together than this are a burst, whose core calls wait for its
# acknowledgements (see AcksFirst); the longest a core call waits for them (a steady
# flood of requests must not starve the answers).
ACKS_FIRST_QUIET = 0.02
ACKS_FIRST_MAX_WAIT = 0.5
FORM_TOO_LATE = (
    "This needs another form, but Slack only lets a form open right away and this took "
    "too long. Please try again."
)


class AcksFirst:
    """Requests received and not yet acknowledged; in a burst, core calls wait for them.

    Acknowledging a request is a few steps on the event loop (its listener's ``ack()``,
    Bolt noticing it, the response sent), and the loop runs ready steps in turn: in a
    burst of hundreds, each of those steps waited behind the database and rendering steps
    of core calls already acknowledged, and the last acknowledgements went out several
    times later than a bare Bolt app's. So when requests come close together (a second
    one within ``quiet`` seconds of the one before), core calls wait until every request
    received has been answered and none came for ``quiet`` seconds (at most ``max_wait``).
    A request on its own is answered at once. The app reports each request as it comes
    in and once its acknowledgement is sent (``received`` / ``acknowledged``, keyed by
    Socket Mode envelope or HTTP request); one never acknowledged stops counting after
    Slack's deadline.
    """

    def __init__(self, quiet: float = ACKS_FIRST_QUIET, max_wait: float = ACKS_FIRST_MAX_WAIT):
        self.quiet = quiet
        self.max_wait = max_wait
        self._unacked: dict[object, float] = {}  # request -> loop time it came in
        self._last = -1e9  # loop time of the newest request
        self._open = asyncio.Event()
        self._open.set()
        self._check: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> int:
        """Requests received and not yet acknowledged."""
        return len(self._unacked)

    def received(self, key: object) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last < self.quiet:
            self._open.clear()  # a burst: acknowledgements first
        self._last = now
        self._unacked[key] = now
        self._reopen()  # while closed, a check is always due (e.g. Bolt never answers)

    def acknowledged(self, key: object) -> None:
        self._unacked.pop(key, None)
        self._reopen()

    def _reopen(self) -> None:
        if self._open.is_set() or self._check is not None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._unacked:
            # Slack gives up on a request after 3 s: one never acknowledged stops counting.
            self._unacked = {k: t for k, t in self._unacked.items() if now - t < ACK_DEADLINE}
        left = self._last + self.quiet - now
        if not self._unacked and left <= 0:
            self._open.set()
            return

        def check() -> None:
            self._check = None
            self._reopen()

        self._check = loop.call_later(max(left, self.quiet), check)

    async def wait(self) -> None:
        if self._open.is_set():
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._open.wait(), self.max_wait)


class Listeners:
    def __init__(
        self,
        service: Mentorbot,
        workspaces: Workspaces,
        render: Renderer,
        commands: SlashCommands,
        directory: Directory,
        home: AppHome,
    ) -> None:
        self.service = service
        self.workspaces = workspaces
        self.render = render
        self.commands = commands
        self.directory = directory
        self.home = home
        self.replies = Replies(workspaces, render, home)
        self.ack_after = ACK_AFTER_SECONDS
        self.busy_after = BUSY_AFTER
        self._in_flight = 0
        self.acks_first = AcksFirst()
        self._core_calls = asyncio.Semaphore(CORE_CALLS)
        self._button_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def register(self, app: AsyncApp) -> None:
        app.command(self.commands.command)(self.on_command)
        app.action(re.compile(r"^mb:"))(self.on_button)
        app.view(re.compile("^" + re.escape(COMMAND_FORM_PREFIX)))(self.on_command_form)
        app.view(re.compile(r"^mb:"))(self.on_core_form)
        app.block_suggestion(re.compile("^" + re.escape(SUGGEST_PREFIX)))(self.on_suggestion)
        app.event("app_home_opened")(self.on_home_opened)
        app.event("user_change")(self.on_user_change)
        app.event("team_join")(self.on_team_join)
        app.event("team_member_left")(self.on_member_left)
        app.event("subteam_members_changed")(self.on_group_change)
        app.event("subteam_updated")(self.on_group_change)
        app.error(self.on_error)

    # ----- slash command --------------------------------------------------------------------

    async def on_command(self, ack: Ack, body: Body) -> None:
        await ack()
        origin = Origin(
            team_id=body["team_id"],
            user_id=body["user_id"],
            channel_id=body.get("channel_id"),
            response_url=body.get("response_url"),
            trigger_id=body.get("trigger_id"),
        )

        async def run() -> Reply | None:
            name = UNKNOWN
            try:
                parsed = self.commands.parse(body.get("text") or "")
                name = parsed.command.path
                options = await self.directory.check_ids(
                    parsed.command, parsed.options, origin.team_id
                )
            except UserError:
                # Refused before the core saw it (unknown command, bad option): count it
                # as the core counts its own refusals.
                self.service.observer.interaction_finished(
                    PLATFORM, "command", name, "user_error", 0.0
                )
                raise
            if parsed.opens_form:
                await self._open_command_form(origin, parsed.command)
                return None
            invocation = await self._invocation(origin)
            return await self.service.execute(
                invocation,
                parsed.command.path,
                options,
                dedupe_key=dedupe_key(origin.team_id, "command", origin.trigger_id),
            )

        await self._answer(origin, run)

    async def _open_command_form(self, origin: Origin, command: Command) -> None:
        workspace = await self.workspaces.get(origin.team_id)
        community = await self.service.join_community(PLATFORM, origin.team_id, workspace.name)
        profile = await self.directory.profile(origin.team_id, origin.user_id)
        view = self.commands.form_modal(
            command,
            origin.metadata(),
            choices={
                Autocomplete.EXPERTISE: community.expertise_options,
                Autocomplete.GOALS: community.goal_options,
            },
            timezone=profile.timezone,
        )
        await workspace.client.views_open(trigger_id=origin.trigger_id, view=view)

    # ----- buttons ----------------------------------------------------------------------------

    async def on_button(self, ack: Ack, body: Body) -> None:
        await ack()
        custom_id = str(body["actions"][0]["action_id"])
        origin = interaction_origin(body)
        async with self._one_at_a_time(origin.team_id, custom_id):

            async def run() -> Reply | None:
                invocation = await self._invocation(origin)
                return await self.service.press(
                    invocation,
                    custom_id,
                    dedupe_key=dedupe_key(origin.team_id, "action", origin.trigger_id),
                )

            await self._answer(origin, run)

    @asynccontextmanager
    async def _one_at_a_time(self, team_id: str, custom_id: str) -> AsyncIterator[None]:
        key = (team_id, custom_id)
        lock = self._button_locks.get(key)
        if lock is None:
            lock = self._button_locks[key] = asyncio.Lock()
        async with lock:
            yield

    # ----- modal submissions ---------------------------------------------------------------

    async def on_command_form(self, ack: Ack, body: Body, view: Body, context: Body) -> None:
        command = self.commands.form_command(view["callback_id"])
        values = submitted_values(view["state"]["values"])

        checked: dict[str, object] = {}

        async def check(community: str) -> None:
            checked.update(await self.directory.check_ids(command, values, community))
            # Field errors without the database (which may be queued behind the writer):
            # the core checks them again in its unit of work.
            self.service.catalog.build(command, checked, community=community)

        async def run(invocation: Invocation, key: str | None) -> Reply | None:
            return await self.service.execute(invocation, command.path, checked, dedupe_key=key)

        await self._submit(ack, body, view, context, run, check)

    async def on_core_form(self, ack: Ack, body: Body, view: Body, context: Body) -> None:
        values = {
            k: ",".join(v) if isinstance(v, list) else str(v)
            for k, v in submitted_values(view["state"]["values"]).items()
        }

        async def run(invocation: Invocation, key: str | None) -> Reply | None:
            return await self.service.submit(
                invocation, view["callback_id"], values, dedupe_key=key
            )

        await self._submit(ack, body, view, context, run)

    async def _submit(
        self,
        ack: Ack,
        body: Body,
        view: Body,
        context: Body,
        run: Callable[[Invocation, str | None], Awaitable[Reply | None]],
        check: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        origin = Origin.from_metadata(
            body["team"]["id"], body["user"]["id"], view.get("private_metadata"), None
        )
        fields = {block.get("block_id") for block in view.get("blocks") or []}

        checked = asyncio.Event()
        # With other requests still to acknowledge (this one is counted too) or many core
        # calls under way, the acknowledgement goes as soon as the fields are checked and
        # the core call then waits its turn (see AcksFirst).
        self._in_flight += 1
        busy = self._in_flight > self.busy_after or self.acks_first.pending > 1

        async def outcome() -> Reply | None:
            if check is not None:
                await check(origin.team_id)  # needs no database: the team is the community
            checked.set()
            if busy:
                await self.acks_first.wait()
            async with self._core_calls:
                invocation = await self._invocation(origin)
                return await run(invocation, dedupe_key(origin.team_id, "view", view.get("id")))

        try:
            work = asyncio.ensure_future(outcome())
            left = max(received_at(context) + self.ack_after - time.time(), 0.0)
            waiting = asyncio.ensure_future(checked.wait())
            ready = {work, waiting} if busy else {work}
            await asyncio.wait(ready, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if not work.done():
                await ack()  # closes the form in time; the outcome follows privately
                await self._late_outcome(origin, work)
                return
        finally:
            self._in_flight -= 1
        try:
            reply = work.result()
        except InvalidValue as exc:
            if exc.field in fields:
                error = truncate(exc.rule[:1].upper() + exc.rule[1:] + ".", MAX_FIELD_ERROR)
                await ack(response_action="errors", errors={exc.field: error})
            else:
                await ack(response_action="push", view=self._notice(refusal(exc)))
            return
        except UserError as exc:
            # Pushed over the form, so closing it returns to the member's input.
            await ack(response_action="push", view=self._notice(refusal(exc)))
            return
        except Exception:
            ref = new_reference()
            log.exception("Slack modal %s failed (ref %s)", view.get("callback_id"), ref)
            await ack(response_action="push", view=self._notice(apology(ref)))
            return
        if reply is not None and reply.form is not None:
            await ack(
                response_action="push",
                view=self.render.form_modal(reply.form, origin.metadata()),
            )
            reply = replace(reply, form=None)
        elif reply is not None and reply.message is not None and origin.home:
            await ack(response_action="update", view=self.render.notice_modal(reply.message))
            reply = replace(reply, message=None)
        else:
            await ack()
        await self._show(origin, reply)

    async def _late_outcome(self, origin: Origin, work: Awaitable[Reply | None]) -> None:
        """A submission's outcome after its acknowledgement: only the member sees it."""
        try:
            reply = await work
        except UserError as exc:
            reply = Reply(message=refusal(exc))
        except Exception as exc:
            await self._apologise(origin, exc)
            return
        if reply is not None and reply.form is not None:
            # A follow-up form opens only in the acknowledgement, which has gone.
            notice = Message(text=FORM_TOO_LATE, tone="warning")
            reply = replace(reply, form=None, message=reply.message or notice)
        await self._show(origin, reply)

    def _notice(self, message: Message) -> dict[str, Any]:
        view = self.render.notice_modal(message, "Not saved")
        view["close"] = plain("Back to the form")
        return view

    # ----- suggestions, App Home, errors ------------------------------------------------------

    async def on_suggestion(self, ack: Ack, body: Body) -> None:
        try:
            source = self.commands.suggest_source(str(body["action_id"]))
            found = await self.service.autocomplete(
                PLATFORM, body["team"]["id"], source, str(body.get("value") or "")
            )
        except Exception:
            log.exception("suggestions for %s failed", body.get("action_id"))
            found = []
        await ack(options=[{"text": plain(truncate(label, 75)), "value": v} for label, v in found])

    async def on_home_opened(self, body: Body, event: Body) -> None:
        if event.get("tab") != "home":
            return
        await self.acks_first.wait()
        team_id = str(body.get("team_id") or "")
        key = dedupe_key(team_id, "event", body.get("event_id"))
        if key is not None and not await self.service.first_time(key):
            log.info("ignoring a redelivered app_home_opened (%s)", key)
            return
        try:
            await self.home.publish(team_id, str(event["user"]))
        except Exception:
            log.exception("publishing App Home for %s failed", event.get("user"))

    async def on_user_change(self, event: Body, body: Body) -> None:
        """A member's profile or role changed (an admin demoted, say): forget what we knew.

        A deactivated member (``deleted: true``) has left the workspace: the deletion of
        their data starts, after the grace period; reactivated within it, it is cancelled.
        """
        user = event.get("user") or {}
        if not user.get("id"):
            return
        team = str(body.get("team_id") or user.get("team_id") or "")
        self.directory.forget_user(team, str(user["id"]))
        if "deleted" in user:
            await self._membership(team, str(user["id"]), left=bool(user["deleted"]))

    async def on_team_join(self, event: Body, body: Body) -> None:
        """Someone joined the workspace: one who left within the grace period is back."""
        user = event.get("user") or {}
        user_id = user.get("id") if isinstance(user, Mapping) else user
        if user_id:
            team = str(body.get("team_id") or "")
            await self._membership(team, str(user_id), left=False)

    async def on_member_left(self, event: Body, body: Body) -> None:
        """A member left the workspace (Slack's ``team_member_left``)."""
        user = event.get("user") or {}
        user_id = user.get("id") if isinstance(user, Mapping) else user
        if user_id:
            team = str(body.get("team_id") or event.get("team") or "")
            await self._membership(team, str(user_id), left=True)

    async def _membership(self, team_id: str, user_id: str, *, left: bool) -> None:
        try:
            if left:
                await self.service.member_left(PLATFORM, team_id, user_id)
            else:
                await self.service.member_returned(PLATFORM, team_id, user_id)
        except Exception:
            log.exception("could not record that %s %s", user_id, "left" if left else "joined")

    async def on_group_change(self, body: Body, event: Body) -> None:
        """A user group changed (members added or removed): forget its cached members."""
        group = event.get("subteam_id") or (event.get("subteam") or {}).get("id")
        if group:
            self.directory.forget_group(str(body.get("team_id") or ""), str(group))

    async def on_error(self, error: Exception, body: Body) -> None:
        log.error("unhandled error in a Slack listener (%s)", body.get("type"), exc_info=error)

    # ----- shared -------------------------------------------------------------------------

    async def _invocation(self, origin: Origin) -> Invocation:
        return await self.directory.invocation(origin.team_id, origin.user_id, origin.channel_id)

    async def _answer(self, origin: Origin, call: Callable[[], Awaitable[Reply | None]]) -> None:
        """Run a core call and show its reply; a user error privately, a bug as an apology."""
        self._in_flight += 1
        try:
            await self.acks_first.wait()
            async with self._core_calls:
                reply = await call()
        except UserError as exc:
            reply = Reply(message=refusal(exc))
        except Exception as exc:
            await self._apologise(origin, exc)
            return
        finally:
            self._in_flight -= 1
        await self._show(origin, reply)

    async def _show(self, origin: Origin, reply: Reply | None) -> None:
        try:
            await self.replies.show(origin, reply)
        except Exception as exc:
            await self._apologise(origin, exc)

    async def _apologise(self, origin: Origin, error: Exception) -> None:
        """Log the failure and its traceback with a reference; show the member only that."""
        ref = new_reference()
        log.error("Slack interaction by %s failed (ref %s)", origin.user_id, ref, exc_info=error)
        try:
            await self.replies.say(origin, apology(ref))
        except Exception:
            log.exception("could not even apologise (ref %s)", ref)


def received_at(context: Body | None) -> float:
    """When the request reached the app; now, if nothing stamped it."""
    at = context.get(RECEIVED_AT) if context is not None else None
    return float(at) if isinstance(at, int | float) else time.time()


def interaction_origin(body: Body) -> Origin:
    """Where a block action happened: a message (with its response_url) or App Home."""
    container = body.get("container") or {}
    view = body.get("view") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    return Origin(
        team_id=str((body.get("team") or {}).get("id") or body.get("team_id") or ""),
        user_id=str(body["user"]["id"]),
        channel_id=channel,
        response_url=body.get("response_url"),
        trigger_id=body.get("trigger_id"),
        message_ts=container.get("message_ts"),
        home=container.get("type") == "view" and view.get("type") == "home",
        ephemeral=bool(container.get("is_ephemeral")),
    )
