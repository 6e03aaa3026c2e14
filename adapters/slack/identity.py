"""Who is acting on Slack, in the core's terms (an ``Invocation``), looked up and cached.

Admin rights come from Slack itself, never from anything typed: ``users.info`` says
whether a member is a workspace admin or owner, and ``usergroups.users.list`` whether
they belong to the user group an admin chose as the community's admin role. Both are
cached briefly, so a burst of clicks costs one lookup and a change in Slack takes
effect within a minute or two.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from core.catalog import Command, OptionType
from core.context import Invocation
from core.errors import InvalidValue
from core.service import Mentorbot

log = logging.getLogger(__name__)

PLATFORM = "slack"
PROFILE_TTL_SECONDS = 120.0
GROUP_TTL_SECONDS = 60.0

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")


@dataclass(frozen=True)
class Profile:
    name: str
    timezone: str | None
    is_admin: bool


class Directory:
    """Slack users and user groups as the core needs them, cached for a short while."""

    def __init__(
        self,
        client: AsyncWebClient,
        service: Mentorbot,
        *,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._service = service
        self._now = now
        self._profiles: dict[str, tuple[float, Profile]] = {}
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._warned: set[str] = set()
        self.team_name = ""

    async def profile(self, user_id: str) -> Profile:
        cached = self._profiles.get(user_id)
        if cached and self._now() - cached[0] < PROFILE_TTL_SECONDS:
            return cached[1]
        try:
            user: Mapping[str, Any] = (await self._client.users_info(user=user_id))["user"]
        except SlackApiError as exc:
            self._warn_once("users.info", exc)
            return Profile(user_id, None, False)
        details = user.get("profile") or {}
        profile = Profile(
            name=details.get("display_name") or details.get("real_name") or user.get("name", ""),
            timezone=user.get("tz"),
            is_admin=bool(
                user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")
            ),
        )
        self._profiles[user_id] = (self._now(), profile)
        return profile

    async def group_members(self, group_id: str) -> frozenset[str]:
        cached = self._groups.get(group_id)
        if cached and self._now() - cached[0] < GROUP_TTL_SECONDS:
            return cached[1]
        try:
            listed = await self._client.usergroups_users_list(usergroup=group_id)
            members = frozenset(listed.get("users") or [])
        except SlackApiError as exc:
            self._warn_once("usergroups.users.list", exc)
            members = frozenset()
        self._groups[group_id] = (self._now(), members)
        return members

    def _warn_once(self, method: str, exc: SlackApiError) -> None:
        key = f"{method}:{exc.response.get('error')}"
        if key not in self._warned:
            self._warned.add(key)
            needed = exc.response.get("needed")
            log.warning(
                "Slack %s failed (%s)%s; treating the member as having no admin rights",
                method,
                exc.response.get("error"),
                f": add the {needed} scope" if needed else "",
            )

    async def invocation(
        self, team_id: str, user_id: str, channel_id: str | None = None
    ) -> Invocation:
        profile = await self.profile(user_id)
        community = await self._service.community(PLATFORM, team_id)
        admin_role = community.admin_role_id if community is not None else None
        role_ids: frozenset[str] = frozenset()
        if (
            admin_role
            and _GROUP_ID.match(admin_role)
            and user_id in await self.group_members(admin_role)
        ):
            role_ids = frozenset({admin_role})
        return Invocation(
            platform=PLATFORM,
            community_platform_id=team_id,
            user_id=user_id,
            display_name=profile.name,
            community_name=self.team_name,
            role_ids=role_ids,
            is_platform_admin=profile.is_admin,
            channel_id=channel_id,
        )

    async def check_ids(self, command: Command, options: dict[str, object]) -> dict[str, object]:
        """Make sure user/channel/role options hold Slack ids; resolve ``@handle`` groups.

        Raises ``InvalidValue`` naming the option when a value can't be an id.
        """
        checked = dict(options)
        for opt in command.options:
            value = checked.get(opt.name)
            if not isinstance(value, str) or not value.strip():
                continue
            value = value.strip()
            if opt.type is OptionType.ROLE and not _GROUP_ID.match(value):
                checked[opt.name] = await self._group_by_handle(opt.name, value)
            elif opt.type is OptionType.CHANNEL and not _CHANNEL_ID.match(value):
                raise InvalidValue(
                    opt.name,
                    "pick the channel from Slack's list (type # and choose it) so Slack "
                    "sends its id",
                    value,
                )
            elif opt.type is OptionType.USER and not _USER_ID.match(value):
                raise InvalidValue(opt.name, "mention the member (type @ and choose them)", value)
        return checked

    async def _group_by_handle(self, option: str, value: str) -> str:
        wanted = value.lstrip("@").lower()
        try:
            groups = (await self._client.usergroups_list())["usergroups"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            raise InvalidValue(
                option, f"could not look user groups up ({error}); mention the group instead"
            ) from exc
        for group in groups:
            if wanted in (str(group.get("handle", "")).lower(), str(group["name"]).lower()):
                return str(group["id"])
        raise InvalidValue(option, f"no user group is called @{wanted} in this workspace", value)
