"""Proves ``FakeSlack`` against the real slack_sdk / slack_bolt (no network beyond 127.0.0.1)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_fake import FakeSlack, serve_bolt_app

MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "goal_modal",
    "private_metadata": "pair-42",
    "title": {"type": "plain_text", "text": "Set a goal"},
    "submit": {"type": "plain_text", "text": "Save"},
    "blocks": [
        {
            "type": "input",
            "block_id": "goal_block",
            "label": {"type": "plain_text", "text": "Goal"},
            "element": {"type": "plain_text_input", "action_id": "goal"},
        },
        {
            "type": "input",
            "block_id": "level_block",
            "label": {"type": "plain_text", "text": "Level"},
            "element": {
                "type": "static_select",
                "action_id": "level",
                "options": [
                    {"text": {"type": "plain_text", "text": "Beginner"}, "value": "beg"},
                    {"text": {"type": "plain_text", "text": "Expert"}, "value": "exp"},
                ],
            },
        },
    ],
}
BUTTON_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Accept the match?"}},
    {
        "type": "actions",
        "block_id": "match_actions",
        "elements": [
            {
                "type": "button",
                "action_id": "accept_match",
                "text": {"type": "plain_text", "text": "Accept"},
                "value": "match-7",
            }
        ],
    },
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_user("U1", "ana", tz="Europe/Madrid")
        server.add_user("U2", "bo", tz="America/Bogota", is_admin=True)
        yield server


def web_client(fake: FakeSlack, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(base_url=fake.api_base_url, token=fake.bot_token, **kwargs)


def bolt_app(fake: FakeSlack) -> AsyncApp:
    # Pass the token only through the client: AsyncApp(token=..., client=...) ignores the
    # token and logs a warning.
    return AsyncApp(client=web_client(fake), signing_secret=fake.signing_secret)


# ------------------------------------------------------------------------ 1. Web API


async def test_auth_test_and_users_info(fake: FakeSlack) -> None:
    client = web_client(fake)
    auth = await client.auth_test()
    assert auth["user_id"] == fake.bot_user_id
    assert auth["bot_id"] == fake.bot_id
    assert auth["team_id"] == fake.team_id
    user = (await client.users_info(user="U2"))["user"]
    assert (user["name"], user["tz"], user["is_admin"]) == ("bo", "America/Bogota", True)
    assert user["tz_offset"] == -5 * 3600
    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="UNOPE")
    assert err.value.response["error"] == "user_not_found"
    assert fake.calls_to("users.info")[0].http_method == "GET"  # slack_sdk reads with GET


async def test_open_dm_and_post_message_with_blocks(fake: FakeSlack) -> None:
    client = web_client(fake)
    dm = (await client.conversations_open(users="U1"))["channel"]["id"]
    assert dm.startswith("D")
    assert (await client.conversations_open(users=["U1"]))["channel"]["id"] == dm
    sent = await client.chat_postMessage(channel=dm, text="Match found", blocks=BUTTON_BLOCKS)
    assert sent["channel"] == dm
    assert sent["message"]["blocks"] == BUTTON_BLOCKS
    reply = await client.chat_postMessage(channel=dm, text="in thread", thread_ts=sent["ts"])
    # posting to a user id lands in the same DM, as on Slack
    await client.chat_postMessage(channel="U1", text="second")

    stored = fake.messages(dm)
    assert [m.text for m in stored] == ["Match found", "in thread", "second"]
    assert stored[0].blocks == BUTTON_BLOCKS
    assert stored[1].thread_ts == sent["ts"]
    assert fake.calls_to("chat.postMessage")[0].args["blocks"] == BUTTON_BLOCKS
    history = await client.conversations_history(channel=dm)
    assert [m["text"] for m in history["messages"]] == ["second", "Match found"]
    replies = await client.conversations_replies(channel=dm, ts=sent["ts"])
    assert [m["ts"] for m in replies["messages"]] == [sent["ts"], reply["ts"]]

    updated = await client.chat_update(channel=dm, ts=sent["ts"], text="Matched!", blocks=[])
    assert updated["text"] == "Matched!"
    await client.chat_delete(channel=dm, ts=reply["ts"])
    assert [m.text for m in fake.messages(dm)] == ["Matched!", "second"]
    eph = await client.chat_postEphemeral(channel=dm, user="U1", text="only you")
    assert fake.ephemerals_for("U1")[0].ts == eph["message_ts"]


async def test_form_post_with_json_string_fields_is_decoded(fake: FakeSlack) -> None:
    client = web_client(fake)
    await client.api_call(
        "chat.postMessage",
        data={"channel": "U1", "text": "form", "blocks": json.dumps(BUTTON_BLOCKS)},
    )
    call = fake.calls_to("chat.postMessage")[0]
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.args["blocks"] == BUTTON_BLOCKS
    assert fake.messages("U1")[0].blocks == BUTTON_BLOCKS
    # multipart (what slack_sdk sends when files are attached) is merged as well
    await client.api_call(
        "chat.postMessage",
        data={"channel": "U1", "text": "multi"},
        files={"file": io.BytesIO(b"abc")},
    )
    multi = fake.calls_to("chat.postMessage")[1]
    assert multi.content_type == "multipart/form-data"
    assert (multi.args["text"], multi.args["file"]["content"]) == ("multi", b"abc")


async def test_views_publish_open_update(fake: FakeSlack) -> None:
    client = web_client(fake)
    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hi"}}],
    }
    published = await client.views_publish(user_id="U1", view=home)
    assert fake.home_views["U1"].view == home
    again = await client.views_publish(user_id="U1", view=home, hash=published["view"]["hash"])
    assert again["view"]["id"] == published["view"]["id"]
    with pytest.raises(SlackApiError) as err:
        await client.views_publish(user_id="U1", view=home, hash="stale")
    assert err.value.response["error"] == "hash_conflict"

    trigger = fake.issue_trigger_id("U1")
    opened = await client.views_open(trigger_id=trigger, view=MODAL)
    assert opened["view"]["callback_id"] == "goal_modal"
    with pytest.raises(SlackApiError) as err:
        await client.views_open(trigger_id=trigger, view=MODAL)
    assert err.value.response["error"] == "exchanged_trigger_id"
    with pytest.raises(SlackApiError) as err:
        await client.views_open(trigger_id="made-up", view=MODAL)
    assert err.value.response["error"] == "invalid_trigger_id"
    too_long = {**MODAL, "title": {"type": "plain_text", "text": "A title longer than 24 chars"}}
    with pytest.raises(SlackApiError) as err:
        await client.views_open(trigger_id=fake.issue_trigger_id("U1"), view=too_long)
    assert err.value.response["error"] == "invalid_arguments"
    assert "/view/title/text" in err.value.response["response_metadata"]["messages"][0]
    updated = await client.views_update(view_id=opened["view"]["id"], view={**MODAL, "blocks": []})
    assert updated["view"]["blocks"] == []


async def test_usergroups(fake: FakeSlack) -> None:
    client = web_client(fake)
    created = await client.usergroups_create(name="Mentors", handle="mentors")
    group_id = created["usergroup"]["id"]
    assert group_id.startswith("S")
    with pytest.raises(SlackApiError) as err:
        await client.usergroups_create(name="Mentors", handle="other")
    assert err.value.response["error"] == "name_already_exists"
    await client.usergroups_users_update(usergroup=group_id, users=["U1", "U2"])
    assert (await client.usergroups_users_list(usergroup=group_id))["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as err:
        await client.usergroups_users_update(usergroup=group_id, users=["U1", "UGHOST"])
    assert err.value.response["error"] == "invalid_users"
    await client.usergroups_update(usergroup=group_id, description="All mentors")
    listed = (await client.usergroups_list(include_users=True))["usergroups"]
    assert [(g["handle"], g["users"], g["description"]) for g in listed] == [
        ("mentors", ["U1", "U2"], "All mentors")
    ]
    fake.paid_plan = False
    with pytest.raises(SlackApiError) as err:
        await client.usergroups_create(name="Free", handle="free")
    assert err.value.response["error"] == "paid_teams_only"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("Mentor Circle", "invalid_name_specials"),
        ("mentor.circle", "invalid_name_specials"),
        ("m" * 81, "invalid_name_maxlength"),
        ("---", "invalid_name_punctuation"),
        ("", "invalid_name_required"),
    ],
)
async def test_conversations_create_rejects_bad_names(
    fake: FakeSlack, name: str, error: str
) -> None:
    with pytest.raises(SlackApiError) as err:
        await web_client(fake).conversations_create(name=name)
    assert err.value.response["error"] == error


async def test_channel_lifecycle(fake: FakeSlack) -> None:
    client = web_client(fake)
    made = await client.conversations_create(name="pair-ana-bo", is_private=True)
    channel = made["channel"]
    assert channel["is_private"] is True
    assert fake.calls_to("conversations.create")[0].args["is_private"] == "1"  # bools → "1"
    with pytest.raises(SlackApiError) as err:
        await client.conversations_create(name="pair-ana-bo")
    assert err.value.response["error"] == "name_taken"
    await client.conversations_invite(channel=channel["id"], users=["U1", "U2"])
    with pytest.raises(SlackApiError) as err:
        await client.conversations_invite(channel=channel["id"], users="U1")
    assert err.value.response["error"] == "already_in_channel"
    page = await client.conversations_members(channel=channel["id"], limit=2)
    assert page["members"] == [fake.bot_user_id, "U1"]
    cursor = page["response_metadata"]["next_cursor"]
    rest = await client.conversations_members(channel=channel["id"], cursor=cursor, limit=2)
    assert rest["members"] == ["U2"]
    assert rest["response_metadata"]["next_cursor"] == ""
    await client.conversations_kick(channel=channel["id"], user="U2")
    await client.conversations_setTopic(channel=channel["id"], topic="Weekly pairing")
    info = await client.conversations_info(channel=channel["id"], include_num_members=True)
    assert (info["channel"]["num_members"], info["channel"]["topic"]["value"]) == (
        2,
        "Weekly pairing",
    )
    await client.conversations_archive(channel=channel["id"])
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=channel["id"], text="hello?")
    assert err.value.response["error"] == "is_archived"
    with pytest.raises(SlackApiError) as err:  # archived names stay taken
        await client.conversations_create(name="pair-ana-bo")
    assert err.value.response["error"] == "name_taken"


async def test_unknown_method_and_token_checks(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        await web_client(fake).api_call("mentors.teleport")
    assert err.value.response["error"] == "unknown_method"
    assert [c.method for c in fake.unhandled] == ["mentors.teleport"]
    with pytest.raises(SlackApiError) as err:
        await AsyncWebClient(base_url=fake.api_base_url).auth_test()
    assert err.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as err:
        await AsyncWebClient(base_url=fake.api_base_url, token=fake.app_token).auth_test()
    assert err.value.response["error"] == "not_allowed_token_type"


# ------------------------------------------------------------------------ 2. retries, scopes


async def test_message_metadata_is_kept_and_read_back_only_when_asked(fake: FakeSlack) -> None:
    client = web_client(fake)
    metadata = {"event_type": "task_created", "event_payload": {"id": "TK-1", "n": 2}}
    top = await client.chat_postMessage(channel="U1", text="top", metadata=metadata)
    dm = top["channel"]
    reply = await client.chat_postMessage(
        channel=dm, text="reply", thread_ts=top["ts"], metadata=metadata
    )
    assert [m.metadata for m in fake.messages(dm)] == [metadata, metadata]
    plain = await client.conversations_history(channel=dm)
    assert "metadata" not in plain["messages"][0]
    full = await client.conversations_history(channel=dm, include_all_metadata=True)
    assert full["messages"][0]["metadata"] == metadata
    thread = await client.conversations_replies(channel=dm, ts=top["ts"], include_all_metadata=True)
    assert [m["metadata"] for m in thread["messages"]] == [metadata, metadata]
    # A reply range still starts with the thread's parent, as on Slack.
    later = await client.conversations_replies(channel=dm, ts=top["ts"], oldest=reply["ts"])
    assert [m["ts"] for m in later["messages"]] == [top["ts"]]
    for bad in ({"event_type": "has space", "event_payload": {}}, {"event_type": "x"}, "text"):
        with pytest.raises(SlackApiError) as err:
            await client.chat_postMessage(channel=dm, text="bad", metadata=bad)
        assert err.value.response["error"] in ("invalid_metadata_schema", "invalid_metadata_format")
    assert len(fake.messages(dm)) == 2


async def test_a_fault_can_be_limited_to_one_channel(fake: FakeSlack) -> None:
    fake.add_channel("general", channel_id="C1", members=["U1"])
    fake.add_channel("random", channel_id="C2", members=["U1"])
    client = web_client(fake, retry_handlers=[])
    fake.fail_next("chat.postMessage", 429, retry_after=30, channel="C1")
    await client.chat_postMessage(channel="C2", text="goes through")
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="throttled")
    assert (err.value.response.status_code, err.value.response["error"]) == (429, "ratelimited")
    assert err.value.response.headers["Retry-After"] in ("30", ["30"])
    await client.chat_postMessage(channel="C1", text="later")
    assert [m.text for m in fake.messages("C1")] == ["later"]
    assert [m.text for m in fake.messages("C2")] == ["goes through"]


async def test_retry_handlers_survive_429_then_500(fake: FakeSlack) -> None:
    # slack_sdk's RetryState.current_attempt is shared by all handlers: after the 429 retry it
    # is 1, so a 500 needs max_retry_count >= 2 on the server-error handler.
    client = web_client(
        fake,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncServerErrorRetryHandler(
                max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
            ),
        ],
    )
    fake.fail_next("chat.postMessage", 429, retry_after=0)
    fake.fail_next("chat.postMessage", 500)
    result = await client.chat_postMessage(channel="U1", text="persisted once")
    assert result["ok"] is True
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 500, 200]
    assert [m.text for m in fake.messages()] == ["persisted once"]


async def test_default_retry_budget_is_shared_across_handlers(fake: FakeSlack) -> None:
    client = web_client(
        fake, retry_handlers=[AsyncRateLimitErrorRetryHandler(), AsyncServerErrorRetryHandler()]
    )
    fake.fail_next("chat.postMessage", 429, retry_after=0)
    fake.fail_next("chat.postMessage", 503)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="U1", text="lost")
    assert err.value.response.status_code == 503
    assert fake.messages() == []


async def test_injected_api_error_and_missing_scope(fake: FakeSlack) -> None:
    client = web_client(fake)
    fake.fail_next("conversations.open", status=200, error="user_disabled")
    with pytest.raises(SlackApiError) as err:
        await client.conversations_open(users="U1")
    assert err.value.response["error"] == "user_disabled"

    fake.revoke_scope("usergroups:write")
    with pytest.raises(SlackApiError) as err:
        await client.usergroups_create(name="Mentees")
    assert err.value.response["error"] == "missing_scope"
    assert err.value.response["needed"] == "usergroups:write"
    assert "usergroups:write" not in err.value.response["provided"].split(",")
    assert fake.usergroups == {}


# ------------------------------------------------------------------------ 3. Bolt over HTTP


async def test_http_slash_command_ack_and_respond(fake: FakeSlack) -> None:
    app = bolt_app(fake)
    seen: list[dict[str, Any]] = []

    @app.command("/mentor")
    async def mentor(ack: Any, command: dict[str, Any], respond: Any) -> None:
        seen.append(command)
        await ack("On it")
        await respond("Here are your matches")

    async with serve_bolt_app(app) as url:
        resp = await fake.send_to_app(
            url, "slash_command", command="/mentor", text="find", user_id="U1"
        )
        assert (resp.status, resp.text) == (200, "On it")
        posts = await fake.wait_for_response_posts(1)
    assert seen[0]["text"] == "find"
    assert seen[0]["channel_id"] == fake.dm_channel_id("U1")
    assert posts[0].body["text"] == "Here are your matches"
    assert fake.ephemerals_for("U1")[0].text == "Here are your matches"


async def test_http_rejects_bad_signature_and_stale_timestamp(fake: FakeSlack) -> None:
    app = bolt_app(fake)
    calls: list[str] = []

    @app.command("/mentor")
    async def mentor(ack: Any) -> None:
        calls.append("called")
        await ack()

    async with serve_bolt_app(app) as url:
        bad = await fake.send_to_app(
            url, "slash_command", command="/mentor", user_id="U1", secret="not-the-secret"
        )
        stale = await fake.send_to_app(
            url,
            "slash_command",
            command="/mentor",
            user_id="U1",
            timestamp=int(time.time()) - 6 * 60,
        )
        body, headers = fake.signed_request("slash_command", command="/mentor", user_id="U1")
        tampered = await fake.post_to_app(url, body + b"&x=1", headers)
    assert (bad.status, stale.status, tampered.status) == (401, 401, 401)
    assert calls == []


async def test_http_block_actions_and_replace_original(fake: FakeSlack) -> None:
    app = bolt_app(fake)
    clicks: list[dict[str, Any]] = []

    @app.action("accept_match")
    async def accept(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        clicks.append(body)
        await respond(replace_original=True, text="Accepted ✅")

    sent = await web_client(fake).chat_postMessage(
        channel="U1", text="Match?", blocks=BUTTON_BLOCKS
    )
    async with serve_bolt_app(app) as url:
        resp = await fake.send_to_app(url, "block_actions", user_id="U1", action_id="accept_match")
        assert resp.status == 200
        await fake.wait_for_response_posts(1)
    action = clicks[0]["actions"][0]
    assert (action["value"], action["block_id"], action["type"]) == (
        "match-7",
        "match_actions",
        "button",
    )
    assert clicks[0]["container"]["message_ts"] == sent["ts"]
    assert fake.messages("U1")[0].text == "Accepted ✅"


async def test_http_view_submission_errors_in_response_body(fake: FakeSlack) -> None:
    app = bolt_app(fake)
    submitted: list[dict[str, Any]] = []

    @app.command("/goal")
    async def goal(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.view("goal_modal")
    async def on_submit(ack: Any, view: dict[str, Any]) -> None:
        submitted.append(view)
        await ack(response_action="errors", errors={"goal_block": "Too vague"})

    async with serve_bolt_app(app) as url:
        await fake.send_to_app(url, "slash_command", command="/goal", user_id="U1")
        opened = await fake.wait_for_calls("views.open")
        view_id = opened[0].response["view"]["id"]
        resp = await fake.send_to_app(
            url,
            "view_submission",
            user_id="U1",
            view_id=view_id,
            values={"goal_block": {"goal": "learn"}, "level_block": {"level": "exp"}},
        )
    assert resp.status == 200
    assert resp.json() == {"response_action": "errors", "errors": {"goal_block": "Too vague"}}
    values = submitted[0]["state"]["values"]
    assert values["goal_block"]["goal"] == {"type": "plain_text_input", "value": "learn"}
    assert values["level_block"]["level"]["selected_option"]["text"]["text"] == "Expert"
    assert submitted[0]["private_metadata"] == "pair-42"


async def test_http_event_retry_header_visible_to_app(fake: FakeSlack) -> None:
    app = bolt_app(fake)
    retries: list[Any] = []
    done = asyncio.Event()

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], request: Any) -> None:
        retries.append((event["user"], request.headers.get("x-slack-retry-num")))
        if len(retries) == 2:
            done.set()

    payload = fake.event_payload(fake.app_home_opened_event("U1"), event_id="Ev1")
    async with serve_bolt_app(app) as url:
        first = await fake.send_to_app(url, "event", payload)
        again = await fake.send_to_app(
            url, "event", payload, retry_num=1, retry_reason="http_timeout"
        )
        await asyncio.wait_for(done.wait(), 2)
        challenge = await fake.send_to_app(url, "url_verification", challenge="abc123")
    assert (first.status, again.status) == (200, 200)
    assert retries == [("U1", None), ("U1", ["1"])]
    assert challenge.json() == {"challenge": "abc123"}


async def test_in_process_dispatch(fake: FakeSlack) -> None:
    app = bolt_app(fake)

    @app.command("/mentor")
    async def mentor(ack: Any, command: dict[str, Any]) -> None:
        await ack(f"hello {command['user_name']}")

    resp = await fake.dispatch(app, "slash_command", command="/mentor", user_id="U2")
    assert (resp.status, resp.body) == (200, "hello bo")
    denied = await fake.dispatch(
        app, "slash_command", command="/mentor", user_id="U2", secret="wrong"
    )
    assert denied.status == 401


async def test_bolt_http_drops_slash_commands_mentioning_payload(fake: FakeSlack) -> None:
    # slack_bolt's parse_body treats any form body containing the substring "payload" as an
    # interactivity post; a command whose text says "payload" parses to {} → 404 unhandled.
    # Socket Mode is unaffected (the body arrives as a dict). If this starts failing, Bolt
    # fixed the quirk.
    app = bolt_app(fake)

    @app.command("/mentor")
    async def mentor(ack: Any) -> None:
        await ack("ok")

    fine = await fake.dispatch(app, "slash_command", command="/mentor", text="hi", user_id="U1")
    lost = await fake.dispatch(
        app, "slash_command", command="/mentor", text="show payload", user_id="U1"
    )
    assert (fine.status, lost.status) == (200, 404)


# ------------------------------------------------------------------------ 4. Socket Mode


async def test_socket_mode_command_and_event(fake: FakeSlack) -> None:
    app = bolt_app(fake)
    got: list[Any] = []
    event_seen = asyncio.Event()

    @app.command("/mentor")
    async def mentor(ack: Any, command: dict[str, Any]) -> None:
        got.append(command["text"])
        await ack(f"echo {command['text']}")

    @app.event("message")
    async def dm(event: dict[str, Any], request: Any) -> None:
        got.append((event["text"], request.headers.get("x-slack-retry-num")))
        event_seen.set()

    @app.view("goal_modal")
    async def on_submit(ack: Any) -> None:
        await ack(response_action="errors", errors={"b": "Too short"})

    handler = AsyncSocketModeHandler(app, app_token=fake.app_token)
    try:
        await handler.connect_async()
        envelope_id = await fake.socket_push(
            "slash_commands", command="/mentor", text="hi", user_id="U1"
        )
        assert await fake.wait_for_ack(envelope_id) == {"text": "echo hi"}
        event_id = await fake.socket_push(
            "events_api", event=fake.im_message_event("U1", "need a mentor")
        )
        assert await fake.wait_for_ack(event_id) == {}
        await asyncio.wait_for(event_seen.wait(), 2)
        submit_id = await fake.socket_push(
            "view_submission", user_id="U1", callback_id="goal_modal", values={"b": {"a": "x"}}
        )
        assert await fake.wait_for_ack(submit_id) == {
            "response_action": "errors",
            "errors": {"b": "Too short"},
        }
        await fake.wait_until(lambda: fake.socket_pings_received >= 1, what="client ping")
        await fake.socket_ping()
        await fake.wait_until(lambda: fake.socket_pongs_received >= 1, what="client pong")
    finally:
        await handler.close_async()
    await fake.wait_until(lambda: fake.socket_connected == 0, what="socket close")
    # Socket Mode envelopes carry retry_attempt=0 → Bolt exposes x-slack-retry-num "0"
    assert got == ["hi", ("need a mentor", ["0"])]
    call = fake.calls_to("apps.connections.open")[0]
    assert call.token == fake.app_token
    assert [e.accepts_response_payload for e in fake.envelopes] == [True, False, True]


async def test_socket_mode_reconnects_on_disconnect_request(fake: FakeSlack) -> None:
    app = bolt_app(fake)
    handler = AsyncSocketModeHandler(app, app_token=fake.app_token)
    try:
        await handler.connect_async()
        await fake.wait_until(lambda: fake.socket_connected == 1, what="first connection")
        await fake.socket_disconnect()
        await fake.wait_until(
            lambda: fake.socket_connections_total == 2 and fake.socket_connected == 1,
            what="reconnection",
        )
    finally:
        await handler.close_async()
    assert len(fake.calls_to("apps.connections.open")) == 2
