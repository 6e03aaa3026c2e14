"""The console adapter: act as any member by typing lines; see what everyone would see.

Lines:
  as @name [--admin]      act as that member (created on first use); --admin gives the
                          member the community's admin rights for the rest of the session
  /group sub name:value   a catalog command, typed as on Discord (lists comma-separated)
  click LABEL             press a button on the latest message you saw that has it; a
                          unique part of the label will do ("click dave" → "To dave")
  submit name:value ...   submit the form the bot last opened for you
  dm TEXT                 send the bot a DM (passed on to your mentor or mentee)
  reply TEXT              reply to the latest DM you received (keeps its mentorship)
  in #room TEXT           say something in a group's room (chatter: never stored)
  thread TEXT             reply in the thread of the latest group post in your rooms
  advance 2h30m           move the clock and run what falls due (demo/test clock only)
  help [COMMAND]          the command list, or one command's options (no `as` needed);
                          # starts a comment

The same object is the test bot: ``await bot.say(line)`` returns what the bot printed.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from sqlalchemy import select

from adapters.console.port import ConsolePort, Shown
from adapters.console.render import message_lines
from adapters.console.syntax import ParseError, duration, find_button, member_name, split_command
from core.apologies import apology, new_reference, refusal
from core.clock import FakeClock
from core.context import Invocation
from core.delivery import Dispatcher
from core.errors import UserError
from core.files import fit_message
from core.logcontext import log_scope
from core.messages import Button, Form, Message, Reply
from core.models import Community, Member
from core.service import Mentorbot
from core.usecases.help import help_message

log = logging.getLogger(__name__)

PLATFORM = "console"
COMMUNITY_ID = "console"
_ZONES_CHUNK = 500  # member ids per IN (...) when reading zones


@dataclass(frozen=True)
class Seen:
    """One block of the transcript and whom it was for, as printed: a member's (a DM, a
    private reply, a form, an edit of one of those) or a channel's (a post, a thread
    reply, an edit of a post). ``mentorbot demo`` checks its expectations against these."""

    header: str
    where: str  # "dm", "private", "reply", "channel", "form", or "edited" (an earlier one)
    audience: str | None  # the member it was for; None when anyone could see it
    channel: str | None  # the channel (or "room/thread-N") it was posted in
    lines: tuple[str, ...]


@dataclass
class _PendingForm:
    form: Form
    origin: Shown | None


@dataclass
class ConsoleBot:
    service: Mentorbot
    make_dispatcher: Callable[[ConsolePort], Dispatcher]
    sink: Callable[[str], None] | None = None
    # Interactive use: the person just typed the line, so don't print it back.
    echo_input: bool = True
    community_name: str = "Console community"
    lines: list[str] = field(default_factory=list)
    shown: list[Shown] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    parse_errors: int = 0
    # Why the latest line could not be parsed (a script stops there and says so).
    last_parse_error: str | None = None
    # Where files sent to members (calendar files, exports) are saved, so they can be
    # opened; None lists them without saving.
    files_dir: Path | None = None

    def __post_init__(self) -> None:
        self.port = ConsolePort(emit=self._on_shown, emit_line=self._out, before_dm=self._before_dm)
        self.dispatcher = self.make_dispatcher(self.port)
        self.current: str | None = None
        self.admins: set[str] = set()
        self._forms: dict[str, _PendingForm] = {}
        # Members shown a message so far -> their zone (None: the community's default).
        self._zones: dict[str, str | None] = {}
        self._default_zone = "UTC"
        self._saved = 0

    # ----- output ---------------------------------------------------------------------

    def _out(self, line: str, *, echo: bool = True) -> None:
        self.lines.append(line)
        if self.sink is not None and echo:
            self.sink(line)

    def _show(self, header: str, message: Message, shown: Shown, *, edited: bool = False) -> None:
        reader = shown.audience
        zone = self._zones.get(reader or "") or self._default_zone
        body = message_lines(message, zone, self.service.clock.now(), self._save(message))
        lines = ["    " + part for line in body for part in line.split("\n")]
        where = "edited" if edited else shown.where
        self._block(Seen(header, where, reader, shown.channel, tuple(lines)))

    def _block(self, seen: Seen) -> None:
        self.seen.append(seen)
        self._out(seen.header)
        for line in seen.lines:
            self._out(line)

    def _save(self, message: Message) -> list[str]:
        if self.files_dir is None or not message.files:
            return []
        self.files_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for file in message.files:
            self._saved += 1
            path = self.files_dir / f"{self._saved:04d}-{Path(file.name).name}"
            path.write_bytes(file.data)
            paths.append(str(path))
        return paths

    def _on_shown(self, shown: Shown) -> None:
        # Files over the platform's limits travel compressed or split (core.files).
        shown.message = fit_message(shown.message, self.port.max_file_bytes, self.port.max_files)
        self.shown.append(shown)
        if shown.where == "dm":
            header = f"[DM → @{shown.audience}]"
        elif shown.where == "channel":
            header = f"[#{shown.channel}]"
        elif shown.where == "private":
            # Before `as`, only `help` answers, to whoever is at the keyboard.
            header = f"[private → @{shown.audience}]" if shown.audience else "[private]"
        else:
            header = f"[reply in #{shown.channel or 'console'}]"
        self._show(header, shown.message, shown)

    def _reply(self, reply: Reply | None, origin: Shown | None) -> None:
        user = self.current or ""
        if reply is None:
            return
        if reply.update_origin is not None and origin is not None:
            origin.message = reply.update_origin
            where = f"#{origin.channel}" if origin.channel else f"DM of @{origin.audience}"
            self._show(f"[edited message in {where}]", reply.update_origin, origin, edited=True)
        if reply.form is not None:
            self._forms[user] = _PendingForm(reply.form, origin)
            lines = []
            for f in reply.form.fields:
                limits = ""
                if f.min_length or f.max_length:
                    limits = f", {f.min_length or 0}–{f.max_length or '∞'} characters"
                need = "required" if f.required else "optional"
                lines.append(f"    {f.name}: {f.label} ({need}{limits})")
            lines.append('    (answer with: submit name:"value" …)')
            header = f"[form → @{user}] {reply.form.title}"
            self._block(Seen(header, "form", user, None, tuple(lines)))
        if reply.message is not None:
            shown = Shown(
                len(self.shown) + 1,
                "private" if reply.private else "reply",
                user if reply.private and user else None,
                None,
                reply.message,
            )
            self._on_shown(shown)

    # ----- input ----------------------------------------------------------------------

    def _invocation(self) -> Invocation:
        if self.current is None:
            raise ParseError("say who you are first, e.g. `as @alice`")
        return Invocation(
            platform=PLATFORM,
            community_platform_id=COMMUNITY_ID,
            community_name=self.community_name,
            user_id=self.current,
            display_name=self.current,
            role_ids=frozenset(self.port.roles.get(self.current, set())),
            is_platform_admin=self.current in self.admins,
        )

    async def say(self, line: str) -> list[str]:
        """Handle one line; return the transcript lines it produced."""
        start = len(self.lines)
        await self.handle(line)
        return self.lines[start:]

    async def handle(self, line: str) -> bool:
        """Handle one line; False when it is not console syntax (nothing was run)."""
        self.last_parse_error = None
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return True
        prompt = f"@{self.current}> " if self.current else "> "
        self._out(prompt + stripped, echo=self.echo_input)
        try:
            await self._dispatch_line(stripped)
        except ParseError as exc:
            self.parse_errors += 1
            self.last_parse_error = str(exc)
            self._out(f"! could not parse: {exc}")
            return False
        await self.deliver()
        return True

    async def deliver(self) -> None:
        """Deliver every effect that is due, as the dispatcher would in production.

        A failure here (the database went away) is reported and the console goes on:
        whatever was queued stays queued for the next line, as on the other platforms.
        """
        try:
            await self._refresh_zones()
            await self.dispatcher.drain()
        except Exception as exc:
            self._out(f"✗ Delivering failed: {_short(exc)} (ref {_log_failure('delivery', exc)})")

    async def _dispatch_line(self, line: str) -> None:
        try:
            tokens = shlex.split(line)
        except ValueError as exc:
            raise ParseError(str(exc)) from None
        head = tokens[0]
        if head == "as":
            self._as(tokens[1:])
        elif head.startswith("/"):

            async def command() -> Reply | None:
                path, options = split_command(tokens)  # a repeated option: a UserError
                return await self.service.execute(self._invocation(), path, options)

            await self._guard(command, None)
        elif head == "click":
            await self._click(" ".join(tokens[1:]))
        elif head == "submit":
            await self._submit(tokens[1:])
        elif head == "help":
            await self._help(" ".join(tokens[1:]).strip() or None)
        elif head in ("dm", "reply"):
            await self._dm(head, line.split(None, 1)[1] if len(tokens) > 1 else "")
        elif head == "in":
            self._chatter(tokens[1:])
        elif head == "thread":
            await self._thread_reply(line.split(None, 1)[1] if len(tokens) > 1 else "")
        elif head == "advance":
            self._advance(tokens[1:])
            await self._guard_housekeeping()
        else:
            raise ParseError(f"`{head}` is not a console line (try `help`)")

    def _as(self, args: list[str]) -> None:
        # A refused `as` leaves nobody acting, so later lines can't run as the wrong person.
        self.current = None
        if not args or not args[0].startswith("@") or len(args[0]) < 2:
            raise ParseError("use `as @name` or `as @name --admin` (nobody is acting now)")
        if any(a != "--admin" for a in args[1:]):
            raise ParseError(
                f"unknown flag {' '.join(args[1:])} (only --admin; nobody is acting now)"
            )
        name = member_name(args[0][1:])
        self.current = name
        if "--admin" in args:
            self.admins.add(name)
        role = " (admin)" if name in self.admins else ""
        self._out(f"(acting as @{name}{role})")

    def _advance(self, args: list[str]) -> None:
        clock = self.service.clock
        if not isinstance(clock, FakeClock):
            raise ParseError(
                "`advance` needs the demo clock: start with `mentorbot console --demo-clock` "
                "(real time can't be moved)"
            )
        days, hours, minutes = duration(args)
        clock.advance(days=days, hours=hours, minutes=minutes)
        self._out(f"(time is now {clock.now():%Y-%m-%d %H:%M} UTC)")

    async def _dm(self, kind: str, text: str) -> None:
        inv = self._invocation()
        reply_to = None
        if kind == "reply":
            received = [s for s in self.shown if s.where == "dm" and s.audience == inv.user_id]
            if not received:
                raise ParseError("you have no DM to reply to")
            reply_to = str(received[-1].id)
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        await self._guard(partial(self.service.relay_dm, inv, text, reply_to=reply_to), None)

    def _chatter(self, args: list[str]) -> None:
        user = self._invocation().user_id
        if len(args) < 2 or not args[0].startswith("#"):
            raise ParseError("use `in #room TEXT`")
        room = args[0][1:]
        if user not in self.port.spaces.get(room, set()):
            raise ParseError(f"you are not in #{room}")
        self._out(f"[#{room}] @{user}: {' '.join(args[1:])}")

    async def _thread_reply(self, text: str) -> None:
        inv = self._invocation()
        mine = [
            t
            for t, room in self.port.threads.items()
            if inv.user_id in self.port.spaces.get(room, set())
        ]
        if not mine:
            raise ParseError("there is no group post thread in your rooms")
        thread = max(mine, key=int)
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        self._out(f"[#{self.port.threads[thread]} › thread] @{inv.user_id}: {text}")

        async def reply() -> Reply | None:
            stored = await self.service.group_thread_reply(inv, thread, text)
            return (
                None
                if stored
                else Reply(message=Message(text="(not kept: not a group post's thread)"))
            )

        await self._guard(reply, None)

    async def _help(self, topic: str | None) -> None:
        if self.current is not None:
            options = {"command": topic} if topic else {}
            await self._guard(
                lambda: self.service.execute(self._invocation(), "mentor help", options), None
            )
            return

        # Nobody is acting yet: the command list as any member would see it, read from the
        # catalog alone so that asking for help writes nothing.
        async def everyone() -> Reply:
            return Reply(message=help_message(self.service.catalog, is_admin=False, topic=topic))

        await self._guard(everyone, None)

    async def _guard_housekeeping(self) -> None:
        try:
            nudged, expired = await self.service.housekeeping()
        except Exception as exc:
            self._out(
                f"✗ Housekeeping failed: {_short(exc)} (ref {_log_failure('housekeeping', exc)})"
            )
            return
        if nudged or expired:
            self._out(f"(housekeeping: {nudged} request(s) nudged, {expired} expired)")

    async def _click(self, label: str) -> None:
        if not label:
            raise ParseError("use `click LABEL`, e.g. `click Approve`")
        user = self._invocation().user_id
        shown, button = self._find_button(label, user)
        await self._guard(partial(self.service.press, self._invocation(), button.action), shown)

    def _find_button(self, label: str, user: str) -> tuple[Shown, Button]:
        seen = [s for s in reversed(self.shown) if s.audience in (None, user) and s.message.buttons]
        index, button = find_button([s.message.buttons for s in seen], label)
        return seen[index], button

    async def _submit(self, args: list[str]) -> None:
        user = self._invocation().user_id
        pending = self._forms.get(user)
        if pending is None:
            raise ParseError("no form is open for you (click a button that asks for one)")
        values: dict[str, str] = {}
        for token in args:
            name, sep, value = token.partition(":")
            if not sep:
                raise ParseError(f"expected name:value, got {token!r}")
            values[name] = value
        names = {f.name for f in pending.form.fields}
        unknown = set(values) - names
        if unknown:
            raise ParseError(f"the form has no field {', '.join(sorted(unknown))}")
        ok = await self._guard(
            lambda: self.service.submit(self._invocation(), pending.form.action, values),
            pending.origin,
        )
        if ok:
            self._forms.pop(user, None)

    async def _guard(
        self, call: Callable[[], Awaitable[Reply | None]], origin: Shown | None
    ) -> bool:
        """Run a core call; show user errors privately and bugs as an apology."""
        with log_scope(platform=PLATFORM):
            try:
                reply = await call()
            except UserError as exc:
                self._reply(Reply(message=refusal(exc)), origin)
                return False
            except ParseError:
                raise
            except Exception as exc:
                ref = _log_failure("action", exc)
                self._reply(Reply(message=apology(ref)), origin)
                return False
        self._reply(reply, origin)
        return True

    async def _refresh_zones(self, users: Collection[str] | None = None) -> None:
        """Read the time zones of ``users`` (None: the member acting and every member the
        console has shown a message to), so their messages render in their local time.

        Only those members are read, never the whole community: at 100,000 members a
        read of every member's zone after each line cost a full scan and ~35 MiB.
        """
        wanted = set(self._zones) if users is None else set(users)
        if users is None and self.current:
            wanted.add(self.current)
        in_console = (Community.platform == PLATFORM, Community.platform_id == COMMUNITY_ID)
        async with self.service.read_uow() as uow:
            default = (
                await uow.session.execute(select(Community.default_timezone).where(*in_console))
            ).scalar_one_or_none()
            self._default_zone = default or "UTC"
            found: dict[str, str | None] = dict.fromkeys(wanted)
            listed = sorted(wanted)
            for start in range(0, len(listed), _ZONES_CHUNK):
                rows = await uow.session.execute(
                    select(Member.platform_user_id, Member.timezone)
                    .join(Community, Community.id == Member.community_id)
                    .where(
                        *in_console,
                        Member.platform_user_id.in_(listed[start : start + _ZONES_CHUNK]),
                    )
                )
                found.update((user, zone or None) for user, zone in rows)
        self._zones.update(found)

    async def _before_dm(self, user_id: str) -> None:
        """A DM is about to be shown to ``user_id``: know their zone first."""
        if user_id not in self._zones:
            await self._refresh_zones([user_id])


def _log_failure(what: str, exc: Exception) -> str:
    """Log the error with its traceback and a reference the user can quote; return it."""
    ref = new_reference()
    log.error("console %s failed (ref %s)", what, ref, exc_info=exc)
    return ref


def _short(exc: Exception) -> str:
    """The first line of an error, bounded: enough to recognise it, never a traceback."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:120]}" if first else type(exc).__name__
