"""Fake Web API handlers: auth.test, views.*, usergroups.* (see slack_fake.py)."""

from __future__ import annotations

import secrets
import time

from tests.fakes.slack_fake_models import (
    FakeUsergroup,
    FakeView,
    JsonDict,
    SlackError,
    as_bool,
    split_ids,
    view_errors,
)
from tests.fakes.slack_fake_workspace import Workspace, api_method

_MAX_MODAL_STACK = 3


@api_method("auth.test")
def auth_test(ws: Workspace, args: JsonDict) -> JsonDict:
    return {
        "ok": True,
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": ws.team_domain,
        "user": ws.bot_name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


# ---------------------------------------------------------------------------- views.*


def _checked_view(args: JsonDict, *types: str) -> JsonDict:
    view = args.get("view")
    errors = view_errors(view, expected_types=types)
    if errors:
        raise SlackError("invalid_arguments", response_metadata={"messages": errors})
    assert isinstance(view, dict)
    return view


def _new_view(ws: Workspace, user_id: str, view: JsonDict, previous: str | None) -> FakeView:
    vid = ws.ids.next("V")
    root = ws.views[previous].root_view_id if previous and previous in ws.views else vid
    fake_view = FakeView(
        id=vid,
        team_id=ws.team_id,
        user_id=user_id,
        view=view,
        hash=f"{int(time.time())}.{secrets.token_hex(4)}",
        app_id=ws.app_id,
        bot_id=ws.bot_id,
        root_view_id=root,
        previous_view_id=previous,
    )
    ws.views[vid] = fake_view
    return fake_view


def _check_hash(view: FakeView, args: JsonDict) -> None:
    given = args.get("hash")
    if given and given != view.hash:
        raise SlackError("hash_conflict")


@api_method("views.open")
def views_open(ws: Workspace, args: JsonDict) -> JsonDict:
    user_id = ws.consume_trigger(args.get("trigger_id") or args.get("interactivity_pointer"))
    view = _checked_view(args, "modal")
    opened = _new_view(ws, user_id or "", view, previous=None)
    ws.modal_stacks[opened.user_id] = [opened.id]
    return {"ok": True, "view": opened.to_api()}


@api_method("views.push")
def views_push(ws: Workspace, args: JsonDict) -> JsonDict:
    user_id = ws.consume_trigger(args.get("trigger_id") or args.get("interactivity_pointer"))
    view = _checked_view(args, "modal")
    stack = ws.modal_stacks.setdefault(user_id or "", [])
    if len(stack) >= _MAX_MODAL_STACK:
        raise SlackError("push_limit_reached")
    pushed = _new_view(ws, user_id or "", view, previous=stack[-1] if stack else None)
    stack.append(pushed.id)
    return {"ok": True, "view": pushed.to_api()}


@api_method("views.update")
def views_update(ws: Workspace, args: JsonDict) -> JsonDict:
    view_id = args.get("view_id")
    external_id = args.get("external_id")
    if not view_id and not external_id:
        raise SlackError(
            "invalid_arguments",
            response_metadata={"messages": ["[ERROR] either view_id or external_id is required"]},
        )
    if view_id:
        target = ws.views.get(str(view_id))
    else:
        target = next(
            (v for v in ws.views.values() if v.view.get("external_id") == external_id), None
        )
    if target is None:
        raise SlackError("not_found")
    _check_hash(target, args)
    view = _checked_view(args, target.type)
    target.view = view
    target.hash = f"{int(time.time())}.{secrets.token_hex(4)}"
    return {"ok": True, "view": target.to_api()}


@api_method("views.publish")
def views_publish(ws: Workspace, args: JsonDict) -> JsonDict:
    user = ws.get_user(args.get("user_id"))
    view = _checked_view(args, "home")
    current = ws.home_views.get(user.id)
    if current is not None:
        _check_hash(current, args)
        current.view = view
        current.hash = f"{int(time.time())}.{secrets.token_hex(4)}"
    else:
        current = _new_view(ws, user.id, view, previous=None)
        ws.home_views[user.id] = current
    return {"ok": True, "view": current.to_api()}


# ---------------------------------------------------------------------------- usergroups.*


def _group(ws: Workspace, args: JsonDict) -> FakeUsergroup:
    group = ws.usergroups.get(str(args.get("usergroup") or ""))
    if group is None:
        raise SlackError("no_such_subteam")
    return group


def _check_name_and_handle(ws: Workspace, name: str, handle: str, own_id: str) -> None:
    for other in ws.usergroups.values():
        if other.id == own_id:
            continue
        if name and other.name == name:
            raise SlackError("name_already_exists")
        if handle and other.handle == handle:
            raise SlackError("handle_already_exists")
    if handle and any(u.name == handle for u in ws.users.values()):
        raise SlackError("handle_already_exists")


@api_method("usergroups.create", "usergroups:write")
def usergroups_create(ws: Workspace, args: JsonDict) -> JsonDict:
    if not ws.paid_plan:
        raise SlackError("paid_teams_only")
    name = str(args.get("name") or "").strip()
    if not name:
        raise SlackError("invalid_name")
    handle = str(args.get("handle") or "").strip()
    _check_name_and_handle(ws, name, handle, own_id="")
    now = int(time.time())
    group = FakeUsergroup(
        id=ws.ids.next("S"),
        team_id=ws.team_id,
        name=name,
        handle=handle or name.lower().replace(" ", "-"),
        created_by=ws.bot_user_id,
        date_create=now,
        description=str(args.get("description") or ""),
        channels=split_ids(args.get("channels")),
    )
    ws.usergroups[group.id] = group
    return {
        "ok": True,
        "usergroup": group.to_api(include_count=as_bool(args.get("include_count", False))),
    }


@api_method("usergroups.list", "usergroups:read")
def usergroups_list(ws: Workspace, args: JsonDict) -> JsonDict:
    include_users = as_bool(args.get("include_users", False))
    include_count = as_bool(args.get("include_count", False))
    include_disabled = as_bool(args.get("include_disabled", False))
    groups = [g for g in ws.usergroups.values() if include_disabled or not g.disabled]
    return {
        "ok": True,
        "usergroups": [
            g.to_api(include_users=include_users, include_count=include_count) for g in groups
        ],
    }


@api_method("usergroups.update", "usergroups:write")
def usergroups_update(ws: Workspace, args: JsonDict) -> JsonDict:
    group = _group(ws, args)
    name = str(args.get("name") or "").strip()
    handle = str(args.get("handle") or "").strip()
    _check_name_and_handle(ws, name, handle, own_id=group.id)
    if name:
        group.name = name
    if handle:
        group.handle = handle
    if "description" in args:
        group.description = str(args.get("description") or "")
    if "channels" in args:
        group.channels = split_ids(args.get("channels"))
    group.updated_by, group.date_update = ws.bot_user_id, int(time.time())
    return {"ok": True, "usergroup": group.to_api()}


@api_method("usergroups.users.update", "usergroups:write")
def usergroups_users_update(ws: Workspace, args: JsonDict) -> JsonDict:
    group = _group(ws, args)
    users = split_ids(args.get("users"))
    if not users:
        raise SlackError("no_users_provided")
    if any(u not in ws.users or ws.users[u].deleted for u in users):
        raise SlackError("invalid_users")
    group.users = list(dict.fromkeys(users))
    group.updated_by, group.date_update = ws.bot_user_id, int(time.time())
    return {"ok": True, "usergroup": group.to_api()}


@api_method("usergroups.users.list", "usergroups:read")
def usergroups_users_list(ws: Workspace, args: JsonDict) -> JsonDict:
    group = _group(ws, args)
    if group.disabled and not as_bool(args.get("include_disabled", False)):
        raise SlackError("no_such_subteam")
    return {"ok": True, "users": list(group.users)}


@api_method("usergroups.disable", "usergroups:write")
def usergroups_disable(ws: Workspace, args: JsonDict) -> JsonDict:
    group = _group(ws, args)
    if group.disabled:
        raise SlackError("already_disabled")
    group.disabled, group.date_update = True, int(time.time())
    return {"ok": True, "usergroup": group.to_api()}


@api_method("usergroups.enable", "usergroups:write")
def usergroups_enable(ws: Workspace, args: JsonDict) -> JsonDict:
    group = _group(ws, args)
    if not group.disabled:
        raise SlackError("already_enabled")
    group.disabled, group.date_update = False, int(time.time())
    return {"ok": True, "usergroup": group.to_api()}
