"""SlackPort repeats no message: the effect's key rides in message metadata and an uncertain
re-send looks for it in the conversation first."""

from __future__ import annotations

import pytest

from adapters.slack.port import effect_metadata
from core.messages import File, Message
from core.ports import Attempt, RetryLater, Target
from tests.adapters.slack.conftest import ANA, BOB, GENERAL, Slack

TARGET = Target("community-id", "slack", "T0FAKETEAM")


async def test_every_message_carries_its_key_in_metadata(slack: Slack) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    posted = await port.post(TARGET, GENERAL, Message(text="Hello all"), False, Attempt("post:1"))
    dm = await port.send_dm(TARGET, ANA, Message(text="Hi Ana"), None, Attempt("dm:1"))
    reply = await port.send_dm(
        TARGET, ANA, Message(text="And again"), dm["thread_id"], Attempt("dm:2")
    )
    assert [c.args["metadata"] for c in fake.calls_to("chat.postMessage")] == [
        {"event_type": "mentorbot_effect", "event_payload": {"key": key}}
        for key in ("post:1", "dm:1", "dm:2")
    ]
    stored = [
        fake.message(GENERAL, posted["ts"]),
        fake.message(fake.dm_channel_id(ANA), dm["ts"]),
        fake.message(fake.dm_channel_id(ANA), reply["ts"]),
    ]
    assert [m.metadata if m else None for m in stored] == [
        effect_metadata("post:1"),
        effect_metadata("dm:1"),
        effect_metadata("dm:2"),
    ]
    # A first attempt has nothing to look for.
    assert not fake.calls_to("conversations.history")
    assert not fake.calls_to("conversations.replies")


async def test_an_uncertain_resend_finds_the_post_in_history_and_sends_nothing(
    slack: Slack,
) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    first = await port.post(TARGET, GENERAL, Message(text="Welcome"), True, Attempt("post:7"))
    await port.post(TARGET, GENERAL, Message(text="Later news"), False, Attempt("post:8"))
    again = await port.post(
        TARGET, GENERAL, Message(text="Welcome"), True, Attempt("post:7", uncertain=True)
    )
    assert again == first
    assert [m.text for m in fake.messages(GENERAL)] == ["Welcome", "Later news"]
    assert len(fake.calls_to("chat.postMessage")) == 2
    [looked] = fake.calls_to("conversations.history")
    assert looked.args["include_all_metadata"] in (True, "true", "1", 1)
    pinned = fake.message(GENERAL, first["ts"])
    assert pinned is not None
    assert pinned.pinned


async def test_an_uncertain_resend_not_found_in_history_is_sent(slack: Slack) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    await port.post(TARGET, GENERAL, Message(text="Other news"), False, Attempt("post:1"))
    sent = await port.post(
        TARGET, GENERAL, Message(text="Welcome"), False, Attempt("post:2", uncertain=True)
    )
    assert len(fake.calls_to("conversations.history")) == 1
    assert [m.text for m in fake.messages(GENERAL)] == ["Other news", "Welcome"]
    stored = fake.message(GENERAL, sent["ts"])
    assert stored is not None
    assert stored.metadata == effect_metadata("post:2")


async def test_an_uncertain_reply_in_a_dm_thread_is_looked_for_in_the_thread(
    slack: Slack,
) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    start = await port.send_dm(TARGET, ANA, Message(text="Bo accepted"), None, Attempt("dm:1"))
    reply = await port.send_dm(
        TARGET, ANA, Message(text="Hi from Bo"), start["thread_id"], Attempt("dm:2")
    )
    again = await port.send_dm(
        TARGET,
        ANA,
        Message(text="Hi from Bo"),
        start["thread_id"],
        Attempt("dm:2", uncertain=True),
    )
    assert again == reply
    assert [m.text for m in fake.messages(ANA)] == ["Bo accepted", "Hi from Bo"]
    [looked] = fake.calls_to("conversations.replies")
    assert looked.args["ts"] == start["thread_id"]


async def test_files_not_shared_after_the_found_message_are_shared_once(slack: Slack) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    message = Message(text="Your export", files=(File("export.json", b"{}", "application/json"),))
    fake.fail_next("files.getUploadURLExternal", 500, times=4)  # beyond the in-place retries
    with pytest.raises(RetryLater, match="sharing files"):
        await port.post(TARGET, GENERAL, message, False, Attempt("export:1"))
    await port.post(TARGET, GENERAL, message, False, Attempt("export:1", uncertain=True))
    await port.post(TARGET, GENERAL, message, False, Attempt("export:1", uncertain=True))
    assert [m.text for m in fake.messages(GENERAL) if not m.files] == ["Your export"]
    assert [m.files[0]["name"] for m in fake.messages(GENERAL) if m.files] == ["export.json"]


async def test_a_conversation_it_cannot_read_is_posted_to_anyway(slack: Slack) -> None:
    bot = await slack()
    port, fake = bot.app.port, bot.fake
    fake.revoke_scope("channels:history")  # an install from before the scope was asked for
    await port.post(
        TARGET, GENERAL, Message(text="Welcome"), False, Attempt("post:1", uncertain=True)
    )
    [looked] = fake.calls_to("conversations.history")
    assert looked.error == "missing_scope"
    assert [m.text for m in fake.messages(GENERAL)] == ["Welcome"]


async def test_a_badge_already_held_or_already_gone_changes_no_user_group(slack: Slack) -> None:
    bot = await slack(badge_usergroups=True)
    port, fake = bot.app.port, bot.fake
    group = await port.ensure_role(TARGET, "Mentor", None)
    await port.grant_role(TARGET, ANA, group)
    updates = len(fake.calls_to("usergroups.users.update"))
    await port.grant_role(TARGET, ANA, group)  # held: read, not written
    await port.revoke_role(TARGET, BOB, group)  # never held: read, not written
    assert len(fake.calls_to("usergroups.users.update")) == updates == 1
    assert not fake.calls_to("usergroups.disable")
    assert fake.usergroups[group].users == [ANA]
