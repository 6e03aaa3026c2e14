"""The Slack app manifest, generated from the catalog: paste it when creating the app.

``mentorbot slack-manifest`` prints it (``--oauth``: for installing in many workspaces,
with the OAuth redirect URL and the distribution settings). Slack has one slash command
for the app; the
catalog's commands are its subcommands, listed in its usage hint and in the app's long
description. ``should_escape`` is on so that users, channels and user groups picked in a
command arrive as ids (``<#C…|name>``), which the adapter needs for ``/mentor admin setup``.
"""

from __future__ import annotations

from typing import Any

from adapters.slack.commands import subcommand
from core.catalog import Access, Catalog

MAX_NAME = 35
MAX_LONG_DESCRIPTION = 4000
MAX_USAGE_HINT = 1000

SCOPES = {
    "commands": "the /mentor command",
    "chat:write": "replies, DMs, application cards",
    "chat:write.public": "posting in public admin/announcement channels without joining",
    "im:write": "opening DMs with members",
    "im:history": "messages members write to the app (relayed to their mentor or mentee), "
    "and whether a DM was already sent before sending it again",
    "channels:history": "whether a post in a public channel was already made before a retry",
    "groups:history": "whether a post in a private channel was already made before a retry; "
    "replies in the threads of support-group posts (stored as group replies)",
    "reactions:read": "reactions on relayed messages (read receipts)",
    "files:write": "sharing files (exports, calendar entries, charts)",
    "channels:read": "checking that channels picked in /mentor admin setup are this workspace's",
    "groups:read": "the same for private channels",
    "users:read": "names, timezones and workspace-admin status",
    "usergroups:read": "whether a member is in the community's admin user group",
    "usergroups:write": "badges as user groups (badge_usergroups = true)",
    "groups:write": "private channels for support groups (create, invite, archive)",
    "pins:write": "pinning facilitator posts",
}
# message.im: members talk to their mentor or mentee by writing in the app's DM.
# message.groups: replies in the threads of support-group posts, in the group's private
# channel (only thread replies to a group post are kept; other messages are ignored).
# user_change, subteam_*: a member's admin status or user groups changed, so the cached
# rights are dropped at once; user_change with deleted: true (deactivated) also starts the
# deletion of a member's data after the grace period, and team_join (or reactivation)
# within it cancels it.
# app_uninstalled, tokens_revoked: the app was removed from the workspace (its deliveries
# stop; its data is erased after the grace period unless it is installed again).
BOT_EVENTS = (
    "app_home_opened",
    "message.im",
    "message.groups",
    "reaction_added",
    "team_join",
    "user_change",
    "subteam_members_changed",
    "subteam_updated",
    "app_uninstalled",
    "tokens_revoked",
)


def bot_scopes(badge_usergroups: bool = True) -> list[str]:
    """The bot token scopes the app asks for (OAuth installs ask for the same)."""
    return [s for s in SCOPES if badge_usergroups or s != "usergroups:write"]


def usage_hint(catalog: Catalog) -> str:
    """Every subcommand, ``a | b | goal add | …``; past Slack's limit, a group's
    subcommands share its name once (``goal add/list/chart``)."""
    flat = " | ".join(subcommand(c) for c in catalog)
    if len(flat) <= MAX_USAGE_HINT:
        return flat
    grouped: dict[str, list[str]] = {}
    for command in catalog:
        head, _, rest = subcommand(command).partition(" ")
        grouped.setdefault(head if rest else "", []).append(rest or head)
    items = list(grouped.pop("", []))
    items += [f"{group} {'/'.join(names)}" for group, names in grouped.items()]
    return " | ".join(items)


def build_manifest(
    catalog: Catalog,
    *,
    command: str = "/mentor",
    socket_mode: bool,
    request_url: str | None,
    app_name: str = "Mentorbot",
    badge_usergroups: bool = True,
    redirect_url: str | None = None,
    token_rotation: bool = False,
) -> dict[str, Any]:
    """A JSON-serialisable app manifest (Slack accepts it as JSON or YAML).

    ``request_url`` (``https://…/slack/events``) is required in HTTP mode and unused in
    Socket Mode. Leave ``badge_usergroups`` on unless you never want badges as user groups:
    the scope can then be granted up front. ``redirect_url``
    (``https://…/slack/oauth_redirect``) makes it the manifest of an app installed in many
    workspaces by OAuth (HTTP mode only), with ``token_rotation`` as the app has it.
    """
    if not socket_mode and not request_url:
        raise ValueError("HTTP mode needs the public request URL (https://…/slack/events)")
    if redirect_url is not None and socket_mode:
        raise ValueError("installing by OAuth needs HTTP mode")
    url = None if socket_mode else request_url
    slash: dict[str, Any] = {
        "command": command,
        "description": "Mentorship: mentors, mentees and admin tools",
        "usage_hint": usage_hint(catalog),
        "should_escape": True,
    }
    events: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    interactivity: dict[str, Any] = {"is_enabled": True}
    if url:
        slash["url"] = url
        events["request_url"] = url
        interactivity.update(request_url=url, message_menu_options_url=url)
    oauth_config: dict[str, Any] = {"scopes": {"bot": bot_scopes(badge_usergroups)}}
    settings: dict[str, Any] = {
        "event_subscriptions": events,
        "interactivity": interactivity,
        # One workspace at a time: an Enterprise Grid org installs it per workspace.
        "org_deploy_enabled": False,
        "socket_mode_enabled": socket_mode,
        "token_rotation_enabled": token_rotation and redirect_url is not None,
    }
    if redirect_url is not None:
        oauth_config["redirect_urls"] = [redirect_url]
        settings["is_hosted"] = False  # runs on your server, not on Slack's platform
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": app_name[:MAX_NAME],
            "description": "Mentorship and peer support for this workspace",
            "long_description": _long_description(catalog, command),
            "background_color": "#2c2d30",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                # Members write in the Messages tab: that is the mentorship conversation.
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": app_name[:MAX_NAME], "always_online": True},
            "slash_commands": [slash],
        },
        "oauth_config": oauth_config,
        "settings": settings,
    }


def _long_description(catalog: Catalog, command: str) -> str:
    lines = [
        "Mentorbot connects experienced members (mentors) with newcomers (mentees): members "
        "apply to mentor, admins approve them with a button, mentees find a mentor, and "
        "the two write to each other in their DM with the app (one thread per mentorship, "
        "relayed and kept). The Home tab shows where everyone stands. Commands:",
    ]
    described = [
        f"• {command} {subcommand(cmd)}{' (admins)' if cmd.access is Access.ADMIN else ''}: "
        f"{cmd.description}"
        for cmd in catalog
    ]
    text = "\n".join([*lines, *described])
    if len(text) <= MAX_LONG_DESCRIPTION:
        return text
    # Too many commands to describe each within Slack's limit: name them all, and point
    # to the command that describes them.
    lines[0] += f" (`{command} help` describes each)"
    return "\n".join([*lines, " · ".join(f"{command} {subcommand(c)}" for c in catalog)])
