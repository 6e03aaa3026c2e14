"""Who is acting, and where: from what an adapter knows to the core's Actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import and_, bindparam, select

from core import defaults
from core.errors import NotAllowed
from core.models import Community, Member
from core.uow import UnitOfWork


@dataclass(frozen=True)
class Invocation:
    """The platform's facts about one action, as the adapter received them.

    ``role_ids`` and ``is_platform_admin`` come from the platform itself (Discord's
    member payload, Slack's users.info), never from anything the member typed.
    """

    platform: str
    community_platform_id: str
    user_id: str
    display_name: str = ""
    community_name: str = ""
    role_ids: frozenset[str] = field(default_factory=frozenset)
    is_platform_admin: bool = False
    channel_id: str | None = None


class ChannelKind(StrEnum):
    """What a channel can hold, in platform-free terms (adapters map their channel types)."""

    POSTS = "posts"  # messages: the bot's posts can go there (a text or announcement channel)
    CATEGORY = "category"  # a group of channels, holding no messages itself
    OTHER = "other"  # anything else: voice, forum, a direct message, an archived channel …


@dataclass(frozen=True)
class Picked:
    """A channel or role picked in a command, with what the platform says about it.

    ``community_platform_id`` is the server or workspace it belongs to (None when the
    platform does not know it there, e.g. an id from elsewhere); ``kind`` is set for
    channels. Adapters that can look ids up pass option values as ``Picked`` so the core
    can refuse what belongs elsewhere or cannot be used; a bare id is taken as typed.
    """

    id: str
    community_platform_id: str | None
    kind: ChannelKind | None = None


@dataclass
class Actor:
    community: Community
    member: Member
    role_ids: frozenset[str]
    is_platform_admin: bool

    @property
    def is_admin(self) -> bool:
        admin_role = self.community.admin_role_id
        return self.is_platform_admin or (admin_role is not None and admin_role in self.role_ids)

    @property
    def user_id(self) -> str:
        return self.member.platform_user_id

    def require_admin(self, action: str) -> None:
        if not self.is_admin:
            raise NotAllowed(action, "only community admins can do that")


async def get_or_create_community(
    uow: UnitOfWork, platform: str, platform_id: str, name: str = ""
) -> Community:
    stmt = select(Community).where(
        Community.platform == platform, Community.platform_id == platform_id
    )
    community = (await uow.session.execute(stmt)).scalar_one_or_none()
    if community is None:
        community = Community(
            platform=platform,
            platform_id=platform_id,
            name=name or platform_id,
            expertise_options=list(defaults.EXPERTISE_OPTIONS),
            goal_options=list(defaults.GOAL_OPTIONS),
            roles={key: {"name": role_name} for key, role_name in defaults.ROLE_NAMES.items()},
            settings={},
            created_at=uow.now(),
        )
        uow.session.add(community)
        await uow.session.flush()
    elif name and community.name != name:
        community.name = name
    return community


async def find_member(uow: UnitOfWork, community_id: str, platform_user_id: str) -> Member | None:
    stmt = select(Member).where(
        Member.community_id == community_id, Member.platform_user_id == platform_user_id
    )
    return (await uow.session.execute(stmt)).scalar_one_or_none()


async def resolve_actor(uow: UnitOfWork, inv: Invocation) -> Actor:
    community = await get_or_create_community(
        uow, inv.platform, inv.community_platform_id, inv.community_name
    )
    member = await find_member(uow, community.id, inv.user_id)
    if member is None:
        member = Member(
            community_id=community.id,
            platform_user_id=inv.user_id,
            display_name=inv.display_name or inv.user_id,
            languages=[],
            created_at=uow.now(),
        )
        uow.session.add(member)
        await uow.session.flush()
    else:
        if inv.display_name and member.display_name != inv.display_name:
            member.display_name = inv.display_name
        if member.left_at is not None:
            member.left_at = None
        if member.deletion_reason == "left":
            # Back within the grace period: the deletion their leaving started is off.
            member.deletion_due_at, member.deletion_reason = None, None
            member.privacy_version += 1
    return Actor(community, member, inv.role_ids, inv.is_platform_admin)


# Built once: every read-only command runs it, and building and caching a statement
# costs about as much as SQLite takes to answer it.
_COMMUNITY_AND_MEMBER = (
    select(Community, Member)
    .outerjoin(
        Member,
        and_(
            Member.community_id == Community.id,
            Member.platform_user_id == bindparam("user_id"),
        ),
    )
    .where(
        Community.platform == bindparam("platform"),
        Community.platform_id == bindparam("platform_id"),
    )
)


async def existing_actor(uow: UnitOfWork, inv: Invocation) -> Actor | None:
    """The actor, if nothing about them needs writing (see ``resolve_actor``); else None.

    One query for the community and the member: a read costs as few round trips as it can.
    """
    params = {
        "user_id": inv.user_id,
        "platform": inv.platform,
        "platform_id": inv.community_platform_id,
    }
    found = (await uow.session.execute(_COMMUNITY_AND_MEMBER, params)).first()
    if found is None:
        return None
    community, member = found
    if (
        (inv.community_name and community.name != inv.community_name)
        or member is None
        or member.left_at is not None
        or (inv.display_name and member.display_name != inv.display_name)
    ):
        return None
    return Actor(community, member, inv.role_ids, inv.is_platform_admin)


async def community_of(uow: UnitOfWork, platform: str, platform_id: str) -> Community | None:
    """The community with this platform id, if the bot knows it."""
    return (
        await uow.session.execute(
            select(Community).where(
                Community.platform == platform, Community.platform_id == platform_id
            )
        )
    ).scalar_one_or_none()
