"""Slack → app payloads of the fake server (entry point: ``slack_fake.FakeSlack``).

Builds slash-command, interactivity (block_actions, view_submission, view_closed) and Events
API bodies in the shapes Slack sends, encodes them the way Slack does over HTTP
(form-encoded command; ``payload=<json>`` form field for interactivity; JSON for events) and
signs them with the v0 scheme (HMAC-SHA256 of ``v0:{timestamp}:{body}``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from tests.fakes.slack_fake_models import JsonDict, ResponseUrlTarget, find_element
from tests.fakes.slack_fake_workspace import Workspace

#: kinds accepted by ``signed_request`` / ``build_payload``
FORM_KINDS = frozenset({"slash_command"})
INTERACTIVE_KINDS = frozenset(
    {"block_actions", "block_suggestion", "view_submission", "view_closed"}
)
JSON_KINDS = frozenset({"event", "url_verification"})

_SINGLE_OPTION = frozenset({"static_select", "external_select", "radio_buttons"})
_MULTI_OPTION = frozenset({"multi_static_select", "multi_external_select", "checkboxes"})
_SELECTED_FIELD = {
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}


def sign_body(secret: str, body: bytes | str, timestamp: int | str) -> str:
    """Slack's v0 request signature for ``body`` sent at ``timestamp``."""
    raw = body.decode() if isinstance(body, bytes) else body
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{raw}".encode(), hashlib.sha256)
    return "v0=" + digest.hexdigest()


def _option(value: str, element: JsonDict | None) -> JsonDict:
    pools = list((element or {}).get("options") or [])
    for group in (element or {}).get("option_groups") or []:
        pools.extend(group.get("options") or [])
    for opt in pools:
        if isinstance(opt, dict) and opt.get("value") == value:
            return opt
    return {"text": {"type": "plain_text", "text": value, "emoji": True}, "value": value}


def element_state(raw: Any, element: JsonDict | None = None) -> JsonDict:
    """Slack's ``state.values`` entry for an input element given a plain value.

    ``raw`` may already be a full state dict (returned as is). Otherwise the element type is
    taken from ``element`` (the block element definition) and the value is shaped accordingly:
    text inputs → ``value``; selects/radios → ``selected_option``; multi selects/checkboxes →
    ``selected_options``; users/conversations/date pickers → ``selected_*``.
    """
    if isinstance(raw, dict):
        return raw
    etype = str((element or {}).get("type") or "")
    if not etype:
        etype = "multi_static_select" if isinstance(raw, list | tuple) else "plain_text_input"
    if etype in _SINGLE_OPTION:
        option = _option(str(raw), element) if raw is not None else None
        return {"type": etype, "selected_option": option}
    if etype in _MULTI_OPTION:
        return {"type": etype, "selected_options": [_option(str(v), element) for v in raw or []]}
    if etype in _SELECTED_FIELD:
        return {"type": etype, _SELECTED_FIELD[etype]: raw}
    return {"type": etype, "value": raw}  # text/number/email/url inputs and unknown types


class SlackPayloads(Workspace):
    """Builders for what Slack sends to the app, plus signing. ``FakeSlack`` inherits it."""

    def __init__(
        self,
        *,
        signing_secret: str,
        verification_token: str = "fake-verification-token",
        **workspace: Any,
    ) -> None:
        super().__init__(**workspace)
        self.signing_secret = signing_secret
        self.verification_token = verification_token
        self.base_url = ""  # "http://127.0.0.1:PORT" once the server runs
        self.response_targets: dict[str, ResponseUrlTarget] = {}

    # ------------------------------------------------------------------ response urls

    def new_response_url(
        self, user_id: str, channel_id: str | None = None, message_ts: str | None = None
    ) -> str:
        """A fresh ``response_url`` served by the fake, bound to a channel/message."""
        rid = secrets.token_hex(8)
        self.response_targets[rid] = ResponseUrlTarget(rid, user_id, channel_id, message_ts)
        return f"{self.base_url}/response/{rid}"

    def _user_ref(self, user_id: str) -> JsonDict:
        user = self.users.get(user_id)
        name = user.name if user else user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _team_ref(self) -> JsonDict:
        return {"id": self.team_id, "domain": self.team_domain}

    # ------------------------------------------------------------------ builders

    def slash_command_payload(
        self, command: str, text: str = "", *, user_id: str, channel_id: str | None = None
    ) -> dict[str, str]:
        """Slash command fields (all strings, as Slack form-encodes them)."""
        channel = channel_id or self.dm_channel_id(user_id)
        found = self.channels.get(channel)
        channel_name = "directmessage" if found is None or found.is_im else found.name
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": self._user_ref(user_id)["name"],
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self.new_response_url(user_id, channel),
            "trigger_id": self.issue_trigger_id(user_id),
        }

    def block_actions_payload(
        self,
        user_id: str,
        action_id: str,
        *,
        value: Any = None,
        block_id: str | None = None,
        channel_id: str | None = None,
        message_ts: str | None = None,
        view_id: str | None = None,
        action: JsonDict | None = None,
    ) -> JsonDict:
        """A click/selection on an element of a stored message (default) or view.

        The element (and its ``block_id``/type) is looked up in the stored message or view, so
        ``value`` is shaped like Slack would (button ``value``, select ``selected_option``…).
        """
        payload: JsonDict = {
            "type": "block_actions",
            "user": self._user_ref(user_id),
            "api_app_id": self.app_id,
            "token": self.verification_token,
            "trigger_id": self.issue_trigger_id(user_id),
            "team": self._team_ref(),
            "enterprise": None,
            "is_enterprise_install": False,
            "state": {"values": {}},
        }
        blocks: Any = None
        if view_id is not None:
            view = self.views[view_id]
            blocks = view.view.get("blocks")
            payload["container"] = {"type": "view", "view_id": view_id}
            payload["view"] = view.to_api()
        else:
            channel = channel_id or self.dm_channel_id(user_id)
            stored = self.message(channel, message_ts) if message_ts else None
            ephemeral = self.ephemeral(channel, message_ts) if message_ts else None
            if stored is None and ephemeral is None and message_ts is None:
                bot_msgs = [m for m in self.messages(channel) if m.user == self.bot_user_id]
                stored = bot_msgs[-1] if bot_msgs else None
            ts = stored.ts if stored else (message_ts or self.clock.next())
            if ephemeral is not None:
                # Slack sends no ``message`` for an ephemeral one; blocks only to find the
                # element clicked.
                message = {"type": "message", "ts": ts, "blocks": ephemeral.blocks}
            else:
                message = stored.to_api() if stored else {"type": "message", "ts": ts, "text": ""}
            blocks = message.get("blocks")
            found = self.channels.get(channel)
            payload.update(
                container={
                    "type": "message",
                    "message_ts": ts,
                    "channel_id": channel,
                    "is_ephemeral": ephemeral is not None,
                },
                channel={"id": channel, "name": found.name if found else channel},
                response_url=self.new_response_url(user_id, channel, ts),
            )
            if ephemeral is None:
                payload["message"] = message
        found_block, element = find_element(blocks, action_id)
        etype = str((element or {}).get("type") or "button")
        act: JsonDict
        if etype in ("button", "overflow", "workflow_button") and not isinstance(value, dict):
            if value is None and element is not None:
                value = element.get("value")  # a button click carries the button's value
            act = {"type": etype, "value": value}
            if element and "text" in element:
                act["text"] = element["text"]
            if etype == "overflow":
                act = {"type": etype, "selected_option": _option(str(value), element)}
        else:
            act = element_state(value, element or {"type": etype})
        act.update(
            action_id=action_id,
            block_id=block_id or found_block or "fake_block",
            action_ts=self.clock.next(),
        )
        act.update(action or {})
        payload["actions"] = [act]
        return payload

    def view_submission_payload(
        self,
        user_id: str,
        *,
        view_id: str | None = None,
        callback_id: str | None = None,
        values: dict[str, dict[str, Any]] | None = None,
        private_metadata: str | None = None,
    ) -> JsonDict:
        """Submitting a modal. ``values`` = ``{block_id: {action_id: plain value or state}}``.

        With ``view_id`` (a modal opened through views.open/push) the callback_id, metadata,
        hash and element types come from the stored view.
        """
        stored = self.views.get(view_id) if view_id else None
        blocks = stored.view.get("blocks") if stored else None
        state: JsonDict = {}
        for bid, actions in (values or {}).items():
            state[bid] = {}
            for aid, raw in actions.items():
                _, element = find_element(blocks, aid)
                state[bid][aid] = element_state(raw, element)
        if stored is not None:
            view = stored.to_api()
        else:
            vid = view_id or self.ids.next("V")
            view = {
                "id": vid,
                "team_id": self.team_id,
                "type": "modal",
                "title": {"type": "plain_text", "text": "Fake modal"},
                "blocks": [],
                "callback_id": callback_id or "",
                "private_metadata": "",
                "hash": f"{int(time.time())}.fake",
                "root_view_id": vid,
                "previous_view_id": None,
                "app_id": self.app_id,
                "bot_id": self.bot_id,
            }
        if callback_id is not None:
            view["callback_id"] = callback_id
        if private_metadata is not None:
            view["private_metadata"] = private_metadata
        view["state"] = {"values": state}
        return {
            "type": "view_submission",
            "team": self._team_ref(),
            "user": self._user_ref(user_id),
            "api_app_id": self.app_id,
            "token": self.verification_token,
            "trigger_id": self.issue_trigger_id(user_id),
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def block_suggestion_payload(
        self, user_id: str, action_id: str, value: str = "", *, view_id: str
    ) -> JsonDict:
        """The member typed ``value`` into an external select of a stored view."""
        stored = self.views[view_id]
        block_id, _ = find_element(stored.view.get("blocks"), action_id)
        return {
            "type": "block_suggestion",
            "user": self._user_ref(user_id),
            "container": {"type": "view", "view_id": view_id},
            "api_app_id": self.app_id,
            "token": self.verification_token,
            "action_id": action_id,
            "block_id": block_id or "fake_block",
            "value": value,
            "team": self._team_ref(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": stored.to_api(),
        }

    def view_closed_payload(self, user_id: str, *, view_id: str) -> JsonDict:
        """The user closed a modal opened with ``notify_on_close``."""
        return {
            "type": "view_closed",
            "team": self._team_ref(),
            "user": self._user_ref(user_id),
            "api_app_id": self.app_id,
            "token": self.verification_token,
            "view": self.views[view_id].to_api(),
            "is_cleared": False,
            "is_enterprise_install": False,
        }

    def event_payload(
        self, event: JsonDict, *, event_id: str | None = None, event_time: int | None = None
    ) -> JsonDict:
        """Events API ``event_callback`` envelope around ``event``."""
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": event_time or int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-fake-" + secrets.token_hex(6),
        }

    def url_verification_payload(self, challenge: str = "fake-challenge") -> JsonDict:
        return {
            "token": self.verification_token,
            "challenge": challenge,
            "type": "url_verification",
        }

    def app_home_opened_event(self, user_id: str, tab: str = "home") -> JsonDict:
        event: JsonDict = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.dm_channel_id(user_id),
            "tab": tab,
            "event_ts": self.clock.next(),
        }
        home = self.home_views.get(user_id)
        if home is not None and tab == "home":
            event["view"] = home.to_api()
        return event

    def im_message_event(
        self,
        user_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
        files: list[JsonDict] | None = None,
    ) -> JsonDict:
        """A DM from ``user_id`` to the bot; also stored so conversations.history sees it.

        ``files`` ({"name", "mimetype"} each, anything else overrides) makes it a
        ``file_share`` message carrying Slack file objects with private URLs and permalinks.
        """
        channel = self.channels[self.dm_channel_id(user_id)]
        msg = self.store_message(channel, text=text, user=user_id, thread_ts=thread_ts)
        shared = [self._file_object(user_id, spec) for spec in files or []]
        msg.files = shared
        event: JsonDict = {
            "type": "message",
            "channel": channel.id,
            "user": user_id,
            "text": text,
            "ts": msg.ts,
            "event_ts": msg.ts,
            "channel_type": "im",
            "team": self.team_id,
            "client_msg_id": str(uuid.uuid4()),
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
            parent = self.message(channel.id, thread_ts)
            if parent is not None:
                event["parent_user_id"] = parent.user
        if shared:
            event.update(subtype="file_share", files=shared, upload=False)
        return event

    def _file_object(self, user_id: str, spec: JsonDict) -> JsonDict:
        file_id = self.ids.next("F")
        name = str(spec.get("name") or "file")
        base = f"https://files.slack.com/files-pri/{self.team_id}-{file_id}"
        return {
            "id": file_id,
            "created": int(time.time()),
            "name": name,
            "title": name,
            "mimetype": spec.get("mimetype") or "application/octet-stream",
            "filetype": name.rsplit(".", 1)[-1] if "." in name else "binary",
            "user": user_id,
            "mode": "hosted",
            "size": 1024,
            "url_private": f"{base}/{name}",
            "url_private_download": f"{base}/download/{name}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{user_id}/{file_id}/{name}",
            **spec,
        }

    def reaction_added_event(
        self, user_id: str, channel_id: str, ts: str, reaction: str = "thumbsup"
    ) -> JsonDict:
        """``user_id`` reacted to the message ``ts``; also recorded on the stored message."""
        msg = self.message(channel_id, ts)
        if msg is not None:
            users = msg.reactions.setdefault(reaction, [])
            if user_id not in users:
                users.append(user_id)
        return {
            "type": "reaction_added",
            "user": user_id,
            "reaction": reaction,
            "item": {"type": "message", "channel": channel_id, "ts": ts},
            "item_user": msg.user if msg is not None else None,
            "event_ts": self.clock.next(),
        }

    def member_joined_channel_event(
        self, user_id: str, channel_id: str, *, inviter: str | None = None
    ) -> JsonDict:
        """``user_id`` joined ``channel_id``; the fake's membership is updated to match."""
        channel = self.channels[channel_id]
        if user_id not in channel.members:
            channel.members.append(user_id)
        event: JsonDict = {
            "type": "member_joined_channel",
            "user": user_id,
            "channel": channel_id,
            "channel_type": "G" if channel.is_private else "C",
            "team": self.team_id,
            "event_ts": self.clock.next(),
        }
        if inviter:
            event["inviter"] = inviter
        return event

    def build_payload(self, kind: str, **kwargs: Any) -> JsonDict:
        """Dispatch to the builder for ``kind`` (slash_command, block_actions, event…)."""
        builders: dict[str, Callable[..., JsonDict]] = {
            "slash_command": self.slash_command_payload,
            "block_actions": self.block_actions_payload,
            "view_submission": self.view_submission_payload,
            "block_suggestion": self.block_suggestion_payload,
            "view_closed": self.view_closed_payload,
            "event": self.event_payload,
            "url_verification": self.url_verification_payload,
        }
        if kind not in builders:
            raise ValueError(f"unknown payload kind {kind!r}; expected one of {sorted(builders)}")
        return builders[kind](**kwargs)

    # ------------------------------------------------------------------ encoding & signing

    @staticmethod
    def encode_body(kind: str, payload: JsonDict) -> tuple[bytes, str]:
        """Body bytes and Content-Type exactly as Slack posts ``kind`` to a Request URL."""
        if kind in FORM_KINDS:
            return urlencode(payload).encode(), "application/x-www-form-urlencoded"
        if kind in INTERACTIVE_KINDS:
            form = urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
            return form.encode(), "application/x-www-form-urlencoded"
        if kind in JSON_KINDS:
            return json.dumps(payload, separators=(",", ":")).encode(), "application/json"
        raise ValueError(f"unknown payload kind {kind!r}")

    def sign(
        self, body: bytes, *, timestamp: int | None = None, secret: str | None = None
    ) -> dict[str, str]:
        """X-Slack-Signature / X-Slack-Request-Timestamp headers for ``body``."""
        ts = int(time.time()) if timestamp is None else timestamp
        return {
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign_body(secret or self.signing_secret, body, ts),
        }

    def signed_request(
        self,
        kind: str,
        payload: JsonDict | None = None,
        *,
        timestamp: int | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        secret: str | None = None,
        **builder_kwargs: Any,
    ) -> tuple[bytes, dict[str, str]]:
        """A signed HTTP request for ``kind``: (body, headers).

        ``payload`` defaults to ``build_payload(kind, **builder_kwargs)``. ``timestamp``
        backdates the request (older than 5 min → apps must answer 401), ``secret`` signs with
        another secret (bad signature) and ``retry_num``/``retry_reason`` add the headers Slack
        sets when re-delivering an event.
        """
        if payload is None:
            payload = self.build_payload(kind, **builder_kwargs)
        body, content_type = self.encode_body(kind, payload)
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **self.sign(body, timestamp=timestamp, secret=secret),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return body, headers
