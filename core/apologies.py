"""What a member is shown when a request fails: a refusal that names the field and the
rule (a ``UserError``), or an apology with a reference that ties it to the logged
traceback."""

from __future__ import annotations

import secrets

from core.errors import UserError
from core.logcontext import annotate
from core.messages import Message


def new_reference() -> str:
    """A short id that ties what a member was shown to the logged traceback. It is also
    put in the interaction's log fields (core.logcontext), so the line logging the
    failure carries it as ``error_ref``."""
    ref = secrets.token_hex(4)
    annotate(error_ref=ref)
    return ref


def apology(ref: str) -> Message:
    """What a member sees when something failed on the bot's side: no details, a reference."""
    return Message(
        text="Sorry, something went wrong on our side. If it keeps happening, give an admin "
        f"this reference: `{ref}`.",
        tone="error",
    )


def refusal(exc: UserError) -> Message:
    """A ``UserError`` as shown to the member who made it (privately; it names the field)."""
    return Message(text=exc.message, tone="error")
