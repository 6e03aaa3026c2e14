"""The OAuth2 invite: scopes ``bot`` + ``applications.commands`` and exactly the permissions
the adapter uses, each for a reason."""

from __future__ import annotations

import discord

SCOPES = ("bot", "applications.commands")


def required_permissions() -> discord.Permissions:
    return discord.Permissions(
        # See the admin, announcement and support-group channels.
        view_channel=True,
        # Post applications, announcements and notices there ...
        send_messages=True,
        # ... as embeds ...
        embed_links=True,
        # ... with files where a message carries one (exports, calendar entries, charts).
        attach_files=True,
        # Pin facilitator posts in group channels.
        pin_messages=True,
        # Create the Mentor and badge roles, grant and remove them, and set the permission
        # overwrites that make support-group channels private.
        manage_roles=True,
        # Create support-group channels and their overflow categories; archive them.
        manage_channels=True,
        # Put group meetings on the server's event calendar (and move or cancel them: the
        # bot's own events need no Manage Events).
        create_events=True,
        # A thread under each support-group post, and replies given by form posted there.
        create_public_threads=True,
        send_messages_in_threads=True,
    )


def invite_url(application_id: str) -> str:
    """The URL a server admin opens to add the bot (``mentorbot discord-invite``)."""
    return discord.utils.oauth_url(
        application_id, permissions=required_permissions(), scopes=SCOPES
    )
