"""`mentorbot demo`: a scripted community played on the console bot, checked as it goes.

A demo is sections of steps. A step is one console line typed by one member (or an
``advance`` of the demo clock) and what it must produce, checked against what the console
recorded during that step: the blocks each member or channel was shown, the lines printed,
the calls the platform port received and the files saved. The first step that does not
produce what it declares stops the demo, naming the step, so the demo is also a test.

The script itself (who the community is, what they do) is data in
:mod:`adapters.console.demo_script`; this module only knows how to play and check it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from adapters.console.bot import ConsoleBot, Seen
from adapters.console.port import ConsolePort, Shown
from core.clock import FakeClock

# What the console prints when the bot failed on its side, as opposed to a member's
# mistake: never part of a good demo.
_FAILURE_MARKS = ("something went wrong on our side", "✗ Delivering failed", "✗ Housekeeping")
# ``{name}`` in a step's line: a value an earlier step remembered.
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# What a file of each kind starts with, so "a calendar file was sent" means one was.
_SIGNATURES = {".ics": b"BEGIN:VCALENDAR", ".png": b"\x89PNG\r\n\x1a\n"}


@dataclass
class StepOutput:
    """Everything one step made the console record."""

    lines: list[str]
    seen: list[Seen]
    shown: list[Shown]
    calls: list[tuple[str, tuple[object, ...]]]
    saved: list[Path]
    port: ConsolePort
    values: dict[str, str]  # what earlier steps remembered (see Remember)

    def blocks_for(self, member: str) -> list[Seen]:
        return [s for s in self.seen if s.audience == member]


class Expectation(Protocol):
    def check(self, out: StepOutput) -> str | None:
        """None when the step produced it; else what is missing, in a sentence."""


def _has(blocks: Sequence[Seen], text: str) -> bool:
    wanted = text.casefold()
    return any(wanted in line.casefold() for b in blocks for line in (b.header, *b.lines))


@dataclass(frozen=True)
class Sees:
    """``member`` is shown ``text`` (case ignored) in something meant for them: a DM, a
    private reply, a form, or an edit of one of those."""

    member: str
    text: str

    def check(self, out: StepOutput) -> str | None:
        if _has(out.blocks_for(self.member), self.text):
            return None
        return f"@{self.member} was shown nothing containing {self.text!r}"


@dataclass(frozen=True)
class Dm:
    """A DM containing ``text`` was delivered to ``member`` (through the delivery queue)."""

    member: str
    text: str

    def check(self, out: StepOutput) -> str | None:
        dms = [s for s in out.blocks_for(self.member) if s.where == "dm"]
        if _has(dms, self.text):
            return None
        return f"@{self.member} was sent no DM containing {self.text!r}"


@dataclass(frozen=True)
class Posted:
    """A post containing ``text`` appeared in ``#channel`` or a thread of it (a post
    edited there counts: e.g. an application card once approved)."""

    channel: str
    text: str

    def check(self, out: StepOutput) -> str | None:
        posts = [
            s
            for s in out.seen
            if s.channel == self.channel or (s.channel or "").startswith(self.channel + "/")
        ]
        if _has(posts, self.text):
            return None
        return f"nothing containing {self.text!r} was posted in #{self.channel}"


@dataclass(frozen=True)
class Printed:
    """Some transcript line contains ``text``: a role, channel or event change, a note
    from the clock (e.g. ``[channel created] #room``, ``(housekeeping: …)``)."""

    text: str

    def check(self, out: StepOutput) -> str | None:
        if any(self.text in line for line in out.lines):
            return None
        return f"no line containing {self.text!r} was printed"


@dataclass(frozen=True)
class Granted:
    """The platform was asked to give ``member`` the role ``role`` and they hold it."""

    member: str
    role: str

    def check(self, out: StepOutput) -> str | None:
        asked = ("grant_role", (self.member, self.role)) in out.calls
        if asked and self.role in out.port.roles.get(self.member, set()):
            return None
        return f"@{self.member} was not given the role {self.role!r}"


@dataclass(frozen=True)
class FileSent:
    """``member`` was sent a file whose name ends with ``suffix``, the file was saved,
    and its content is of that kind (a calendar, a PNG, JSON)."""

    member: str
    suffix: str

    def check(self, out: StepOutput) -> str | None:
        files = [
            f
            for s in out.shown
            if s.audience == self.member
            for f in s.message.files
            if f.name.endswith(self.suffix)
        ]
        if not files:
            return f"@{self.member} was sent no {self.suffix} file"
        if not any(p.name.endswith(self.suffix) and p.stat().st_size for p in out.saved):
            return f"the {self.suffix} file sent to @{self.member} was not saved"
        for file in files:
            if not _well_formed(self.suffix, file.data):
                return f"the {self.suffix} file sent to @{self.member} is not a valid one"
        return None


@dataclass(frozen=True)
class Remember:
    """Keep the first group of ``pattern`` in the step's transcript lines as ``name``;
    later steps write ``{name}`` where they need it (an id shown on a card, say)."""

    name: str
    pattern: str

    def check(self, out: StepOutput) -> str | None:
        for line in out.lines:
            found = re.search(self.pattern, line)
            if found:
                out.values[self.name] = found.group(1)
                return None
        return f"no line matched {self.pattern!r} (to remember as {{{self.name}}})"


def _well_formed(suffix: str, data: bytes) -> bool:
    if suffix == ".json":
        try:
            json.loads(data)
        except ValueError:
            return False
        return True
    return data.startswith(_SIGNATURES.get(suffix, b""))


class Step:
    """One console line, typed by ``actor`` (None: a line nobody types, i.e. ``advance``),
    and what it must produce. ``note`` is the narration printed before it."""

    def __init__(self, actor: str | None, line: str, *expect: Expectation, note: str = "") -> None:
        if not expect:
            raise ValueError(f"step {line!r} declares no expectation")
        self.actor = actor
        self.line = line
        self.expect = expect
        self.note = note


class Advance(Step):
    """Move the demo clock by ``span`` (``1d``, ``2h30m``): what falls due is delivered."""

    def __init__(self, span: str, *expect: Expectation, note: str = "") -> None:
        super().__init__(None, f"advance {span}", *expect, note=note)


@dataclass(frozen=True)
class Section:
    title: str
    about: str  # one or two sentences printed under the heading
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Demo:
    community: str
    start: datetime  # the demo clock's first moment (UTC)
    admins: frozenset[str]  # members who act with the admin role
    sections: tuple[Section, ...]


@dataclass
class Failure:
    step: str  # "5.2"
    section: str
    actor: str | None
    line: str
    problems: list[str]
    headers: list[str]  # the blocks the step did show, to tell what went wrong

    def describe(self) -> str:
        who = f"@{self.actor}: " if self.actor else ""
        head = f"Demo failed at step {self.step} ({self.section}) — {who}{self.line}"
        shown = f"  (the step showed: {', '.join(self.headers)})" if self.headers else ""
        return "\n".join([head, *(f"  ✗ {p}" for p in self.problems), *filter(None, [shown])])


@dataclass
class Outcome:
    sections: int = 0
    steps: int = 0
    seconds: float = 0.0
    failure: Failure | None = None
    stopped: bool = False  # the person at the keyboard ended it between sections
    ended_at: datetime | None = None  # the demo clock at the end


@dataclass
class _Marks:
    lines: int
    seen: int
    shown: int
    calls: int
    files: set[Path] = field(default_factory=set)


async def play(
    bot: ConsoleBot,
    demo: Demo,
    *,
    out: Callable[[str], None],
    pause: Callable[[int], Awaitable[bool]] | None = None,
) -> Outcome:
    """Play ``demo`` on ``bot`` (whose sink prints the transcript; its clock a FakeClock,
    set to the demo's start), printing headings and narration through ``out``.
    ``pause(next_section)`` runs between sections and returns False to end the demo
    there. Stops at the first step that fails its expectations."""
    if isinstance(bot.service.clock, FakeClock):
        bot.service.clock.set(demo.start)
    started = time.perf_counter()
    outcome = Outcome()
    values: dict[str, str] = {}
    for number, section in enumerate(demo.sections, start=1):
        if number > 1 and pause is not None and not await pause(number):
            outcome.stopped = True
            break
        out("")
        out(f"━━ {number}. {section.title} " + "━" * max(3, 60 - len(section.title)))
        out(section.about)
        outcome.sections = number
        for index, step in enumerate(section.steps, start=1):
            problems, headers = await _play_step(bot, demo, step, values, out)
            outcome.steps += 1
            if problems:
                outcome.failure = Failure(
                    f"{number}.{index}", section.title, step.actor, step.line, problems, headers
                )
                break
        if outcome.failure is not None:
            break
    outcome.seconds = time.perf_counter() - started
    outcome.ended_at = bot.service.clock.now()
    return outcome


async def _play_step(
    bot: ConsoleBot,
    demo: Demo,
    step: Step,
    values: dict[str, str],
    out: Callable[[str], None],
) -> tuple[list[str], list[str]]:
    """What the step failed to produce (empty when it passed), and the headers of the
    blocks it showed."""
    out("")
    if step.note:
        out(f"» {step.note}")
    if step.actor is not None and step.actor != bot.current:
        admin = " --admin" if step.actor in demo.admins else ""
        bot.echo_input = False  # "(acting as @x)" says it; the typed line would repeat it
        try:
            acting = await bot.handle(f"as @{step.actor}{admin}")
        finally:
            bot.echo_input = True
        if not acting:
            return [f"could not act as @{step.actor}: {bot.last_parse_error}"], []
    line, unknown = _filled(step.line, values)
    if unknown:
        return [f"nothing was remembered as {{{unknown}}}"], []
    marks = _mark(bot)
    if not await bot.handle(line):
        return [f"not a console line: {bot.last_parse_error}"], []
    output = StepOutput(
        lines=bot.lines[marks.lines :],
        seen=bot.seen[marks.seen :],
        shown=bot.shown[marks.shown :],
        calls=bot.port.calls[marks.calls :],
        saved=sorted(_files(bot) - marks.files),
        port=bot.port,
        values=values,
    )
    problems = [
        f"the bot failed: {printed.strip()}"
        for printed in output.lines
        if any(mark in printed for mark in _FAILURE_MARKS)
    ]
    for expectation in step.expect:
        problem = expectation.check(output)
        if problem is not None:
            problems.append(problem)
    return problems, [seen.header for seen in output.seen]


def _filled(line: str, values: dict[str, str]) -> tuple[str, str | None]:
    """The line with each ``{name}`` replaced by what was remembered; the first unknown
    name, if any."""
    unknown = [name for name in _PLACEHOLDER.findall(line) if name not in values]
    if unknown:
        return line, unknown[0]
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], line), None


def _mark(bot: ConsoleBot) -> _Marks:
    return _Marks(len(bot.lines), len(bot.seen), len(bot.shown), len(bot.port.calls), _files(bot))


def _files(bot: ConsoleBot) -> set[Path]:
    if bot.files_dir is None or not bot.files_dir.is_dir():
        return set()
    return set(bot.files_dir.iterdir())
