"""DiscordPort repeats nothing: message nonces, roles read first, channels found again."""

from __future__ import annotations

from adapters.discord.port import message_nonce
from core.messages import File, Message
from core.ports import Attempt, Target
from tests.adapters.discord.conftest import ALICE, BOB, BotFactory, World

MESSAGES = "/channels/{c}/messages"


def _target(world: World) -> Target:
    return Target("c1", "discord", str(world.id))


def test_the_nonce_is_stable_short_and_distinct_per_key() -> None:
    long_key = "delivery:" + "x" * 200
    assert message_nonce(long_key) == message_nonce(long_key)
    assert len(message_nonce(long_key)) <= 25
    assert message_nonce("dm:1") != message_nonce("dm:2")


async def test_a_post_sent_again_with_its_key_returns_the_first_and_creates_nothing(
    discord_bot: BotFactory, world: World
) -> None:
    fake, channel = world.fake, str(world.general)
    message = Message(text="Welcome, new mentors", files=(File("a.txt", b"hi"),))
    async with discord_bot() as bot:
        fake.clear_calls()  # after the welcome note the bot posts on joining
        before = len(fake.channel_messages(world.general))
        port = bot.adapter.port
        first = await port.post(_target(world), channel, message, False, Attempt("post:1"))
        again = await port.post(
            _target(world), channel, message, False, Attempt("post:1", uncertain=True)
        )
        other = await port.post(_target(world), channel, message, False, Attempt("post:2"))
    assert again["message_id"] == first["message_id"] != other["message_id"]
    sent = [c.json for c in fake.calls_to("POST", MESSAGES)]
    assert [(body["nonce"], body["enforce_nonce"]) for body in sent] == [
        (message_nonce("post:1"), True),
        (message_nonce("post:1"), True),
        (message_nonce("post:2"), True),
    ]
    assert len(fake.channel_messages(world.general)) == before + 2


async def test_a_dm_sent_again_with_its_key_returns_the_first_and_creates_nothing(
    discord_bot: BotFactory, world: World
) -> None:
    fake = world.fake
    async with discord_bot() as bot:
        fake.clear_calls()
        port = bot.adapter.port
        first = await port.send_dm(
            _target(world), str(ALICE), Message(text="You're a mentor now"), None, Attempt("dm:7")
        )
        again = await port.send_dm(
            _target(world),
            str(ALICE),
            Message(text="You're a mentor now"),
            None,
            Attempt("dm:7", uncertain=True),
        )
    assert again == first
    [sent, resent] = fake.calls_to("POST", MESSAGES)
    assert sent.json["nonce"] == resent.json["nonce"] == message_nonce("dm:7")
    assert sent.json["enforce_nonce"] is resent.json["enforce_nonce"] is True
    assert [m["id"] for m in fake.dm_messages(ALICE)] == [first["message_id"]]


async def test_a_role_already_held_or_already_gone_is_not_changed_again(
    discord_bot: BotFactory, world: World
) -> None:
    fake = world.fake
    role = fake.add_role(world.id, "Mentor")["id"]
    fake.state.member(world.id, ALICE)["roles"].append(role)
    async with discord_bot() as bot:
        port = bot.adapter.port
        await port.grant_role(_target(world), str(ALICE), role)  # held: nothing to do
        await port.revoke_role(_target(world), str(BOB), role)  # not held: nothing to do
        assert not fake.calls_to("*", "/guilds/{g}/members/{u}/roles/{r}")
        await port.grant_role(_target(world), str(BOB), role)
        await port.grant_role(_target(world), str(BOB), role)  # a repeat: read, not changed
    assert len(fake.calls_to("PUT", "/guilds/{g}/members/{u}/roles/{r}")) == 1
    assert int(role) in fake.member_role_ids(world.id, BOB)


async def test_an_uncertain_channel_creation_finds_the_channel_made_before(
    discord_bot: BotFactory, world: World
) -> None:
    fake = world.fake
    category = int(fake.add_category(world.id, "Support groups")["id"])
    target = Target("c1", "discord", str(world.id), str(category))
    members = (str(ALICE), str(BOB))
    async with discord_bot() as bot:
        port = bot.adapter.port
        made = await port.create_private_space(
            target, "Loan funders", "Monthly", members, Attempt("space:1")
        )
        found = await port.create_private_space(
            target, "Loan funders", "Monthly", members, Attempt("space:1", uncertain=True)
        )
        # Same name, other members: another group's channel, not this one's.
        other = await port.create_private_space(
            target, "Loan funders", "", (str(ALICE),), Attempt("space:2", uncertain=True)
        )
    assert found == made != other
    assert len(fake.calls_to("POST", "/guilds/{g}/channels", ok=True)) == 2
    assert fake.state.channel(int(other))["name"] == "loan-funders"
