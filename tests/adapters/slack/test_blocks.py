"""Rendering: core messages as Block Kit, core text as Slack mrkdwn."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.slack.blocks import Renderer
from core.commands import CATALOG
from core.messages import Button, Field, Form, FormField, Message, moment

RENDER = Renderer(CATALOG.groups)
WHEN = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)
UNIX = int(WHEN.timestamp())


def test_moments_show_in_each_readers_zone_with_a_fallback() -> None:
    assert RENDER.text(f"Starts {moment(WHEN, 'f')}") == (
        f"Starts <!date^{UNIX}^{{date_short_pretty}} {{time}}|2026-03-04 19:00 UTC>"
    )
    assert RENDER.text(moment(WHEN, "R")) == f"<!date^{UNIX}^{{ago}}|2026-03-04 19:00 UTC>"
    assert RENDER.text(moment(WHEN, "D")).startswith(f"<!date^{UNIX}^{{date_long}}|")


def test_mentions_channels_and_groups_become_slack_syntax() -> None:
    assert RENDER.text("<@U1> in <#C2> for <@&S03>") == "<@U1> in <#C2> for <!subteam^S03>"
    assert RENDER.text("badge <@&mentorbot-dedicated-mentor>") == "badge @dedicated-mentor"


def test_member_text_cannot_ping_or_inject_markup() -> None:
    assert RENDER.text("hi <!channel> & <@U1>") == "hi &lt;!channel&gt; &amp; <@U1>"
    assert RENDER.text("**Bold** move\n> a quote, 1 > 0") == "*Bold* move\n> a quote, 1 &gt; 0"


def test_attachment_links_become_slack_links_and_only_web_links_do() -> None:
    url = "https://fake-team.slack.com/files/U1/F1/plan.pdf"
    assert RENDER.text(f"📎 [plan <v2>.pdf]({url})") == f"📎 <{url}|plan &lt;v2&gt;.pdf>"
    assert RENDER.text("[click](javascript:alert(1))") == "[click](javascript:alert(1))"


def test_command_references_use_the_slack_command() -> None:
    assert RENDER.text("run `/admin setup`, then `/mentor apply`") == (
        "run `/mentor admin setup`, then `/mentor apply`"
    )
    custom = Renderer(CATALOG.groups, "/mentoring")
    assert custom.text("see /mentee profile or https://x.org/admin") == (
        "see /mentoring mentee profile or https://x.org/admin"
    )


def test_a_message_becomes_header_sections_fields_buttons_and_footer() -> None:
    message = Message(
        title="Mentor application: ana",
        text="<@U1> applied.",
        fields=(
            Field("Expertise", "giving", True),
            Field("Style", "async", True),
            Field("Bio", "x"),
        ),
        buttons=(Button("Approve", "mb:approve:abc", "success"), Button("Later", "mb:later:abc")),
        footer=f"Applied {moment(WHEN, 'f')}",
        tone="success",
    )
    blocks = RENDER.blocks(message)
    assert [b["type"] for b in blocks] == [
        "header",
        "section",
        "section",
        "section",
        "actions",
        "context",
    ]
    assert blocks[0]["text"]["text"] == "✅ Mentor application: ana"
    assert [f["text"] for f in blocks[2]["fields"]] == ["*Expertise*\ngiving", "*Style*\nasync"]
    approve, later = blocks[4]["elements"]
    assert (approve["action_id"], approve["value"], approve["style"]) == (
        "mb:approve:abc",
        "mb:approve:abc",
        "primary",
    )
    assert "style" not in later
    assert RENDER.fallback(message) == "✅ Mentor application: ana\n<@U1> applied."


def test_slack_limits_are_respected() -> None:
    message = Message(
        title="t" * 200,
        text="x" * 7000,
        fields=tuple(Field(f"f{i}", "v", True) for i in range(13)),
        buttons=tuple(Button("b" * 90, f"mb:b:{i}") for i in range(30)),
    )
    blocks = RENDER.blocks(message)
    assert len(blocks[0]["text"]["text"]) == 150
    assert [len(b["text"]["text"]) for b in blocks[1:4]] == [3000, 3000, 1000]
    assert [len(b["fields"]) for b in blocks[4:6]] == [10, 3]
    assert [len(b["elements"]) for b in blocks[6:8]] == [25, 5]
    assert len(blocks[6]["elements"][0]["text"]["text"]) == 75
    many = Message(fields=tuple(Field(str(i), "v") for i in range(80)))
    assert len(RENDER.blocks(many)) == 50
    assert len(RENDER.home_view(many)["blocks"]) == 80


def test_a_core_form_becomes_a_modal_submitted_to_its_action() -> None:
    form = Form(
        "mb:reject:abc",
        "Reject a very long display name's application",
        (
            FormField(
                "reason", "Reason", long=True, min_length=10, max_length=500, placeholder="Why"
            ),
        ),
    )
    modal = RENDER.form_modal(form, '{"c":"C1"}')
    assert (modal["callback_id"], modal["private_metadata"]) == ("mb:reject:abc", '{"c":"C1"}')
    assert len(modal["title"]["text"]) == 24
    [field] = modal["blocks"]
    assert field["block_id"] == "reason"
    assert field["optional"] is False
    assert field["element"] == {
        "type": "plain_text_input",
        "action_id": "reason",
        "multiline": True,
        "min_length": 10,
        "max_length": 500,
        "placeholder": {"type": "plain_text", "text": "Why", "emoji": True},
    }
