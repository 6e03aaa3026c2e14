"""Configuration is validated once, names bad keys, and never prints secrets."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Config, ConfigError, load_config, masked

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_file_is_valid_and_documents_every_setting() -> None:
    example = ROOT / "config.example.toml"
    config = load_config(example, env={})
    assert config == Config()
    documented = tomllib.loads(example.read_text())
    text = example.read_text()
    for section, model in Config.model_fields.items():
        assert section in documented, section
        for key in model.annotation.model_fields:  # type: ignore[union-attr]
            assert key in text, f"{section}.{key} is not documented"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[database]\nurl = "sqlite:///file.db"\n')
    config = load_config(
        file,
        env={
            "DATABASE_URL": "postgres://u:pw@db/x",
            "DISCORD_TOKEN": "tok",
            "SLACK_API_BASE_URL": "http://127.0.0.1:9/api/",
        },
    )
    assert config.database.url == "postgresql://u:pw@db/x"
    assert config.discord.enabled
    assert config.slack.api_base_url == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ('[database]\nurl = "mysql://x"', "database.url: must be a sqlite:/// or postgresql://"),
        ("[delivery]\ndegraded_after = 0", "delivery.degraded_after: Input should be greater"),
        (
            '[slack]\napi_base_url = "https://slack.com/api"',
            "slack.api_base_url: must end with '/'",
        ),
        ('[discord]\ngateway_url = "https://x"', "discord.gateway_url: must start with ws://"),
        ("[slack]\nmood = 1", "slack.mood: unknown setting"),
        ("[logging]\nlevel = 'LOUD'", "logging.level"),
        ("[database\n", "not valid TOML"),
        ("[discord]\nshard_ids = [0]", "discord: shard_ids needs shard_count"),
        ("[discord]\nshard_count = 2\nshard_ids = [2]", "shard_ids: each from 0 to 1"),
        ("[discord]\nshard_count = 2\nshard_ids = [1, 1]", "shard_ids: each shard id once"),
        ("[discord]\nshard_count = 2\nshard_ids = []", "shard_ids: give at least one"),
        ("[discord]\nshard_count = 0", "discord.shard_count: Input should be greater"),
    ],
)
def test_a_bad_file_names_the_key_and_the_problem(tmp_path: Path, toml: str, says: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_config(file, env={})
    assert says in str(caught.value)


def test_socket_mode_needs_an_app_token() -> None:
    with pytest.raises(ConfigError, match=r"slack\.app_token"):
        load_config(None, env={"SLACK_BOT_TOKEN": "xoxb-1", "MENTORBOT_CONFIG": ""})


def test_a_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})


def test_masked_hides_secrets_and_database_passwords() -> None:
    config = load_config(
        None,
        env={
            "DISCORD_TOKEN": "super-secret",
            "DATABASE_URL": "postgresql://bot:hunter2@db:5432/m",
            "MENTORBOT_CONFIG": "",
        },
    )
    shown = json.dumps(masked(config))
    assert "super-secret" not in shown
    assert "hunter2" not in shown
    assert '"token": "********"' in shown


def test_check_config_prints_masked_config_and_bad_config_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "abc-secret")
    monkeypatch.setenv("DISCORD_GATEWAY_URL", "ftp://nope")
    assert main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert "discord.gateway_url: must start with ws:// or wss://" in err
    monkeypatch.delenv("DISCORD_GATEWAY_URL")
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "abc-secret" not in out
    assert json.loads(out)["discord"]["token"] == "********"


OAUTH_ENV = {
    "SLACK_CLIENT_ID": "1111.2222",
    "SLACK_CLIENT_SECRET": "secret",
    "SLACK_SIGNING_SECRET": "signing",
}


def test_oauth_credentials_serve_many_workspaces_in_http_mode(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[slack]\nmode = "http"\npublic_url = "https://mentorbot.example.org/"\n')
    config = load_config(file, env=OAUTH_ENV)
    assert config.slack.enabled
    assert config.slack.oauth
    assert config.slack.redirect_url == "https://mentorbot.example.org/slack/oauth_redirect"
    assert masked(config)["slack"]["client_secret"] == "********"


@pytest.mark.parametrize(
    ("toml", "env", "says"),
    [
        ('mode = "http"\npublic_url = "https://x.org"', {"SLACK_BOT_TOKEN": "xoxb-1"}, "not both"),
        (
            'mode = "socket"\npublic_url = "https://x.org"',
            {"SLACK_APP_TOKEN": "xapp-1"},
            "slack.mode",
        ),
        ('mode = "http"', {}, "slack.public_url"),
        ('mode = "http"\npublic_url = "https://x.org"', {"SLACK_CLIENT_SECRET": ""}, "both"),
    ],
)
def test_oauth_settings_that_do_not_fit_are_named(
    tmp_path: Path, toml: str, env: dict[str, str], says: str
) -> None:
    file = tmp_path / "c.toml"
    file.write_text(f"[slack]\n{toml}\n")
    with pytest.raises(ConfigError, match=says):
        load_config(file, env={**OAUTH_ENV, **env})


def test_shards_here_are_the_configured_ones_or_all() -> None:
    assert load_config(None, env={"MENTORBOT_CONFIG": ""}).discord.shards_here == [0]
    assert Config.model_validate({"discord": {"shard_count": 3}}).discord.shards_here == [0, 1, 2]
    sharded = Config.model_validate({"discord": {"shard_count": 4, "shard_ids": [3, 0]}})
    assert sharded.discord.shards_here == [0, 3]
