"""Configuration: a TOML file plus environment overrides, typed and validated once.

Secrets and URLs come from the environment (DATABASE_URL, DISCORD_TOKEN,
SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN, SLACK_CLIENT_ID,
SLACK_CLIENT_SECRET); everything else may live in
the file named by ``--config`` or MENTORBOT_CONFIG (default ./mentorbot.toml if present).
Every setting is documented in config.example.toml.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

DEFAULT_CONFIG_FILE = "mentorbot.toml"

ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("database", "url"),
    "DISCORD_TOKEN": ("discord", "token"),
    "SLACK_BOT_TOKEN": ("slack", "bot_token"),
    "SLACK_SIGNING_SECRET": ("slack", "signing_secret"),
    "SLACK_APP_TOKEN": ("slack", "app_token"),
    "SLACK_CLIENT_ID": ("slack", "client_id"),
    "SLACK_CLIENT_SECRET": ("slack", "client_secret"),
    "DISCORD_API_BASE_URL": ("discord", "api_base_url"),
    "DISCORD_GATEWAY_URL": ("discord", "gateway_url"),
    "SLACK_API_BASE_URL": ("slack", "api_base_url"),
    # Several processes on one host from one config file: each its own health port.
    "MENTORBOT_HEALTH_HOST": ("health", "host"),
    "MENTORBOT_HEALTH_PORT": ("health", "port"),
}


class ConfigError(Exception):
    """The configuration cannot be used; the message names each bad key."""


def _with_scheme(value: str, *schemes: str) -> str:
    if not value.startswith(tuple(f"{scheme}://" for scheme in schemes)):
        raise ValueError("must start with " + " or ".join(f"{x}://" for x in schemes))
    return value


def _is_set(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value())


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Section):
    url: str = "sqlite+aiosqlite:///mentorbot.db"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        return value


class DeliveryConfig(_Section):
    poll_seconds: float = Field(2.0, gt=0, le=60)
    batch_size: int = Field(50, ge=1, le=1000)
    lease_seconds: float = Field(4.0, ge=2, le=600)
    heartbeat_seconds: float = Field(1.0, gt=0, le=60)
    concurrency: int = Field(16, ge=1, le=256)
    degraded_after: int = Field(5, ge=1, le=1000)
    base_backoff_seconds: float = Field(2.0, gt=0, le=600)
    max_backoff_seconds: float = Field(300.0, gt=0, le=86400)

    @model_validator(mode="after")
    def _beats_within_lease(self) -> DeliveryConfig:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError("heartbeat_seconds must be at most half of lease_seconds")
        return self


class DiscordConfig(_Section):
    token: SecretStr | None = None
    application_id: str | None = None
    api_base_url: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    # Sync commands to this guild only (instant; handy while developing).
    dev_guild_id: str | None = None
    # Store replies in support-group post threads; needs the privileged Message Content
    # intent enabled in the Developer Portal. Off: the post's Reply button is the way.
    capture_group_replies: bool = False
    # Let badge sync also take badge roles from members who hold one without the award
    # (a role handed out by hand); listing a role's members needs the privileged Server
    # Members intent enabled in the Developer Portal. Off: missing roles are still added.
    list_role_members: bool = False
    # Start a member's deletion when they leave the server (GUILD_MEMBER_REMOVE) and cancel
    # it when they come back within the grace period (GUILD_MEMBER_ADD); needs the
    # privileged Server Members intent enabled in the Developer Portal.
    member_events: bool = False
    # Several processes: the bot's servers are split into shard_count shards (Discord's
    # rule: (server id >> 22) % shard_count) and this process connects shard_ids (all of
    # them when unset). Unset shard_count: one connection, no sharding.
    shard_count: int | None = Field(None, ge=1, le=4096)
    shard_ids: list[int] | None = None

    @model_validator(mode="after")
    def _shards(self) -> DiscordConfig:
        if self.shard_ids is None:
            return self
        if self.shard_count is None:
            raise ValueError("shard_ids needs shard_count (the total number of shards)")
        if not self.shard_ids:
            raise ValueError("shard_ids: give at least one shard id (or leave it unset)")
        if len(set(self.shard_ids)) != len(self.shard_ids):
            raise ValueError("shard_ids: each shard id once")
        if any(not 0 <= i < self.shard_count for i in self.shard_ids):
            raise ValueError(f"shard_ids: each from 0 to {self.shard_count - 1} (shard_count - 1)")
        return self

    @property
    def shards_here(self) -> list[int]:
        """The shard ids this process connects (all of them when shard_ids is unset)."""
        if self.shard_count is None:
            return [0]
        return (
            sorted(self.shard_ids) if self.shard_ids is not None else list(range(self.shard_count))
        )

    @field_validator("api_base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        return _with_scheme(value, "http", "https").rstrip("/")

    @field_validator("gateway_url")
    @classmethod
    def _ws(cls, value: str) -> str:
        return _with_scheme(value, "ws", "wss")

    @property
    def enabled(self) -> bool:
        return _is_set(self.token)


class SlackConfig(_Section):
    # One workspace: its bot token. Many workspaces (OAuth): the app's client id and secret.
    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    # Where Slack reaches the HTTP server, e.g. "https://mentorbot.example.org": the
    # redirect URL is <public_url>/slack/oauth_redirect, the request URL <…>/slack/events.
    public_url: str | None = None
    # Token rotation on in the app's settings (OAuth): tokens expire and are renewed with
    # their refresh tokens once fewer than token_rotation_minutes are left.
    token_rotation: bool = False
    token_rotation_minutes: int = Field(120, ge=5, le=600)
    mode: Literal["socket", "http"] = "socket"
    http_host: str = "0.0.0.0"
    http_port: int = Field(3000, ge=1, le=65535)
    api_base_url: str = "https://slack.com/api/"
    command: str = "/mentor"
    badge_usergroups: bool = False

    @field_validator("api_base_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        _with_scheme(value, "http", "https")
        if not value.endswith("/"):
            raise ValueError("must end with '/' (slack_sdk appends method names to it)")
        return value

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _with_scheme(value.strip(), "http", "https").rstrip("/")

    @field_validator("command")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not value.startswith("/") or len(value) > 32 or " " in value:
            raise ValueError("must be a slash command such as /mentor")
        return value

    @property
    def oauth(self) -> bool:
        """Installed in many workspaces by OAuth (rather than one, by a bot token)."""
        return bool(self.client_id) and _is_set(self.client_secret)

    @property
    def enabled(self) -> bool:
        return _is_set(self.bot_token) or self.oauth

    @property
    def redirect_url(self) -> str | None:
        return f"{self.public_url}/slack/oauth_redirect" if self.public_url else None


class MatchingConfig(_Section):
    # Relative weights of the five factors of a compatibility score.
    weight_expertise: float = Field(0.35, ge=0, le=10)
    weight_timezone: float = Field(0.20, ge=0, le=10)
    weight_language: float = Field(0.20, ge=0, le=10)
    weight_capacity: float = Field(0.15, ge=0, le=10)
    weight_style: float = Field(0.10, ge=0, le=10)
    day_start_hour: int = Field(8, ge=0, le=23)
    day_end_hour: int = Field(21, ge=1, le=24)
    horizon_days: int = Field(28, ge=1, le=120)
    min_score: float = Field(40.0, ge=0, le=100)
    suggestions: int = Field(5, ge=1, le=10)
    # Goal -> expertise that serves it; unlisted goals keep the defaults.
    goal_expertise: dict[str, list[str]] = {}

    @field_validator("day_end_hour")
    @classmethod
    def _after_start(cls, value: int, info: ValidationInfo) -> int:
        if value <= info.data.get("day_start_hour", 0):
            raise ValueError("must be later than day_start_hour")
        return value


class RequestsConfig(_Section):
    nudge_days: int = Field(3, ge=1, le=60)
    expiry_days: int = Field(7, ge=1, le=90)
    max_open: int = Field(3, ge=1, le=20)


class GoalsConfig(_Section):
    # Both people are nudged this many days before a goal's target date.
    nudge_days: int = Field(3, ge=1, le=60)


class ReviewsConfig(_Section):
    after_sessions: bool = False
    edit_window_hours: int = Field(48, ge=0, le=24 * 60)
    flag_threshold: int = Field(2, ge=0, le=5)


class BadgesConfig(_Section):
    peer_supporter_replies: int = Field(10, ge=1, le=10_000)
    peer_supporter_daily_cap: int = Field(3, ge=1, le=100)
    # Hour (UTC) of the daily job that gives back badge roles members lost.
    sync_hour: int = Field(4, ge=0, le=23)


class RetentionConfig(_Section):
    """How long housekeeping keeps rows that only matter for a while (days)."""

    dedupe_days: int = Field(7, ge=1, le=365)
    pending_relay_days: int = Field(1, ge=1, le=30)
    route_days: int = Field(180, ge=7, le=3650)
    # A workspace that uninstalled the app keeps its data this long, then it is erased.
    uninstalled_days: int = Field(30, ge=1, le=3650)


class SessionsConfig(_Section):
    """Sessions (F7): default reminder times and the check-in gap."""

    # Minutes before a session each member is reminded unless they chose their own.
    reminder_minutes: list[int] = Field(default_factory=lambda: [24 * 60, 15], max_length=5)
    check_in_days: int = Field(14, ge=1, le=365)

    @field_validator("reminder_minutes")
    @classmethod
    def _offsets(cls, value: list[int]) -> list[int]:
        if any(not 1 <= m <= 7 * 24 * 60 for m in value):
            raise ValueError("each must be 1 to 10080 minutes (7 days)")
        return sorted(set(value), reverse=True)


class CalendarConfig(_Section):
    """The live calendar feed, served by the bot's HTTP server (off without a base URL)."""

    host: str = "127.0.0.1"
    port: int = Field(8090, ge=1, le=65535)
    # The address members' calendar apps reach the server at (usually behind HTTPS),
    # e.g. "https://mentorbot.example.org"; feed URLs are <base>/calendar/<token>.ics.
    public_base_url: str | None = None

    @field_validator("public_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _with_scheme(value.strip(), "http", "https").rstrip("/")

    @property
    def enabled(self) -> bool:
        return self.public_base_url is not None


class GroupsConfig(_Section):
    """Support groups (F8)."""

    min_members: int = Field(3, ge=1, le=50)
    waitlist_offer_hours: int = Field(24, ge=1, le=336)
    meeting_window: int = Field(4, ge=1, le=12)
    reminder_hours: list[int] = Field(default_factory=lambda: [24, 1])

    @field_validator("reminder_hours")
    @classmethod
    def _hours(cls, value: list[int]) -> list[int]:
        if len(value) > 5 or any(not 1 <= h <= 336 for h in value):
            raise ValueError("give at most 5 whole hours, each from 1 to 336")
        return sorted(set(value), reverse=True)


class PrivacyConfig(_Section):
    """Members' privacy (F15)."""

    # Days between /privacy delete (or leaving the community) and the deletion; each
    # community may choose its own with /privacy grace.
    grace_days: int = Field(7, ge=1, le=90)


class ConsoleConfig(_Section):
    community_name: str = "Console community"
    # Where `mentorbot console` saves files sent to members (calendar files, exports);
    # "" (default): a "mentorbot-files" folder in the system's temporary directory.
    files_dir: str = ""


class HealthConfig(_Section):
    """Health endpoints and Prometheus metrics of `mentorbot run` (bot/health.py)."""

    enabled: bool = True
    # Where the bot's HTTP server listens when neither the Slack HTTP mode nor the
    # calendar feed runs; when one does, the endpoints are on that server instead.
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port (tests)
    metrics: bool = True
    # /readyz fails when the database does not answer within this many seconds ...
    database_timeout_seconds: float = Field(2.0, gt=0, le=60)
    # ... or the oldest due, unsent effect has waited longer than this (0: not checked).
    max_delivery_lag_seconds: float = Field(300.0, ge=0, le=86400)


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # "text": one readable line per record; "json": one JSON object per line.
    format: Literal["text", "json"] = "text"


class Config(_Section):
    database: DatabaseConfig = DatabaseConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    discord: DiscordConfig = DiscordConfig()
    slack: SlackConfig = SlackConfig()
    matching: MatchingConfig = MatchingConfig()
    requests: RequestsConfig = RequestsConfig()
    goals: GoalsConfig = GoalsConfig()
    reviews: ReviewsConfig = ReviewsConfig()
    badges: BadgesConfig = BadgesConfig()
    retention: RetentionConfig = RetentionConfig()
    sessions: SessionsConfig = SessionsConfig()
    calendar: CalendarConfig = CalendarConfig()
    groups: GroupsConfig = GroupsConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    console: ConsoleConfig = ConsoleConfig()
    health: HealthConfig = HealthConfig()
    logging: LoggingConfig = LoggingConfig()

    def problems(self) -> list[str]:
        """Settings that are each valid but do not fit together."""
        found = []
        if self.slack.enabled and self.slack.signing_secret is None and self.slack.mode == "http":
            found.append("slack.signing_secret: required in HTTP mode (SLACK_SIGNING_SECRET)")
        if self.slack.enabled and self.slack.mode == "socket" and self.slack.app_token is None:
            found.append("slack.app_token: required in Socket Mode (SLACK_APP_TOKEN, xapp-…)")
        s = self.slack
        if s.oauth and _is_set(s.bot_token):
            found.append(
                "slack.bot_token: set either a bot token (SLACK_BOT_TOKEN, one workspace) or "
                "the OAuth client id and secret (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET: many "
                "workspaces), not both"
            )
        if bool(s.client_id) != _is_set(s.client_secret):
            found.append(
                "slack.client_id: OAuth needs both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"
            )
        if s.oauth and s.mode != "http":
            found.append('slack.mode: installing by OAuth needs mode = "http"')
        if s.oauth and s.public_url is None:
            found.append(
                "slack.public_url: required to install by OAuth (Slack redirects installers "
                "to <public_url>/slack/oauth_redirect)"
            )
        if self.requests.nudge_days >= self.requests.expiry_days:
            found.append("requests.nudge_days: must be fewer than requests.expiry_days")
        return found


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    data = _read_file(path, env)
    for var, (section, key) in ENV_OVERRIDES.items():
        if env.get(var):
            data.setdefault(section, {})[key] = env[var]
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    problems = config.problems()
    if problems:
        raise ConfigError("\n".join(problems))
    return config


def _read_file(path: str | Path | None, env: Mapping[str, str]) -> dict[str, Any]:
    explicit = path or env.get("MENTORBOT_CONFIG")
    file = Path(explicit) if explicit else Path(DEFAULT_CONFIG_FILE)
    if not file.exists():
        if explicit:
            raise ConfigError(f"config file {file} does not exist")
        return {}
    try:
        with file.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML ({exc})") from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown setting (see config.example.toml)")
        else:
            lines.append(f"{key}: {err['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def masked(config: Config) -> dict[str, Any]:
    """The effective configuration with every secret replaced by asterisks."""

    def walk(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "********" if value.get_secret_value() else ""
        if isinstance(value, BaseModel):
            return {k: walk(getattr(value, k)) for k in type(value).model_fields}
        return value

    result = walk(config)
    url = config.database.url
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        result["database"]["url"] = f"{scheme}://{user}:********@{host}"
    return result  # type: ignore[no-any-return]
