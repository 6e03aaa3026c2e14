"""Fake Web API handlers: users.*, conversations.*, chat.*, reactions.*, pins.*, files.*.

See slack_fake.py.

Each handler takes the workspace and the merged request arguments and returns the Slack JSON
body, or raises ``SlackError`` for ``{"ok": false, "error": ...}``.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Sequence
from typing import Any, TypeVar

from tests.fakes.slack_fake_models import (
    EphemeralMessage,
    FakeChannel,
    FakeFile,
    JsonDict,
    SlackError,
    StoredMessage,
    as_bool,
    as_int,
    blocks_error,
    channel_name_error,
    split_ids,
)
from tests.fakes.slack_fake_workspace import Workspace, api_method, scope_by_channel

T = TypeVar("T")

_READ = scope_by_channel("channels:read", "groups:read", "im:read")
_HISTORY = scope_by_channel("channels:history", "groups:history", "im:history")
_MANAGE = scope_by_channel("channels:manage", "groups:write", "im:write")


def paginate(items: Sequence[T], args: JsonDict, default_limit: int) -> tuple[list[T], str]:
    """Slack cursor pagination: returns (page, next_cursor) — next_cursor "" on the last page."""
    limit = as_int(args.get("limit"), 0) or default_limit
    cursor = str(args.get("cursor") or "")
    start = 0
    if cursor:
        try:
            kind, _, raw = base64.b64decode(cursor).decode().partition(":")
            start = int(raw)
            if kind != "offset":
                raise ValueError(kind)
        except ValueError as exc:
            raise SlackError("invalid_cursor") from exc
    page = list(items[start : start + limit])
    more = start + limit < len(items)
    return page, (base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else "")


def _meta(next_cursor: str) -> JsonDict:
    return {"response_metadata": {"next_cursor": next_cursor}}


def _not_im(channel: FakeChannel) -> None:
    if channel.is_im or channel.is_mpim:
        raise SlackError("method_not_supported_for_channel_type")


# ---------------------------------------------------------------------------- users.*


@api_method("users.info", "users:read")
def users_info(ws: Workspace, args: JsonDict) -> JsonDict:
    return {"ok": True, "user": ws.get_user(args.get("user")).to_api()}


@api_method("users.list", "users:read")
def users_list(ws: Workspace, args: JsonDict) -> JsonDict:
    members = [u.to_api() for u in ws.users.values()]
    page, cursor = paginate(members, args, default_limit=len(members) or 1)
    return {"ok": True, "members": page, "cache_ts": int(time.time()), **_meta(cursor)}


# ---------------------------------------------------------------------------- conversations.*


@api_method("conversations.open", "im:write")
def conversations_open(ws: Workspace, args: JsonDict) -> JsonDict:
    if args.get("channel"):
        channel = ws.readable_channel(args["channel"])
        return {"ok": True, "channel": {"id": channel.id}, "already_open": True}
    users = split_ids(args.get("users"))
    if not users:
        raise SlackError("users_list_not_supplied")
    for uid in users:
        ws.get_user(uid)
    if len(users) == 1:
        already = users[0] in ws._dm_by_user
        cid = ws.dm_channel_id(users[0])
        channel = ws.channels[cid]
    else:
        members = sorted({*users, ws.bot_user_id})
        found = next(
            (c for c in ws.channels.values() if c.is_mpim and sorted(c.members) == members), None
        )
        already = found is not None
        if found is not None:
            channel = found
        else:
            cid = ws.ids.next("C")
            channel = FakeChannel(
                id=cid,
                name="mpdm-" + "--".join(members),
                created=int(time.time()),
                is_private=True,
                is_mpim=True,
                members=members,
                creator=ws.bot_user_id,
            )
            ws.channels[cid] = channel
    body: JsonDict = {"ok": True, "channel": {"id": channel.id}}
    if already:
        body.update(no_op=True, already_open=True)
    if as_bool(args.get("return_im", False)):
        body["channel"] = channel.to_api(ws.bot_user_id)
    return body


def _create_scope(ws: Workspace, args: JsonDict) -> str:
    return "groups:write" if as_bool(args.get("is_private", False)) else "channels:manage"


@api_method("conversations.create", _create_scope)
def conversations_create(ws: Workspace, args: JsonDict) -> JsonDict:
    name = str(args.get("name") or "")
    error = channel_name_error(name)
    if error:
        raise SlackError(error)
    if any(c.name == name and not c.is_im for c in ws.channels.values()):
        raise SlackError("name_taken")  # archived channels keep their names, as on Slack
    channel = ws.add_channel(name, is_private=as_bool(args.get("is_private", False)))
    return {"ok": True, "channel": channel.to_api(ws.bot_user_id)}


@api_method("conversations.info", _READ)
def conversations_info(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.readable_channel(args.get("channel"))
    include = as_bool(args.get("include_num_members", False))
    return {"ok": True, "channel": channel.to_api(ws.bot_user_id, include_num_members=include)}


@api_method("conversations.members", _READ)
def conversations_members(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.readable_channel(args.get("channel"))
    page, cursor = paginate(channel.members, args, default_limit=100)
    return {"ok": True, "members": page, **_meta(cursor)}


@api_method("conversations.invite", _MANAGE)
def conversations_invite(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.member_channel(args.get("channel"))
    _not_im(channel)
    if channel.is_archived:
        raise SlackError("is_archived")
    users = split_ids(args.get("users"))
    if not users:
        raise SlackError("no_user")
    errors: list[JsonDict] = []
    to_add: list[str] = []
    for uid in users:
        user = ws.users.get(uid)
        if user is None or user.deleted:
            err = "user_not_found"
        elif uid == ws.bot_user_id:
            err = "cant_invite_self"
        elif uid in channel.members:
            err = "already_in_channel"
        else:
            to_add.append(uid)
            continue
        errors.append({"user": uid, "ok": False, "error": err})
    if errors and not as_bool(args.get("force", False)):
        raise SlackError(errors[0]["error"], errors=errors)
    channel.members.extend(to_add)
    body: JsonDict = {"ok": True, "channel": channel.to_api(ws.bot_user_id)}
    if errors:
        body["errors"] = errors
    return body


@api_method("conversations.kick", _MANAGE)
def conversations_kick(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.member_channel(args.get("channel"))
    _not_im(channel)
    user = ws.get_user(args.get("user"))
    if user.id == ws.bot_user_id:
        raise SlackError("cant_kick_self")
    if user.id not in channel.members:
        raise SlackError("not_in_channel")
    channel.members.remove(user.id)
    return {"ok": True}


@api_method("conversations.archive", _MANAGE)
def conversations_archive(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.member_channel(args.get("channel"))
    _not_im(channel)
    if channel.is_archived:
        raise SlackError("already_archived")
    channel.is_archived = True
    return {"ok": True}


@api_method("conversations.unarchive", _MANAGE)
def conversations_unarchive(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.readable_channel(args.get("channel"))
    if not channel.is_archived:
        raise SlackError("not_archived")
    channel.is_archived = False
    return {"ok": True}


@api_method("conversations.setTopic", _MANAGE)
def conversations_set_topic(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.member_channel(args.get("channel"))
    if channel.is_archived:
        raise SlackError("is_archived")
    topic = str(args.get("topic") or "")
    if len(topic) > 250:
        raise SlackError("too_long")
    channel.topic = topic
    return {"ok": True, "channel": channel.to_api(ws.bot_user_id)}


def _in_range(messages: Sequence[StoredMessage], args: JsonDict) -> list[StoredMessage]:
    """``oldest`` / ``latest`` / ``inclusive`` of history and replies."""
    oldest = float(args.get("oldest") or 0)
    latest = float(args.get("latest") or "inf")
    inclusive = as_bool(args.get("inclusive", False))
    return [
        m
        for m in messages
        if (oldest <= float(m.ts) <= latest)
        if inclusive or (float(m.ts) != oldest and float(m.ts) != latest)
    ]


def _listed(page: Sequence[StoredMessage], args: JsonDict, cursor: str) -> JsonDict:
    metadata = as_bool(args.get("include_all_metadata", False))
    return {
        "ok": True,
        "messages": [m.to_api(include_metadata=metadata) for m in page],
        "has_more": bool(cursor),
        **_meta(cursor),
    }


@api_method("conversations.history", _HISTORY)
def conversations_history(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.member_channel(args.get("channel"))
    msgs = _in_range(list(reversed(ws.messages(channel.id, include_replies=False))), args)
    page, cursor = paginate(msgs, args, default_limit=100)
    return _listed(page, args, cursor)


@api_method("conversations.replies", _HISTORY)
def conversations_replies(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.member_channel(args.get("channel"))
    parent = ws.message(channel.id, str(args.get("ts") or ""))
    if parent is None or parent.deleted:
        raise SlackError("thread_not_found")
    root = parent.thread_ts or parent.ts
    replies = [m for m in ws.messages(channel.id) if m.thread_ts == root and m.ts != root]
    # The parent comes first whatever the range, as on Slack.
    thread = [ws.message(channel.id, root) or parent, *_in_range(replies, args)]
    page, cursor = paginate(thread, args, default_limit=1000)
    return _listed(page, args, cursor)


# ---------------------------------------------------------------------------- chat.*


def _message_content(args: JsonDict) -> tuple[str, list[JsonDict] | None, list[JsonDict] | None]:
    text = str(args.get("text") or "")
    blocks: Any = args.get("blocks")
    attachments: Any = args.get("attachments")
    error = blocks_error(blocks)
    if error:
        raise SlackError(error)
    if attachments is not None and not isinstance(attachments, list):
        raise SlackError("invalid_attachments")
    if len(text) > 40_000:
        raise SlackError("msg_too_long")
    return text, blocks, attachments


def _metadata(value: Any) -> JsonDict | None:
    """Message metadata as Slack checks it: an ``event_type`` (letters, digits and
    underscores) and an ``event_payload`` object of strings, numbers, booleans and flat
    objects."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SlackError("invalid_metadata_format")
    event_type, payload = value.get("event_type"), value.get("event_payload")
    if not isinstance(event_type, str) or not re.fullmatch(r"\w{1,255}", event_type):
        raise SlackError("invalid_metadata_schema")
    if not isinstance(payload, dict) or len(json.dumps(value)) > 8_000:
        raise SlackError("invalid_metadata_schema")
    return {"event_type": event_type, "event_payload": payload}


@api_method("chat.postMessage", "chat:write")
def chat_post_message(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.post_target(args.get("channel"))
    text, blocks, attachments = _message_content(args)
    if not text.strip() and not blocks and not attachments:
        raise SlackError("no_text")
    msg = ws.store_message(
        channel,
        text=text,
        user=ws.bot_user_id,
        blocks=blocks,
        attachments=attachments,
        thread_ts=str(args["thread_ts"]) if args.get("thread_ts") else None,
        reply_broadcast=as_bool(args.get("reply_broadcast", False)),
        metadata=_metadata(args.get("metadata")),
    )
    return {"ok": True, "channel": channel.id, "ts": msg.ts, "message": msg.to_api()}


@api_method("chat.postEphemeral", "chat:write")
def chat_post_ephemeral(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.post_target(args.get("channel"))
    user = ws.get_user(args.get("user"))
    if user.id not in channel.members:
        raise SlackError("user_not_in_channel")
    text, blocks, attachments = _message_content(args)
    if not text.strip() and not blocks and not attachments:
        raise SlackError("no_text")
    ts = ws.clock.next()
    ws.ephemerals.append(
        EphemeralMessage(
            channel=channel.id,
            user=user.id,
            ts=ts,
            text=text,
            blocks=list(blocks or []),
            thread_ts=str(args["thread_ts"]) if args.get("thread_ts") else None,
        )
    )
    return {"ok": True, "message_ts": ts}


@api_method("chat.update", "chat:write")
def chat_update(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.readable_channel(args.get("channel"))
    msg = ws.existing_message(channel.id, args.get("ts"))
    if msg.user != ws.bot_user_id:
        raise SlackError("cant_update_message")
    text, blocks, attachments = _message_content(args)
    if "text" in args:
        msg.text = text
    if blocks is not None:
        msg.blocks = blocks
    if attachments is not None:
        msg.attachments = attachments
    msg.edited = {"user": ws.bot_user_id, "ts": ws.clock.next()}
    return {
        "ok": True,
        "channel": channel.id,
        "ts": msg.ts,
        "text": msg.text,
        "message": msg.to_api(),
    }


@api_method("chat.delete", "chat:write")
def chat_delete(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.readable_channel(args.get("channel"))
    msg = ws.existing_message(channel.id, args.get("ts"))
    if msg.user != ws.bot_user_id:
        raise SlackError("cant_delete_message")
    msg.deleted = True
    return {"ok": True, "channel": channel.id, "ts": msg.ts}


@api_method("chat.getPermalink")
def chat_get_permalink(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.readable_channel(args.get("channel"))
    msg = ws.existing_message(channel.id, args.get("message_ts"))
    link = f"https://{ws.team_domain}.slack.com/archives/{channel.id}/p{msg.ts.replace('.', '')}"
    return {"ok": True, "channel": channel.id, "permalink": link}


# ---------------------------------------------------------------------------- reactions.*


@api_method("reactions.add", "reactions:write")
def reactions_add(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.readable_channel(args.get("channel"))
    msg = ws.existing_message(channel.id, args.get("timestamp"))
    name = str(args.get("name") or "").strip(":")
    if not name:
        raise SlackError("invalid_name")
    users = msg.reactions.setdefault(name, [])
    if ws.bot_user_id in users:
        raise SlackError("already_reacted")
    users.append(ws.bot_user_id)
    return {"ok": True}


# ---------------------------------------------------------------------------- pins.*


@api_method("pins.add", "pins:write")
def pins_add(ws: Workspace, args: JsonDict) -> JsonDict:
    channel = ws.member_channel(args.get("channel"))
    msg = ws.existing_message(channel.id, args.get("timestamp"))
    if msg.pinned:
        raise SlackError("already_pinned")
    msg.pinned = True
    return {"ok": True}


# ---------------------------------------------------------------------------- files.*


@api_method("files.getUploadURLExternal", "files:write")
def files_get_upload_url_external(ws: Workspace, args: JsonDict) -> JsonDict:
    name = str(args.get("filename") or "")
    length = as_int(args.get("length"), -1)
    if not name or length < 0:
        raise SlackError("invalid_arguments")
    file = FakeFile(id=ws.ids.next("F"), name=name, length=length)
    ws.files[file.id] = file
    base_url = getattr(ws, "base_url", "")
    return {"ok": True, "upload_url": f"{base_url}/upload/{file.id}", "file_id": file.id}


@api_method("files.completeUploadExternal", "files:write")
def files_complete_upload_external(ws: Workspace, args: JsonDict) -> JsonDict:
    listed = args.get("files")
    if isinstance(listed, str):
        listed = json.loads(listed)
    if not isinstance(listed, list) or not listed:
        raise SlackError("invalid_arguments")
    files = []
    for item in listed:
        file = ws.files.get(str(item.get("id")))
        if file is None or file.data is None or file.completed:
            raise SlackError("file_not_found")
        file.title = str(item.get("title") or file.name)
        files.append(file)
    channel_id = args.get("channel_id")
    if channel_id:
        channel = ws.post_target(channel_id)
        for file in files:
            file.channels.append(channel.id)
        ws.store_message(
            channel,
            text=str(args.get("initial_comment") or ""),
            user=ws.bot_user_id,
            thread_ts=str(args["thread_ts"]) if args.get("thread_ts") else None,
        ).files = [f.to_api() for f in files]
    for file in files:
        file.completed = True
    return {"ok": True, "files": [{"id": f.id, "title": f.title} for f in files]}
