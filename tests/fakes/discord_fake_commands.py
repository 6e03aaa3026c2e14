"""Application-command storage and (partial) validation for the fake Discord.

Discord validates command payloads on ``PUT /applications/{app}/commands``; a bad payload makes
``tree.sync()`` fail in production, so the fake checks the rules that are easy to get wrong:
name format/length, description length, option count, required-before-optional, choice count,
``autocomplete`` together with ``choices``, subcommand nesting depth and the per-scope command
cap.  Failures answer ``400`` with code ``50035`` like Discord does.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.discord_fake_state import FakeState
from tests.fakes.discord_fake_types import JSON, ApiError

_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")
MAX_COMMANDS_PER_TYPE = 100
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2


def _check_name(name: Any, path: str, *, lowercase: bool) -> None:
    if (
        not isinstance(name, str)
        or not _NAME_RE.match(name)
        or (lowercase and name != name.lower())
    ):
        raise ApiError.invalid_form(
            f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", f"Invalid name {name!r}"
        )


def _check_description(desc: Any, path: str) -> None:
    if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
        raise ApiError.invalid_form(
            f"{path}.description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )


def _check_options(options: list[JSON], path: str, depth: int) -> None:
    if len(options) > 25:
        raise ApiError.invalid_form(
            f"{path}.options", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
        )
    seen_optional = False
    names: set[str] = set()
    for i, opt in enumerate(options):
        opath = f"{path}.options.{i}"
        _check_name(opt.get("name"), opath, lowercase=True)
        _check_description(opt.get("description"), opath)
        if opt["name"] in names:
            raise ApiError.invalid_form(
                f"{opath}.name", "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Duplicate"
            )
        names.add(opt["name"])
        otype = opt.get("type")
        if otype in (SUB_COMMAND, SUB_COMMAND_GROUP):
            if otype == SUB_COMMAND_GROUP and depth > 0:
                raise ApiError.invalid_form(
                    f"{opath}.type", "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Nested group"
                )
            if otype == SUB_COMMAND and depth > 1:
                raise ApiError.invalid_form(
                    f"{opath}.type", "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Too deep"
                )
            _check_options(opt.get("options") or [], opath, depth + 1)
            continue
        if opt.get("required"):
            if seen_optional:
                raise ApiError.invalid_form(
                    f"{opath}.required",
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            raise ApiError.invalid_form(
                f"{opath}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        if choices and opt.get("autocomplete"):
            raise ApiError.invalid_form(
                f"{opath}.autocomplete",
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_AND_CHOICES",
                "Autocomplete cannot be set with choices",
            )


def validate_command(cmd: JSON, path: str) -> None:
    ctype = cmd.get("type", 1)
    if ctype == 1:
        _check_name(cmd.get("name"), path, lowercase=True)
    elif not isinstance(cmd.get("name"), str) or not 1 <= len(cmd["name"]) <= 32:
        # user/message context menus: free-form display names (spaces, capitals)
        raise ApiError.invalid_form(
            f"{path}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
        )
    if ctype == 1:
        _check_description(cmd.get("description"), path)
        _check_options(cmd.get("options") or [], path, 0)


def _stored(state: FakeState, cmd: JSON, guild_id: int | None, existing: JSON | None) -> JSON:
    stored: JSON = {
        "id": existing["id"] if existing else str(state.next_id()),
        "application_id": str(state.application_id),
        "version": str(state.next_id()),
        "type": cmd.get("type", 1),
        "name": cmd["name"],
        "name_localizations": cmd.get("name_localizations"),
        "description": cmd.get("description", ""),
        "description_localizations": cmd.get("description_localizations"),
        "options": cmd.get("options") or [],
        "default_member_permissions": cmd.get("default_member_permissions"),
        "nsfw": cmd.get("nsfw", False),
        "contexts": cmd.get("contexts"),
        "integration_types": cmd.get("integration_types") or [0],  # Discord's default
    }
    if "dm_permission" in cmd:
        stored["dm_permission"] = cmd["dm_permission"]
    if guild_id is not None:
        stored["guild_id"] = str(guild_id)
    return stored


def _store(state: FakeState, guild_id: int | None) -> dict[int, JSON]:
    if guild_id is None:
        return state.global_commands
    state.guild(guild_id)
    return state.guild_commands.setdefault(guild_id, {})


def bulk_overwrite(state: FakeState, guild_id: int | None, payload: Any) -> list[JSON]:
    """``PUT .../commands``: replace the whole scope, keeping ids of same name+type."""
    if not isinstance(payload, list):
        raise ApiError(400, 50109, "The request body contains invalid JSON.")
    for i, cmd in enumerate(payload):
        validate_command(cmd, str(i))
    per_type: dict[int, int] = {}
    for cmd in payload:
        per_type[cmd.get("type", 1)] = per_type.get(cmd.get("type", 1), 0) + 1
    if any(n > MAX_COMMANDS_PER_TYPE for n in per_type.values()):
        raise ApiError(400, 30032, "Maximum number of application commands reached")
    store = _store(state, guild_id)
    by_key = {(c["name"], c["type"]): c for c in store.values()}
    new = [_stored(state, c, guild_id, by_key.get((c["name"], c.get("type", 1)))) for c in payload]
    store.clear()
    for cmd in new:
        store[int(cmd["id"])] = cmd
    return [dict(c) for c in new]


def upsert(state: FakeState, guild_id: int | None, cmd: JSON) -> tuple[JSON, bool]:
    """``POST .../commands``: create or replace one command. Returns (command, created)."""
    validate_command(cmd, "")
    store = _store(state, guild_id)
    existing = next(
        (c for c in store.values() if (c["name"], c["type"]) == (cmd["name"], cmd.get("type", 1))),
        None,
    )
    stored = _stored(state, cmd, guild_id, existing)
    store[int(stored["id"])] = stored
    return dict(stored), existing is None


def get(state: FakeState, guild_id: int | None, command_id: int) -> JSON:
    try:
        return _store(state, guild_id)[command_id]
    except KeyError:
        raise ApiError.not_found("application command", 10063) from None


def edit(state: FakeState, guild_id: int | None, command_id: int, patch: JSON) -> JSON:
    current = get(state, guild_id, command_id)
    merged = {**current, **patch}
    validate_command(merged, "")
    current.update(patch)
    current["version"] = str(state.next_id())
    return dict(current)


def delete(state: FakeState, guild_id: int | None, command_id: int) -> None:
    get(state, guild_id, command_id)
    del _store(state, guild_id)[command_id]
