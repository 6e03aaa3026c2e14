"""Several workspaces and OAuth v2 installation in the fake Slack (entry point:
``slack_fake.FakeSlack``, which inherits this).

One fake server can hold several workspaces of one app: ``fake.add_team("T0B…")`` returns
a second ``FakeSlack`` (its own users, channels, messages, payload builders) that shares
the first one's server, signing secret and app. A Web API call is answered by the
workspace its token belongs to, so a test sees which token each call carried
(``ApiCall.token``; ``fake.calls`` holds every call, a workspace's ``calls`` its own).

Installation, as Slack does it (https://api.slack.com/authentication/oauth-v2):

* ``approve_install(authorize_url, team, user)`` is the installer pressing "Allow" on
  Slack's authorize page: it checks the app's ``client_id`` and returns the redirect URL
  with a one-time ``code`` and the ``state`` the app put in the authorize URL.
* ``oauth.v2.access`` (client id and secret as HTTP Basic auth or form fields) trades the
  code for a bot token of that workspace, once: a used, unknown or another app's code is
  ``invalid_code``; a redirect_uri differing from the authorize URL's is
  ``bad_redirect_uri``.
* With ``token_rotation = True`` the tokens expire after ``token_lifetime`` seconds
  (``xoxe.xoxb-…`` plus a ``refresh_token``); ``grant_type=refresh_token`` gives a fresh
  pair (a refresh token stays usable, as Slack's do; an unknown one is
  ``invalid_refresh_token``). An expired
  token is refused with ``token_expired``.
* ``uninstall(team)`` revokes every token of the workspace and returns the
  ``app_uninstalled`` event callback Slack then sends; ``tokens_revoked_event`` builds the
  other one.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.slack_fake_models import JsonDict, SlackError

if TYPE_CHECKING:
    from tests.fakes.slack_fake import FakeSlack

# Methods authenticated by the app's client id and secret, not by a token.
CLIENT_AUTH_METHODS = frozenset({"oauth.v2.access"})


@dataclass
class _Grant:
    team: FakeSlack
    client_id: str
    redirect_uri: str | None
    scopes: str
    installer: str
    used: bool = False


@dataclass
class _Refresh:
    team: FakeSlack
    scopes: str
    installer: str


@dataclass
class TeamTokens:
    """What a workspace was given: every token ever issued, and the current one."""

    issued: list[str] = field(default_factory=list)

    @property
    def current(self) -> str | None:
        return self.issued[-1] if self.issued else None


class Installations:
    """Mixin of ``FakeSlack``: workspaces, OAuth v2 codes, issued and rotated tokens."""

    client_id = "1111111111.2222222222"
    client_secret = "fake-client-secret"

    def _init_installations(self) -> None:
        me: FakeSlack = self  # type: ignore[assignment]
        self.teams: dict[str, FakeSlack] = {me.team_id: me}
        self.primary: FakeSlack = me
        #: True: tokens issued by oauth.v2.access expire and come with refresh tokens.
        self.token_rotation = False
        #: Seconds an issued token lives with token rotation (Slack: 12 hours).
        self.token_lifetime = 43_200
        self.tokens: dict[str, TeamTokens] = {}
        self._token_teams: dict[str, FakeSlack] = {}
        self._token_expiry: dict[str, float] = {}
        self._codes: dict[str, _Grant] = {}
        self._refresh_tokens: dict[str, _Refresh] = {}

    # ------------------------------------------------------------------ workspaces

    def add_team(
        self, team_id: str, *, team_domain: str | None = None, bot_user_id: str | None = None
    ) -> FakeSlack:
        """A further workspace of this app, served by this fake's server (start it first)."""
        from tests.fakes.slack_fake import FakeSlack

        me: FakeSlack = self  # type: ignore[assignment]
        assert me.base_url, "start the FakeSlack before adding workspaces"
        suffix = team_id.removeprefix("T")
        team = FakeSlack(
            signing_secret=me.signing_secret,
            bot_token=f"xoxb-{team_id}-static",
            app_token=me.app_token,
            host=me.host,
            team_id=team_id,
            team_domain=team_domain or f"team-{suffix.lower()}",
            bot_user_id=bot_user_id or f"U{suffix}BOT",
            bot_id=f"B{suffix}BOT",
            app_id=me.app_id,
            bot_name=me.bot_name,
        )
        team.primary = me
        team.base_url, team.port = me.base_url, me.port
        team._session = me._session
        team._activity = me._activity
        self.teams[team_id] = team
        self._token_teams[team.bot_token] = team
        return team

    def workspace_for(self, token: str) -> FakeSlack | None:
        """The workspace a token was issued for (None: not one this fake issued)."""
        return self._token_teams.get(token)

    def token_expired(self, token: str) -> bool:
        expiry = self._token_expiry.get(token)
        return expiry is not None and time.time() >= expiry

    def expire_token(self, token: str) -> None:
        """Make ``token`` expire now (as if its 12 hours were up)."""
        self._token_expiry[token] = time.time() - 1

    # ------------------------------------------------------------------ the installer

    def approve_install(self, authorize_url: str, team: FakeSlack, user: str) -> str:
        """``user`` of ``team`` presses "Allow" on Slack's authorize page at
        ``authorize_url``; returns the URL Slack then redirects the browser to."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        if query.get("client_id") != self.client_id:
            raise AssertionError(f"the authorize URL names another app: {authorize_url}")
        code = f"code-{team.team_id}-{secrets.token_hex(8)}"
        self._codes[code] = _Grant(
            team, self.client_id, query.get("redirect_uri"), query.get("scope", ""), user
        )
        redirect = query.get("redirect_uri") or "http://app.invalid/slack/oauth_redirect"
        return f"{redirect}?{urlencode({'code': code, 'state': query.get('state', '')})}"

    def uninstall(self, team: FakeSlack) -> JsonDict:
        """The workspace removes the app: its tokens are revoked; returns the
        ``app_uninstalled`` event callback Slack sends the app."""
        me: FakeSlack = self  # type: ignore[assignment]
        for token in self.tokens.get(team.team_id, TeamTokens()).issued:
            me.revoked_tokens.add(token)
        me.revoked_tokens.add(team.bot_token)
        return team.event_payload({"type": "app_uninstalled"})

    @staticmethod
    def tokens_revoked_event(team: FakeSlack, *, bot: bool = True) -> JsonDict:
        """``tokens_revoked`` naming the bot's token (``bot``) or only a user's."""
        tokens = {"bot": [team.bot_user_id]} if bot else {"oauth": ["U0SOMEONE"]}
        return team.event_payload({"type": "tokens_revoked", "tokens": tokens})

    # ------------------------------------------------------------------ oauth.v2.access

    @staticmethod
    def client_credentials(authorization: str, args: JsonDict) -> tuple[str | None, str | None]:
        """The client id and secret of a call: HTTP Basic auth (slack_sdk) or form fields."""
        if authorization.startswith("Basic "):
            raw = base64.b64decode(authorization[6:].strip()).decode()
            client_id, _, secret = raw.partition(":")
            return client_id, secret
        return args.get("client_id"), args.get("client_secret")

    def oauth_access(self, args: JsonDict) -> JsonDict:
        if (args.get("client_id"), args.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            raise SlackError("invalid_client_id")
        if args.get("grant_type") == "refresh_token":
            refresh = self._refresh_tokens.get(str(args.get("refresh_token") or ""))
            if refresh is None:
                raise SlackError("invalid_refresh_token")
            return self._issue(refresh.team, refresh.scopes, refresh.installer)
        grant = self._codes.get(str(args.get("code") or ""))
        if grant is None or grant.used:
            raise SlackError("invalid_code")
        if args.get("redirect_uri") and args["redirect_uri"] != grant.redirect_uri:
            raise SlackError("bad_redirect_uri")
        grant.used = True
        return self._issue(grant.team, grant.scopes, grant.installer)

    def _issue(self, team: FakeSlack, scopes: str, installer: str) -> JsonDict:
        prefix = "xoxe.xoxb" if self.token_rotation else "xoxb"
        token = f"{prefix}-{team.team_id}-{secrets.token_hex(12)}"
        self.tokens.setdefault(team.team_id, TeamTokens()).issued.append(token)
        self._token_teams[token] = team
        answer: dict[str, Any] = {
            "ok": True,
            "app_id": team.app_id,
            "authed_user": {"id": installer},
            "scope": scopes,
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": team.bot_user_id,
            "team": {"id": team.team_id, "name": team.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if self.token_rotation:
            refresh = f"xoxe-1-{team.team_id}-{secrets.token_hex(12)}"
            self._refresh_tokens[refresh] = _Refresh(team, scopes, installer)
            self._token_expiry[token] = time.time() + self.token_lifetime
            answer.update(refresh_token=refresh, expires_in=self.token_lifetime)
        return answer
