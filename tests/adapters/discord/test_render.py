"""Core messages as Discord embeds, buttons and modals; the invite URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import discord
import pytest

from adapters.discord import render
from adapters.discord.invite import invite_url, required_permissions
from core.messages import Button, Field, Form, FormField, Message


async def test_an_embed_has_the_tone_colour_the_brand_footer_and_the_core_footer_as_subtext() -> (
    None
):
    message = Message(
        title="Mentor application: alice",
        text="Applied to mentor.",
        fields=(Field("Expertise", "giving", inline=True), Field("", "")),
        footer="Applied <t:1767614400:f> · id abc",
        tone="success",
    )
    embed = render.embed(message)
    assert embed is not None
    assert embed.colour == render.COLOURS["success"]
    assert embed.footer.text == "Mentorbot"
    # Discord renders <t:…> only outside footers, so the core's footer ends the description.
    assert embed.description == "Applied to mentor.\n\n-# Applied <t:1767614400:f> · id abc"
    assert [(f.name, f.value, f.inline) for f in embed.fields] == [
        ("Expertise", "giving", True),
        ("\u200b", "—", False),
    ]


async def test_an_embed_stays_within_discords_limits() -> None:
    message = Message(
        title="t" * 300,
        text="x" * 5000,
        fields=tuple(Field(f"f{n}", "v" * 2000) for n in range(30)),
    )
    embed = render.embed(message)
    assert embed is not None
    assert len(embed.title or "") == 256
    assert len(embed.description or "") == 4096
    assert all(len(f.value or "") <= 1024 for f in embed.fields)
    assert len(embed) <= 6000
    assert render.embed(Message()) is None


async def test_fields_too_long_together_are_all_shortened_fairly_not_dropped() -> None:
    cards = tuple(Field(f"{90 - n}/100 · mentor{n}", "Why this match: " * 60) for n in range(9))
    message = Message(title="Your best matches", fields=(Field("Note", "stays whole"), *cards))
    embed = render.embed(message)
    assert embed is not None
    assert len(embed) <= 6000
    assert [f.name for f in embed.fields] == ["Note", *(c.name for c in cards)]
    assert embed.fields[0].value == "stays whole"
    lengths = {len(f.value or "") for f in embed.fields[1:]}
    assert max(lengths) - min(lengths) <= 1  # the same share each
    assert all((f.value or "").endswith("…") for f in embed.fields[1:])


async def test_fields_whose_names_alone_overflow_are_dropped_from_the_end() -> None:
    names = tuple(Field(f"{n:02}" + "n" * 254, "value " * 10) for n in range(25))
    embed = render.embed(Message(title="Long names", fields=names))
    assert embed is not None
    assert len(embed) <= 6000
    assert 20 <= len(embed.fields) < 25
    assert [f.name for f in embed.fields] == [f.name for f in names[: len(embed.fields)]]
    assert all(f.value for f in embed.fields)


async def test_buttons_keep_the_core_ids_and_in_dms_name_the_server() -> None:
    message = Message(text="?", buttons=(Button("Accept", "mb:accept:abc", "success"),))
    in_server = render.view(message)
    assert in_server is not None
    assert in_server.is_finished()  # not tracked by discord.py: routed by custom id
    (button,) = in_server.children
    assert isinstance(button, discord.ui.Button)
    assert (button.custom_id, button.style) == ("mb:accept:abc", discord.ButtonStyle.success)

    rendered = render.render(message, server=render.Server("123", "Givers"))
    assert rendered.view is not None
    (dm_button,) = rendered.view.children
    assert isinstance(dm_button, discord.ui.Button)
    assert dm_button.custom_id == "mb:accept:abc@123"
    assert render.split_guild("mb:accept:abc@123") == ("mb:accept:abc", "123")
    assert render.split_guild("mb:accept:abc") == ("mb:accept:abc", None)
    assert rendered.embed is not None
    assert rendered.embed.author.url == "https://discord.com/channels/123"
    assert render.view(Message(text="no buttons")) is None


async def test_a_form_becomes_a_modal_and_its_answers_are_read_from_either_layout() -> None:
    form = Form(
        "mb:reject:abc",
        "Reject alice's application",
        (FormField("reason", "Reason", long=True, min_length=10, max_length=500),),
    )
    modal = render.form_modal(form)
    payload = modal.to_dict()
    assert payload["custom_id"] == "mb:reject:abc"
    (row,) = payload["components"]
    (text_input,) = row["components"]
    assert (text_input["custom_id"], text_input["style"]) == ("reason", 2)
    assert (text_input["min_length"], text_input["max_length"]) == (10, 500)

    rows = {
        "components": [{"type": 1, "components": [{"type": 4, "custom_id": "a", "value": "x"}]}]
    }
    labels = {"components": [{"type": 18, "component": {"type": 4, "custom_id": "b", "value": ""}}]}
    assert render.modal_values(rows) == {"a": "x"}
    assert render.modal_values(labels) == {"b": ""}

    with pytest.raises(ValueError, match="1 to 5 inputs"):
        render.modal("x", "Too many", [render.Input(f"f{n}", "F") for n in range(6)])


def test_the_invite_asks_for_both_scopes_and_exactly_the_needed_permissions() -> None:
    query = parse_qs(urlparse(invite_url("4242")).query)
    assert query["client_id"] == ["4242"]
    assert query["scope"] == ["bot applications.commands"]
    granted = discord.Permissions(int(query["permissions"][0]))
    assert granted == required_permissions()
    assert {name for name, on in granted if on} == {
        "read_messages",  # discord.py's name for View Channel
        "send_messages",
        "embed_links",
        "attach_files",
        "pin_messages",
        "manage_roles",
        "manage_channels",
        "create_events",
        "create_public_threads",
        "send_messages_in_threads",
    }
    assert not granted.administrator
