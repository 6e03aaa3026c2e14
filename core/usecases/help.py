"""/mentor help: the command list, generated from the catalog so it can't go stale."""

from __future__ import annotations

from dataclasses import dataclass

from core.catalog import Access, Catalog
from core.context import Actor
from core.messages import Field, Message, Reply
from core.uow import UnitOfWork


@dataclass(frozen=True)
class ShowHelp:
    command: str | None = None


def help_message(catalog: Catalog, *, is_admin: bool, topic: str | None = None) -> Message:
    if topic:
        command = catalog.find(topic)
        option_fields = tuple(
            Field(
                f"{opt.name}{'' if opt.required else ' (optional)'}",
                opt.description + (f" — one of: {', '.join(opt.choices)}" if opt.choices else ""),
            )
            for opt in command.options
        )
        return Message(
            title=f"/{command.path}",
            text=command.description,
            fields=option_fields,
            footer=command.usage(),
        )
    fields: list[Field] = []
    for group in catalog.groups:
        lines = [
            f"`/{c.path}` — {c.description}"
            for c in catalog.in_group(group)
            if c.access is Access.EVERYONE or is_admin
        ]
        if lines:
            fields.append(Field(f"/{group}", "\n".join(lines)))
    return Message(
        title="Mentorbot commands",
        text="Options are typed as `name:value`; lists are comma-separated.",
        fields=tuple(fields),
        footer="Add a command name for its options, e.g. /mentor help command:mentor apply",
    )


async def show_help(uow: UnitOfWork, actor: Actor, cmd: ShowHelp) -> Reply:
    from core.commands import CATALOG  # the catalog lists this handler, so import late

    return Reply(message=help_message(CATALOG, is_admin=actor.is_admin, topic=cmd.command))
