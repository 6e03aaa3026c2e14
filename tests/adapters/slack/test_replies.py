"""Answers to the member: files can't ride on an ephemeral reply, so they go to the DM."""

from __future__ import annotations

from adapters.slack.home import AppHome
from adapters.slack.replies import Origin, Replies
from core.messages import File, Message, Reply
from tests.adapters.slack.conftest import ANA, GENERAL, Slack, texts


async def test_a_private_reply_with_a_file_sends_the_file_to_the_dm(slack: Slack) -> None:
    bot = await slack()
    adapter, fake = bot.app, bot.fake
    replies = Replies(
        adapter.client,
        adapter.render,
        AppHome(adapter.client, adapter.service, adapter.directory, adapter.render),
    )
    origin = Origin(fake.team_id, ANA, GENERAL, response_url=fake.new_response_url(ANA, GENERAL))
    export = File("mentorship-1.json", b"{}", "application/json")
    await replies.show(origin, Reply(message=Message(text="Your export", files=(export,))))
    answer = await bot.reply()
    assert answer["response_type"] == "ephemeral"
    assert "📎 mentorship-1.json: sent to your direct messages with the app" in texts(
        answer["blocks"]
    )
    [shared] = [m for m in fake.messages(ANA) if m.files]
    assert shared.files[0]["name"] == "mentorship-1.json"
