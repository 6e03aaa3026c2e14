"""App Home: the member's own dashboard (the core's ``home``), published to their Home tab."""

from __future__ import annotations

from adapters.slack.blocks import Renderer
from adapters.slack.identity import Directory
from adapters.slack.workspaces import Workspaces
from core.service import Mentorbot


class AppHome:
    def __init__(
        self,
        workspaces: Workspaces,
        service: Mentorbot,
        directory: Directory,
        render: Renderer,
    ) -> None:
        self._workspaces = workspaces
        self._service = service
        self._directory = directory
        self._render = render

    async def publish(self, team_id: str, user_id: str) -> None:
        """Show ``user_id`` where they stand: status, pending items with buttons, next steps."""
        invocation = await self._directory.invocation(team_id, user_id)
        dashboard = await self._service.home(invocation)
        client = (await self._workspaces.get(team_id)).client
        await client.views_publish(user_id=user_id, view=self._render.home_view(dashboard))
