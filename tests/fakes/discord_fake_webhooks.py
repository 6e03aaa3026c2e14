"""Interaction callback and interaction-webhook routes of the fake Discord.

discord.py 2.7 details (``discord/webhook/async_.py``, ``discord/interactions.py``):

* Every ``InteractionResponse`` method POSTs ``/interactions/{id}/{token}/callback`` with
  ``?with_response=1`` and builds an ``InteractionCallbackResponse`` from the JSON answer, which
  *must* contain ``interaction.id``; an empty 204 would crash it.  The fake returns
  ``{"interaction": {...}, "resource": {"type": ..., "message": {...}}}``.
* With files, the callback is ``multipart/form-data`` (``payload_json`` + ``files[n]``).
* Follow-ups use ``POST /webhooks/{application_id}/{token}?wait=1``; like Discord, the first
  follow-up after a deferred "thinking" response (type 5) edits the loading message instead of
  creating a new one.  ``@original`` is the response message (or, for component interactions
  answered with type 6/7, the message carrying the component).
* These routes are unauthenticated (discord.py sends no ``Authorization`` header for them).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from aiohttp import web

from tests.fakes.discord_fake_http import json_response, no_content
from tests.fakes.discord_fake_interactions import (
    EPHEMERAL,
    CallbackType,
    InteractionCallback,
    InteractionType,
    PendingInteraction,
    UploadedFile,
    check_callback_allowed,
)
from tests.fakes.discord_fake_rest import Req, RestBase, Route
from tests.fakes.discord_fake_types import JSON, ApiError, iso

LOADING = 1 << 7
_TRUE = ("1", "true", "True")


class WebhookApi(RestBase):
    """Unauthenticated interaction routes (callback, follow-ups, ``@original``)."""

    def routes(self) -> list[Route]:
        wh = "/webhooks/{application_id}/{token}"
        return [
            ("POST", "/interactions/{interaction_id}/{token}/callback", self.callback),
            ("POST", wh, self.followup),
            ("GET", f"{wh}/messages/{{message_id}}", self.get_message),
            ("PATCH", f"{wh}/messages/{{message_id}}", self.edit_message),
            ("DELETE", f"{wh}/messages/{{message_id}}", self.delete_message),
        ]

    # ---------------------------------------------------------------- helpers
    def _pending_by_token(self, req: Req) -> PendingInteraction:
        pending = self.fake.pending_by_token.get(req.params["token"])
        if pending is None or req.params["application_id"] != str(self.st.application_id):
            raise ApiError.not_found("Webhook", 10015)
        return pending

    def _create_message(
        self, pending: PendingInteraction, data: JSON, files: list[UploadedFile], flags: int
    ) -> JSON:
        payload = pending.payload
        user = payload.get("member", {}).get("user") or payload.get("user")
        body = {**data, "flags": flags}
        return self.st.create_message(
            int(payload["channel_id"]),
            self.st.bot_user_id,
            body=body,
            attachments=self.attachments_from(files),
            type=20 if pending.type == InteractionType.APPLICATION_COMMAND else 0,
            extra={
                "webhook_id": str(self.st.application_id),
                "application_id": str(self.st.application_id),
                "interaction_metadata": {
                    "id": payload["id"],
                    "type": pending.type,
                    "user": user,
                    "authorizing_integration_owners": payload["authorizing_integration_owners"],
                },
            },
            ephemeral=bool(flags & EPHEMERAL),
        )

    async def _announce(self, message: JSON) -> None:
        if not int(message.get("flags") or 0) & EPHEMERAL:
            await self.emit_message_create(message)

    def _apply_edit(self, message: JSON, data: JSON, files: list[UploadedFile]) -> None:
        for key in ("content", "embeds", "components"):
            if key in data:
                message[key] = (
                    data[key] if data[key] is not None else ("" if key == "content" else [])
                )
        if "attachments" in data:
            keep = {str(a["id"]) for a in data["attachments"] or [] if "id" in a}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in keep]
        message["attachments"] = [
            *message["attachments"],
            *self.attachments_from(files),
        ]
        message["flags"] = int(message.get("flags") or 0) & ~LOADING
        message["edited_timestamp"] = iso()

    # --------------------------------------------------------------- callback
    async def callback(self, req: Req) -> web.StreamResponse:
        pending = self.fake.pending_interactions.get(req.id("interaction_id"))
        if pending is None or pending.token != req.params["token"]:
            raise ApiError.not_found("interaction", 10062)
        body = req.json
        cb_type = int(body.get("type") or 0)
        data: JSON = body.get("data") or {}
        check_callback_allowed(pending, cb_type)
        self._validate(cb_type, data, req)

        message: JSON | None = None
        loading = False
        if cb_type == CallbackType.CHANNEL_MESSAGE:
            message = self._create_message(pending, data, req.files, int(data.get("flags") or 0))
        elif cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE:
            flags = (int(data.get("flags") or 0) & EPHEMERAL) | LOADING
            message = self._create_message(pending, {"content": ""}, [], flags)
            loading = True
        elif cb_type in (CallbackType.UPDATE_MESSAGE, CallbackType.DEFERRED_UPDATE_MESSAGE):
            source = pending.payload.get("message")
            if source is not None:
                mid = int(source["id"])
                message = self.st.messages.get(mid) or self.st.ephemeral_messages.get(mid)
                if message is None:  # component on a message the fake never stored
                    message = copy.deepcopy(source)
                    self.st.messages[mid] = message
                if cb_type == CallbackType.UPDATE_MESSAGE:
                    self._apply_edit(message, data, req.files)
        pending.responded_at = time.monotonic()
        pending.response = InteractionCallback(
            type=cb_type, data=body.get("data"), files=list(req.files)
        )
        if message is not None:
            pending.original_message_id = int(message["id"])
            if cb_type != CallbackType.DEFERRED_UPDATE_MESSAGE:
                await self._announce(message)
        pending._notify()

        if req.request.query.get("with_response") not in _TRUE:
            return no_content()
        info: JSON = {
            "id": str(pending.id),
            "type": pending.type,
            "response_message_loading": loading,
            "response_message_ephemeral": bool(
                message and int(message.get("flags") or 0) & EPHEMERAL
            ),
        }
        result: JSON = {"interaction": info}
        if message is not None and cb_type != CallbackType.DEFERRED_UPDATE_MESSAGE:
            info["response_message_id"] = message["id"]
            result["resource"] = {"type": cb_type, "message": copy.deepcopy(message)}
        return json_response(result)

    def _validate(self, cb_type: int, data: JSON, req: Req) -> None:
        if cb_type == CallbackType.CHANNEL_MESSAGE:
            self.validate_message_body(data, req.files)
        elif cb_type == CallbackType.MODAL:
            comps = data.get("components") or []
            if not data.get("custom_id") or not data.get("title") or not 1 <= len(comps) <= 5:
                raise ApiError.invalid_form(
                    "data", "MODAL_INVALID", "Modal needs custom_id, title and 1-5 components"
                )
            if len(str(data["title"])) > 45:
                raise ApiError.invalid_form(
                    "data.title", "BASE_TYPE_MAX_LENGTH", "Must be 45 or fewer in length."
                )
        elif cb_type == CallbackType.AUTOCOMPLETE_RESULT and len(data.get("choices") or []) > 25:
            raise ApiError.invalid_form(
                "data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )

    # -------------------------------------------------------------- followups
    async def followup(self, req: Req) -> web.StreamResponse:
        pending = self._pending_by_token(req)
        if pending.response is None:
            raise ApiError.not_found("Webhook", 10015)
        data = req.json
        self.validate_message_body(data, req.files)
        original = self.st.ephemeral_messages.get(
            pending.original_message_id or 0
        ) or self.st.messages.get(pending.original_message_id or 0)
        if (
            pending.response.type == CallbackType.DEFERRED_CHANNEL_MESSAGE
            and not pending.followups
            and original is not None
            and int(original.get("flags") or 0) & LOADING
        ):
            # Discord: the first follow-up after a "thinking" defer edits the loading message.
            self._apply_edit(original, data, req.files)
            message = original
        else:
            message = self._create_message(pending, data, req.files, int(data.get("flags") or 0))
            await self._announce(message)
        pending.followups.append(copy.deepcopy(message))
        pending._notify()
        if req.request.query.get("wait") in _TRUE:
            return json_response(copy.deepcopy(message))
        return no_content()

    def _webhook_message(self, req: Req) -> tuple[PendingInteraction, JSON, bool]:
        pending = self._pending_by_token(req)
        raw = req.params["message_id"]
        is_original = raw == "@original"
        if is_original:
            if pending.original_message_id is None:
                raise ApiError.not_found("Message", 10008)
            mid = pending.original_message_id
        else:
            mid = req.id("message_id")
        return pending, self.st.any_message(mid), is_original

    async def get_message(self, req: Req) -> web.StreamResponse:
        _, message, _ = self._webhook_message(req)
        return json_response(copy.deepcopy(message))

    async def edit_message(self, req: Req) -> web.StreamResponse:
        pending, message, is_original = self._webhook_message(req)
        data: Any = req.json
        self._apply_edit(message, data, req.files)
        self.validate_message_body(message, [])
        if is_original:
            pending.original_edits.append(copy.deepcopy(message))
        else:
            pending.followups = [
                copy.deepcopy(message) if f["id"] == message["id"] else f for f in pending.followups
            ]
        pending._notify()
        return json_response(copy.deepcopy(message))

    async def delete_message(self, req: Req) -> web.StreamResponse:
        _, message, _ = self._webhook_message(req)
        mid = int(message["id"])
        self.st.messages.pop(mid, None)
        self.st.ephemeral_messages.pop(mid, None)
        return no_content()
