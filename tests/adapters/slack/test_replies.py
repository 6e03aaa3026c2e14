"""Answers to the member where Slack limits them: files can't ride on an ephemeral reply,
and only a live response_url can replace an ephemeral message."""

from __future__ import annotations

from adapters.slack.home import AppHome
from adapters.slack.replies import Origin, Replies
from core.messages import File, Message, Reply
from tests.adapters.slack.conftest import ANA, GENERAL, Slack, SlackHarness, texts


def _replies(bot: SlackHarness) -> Replies:
    adapter = bot.app
    home = AppHome(adapter.workspaces, adapter.service, adapter.directory, adapter.render)
    return Replies(adapter.workspaces, adapter.render, home)


async def test_a_private_reply_with_a_file_sends_the_file_to_the_dm(slack: Slack) -> None:
    bot = await slack()
    fake = bot.fake
    replies = _replies(bot)
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


async def test_an_ephemeral_list_whose_response_url_expired_is_sent_anew(slack: Slack) -> None:
    bot = await slack()
    fake = bot.fake
    replies = _replies(bot)
    expired = f"{fake.base_url}/response/gone"
    origin = Origin(
        fake.team_id, ANA, GENERAL, response_url=expired, message_ts="1.2", ephemeral=True
    )
    assert Origin.from_metadata(fake.team_id, ANA, origin.metadata(), None) == origin
    await replies.show(origin, Reply(update_origin=Message(title="Mentors (page 2 of 2)")))
    assert fake.calls_to("chat.update") == []  # it cannot reach an ephemeral message
    [sent] = fake.messages(ANA)
    assert "page 2 of 2" in sent.text
