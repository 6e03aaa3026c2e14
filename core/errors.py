"""Errors the member caused and can fix. Adapters show these privately, as they are.

Anything that is not a ``UserError`` is a bug or an outage: adapters log it with its
traceback and show the member only a short apology with a reference id.
"""

from __future__ import annotations


class UserError(Exception):
    """Base of every error whose message is meant for the member who acted."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidValue(UserError):
    """A field's value broke its rule. ``field`` and ``rule`` name both."""

    def __init__(self, field: str, rule: str, value: object = None) -> None:
        super().__init__(f"`{field}`: {rule}.")
        self.field = field
        self.rule = rule
        self.value = value


class UnknownCommand(UserError):
    def __init__(self, name: str, hint: str = "") -> None:
        super().__init__(f"Unknown command `{name}`.{(' ' + hint) if hint else ''}")
        self.name = name


class UnknownOption(UserError):
    def __init__(self, command: str, option: str, allowed: list[str]) -> None:
        listed = ", ".join(f"`{a}`" for a in allowed) or "none"
        super().__init__(f"`{command}` has no option `{option}`. Options: {listed}.")
        self.command = command
        self.option = option


class NotAllowed(UserError):
    """The member may not do this (wrong role, not their mentorship, ...)."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"You can't {action}: {reason}.")
        self.action = action
        self.reason = reason


class NotFound(UserError):
    """Unknown id, or an id belonging to another community (never told apart)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"That {what} doesn't exist in this community.")
        self.what = what


class Conflict(UserError):
    """The request is valid but clashes with the current state (already approved, ...)."""


class StaleAction(UserError):
    """A button or form id that is malformed, unknown or no longer applies."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "That button or form is not valid (it may be outdated)."
            + (f" {detail}" if detail else "")
        )


class OutdatedCard(StaleAction):
    """A button or form made for an earlier instance of its row.

    An application rejected and sent again, or a request declined and asked again, keeps
    its id; the card's version tells the instances apart, so an old card never decides
    the new one unseen.
    """

    def __init__(self) -> None:
        UserError.__init__(
            self,
            "This card is outdated: what it was made for has changed since, so nothing was "
            "changed. Use the newest message about it instead.",
        )


class NotConfigured(UserError):
    """The community has not set up what this action needs."""


class Busy(UserError):
    """Every database connection stayed busy past the pool's timeout (a burst of traffic)."""

    def __init__(self) -> None:
        super().__init__("Mentorbot is very busy right now; please try again in a moment.")
