"""Tests proving :class:`tests.fakes.discord_fake.FakeDiscord` works with the real discord.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio
from discord import app_commands

from tests.fakes.discord_fake import ChannelType, FakeDiscord, FakeGuild, Perm

ALICE = 4242
BOB = 4343


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
def guild(fake: FakeDiscord) -> FakeGuild:
    g = fake.add_guild("Mentors")
    fake.add_member(g.id, ALICE, "alice")
    fake.add_member(g.id, BOB, "bob")
    fake.add_text_channel(g.id, "general")
    return g


def make_client(**intent_flags: bool) -> discord.Client:
    intents = discord.Intents.default()
    for name, value in intent_flags.items():
        setattr(intents, name, value)
    return discord.Client(intents=intents)


async def eventually(predicate: Callable[[], Any], timeout: float = 2.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------------------- 1. connect
async def test_client_connects_sees_guild_and_identify_is_recorded(
    fake: FakeDiscord, guild: FakeGuild
) -> None:
    mentor_role = fake.add_role(guild.id, "Mentor", Perm.MANAGE_MESSAGES)
    category = fake.add_category(guild.id, "Pairs")
    fake.add_text_channel(guild.id, "pair-1", parent_id=int(category["id"]))
    client = make_client(message_content=False)
    ready = asyncio.Event()

    @client.event
    async def on_ready() -> None:
        ready.set()

    async with fake.running(client):
        assert ready.is_set()
        assert client.user is not None
        assert client.user.id == fake.bot_user_id
        assert client.application_id == fake.application_id
        g = client.get_guild(guild.id)
        assert g is not None
        assert g.name == "Mentors"
        assert {r.name for r in g.roles} == {"@everyone", "Mentorbot", "Mentor"}
        assert g.get_role(int(mentor_role["id"])) is not None
        assert {c.name for c in g.channels} == {"general", "Pairs", "pair-1"}
        pair = discord.utils.get(g.text_channels, name="pair-1")
        assert pair is not None
        assert pair.category_id == int(category["id"])
        assert g.me is not None
        assert g.me.guild_permissions.administrator
        assert g.me.top_role.name == "Mentorbot"
        assert g.me.top_role.is_bot_managed()

    assert len(fake.identifies) == 1
    identify = fake.identifies[0]
    assert identify["intents"] == client.intents.value
    assert identify["token"] == "fake-bot-token"
    fake.assert_no_unhandled()


async def test_bot_permissions_are_configurable(fake: FakeDiscord) -> None:
    g = fake.add_guild("Limited", bot_permissions=Perm.MANAGE_ROLES | Perm.SEND_MESSAGES)
    client = make_client()
    async with fake.running(client):
        me = client.get_guild(g.id).me  # type: ignore[union-attr]
        perms = me.guild_permissions
        assert perms.manage_roles
        assert not perms.administrator
        assert not perms.manage_channels


# ---------------------------------------------------------------------------- 2. sync
def build_tree(client: discord.Client, guild_id: int, log: list[Any]) -> app_commands.CommandTree:
    tree = app_commands.CommandTree(client)
    gobj = discord.Object(guild_id)
    mentor = app_commands.Group(name="mentor", description="Mentoring", guild_ids=[guild_id])
    pair = app_commands.Group(name="pair", description="Pairs", parent=mentor)

    @pair.command(name="create", description="Create a pair")
    @app_commands.describe(size="Group size", track="Track")
    @app_commands.choices(
        track=[
            app_commands.Choice(name="Python", value="py"),
            app_commands.Choice(name="Go", value="go"),
        ]
    )
    async def create(
        interaction: discord.Interaction,
        mentee: discord.Member,
        track: app_commands.Choice[str],
        size: app_commands.Range[int, 2, 5] = 2,
    ) -> None:
        log.append(("create", mentee.id, track.value, size))
        await interaction.response.send_message(f"paired {mentee.display_name}", ephemeral=True)

    async def topic_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        log.append(("autocomplete", current))
        return [
            app_commands.Choice(name=t, value=t)
            for t in ("python", "pytest")
            if t.startswith(current)
        ]

    @mentor.command(name="topic", description="Pick a topic")
    @app_commands.autocomplete(topic=topic_autocomplete)
    async def topic(interaction: discord.Interaction, topic: str) -> None:
        await interaction.response.send_message(topic)

    tree.add_command(mentor)

    @tree.command(name="feedback", description="Give feedback", guild=gobj)
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(FeedbackModal(log))

    @tree.command(name="report", description="Slow report", guild=gobj)
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        await interaction.followup.send("report ready", ephemeral=True)
        await interaction.followup.send("extra", file=discord.File(io.BytesIO(b"a,b\n"), "r.csv"))
        await interaction.edit_original_response(content="report ready (edited)")
        original = await interaction.original_response()
        log.append(("original", original.content))

    @tree.command(name="hello", description="DM-friendly hello")
    async def hello(interaction: discord.Interaction) -> None:
        log.append(("hello", type(interaction.user).__name__, interaction.guild_id))
        await interaction.response.send_message(
            "hi there", file=discord.File(io.BytesIO(b"hello"), "hi.txt")
        )

    return tree


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Your feedback", custom_id="feedback-text"
    )

    def __init__(self, log: list[Any]) -> None:
        super().__init__(custom_id="feedback-modal")
        self.log = log

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.log.append(("modal", self.text.value))
        await interaction.response.send_message("thanks!", ephemeral=True)


async def test_tree_sync_stores_commands_with_nested_options(
    fake: FakeDiscord, guild: FakeGuild
) -> None:
    client = make_client()
    tree = build_tree(client, guild.id, [])
    async with fake.running(client):
        synced = await tree.sync(guild=discord.Object(guild.id))
        assert {c.name for c in synced} == {"mentor", "feedback", "report"}
        await tree.sync()  # global: "hello"

        stored = {c["name"]: c for c in fake.commands(guild.id)}
        mentor = stored["mentor"]
        assert mentor["guild_id"] == str(guild.id)
        pair = next(o for o in mentor["options"] if o["name"] == "pair")
        assert pair["type"] == 2  # SUB_COMMAND_GROUP
        create = pair["options"][0]
        assert (create["name"], create["type"]) == ("create", 1)
        opts = {o["name"]: o for o in create["options"]}
        assert opts["mentee"]["type"] == 6
        assert opts["mentee"]["required"] is True
        assert [c["value"] for c in opts["track"]["choices"]] == ["py", "go"]
        assert (opts["size"]["min_value"], opts["size"]["max_value"]) == (2, 5)
        assert opts["size"].get("required", False) is False
        topic = next(o for o in mentor["options"] if o["name"] == "topic")
        assert topic["options"][0]["autocomplete"] is True
        assert [c["name"] for c in fake.commands()] == ["hello"]

        # re-syncing keeps command ids, like Discord
        await tree.sync(guild=discord.Object(guild.id))
        assert {c["name"]: c["id"] for c in fake.commands(guild.id)} == {
            n: c["id"] for n, c in stored.items()
        }
    assert fake.calls_to("PUT", "/applications/{app}/guilds/{g}/commands", ok=True)
    fake.assert_no_unhandled()


async def test_invalid_command_payload_is_rejected_like_discord(
    fake: FakeDiscord, guild: FakeGuild
) -> None:
    client = make_client()
    async with fake.running(client):
        bad = [{"name": "Bad Name", "description": "x", "type": 1}]
        with pytest.raises(discord.HTTPException) as err:
            await client.http.bulk_upsert_guild_commands(fake.application_id, guild.id, bad)
        assert err.value.code == 50035


# ---------------------------------------------------------------------- 3. interactions
async def test_slash_command_subcommand_options_and_ephemeral_reply(
    fake: FakeDiscord, guild: FakeGuild
) -> None:
    client = make_client()
    log: list[Any] = []
    tree = build_tree(client, guild.id, log)
    async with fake.running(client):
        await tree.sync(guild=discord.Object(guild.id))
        payload = fake.slash_command(
            guild.id, ALICE, "mentor pair create", {"mentee": BOB, "track": "py", "size": 3}
        )
        reply = await fake.interact(payload)

        assert log == [("create", BOB, "py", 3)]
        assert reply.type == 4
        assert reply.flags == 64
        assert reply.ephemeral
        assert reply.content == "paired bob"
        # ephemeral messages are not visible in the channel history
        assert fake.channel_messages(int(payload["channel_id"])) == []


async def test_autocomplete_roundtrip(fake: FakeDiscord, guild: FakeGuild) -> None:
    client = make_client()
    log: list[Any] = []
    tree = build_tree(client, guild.id, log)
    async with fake.running(client):
        await tree.sync(guild=discord.Object(guild.id))
        reply = await fake.interact(
            fake.autocomplete(guild.id, ALICE, "mentor topic", {"topic": "pyth"}, focused="topic")
        )
    assert reply.type == 8
    assert reply.data == {"choices": [{"name": "python", "value": "python"}]}
    assert log == [("autocomplete", "pyth")]


async def test_send_modal_then_modal_submit_reaches_on_submit(
    fake: FakeDiscord, guild: FakeGuild
) -> None:
    client = make_client()
    log: list[Any] = []
    tree = build_tree(client, guild.id, log)
    async with fake.running(client):
        await tree.sync(guild=discord.Object(guild.id))
        modal = await fake.interact(fake.slash_command(guild.id, ALICE, "feedback"))
        assert modal.type == 9
        assert modal.data is not None
        assert modal.data["custom_id"] == "feedback-modal"
        assert modal.data["title"] == "Feedback"

        for layout in ("action_row", "label"):
            submit = fake.modal_submit(
                guild.id,
                ALICE,
                "feedback-modal",
                {"feedback-text": f"great ({layout})"},
                layout=layout,
            )
            if layout == "label":
                # discord.py drops a modal after its first successful submit: re-open it
                await fake.interact(fake.slash_command(guild.id, ALICE, "feedback"))
            reply = await fake.interact(submit)
            assert (reply.type, reply.content, reply.ephemeral) == (4, "thanks!", True)
    assert log == [("modal", "great (action_row)"), ("modal", "great (label)")]


async def test_defer_followup_and_edit_original(fake: FakeDiscord, guild: FakeGuild) -> None:
    client = make_client()
    log: list[Any] = []
    tree = build_tree(client, guild.id, log)
    async with fake.running(client):
        await tree.sync(guild=discord.Object(guild.id))
        pending = await fake.send_interaction(fake.slash_command(guild.id, ALICE, "report"))
        deferred = await pending.wait_response()
        assert deferred.type == 5
        assert deferred.flags == 64

        first = await pending.wait_followup(1)
        second = await pending.wait_followup(2)
        edited = await pending.wait_original_edit(1)
        await eventually(lambda: bool(log))

    # Discord semantics: the first follow-up after a defer *is* the original response.
    assert first["id"] == str(pending.original_message_id)
    assert first["content"] == "report ready"
    assert second["id"] != first["id"]
    assert second["attachments"][0]["filename"] == "r.csv"
    assert fake.attachment_data[int(second["attachments"][0]["id"])] == b"a,b\n"
    assert edited["content"] == "report ready (edited)"
    assert log == [("original", "report ready (edited)")]
    assert fake.calls_to("POST", "/webhooks/{app}/{token}", ok=True)[0].query["wait"] == "1"
    assert fake.calls_to("PATCH", "/webhooks/{app}/{token}/messages/@original", ok=True)
    fake.assert_no_unhandled()


async def test_interaction_in_dm_uses_user_not_member(fake: FakeDiscord, guild: FakeGuild) -> None:
    client = make_client()
    log: list[Any] = []
    tree = build_tree(client, guild.id, log)
    async with fake.running(client):
        await tree.sync()
        reply = await fake.interact(fake.slash_command(None, ALICE, "hello"))
    assert reply.content == "hi there"
    assert log == [("hello", "User", None)]
    # with a file discord.py switches to multipart/form-data (payload_json + files[0])
    assert [(f.field_name, f.filename, f.data) for f in reply.files] == [
        ("files[0]", "hi.txt", b"hello")
    ]


async def test_responding_twice_is_rejected(fake: FakeDiscord, guild: FakeGuild) -> None:
    client = make_client()
    tree = app_commands.CommandTree(client)
    errors: list[BaseException] = []

    @tree.command(name="twice", description="answers twice", guild=discord.Object(guild.id))
    async def twice(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("one")
        try:  # bypass discord.py's own InteractionResponded guard to reach the fake
            interaction.response._response_type = None
            await interaction.response.send_message("two")
        except discord.HTTPException as exc:
            errors.append(exc)

    async with fake.running(client):
        await tree.sync(guild=discord.Object(guild.id))
        pending = await fake.send_interaction(fake.slash_command(guild.id, ALICE, "twice"))
        await pending.wait_response()
        await eventually(lambda: bool(errors))
    assert isinstance(errors[0], discord.HTTPException)
    assert errors[0].code == 40060


# ------------------------------------------------------------------ 4. persistent views
class JoinView(discord.ui.View):
    def __init__(self, clicks: list[tuple[str, int]], tag: str) -> None:
        super().__init__(timeout=None)
        self.clicks = clicks
        self.tag = tag

    @discord.ui.button(label="Join", custom_id="mentorbot:join", style=discord.ButtonStyle.green)
    async def join(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        assert interaction.message is not None
        self.clicks.append((self.tag, interaction.message.id))
        await interaction.response.send_message(f"joined via {self.tag}", ephemeral=True)


async def test_persistent_view_handles_clicks_across_client_restarts(
    fake: FakeDiscord, guild: FakeGuild
) -> None:
    clicks: list[tuple[str, int]] = []
    old_message_id = fake.state.next_id()  # a message no client ever saw
    channel_id = int(fake.add_text_channel(guild.id, "signup")["id"])

    for generation in ("first", "second"):
        client = make_client()
        client.add_view(JoinView(clicks, generation))
        async with fake.running(client):
            reply = await fake.interact(
                fake.button_click(guild.id, ALICE, "mentorbot:join", old_message_id, channel_id)
            )
            assert reply.content == f"joined via {generation}"
            assert reply.type == 4

    assert clicks == [("first", old_message_id), ("second", old_message_id)]
    assert len(fake.identifies) == 2


async def test_button_on_stored_message_can_update_it(fake: FakeDiscord, guild: FakeGuild) -> None:
    class Counter(discord.ui.View):
        @discord.ui.button(label="+1", custom_id="count")
        async def inc(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
            await interaction.response.edit_message(content="clicked", view=None)

    client = make_client()
    async with fake.running(client):
        channel = client.get_channel(int(fake.state.guild_channels(guild.id)[0]["id"]))
        assert isinstance(channel, discord.TextChannel)
        msg = await channel.send("press", view=Counter(timeout=None))
        stored = fake.state.messages[msg.id]
        assert stored["components"][0]["components"][0]["custom_id"] == "count"
        reply = await fake.interact(fake.button_click(guild.id, ALICE, "count", msg.id))
    assert reply.type == 7
    assert fake.state.messages[msg.id]["content"] == "clicked"
    assert fake.state.messages[msg.id]["components"] == []


# ----------------------------------------------------------------------- 5. REST side
async def test_dm_roles_channels_and_scheduled_events(fake: FakeDiscord, guild: FakeGuild) -> None:
    client = make_client()
    async with fake.running(client):
        user = await client.fetch_user(ALICE)
        await user.send("Welcome to mentoring!")
        await user.send("Second DM")
        assert [m["content"] for m in fake.dm_messages(ALICE)] == [
            "Welcome to mentoring!",
            "Second DM",
        ]
        history = [m.content async for m in user.history(limit=10)]
        assert history == ["Second DM", "Welcome to mentoring!"]  # newest first
        assert (
            len({c.json["recipient_id"] for c in fake.calls_to("POST", "/users/@me/channels")}) == 1
        )
        dm_id = fake.dm_channel_id(ALICE)
        assert len(fake.calls_to("POST", f"/channels/{dm_id}/messages", ok=True)) == 2

        g = client.get_guild(guild.id)
        assert g is not None
        member = await g.fetch_member(ALICE)
        role = await g.create_role(name="Mentor", mentionable=True, reason="setup")
        await member.add_roles(role, reason="paired")
        assert fake.calls_to("PUT", f"/guilds/{guild.id}/members/{ALICE}/roles/{role.id}")
        assert role.id in fake.member_role_ids(guild.id, ALICE)
        await eventually(lambda: g.get_role(role.id) is not None)  # GUILD_ROLE_CREATE

        category = await g.create_category("Pairs")
        channel = await g.create_text_channel(
            "pair-alice",
            category=category,
            overwrites={
                g.default_role: discord.PermissionOverwrite(view_channel=False),
                member: discord.PermissionOverwrite(view_channel=True, send_messages=True),
            },
        )
        stored = fake.state.channel(channel.id)
        assert stored["parent_id"] == str(category.id)
        overwrites = {o["id"]: o for o in stored["permission_overwrites"]}
        assert overwrites[str(guild.id)]["deny"] == str(Perm.VIEW_CHANNEL)
        assert overwrites[str(ALICE)]["type"] == 1
        assert int(overwrites[str(ALICE)]["allow"]) == Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES
        await eventually(lambda: g.get_channel(channel.id) is not None)  # CHANNEL_CREATE
        # the fake computes permissions from overwrites
        assert fake.state.channel_permissions(channel.id, BOB) == 0
        assert fake.state.channel_permissions(channel.id, ALICE) & Perm.SEND_MESSAGES

        msg = await channel.send("Meet your mentor here")
        await msg.pin()
        thread = await msg.create_thread(name="intro")
        assert thread.id == msg.id  # Discord reuses the starter message id
        assert fake.state.messages[msg.id]["pinned"]
        await channel.set_permissions(await g.fetch_member(BOB), view_channel=True)
        assert str(BOB) in {
            o["id"] for o in fake.state.channel(channel.id)["permission_overwrites"]
        }

        start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        event = await g.create_scheduled_event(
            name="Mentor hour",
            start_time=start,
            end_time=start + dt.timedelta(hours=1),
            entity_type=discord.EntityType.external,
            location="https://meet.example/x",
            privacy_level=discord.PrivacyLevel.guild_only,
        )
        assert event.name == "Mentor hour"
        assert event.location == "https://meet.example/x"
        assert int(event.id) in fake.state.guild(guild.id).scheduled_events
        await event.edit(name="Mentor hour (moved)")
        assert (
            fake.state.guild(guild.id).scheduled_events[event.id]["name"] == "Mentor hour (moved)"
        )
        await event.delete()
        assert not fake.state.guild(guild.id).scheduled_events
    fake.assert_no_unhandled()


async def test_category_and_role_caps(fake: FakeDiscord, guild: FakeGuild) -> None:
    category = fake.add_category(guild.id, "Full")
    for i in range(50):
        fake.add_text_channel(guild.id, f"c{i}", parent_id=int(category["id"]))
    while len(fake.state.guild(guild.id).roles) < 250:
        fake.add_role(guild.id, "filler")
    client = make_client()
    async with fake.running(client):
        g = client.get_guild(guild.id)
        assert g is not None
        cat = g.get_channel(int(category["id"]))
        assert isinstance(cat, discord.CategoryChannel)
        with pytest.raises(discord.HTTPException) as chan_err:
            await g.create_text_channel("one-too-many", category=cat)
        assert (chan_err.value.status, chan_err.value.code) == (400, 50035)
        assert "parent_id" in chan_err.value.text
        with pytest.raises(discord.HTTPException) as role_err:
            await g.create_role(name="too many")
        assert (role_err.value.status, role_err.value.code) == (400, 30005)


async def test_enforced_nonce_returns_the_first_message_within_the_window(
    fake: FakeDiscord, guild: FakeGuild
) -> None:
    client = make_client()
    async with fake.running(client):
        g = client.get_guild(guild.id)
        assert g is not None
        general = discord.utils.get(g.text_channels, name="general")
        assert general is not None
        first = await general.send("hello", nonce="effect-1")
        again = await general.send("hello again", nonce="effect-1")
        other = await general.send("hello", nonce="effect-2")
        # The window is Discord's "few minutes": past it the nonce is new again.
        fake.state.nonce_window_seconds = 0.0
        later = await general.send("hello", nonce="effect-1")
        with pytest.raises(discord.HTTPException) as too_long:
            await general.send("hello", nonce="x" * 26)
    assert again.id == first.id != other.id != later.id
    assert again.content == "hello"
    posts = fake.calls_to("POST", f"/channels/{general.id}/messages", ok=True)
    assert [(c.json["nonce"], c.json["enforce_nonce"]) for c in posts[:2]] == [
        ("effect-1", True),
        ("effect-1", True),
    ]
    assert [m["content"] for m in fake.channel_messages(general.id)] == ["hello"] * 3
    assert (too_long.value.status, too_long.value.code) == (400, 50035)


async def test_a_nonce_without_enforce_nonce_or_in_another_channel_creates_a_message(
    fake: FakeDiscord, guild: FakeGuild
) -> None:
    general = next(c for c in fake.state.guild_channels(guild.id) if c["name"] == "general")
    other = fake.add_text_channel(guild.id, "other")
    client = make_client()
    async with fake.running(client):
        http = client.http
        body = {"content": "hi", "nonce": "same"}
        first = await http.request(
            discord.http.Route("POST", "/channels/{c}/messages", c=general["id"]), json=body
        )
        plain = await http.request(
            discord.http.Route("POST", "/channels/{c}/messages", c=general["id"]), json=body
        )
        elsewhere = await http.request(
            discord.http.Route("POST", "/channels/{c}/messages", c=other["id"]),
            json={**body, "enforce_nonce": True},
        )
    assert len({first["id"], plain["id"], elsewhere["id"]}) == 3
    assert plain["nonce"] == "same"


# --------------------------------------------------------------------- 6. fault injection
class _HttpSleeps:
    """Stands in for the ``asyncio`` module inside ``discord.http``: records each sleep the
    HTTP client asks for (its retry waits) and yields without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        self.delays.append(delay)
        await asyncio.sleep(0)
        return result


@pytest.fixture
def http_sleeps(monkeypatch: pytest.MonkeyPatch) -> _HttpSleeps:
    sleeps = _HttpSleeps()
    monkeypatch.setattr(discord.http, "asyncio", sleeps)
    return sleeps


async def test_429_is_retried_transparently(
    fake: FakeDiscord, guild: FakeGuild, http_sleeps: _HttpSleeps
) -> None:
    role = fake.add_role(guild.id, "Mentee")
    pattern = "/guilds/{g}/members/{u}/roles/{r}"
    rule = fake.fail_next("PUT", pattern, status=429, retry_after=0.05)
    client = make_client()
    async with fake.running(client):
        g = client.get_guild(guild.id)
        assert g is not None
        member = await g.fetch_member(ALICE)
        http_sleeps.delays.clear()
        await member.add_roles(discord.Object(int(role["id"])))
    # The client waited exactly the fake's Retry-After once, then retried.
    assert http_sleeps.delays == [0.05]
    assert [c.status for c in fake.calls_to("PUT", pattern)] == [429, 204]
    assert len(rule.hits) == 1
    assert fake.member_role_ids(guild.id, ALICE).count(int(role["id"])) == 1


async def test_global_429_is_retried(fake: FakeDiscord, guild: FakeGuild) -> None:
    fake.fail_next("GET", f"/users/{ALICE}", status=429, retry_after=0.02, is_global=True, times=2)
    client = make_client()
    async with fake.running(client):
        user = await client.fetch_user(ALICE)
    assert user.name == "alice"
    assert [c.status for c in fake.calls_to("GET", f"/users/{ALICE}")] == [429, 429, 200]


async def test_500_is_retried_after_one_second(
    fake: FakeDiscord, guild: FakeGuild, http_sleeps: _HttpSleeps
) -> None:
    """discord.py's HTTPClient retries 500/502/504/524 after sleeping 1 + 2*attempt seconds."""
    role = fake.add_role(guild.id, "Mentee")
    pattern = "/guilds/{g}/members/{u}/roles/{r}"
    fake.fail_next("PUT", pattern, status=500)
    client = make_client()
    async with fake.running(client):
        member = await client.get_guild(guild.id).fetch_member(ALICE)  # type: ignore[union-attr]
        http_sleeps.delays.clear()
        await member.add_roles(discord.Object(int(role["id"])))
    assert http_sleeps.delays == [1]  # one wait of 1 + 2*0 seconds before the one retry
    assert [c.status for c in fake.calls_to("PUT", pattern)] == [500, 204]
    assert int(role["id"]) in fake.member_role_ids(guild.id, ALICE)


async def test_a_429_longer_than_max_ratelimit_timeout_raises_rate_limited_per_channel(
    fake: FakeDiscord, guild: FakeGuild
) -> None:
    busy = int(fake.add_text_channel(guild.id, "busy")["id"])
    fake.fail_next("POST", f"/channels/{busy}/messages", status=429, retry_after=60.0)
    client = discord.Client(intents=discord.Intents.default(), max_ratelimit_timeout=30.0)
    async with fake.running(client):
        with pytest.raises(discord.RateLimited) as limited:
            await client.get_partial_messageable(busy).send("hello")
        g = client.get_guild(guild.id)
        assert g is not None
        other = discord.utils.get(g.text_channels, name="general")
        assert other is not None
        await other.send("still fine")
    assert limited.value.retry_after == 60.0
    assert [c.status for c in fake.calls_to("POST", f"/channels/{busy}/messages")] == [429]
    assert fake.channel_messages(busy) == []
    assert [m["content"] for m in fake.channel_messages(other.id)] == ["still fine"]


async def test_a_cloudflare_429_is_not_retried_by_discord_py(
    fake: FakeDiscord, guild: FakeGuild
) -> None:
    fake.fail_next("GET", f"/users/{ALICE}", status=429, retry_after=7, cloudflare=True)
    client = make_client()
    async with fake.running(client):
        with pytest.raises(discord.HTTPException) as banned:
            await client.fetch_user(ALICE)
    assert banned.value.status == 429
    assert banned.value.response.headers["Retry-After"] == "7"
    assert "Via" not in banned.value.response.headers


async def test_503_403_404_raise_without_retry(fake: FakeDiscord, guild: FakeGuild) -> None:
    role_id = int(fake.add_role(guild.id, "Mentee")["id"])
    pattern = "/guilds/{g}/members/{u}/roles/{r}"
    client = make_client()
    async with fake.running(client):
        member = await client.get_guild(guild.id).fetch_member(ALICE)  # type: ignore[union-attr]

        fake.fail_next("PUT", pattern, status=503)
        with pytest.raises(discord.DiscordServerError):
            await member.add_roles(discord.Object(role_id))

        fake.fail_next("PUT", pattern, status=403)
        with pytest.raises(discord.Forbidden) as forbidden:
            await member.add_roles(discord.Object(role_id))
        assert forbidden.value.code == 50013
        assert forbidden.value.text == "Missing Permissions"

        fake.fail_next(
            "*", "/guilds/{g}/members/*", status=404, code=10007, message="Unknown Member"
        )
        with pytest.raises(discord.NotFound) as not_found:
            await member.add_roles(discord.Object(role_id))
        assert not_found.value.code == 10007
    assert [c.status for c in fake.calls_to("PUT", pattern)] == [503, 403, 404]
    assert role_id not in fake.member_role_ids(guild.id, ALICE)


async def test_real_permission_and_hierarchy_checks(fake: FakeDiscord) -> None:
    g = fake.add_guild("Strict", bot_permissions=Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
    fake.add_member(g.id, ALICE, "alice")
    high = fake.add_role(g.id, "Admins", position=5)  # above the bot role
    client = make_client()
    async with fake.running(client):
        guild = client.get_guild(g.id)
        assert guild is not None
        member = await guild.fetch_member(ALICE)
        with pytest.raises(discord.Forbidden) as no_manage_roles:
            await guild.create_role(name="x")
        assert no_manage_roles.value.code == 50013

        fake.set_bot_permissions(g.id, Perm.MANAGE_ROLES)
        with pytest.raises(discord.Forbidden):  # role above the bot's top role
            await member.add_roles(discord.Object(int(high["id"])))
        low = await guild.create_role(name="low")
        await member.add_roles(low)
        assert low.id in fake.member_role_ids(g.id, ALICE)


async def test_closed_dms_raise_50007(fake: FakeDiscord, guild: FakeGuild) -> None:
    fake.add_user(9999, "shy", accepts_dms=False)
    client = make_client()
    async with fake.running(client):
        shy = await client.fetch_user(9999)
        with pytest.raises(discord.Forbidden) as err:
            await shy.send("hi")
    assert err.value.code == 50007


async def test_unknown_routes_are_recorded(fake: FakeDiscord) -> None:
    client = make_client()
    async with fake.running(client):
        with pytest.raises(discord.NotFound):
            await client.http.request(discord.http.Route("GET", "/guilds/1/bans"))
    assert [(c.method, c.path) for c in fake.unhandled] == [("GET", "/guilds/1/bans")]
    with pytest.raises(AssertionError, match="/guilds/1/bans"):
        fake.assert_no_unhandled()


async def test_json_content_type_is_exact_and_gateway_bot(fake: FakeDiscord) -> None:
    headers = {"Authorization": "Bot fake-bot-token"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.api_base_url}/gateway/bot", headers=headers) as resp:
            assert resp.headers["Content-Type"] == "application/json"
            body = await resp.json()
        async with session.get(f"{fake.api_base_url}/users/@me") as unauth:
            assert unauth.status == 401
    assert body["url"] == fake.gateway_url
    assert body["shards"] == 1
    assert body["session_start_limit"]["max_concurrency"] == 1


# ----------------------------------------------------------------------- 7. gateway events
async def test_dm_message_create_reaches_on_message(fake: FakeDiscord, guild: FakeGuild) -> None:
    client = make_client()  # default intents: no message_content
    received: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.id != fake.bot_user_id:
            await received.put(message)

    async with fake.running(client):
        await fake.user_sends_message(ALICE, "hello bot")
        dm = await asyncio.wait_for(received.get(), 2)
        assert isinstance(dm.channel, discord.DMChannel)
        assert (dm.author.id, dm.content, dm.guild) == (ALICE, "hello bot", None)

        # a raw, hand-written MESSAGE_CREATE through the generic dispatch
        raw = dict(fake.state.create_message(dm.channel.id, BOB, "raw dispatch"))
        await fake.dispatch("MESSAGE_CREATE", raw)
        assert (await asyncio.wait_for(received.get(), 2)).content == "raw dispatch"

        # guild messages lose their content without the MESSAGE_CONTENT intent ...
        general = int(fake.state.guild_channels(guild.id)[0]["id"])
        await fake.user_sends_message(ALICE, "secret", channel_id=general)
        assert (await asyncio.wait_for(received.get(), 2)).content == ""
        # ... unless the bot is mentioned
        await fake.user_sends_message(ALICE, "help", channel_id=general, mentions_bot=True)
        assert (await asyncio.wait_for(received.get(), 2)).content.endswith("help")


async def test_member_events_join_guild_and_resume(fake: FakeDiscord, guild: FakeGuild) -> None:
    client = make_client(members=True)
    removed: list[int] = []
    joined: list[int] = []
    resumed = asyncio.Event()

    @client.event
    async def on_member_remove(member: discord.Member) -> None:
        removed.append(member.id)

    @client.event
    async def on_guild_join(g: discord.Guild) -> None:
        joined.append(g.id)

    @client.event
    async def on_resumed() -> None:
        resumed.set()

    later = fake.add_guild("Later", joined=False)
    async with fake.running(client):
        g = client.get_guild(guild.id)
        assert g is not None
        assert g.get_member(ALICE) is not None  # members intent: cached from GUILD_CREATE
        await fake.remove_member(guild.id, ALICE)
        await eventually(lambda: removed == [ALICE])

        await fake.join_guild(later.id)
        await eventually(lambda: joined == [later.id])
        assert client.get_guild(later.id) is not None

        # server-side drop: discord.py RESUMEs and receives events missed meanwhile
        await fake.disconnect_clients()
        await fake.member_join(guild.id, ALICE, "alice")
        await asyncio.wait_for(resumed.wait(), 5)
        assert len(fake.gateway.resumes) == 1
        assert len(fake.identifies) == 1
        await eventually(lambda: g.get_member(ALICE) is not None)

        resumed.clear()
        await fake.reconnect_clients()  # op 7 RECONNECT
        await asyncio.wait_for(resumed.wait(), 5)
        assert len(fake.gateway.resumes) == 2


async def test_discord_py_urls_are_patched_and_restored() -> None:
    original_base = discord.http.Route.BASE
    original_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    async with FakeDiscord() as server:
        assert server.api_base_url == discord.http.Route.BASE
        assert server.api_base_url.startswith("http://127.0.0.1:")
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == server.gateway_url
    assert original_base == discord.http.Route.BASE
    assert original_gateway == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


async def test_channel_type_constants_match_discord_py() -> None:
    assert discord.ChannelType.text.value == ChannelType.GUILD_TEXT
    assert discord.ChannelType.category.value == ChannelType.GUILD_CATEGORY
    assert discord.ChannelType.public_thread.value == ChannelType.PUBLIC_THREAD
    assert discord.Permissions.all().value | Perm.ALL == Perm.ALL
    assert discord.Permissions(manage_roles=True).value == Perm.MANAGE_ROLES
    assert discord.Permissions(pin_messages=True).value == Perm.PIN_MESSAGES
    assert discord.Permissions(create_events=True).value == Perm.CREATE_EVENTS


async def test_select_menu_and_user_context_menu(fake: FakeDiscord, guild: FakeGuild) -> None:
    picked: list[Any] = []

    class TrackPicker(discord.ui.View):
        @discord.ui.select(
            custom_id="track",
            options=[discord.SelectOption(label="Python"), discord.SelectOption(label="Go")],
        )
        async def pick(
            self, interaction: discord.Interaction, select: discord.ui.Select[Any]
        ) -> None:
            picked.append(("select", select.values))
            await interaction.response.defer()  # type 6: deferred update

    client = make_client()
    tree = app_commands.CommandTree(client)

    @tree.context_menu(name="Offer mentoring", guild=discord.Object(guild.id))
    async def offer(interaction: discord.Interaction, member: discord.Member) -> None:
        picked.append(("context", member.id))
        await interaction.response.send_message(f"offered to {member.name}", ephemeral=True)

    client.add_view(TrackPicker(timeout=None))
    async with fake.running(client):
        await tree.sync(guild=discord.Object(guild.id))
        assert fake.commands(guild.id)[0]["type"] == 2
        reply = await fake.interact(fake.select_menu(guild.id, ALICE, "track", ["Go"]))
        assert reply.type == 6
        reply = await fake.interact(fake.user_command(guild.id, ALICE, "Offer mentoring", BOB))
        assert reply.content == "offered to bob"
    assert picked == [("select", ["Go"]), ("context", BOB)]


async def test_guild_leave_and_no_client_errors(fake: FakeDiscord, guild: FakeGuild) -> None:
    with pytest.raises(RuntimeError, match=r"no discord\.py client"):
        await fake.send_interaction(fake.button_click(guild.id, ALICE, "x"))
    client = make_client()
    removed: list[int] = []

    @client.event
    async def on_guild_remove(g: discord.Guild) -> None:
        removed.append(g.id)

    async with fake.running(client):
        g = client.get_guild(guild.id)
        assert g is not None
        await g.leave()
        await eventually(lambda: removed == [guild.id])
        assert client.get_guild(guild.id) is None
    assert not fake.state.guild(guild.id).joined


async def test_wrong_token_is_rejected() -> None:
    async with FakeDiscord(token="right-token") as server:
        client = make_client()
        with pytest.raises(discord.LoginFailure):
            await client.login("wrong-token")
        await client.close()
        assert server.calls_to("GET", "/users/@me", status=401)
