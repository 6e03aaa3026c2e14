"""Who is acting on Slack, in the core's terms (an ``Invocation``), looked up and cached.

Admin rights come from Slack itself, never from anything typed: ``users.info`` says
whether a member is a workspace admin or owner, and ``usergroups.users.list`` whether
they belong to the user group an admin chose as the community's admin role. Each is
asked of the member's own workspace with that workspace's token (``Workspaces``), and
cached per workspace and id; briefly (30 s, a bounded number of entries, least
recently used dropped first), so a burst of clicks costs one lookup; Slack's
``user_change`` and user-group events drop an entry at once, so a demoted admin loses
the rights on their next action.

Channels and user groups picked in ``/mentor admin setup`` are looked up too
(``conversations.info``, ``usergroups.list``) and handed to the core as ``Picked``
values: which workspace they belong to and what kind of conversation a channel is.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from slack_sdk.errors import SlackApiError

from adapters.slack.workspaces import Workspaces
from core.catalog import Command, OptionType
from core.context import ChannelKind, Invocation, Picked
from core.errors import InvalidValue
from core.service import Mentorbot

log = logging.getLogger(__name__)

PLATFORM = "slack"
PROFILE_TTL_SECONDS = 30.0
GROUP_TTL_SECONDS = 30.0
CACHE_MAX = 5_000
K = TypeVar("K")
V = TypeVar("V")

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")


@dataclass(frozen=True)
class Profile:
    name: str
    timezone: str | None
    is_admin: bool


class Recent(Generic[K, V]):
    """A cache of at most ``size`` entries, each kept ``ttl`` seconds, LRU first out."""

    def __init__(self, size: int, ttl: float, now: Callable[[], float]) -> None:
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._size = size
        self._ttl = ttl
        self._now = now

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._now() - entry[0] >= self._ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (self._now(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def drop(self, key: K) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class Directory:
    """Slack users and user groups as the core needs them, cached for a short while."""

    def __init__(
        self,
        workspaces: Workspaces,
        service: Mentorbot,
        *,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._workspaces = workspaces
        self._service = service
        self._profiles: Recent[tuple[str, str], Profile] = Recent(
            CACHE_MAX, PROFILE_TTL_SECONDS, now
        )
        self._groups: Recent[tuple[str, str], frozenset[str]] = Recent(
            CACHE_MAX, GROUP_TTL_SECONDS, now
        )
        self._warned: set[str] = set()

    def forget_user(self, team_id: str, user_id: str) -> None:
        """Slack said the member changed (``user_change``): look them up afresh."""
        self._profiles.drop((team_id, user_id))

    def forget_group(self, team_id: str, group_id: str) -> None:
        """Slack said a user group or its members changed: look it up afresh."""
        self._groups.drop((team_id, group_id))

    async def profile(self, team_id: str, user_id: str) -> Profile:
        cached = self._profiles.get((team_id, user_id))
        if cached is not None:
            return cached
        client = (await self._workspaces.get(team_id)).client
        try:
            user: Mapping[str, Any] = (await client.users_info(user=user_id))["user"]
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
        self._profiles.put((team_id, user_id), profile)
        return profile

    async def group_members(self, team_id: str, group_id: str) -> frozenset[str]:
        cached = self._groups.get((team_id, group_id))
        if cached is not None:
            return cached
        client = (await self._workspaces.get(team_id)).client
        try:
            listed = await client.usergroups_users_list(usergroup=group_id)
            members = frozenset(listed.get("users") or [])
        except SlackApiError as exc:
            self._warn_once("usergroups.users.list", exc)
            members = frozenset()
        self._groups.put((team_id, group_id), members)
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
        workspace = await self._workspaces.get(team_id)
        profile = await self.profile(team_id, user_id)
        community = await self._service.community(PLATFORM, team_id)
        admin_role = community.admin_role_id if community is not None else None
        role_ids: frozenset[str] = frozenset()
        if (
            admin_role
            and _GROUP_ID.match(admin_role)
            and user_id in await self.group_members(team_id, admin_role)
        ):
            role_ids = frozenset({admin_role})
        return Invocation(
            platform=PLATFORM,
            community_platform_id=team_id,
            user_id=user_id,
            display_name=profile.name,
            community_name=workspace.name,
            role_ids=role_ids,
            is_platform_admin=profile.is_admin,
            channel_id=channel_id,
        )

    async def check_ids(
        self, command: Command, options: dict[str, object], team_id: str
    ) -> dict[str, object]:
        """User options as Slack ids; channel and role options as ``Picked`` (looked up in
        Slack, ``@handle`` groups resolved), for the core to check against ``team_id``.

        Raises ``InvalidValue`` naming the option when a value can't be an id.
        """
        checked = dict(options)
        for opt in command.options:
            value = checked.get(opt.name)
            if not isinstance(value, str) or not value.strip():
                continue
            value = value.strip()
            if opt.type is OptionType.ROLE:
                checked[opt.name] = await self._group(opt.name, value, team_id)
            elif opt.type is OptionType.CHANNEL and not _CHANNEL_ID.match(value):
                raise InvalidValue(
                    opt.name,
                    "pick the channel from Slack's list (type # and choose it) so Slack "
                    "sends its id",
                    value,
                )
            elif opt.type is OptionType.CHANNEL:
                checked[opt.name] = await self._channel(opt.name, value, team_id)
            elif opt.type is OptionType.USER and not _USER_ID.match(value):
                raise InvalidValue(opt.name, "mention the member (type @ and choose them)", value)
        return checked

    async def _channel(self, option: str, channel_id: str, team_id: str) -> Picked:
        """A conversation as this workspace's token sees it: not found means elsewhere
        (or private without the app in it)."""
        client = (await self._workspaces.get(team_id)).client
        try:
            found: Mapping[str, Any] = (await client.conversations_info(channel=channel_id))[
                "channel"
            ]
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error in ("channel_not_found", "method_not_supported_for_channel_type"):
                return Picked(channel_id, None, ChannelKind.OTHER)
            raise InvalidValue(
                option,
                f"could not look the channel up in Slack ({error}); the app may need "
                "reinstalling with the current manifest",
            ) from exc
        holds_posts = (found.get("is_channel") or found.get("is_group")) and not (
            found.get("is_im") or found.get("is_mpim") or found.get("is_archived")
        )
        return Picked(
            channel_id,
            str(found.get("context_team_id") or team_id),
            ChannelKind.POSTS if holds_posts else ChannelKind.OTHER,
        )

    async def _group(self, option: str, value: str, team_id: str) -> Picked:
        """A user group of this workspace by id or ``@handle``; an unknown id is not ours."""
        wanted = value.lstrip("@").lower()
        client = (await self._workspaces.get(team_id)).client
        try:
            groups = (await client.usergroups_list())["usergroups"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            raise InvalidValue(
                option, f"could not look user groups up ({error}); mention the group instead"
            ) from exc
        for group in groups:
            names = (str(group.get("handle", "")).lower(), str(group["name"]).lower())
            if group["id"] == value or wanted in names:
                return Picked(str(group["id"]), str(group.get("team_id") or team_id))
        if _GROUP_ID.match(value):
            return Picked(value, None)
        raise InvalidValue(option, f"no user group is called @{wanted} in this workspace", value)
