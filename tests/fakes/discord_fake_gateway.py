"""Gateway websocket of the fake Discord (JSON encoding, uncompressed text frames).

discord.py asks for ``compress=zlib-stream`` in the query string but only decompresses *binary*
frames, so plain text frames work unchanged.  Supported opcodes: HEARTBEAT (answered with
HEARTBEAT_ACK), IDENTIFY (-> READY + one GUILD_CREATE per joined guild), RESUME (-> replay of
buffered events + RESUMED, or INVALID_SESSION for unknown sessions), REQUEST_GUILD_MEMBERS
(-> one GUILD_MEMBERS_CHUNK), PRESENCE_UPDATE (recorded).  Voice is not supported.

Sharding as Discord does it: an IDENTIFY with ``"shard": [id, count]`` gets READY (echoing the
pair) and GUILD_CREATE for only the guilds with ``(guild_id >> 22) % count == id``; guild events
are dispatched only to the session owning their guild's shard, events outside any guild (DMs) to
shard 0.  A shard id outside ``0..count-1`` is closed with 4010 (Invalid shard).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from tests.fakes.discord_fake_types import JSON

if TYPE_CHECKING:
    from tests.fakes.discord_fake import FakeDiscord


class Op:
    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


class Intent:
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MESSAGES = 1 << 9
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16


Transform = Callable[[JSON, "GatewaySession"], JSON]
_BACKLOG = 500


class GatewayConnection:
    def __init__(self, ws: web.WebSocketResponse, query: dict[str, str]) -> None:
        self.ws = ws
        self.query = query
        self.session: GatewaySession | None = None
        self.server_closed = False
        self._lock = asyncio.Lock()

    @property
    def live(self) -> bool:
        return not self.ws.closed and not self.server_closed

    async def send(self, payload: JSON) -> bool:
        async with self._lock:
            if not self.live:
                return False
            try:
                await self.ws.send_str(json.dumps(payload))
            except (ConnectionError, RuntimeError):
                return False
            return True


@dataclass
class GatewaySession:
    """An identified gateway session; survives disconnects until invalidated (for RESUME)."""

    session_id: str
    intents: int
    identify: JSON
    seq: int = 0
    conn: GatewayConnection | None = None
    backlog: list[JSON] = field(default_factory=list)
    shard: tuple[int, int] = (0, 1)  # (id, count)

    @property
    def live(self) -> bool:
        return self.conn is not None and self.conn.live

    def serves(self, guild_id: int | None) -> bool:
        """Whether events of this guild (None: outside any guild, e.g. DMs) come here."""
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % count == shard_id

    def next_dispatch(self, event: str, data: JSON) -> JSON:
        self.seq += 1
        payload = {"op": Op.DISPATCH, "t": event, "s": self.seq, "d": data}
        self.backlog.append(payload)
        del self.backlog[:-_BACKLOG]
        return payload


def _guild_of(event: str, data: JSON) -> int | None:
    """The guild an event belongs to (its shard's session gets it); None outside guilds."""
    raw = data.get("id") if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE") else None
    raw = raw if raw is not None else data.get("guild_id")
    return int(raw) if raw is not None else None


class Gateway:
    heartbeat_interval_ms = 41_250

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.connections: set[GatewayConnection] = set()
        self.sessions: dict[str, GatewaySession] = {}
        self.identifies: list[JSON] = []
        self.resumes: list[JSON] = []
        self.presence_updates: list[JSON] = []
        self.member_requests: list[JSON] = []
        self._changed = asyncio.Condition()

    # ------------------------------------------------------------ websocket
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(ws, dict(request.query))
        self.connections.add(conn)
        try:
            if conn.query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"fake supports encoding=json only")
                return ws
            await conn.send(
                {
                    "op": Op.HELLO,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                    "s": None,
                    "t": None,
                }
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_text(conn, msg.data)
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self.connections.discard(conn)
            await self._on_disconnect(conn)
        return ws

    async def _on_disconnect(self, conn: GatewayConnection) -> None:
        session = conn.session
        if session is not None and session.conn is conn:
            session.conn = None
            # A client-initiated clean close (1000/1001) ends the session, like Discord does.
            if not conn.server_closed and conn.ws.close_code in (1000, 1001):
                self.sessions.pop(session.session_id, None)
        async with self._changed:
            self._changed.notify_all()

    async def _on_text(self, conn: GatewayConnection, raw: str) -> None:
        try:
            msg = json.loads(raw)
            op, d = msg["op"], msg.get("d")
        except (ValueError, KeyError, TypeError):
            await self._close(conn, 4002, "Decode error")
            return
        if op == Op.HEARTBEAT:
            await conn.send({"op": Op.HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == Op.IDENTIFY:
            await self._identify(conn, d)
        elif op == Op.RESUME:
            await self._resume(conn, d)
        elif conn.session is None:
            await self._close(conn, 4003, "Not authenticated")
        elif op == Op.PRESENCE_UPDATE:
            self.presence_updates.append(d)
        elif op == Op.REQUEST_GUILD_MEMBERS:
            await self._request_members(conn.session, d)
        elif op == Op.VOICE_STATE_UPDATE:
            pass
        else:
            await self._close(conn, 4001, "Unknown opcode")

    async def _close(self, conn: GatewayConnection, code: int, reason: str) -> None:
        conn.server_closed = True
        await conn.ws.close(code=code, message=reason.encode())

    def _token_ok(self, token: Any) -> bool:
        return self.fake.token is None or token == self.fake.token

    async def _identify(self, conn: GatewayConnection, d: JSON) -> None:
        if conn.session is not None:
            await self._close(conn, 4005, "Already authenticated")
            return
        if not self._token_ok(d.get("token")):
            await self._close(conn, 4004, "Authentication failed")
            return
        shard = d.get("shard") or [0, 1]
        try:
            shard_id, shard_count = int(shard[0]), int(shard[1])
        except (TypeError, ValueError, IndexError):
            shard_id, shard_count = -1, 0
        if not 0 <= shard_id < shard_count:
            await self._close(conn, 4010, "Invalid shard")
            return
        self.identifies.append(d)
        session = GatewaySession(
            session_id=secrets.token_hex(16),
            intents=int(d.get("intents", 0)),
            identify=d,
            shard=(shard_id, shard_count),
        )
        self.sessions[session.session_id] = session
        session.conn = conn
        conn.session = session
        st = self.fake.state
        joined = [g for g in st.guilds.values() if g.joined and session.serves(g.id)]
        ready = {
            "v": 10,
            "user": st.bot_user_payload(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in joined],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.fake.gateway_url,
            "application": {"id": str(st.application_id), "flags": self.fake.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ['["fake-discord-gateway",{}]'],
        }
        if d.get("shard"):
            ready["shard"] = [shard_id, shard_count]
        await conn.send(session.next_dispatch("READY", ready))
        for g in joined:
            await conn.send(session.next_dispatch("GUILD_CREATE", st.guild_create_payload(g.id)))
        async with self._changed:
            self._changed.notify_all()

    async def _resume(self, conn: GatewayConnection, d: JSON) -> None:
        self.resumes.append(d)
        session = self.sessions.get(str(d.get("session_id")))
        if session is None or not self._token_ok(d.get("token")):
            await conn.send({"op": Op.INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        if session.conn is not None and session.conn is not conn:
            await self._close(session.conn, 4000, "Session resumed elsewhere")
        session.conn = conn
        conn.session = session
        client_seq = int(d.get("seq") or 0)
        for payload in list(session.backlog):
            if payload["s"] > client_seq:
                await conn.send(payload)
        await conn.send(session.next_dispatch("RESUMED", {"_trace": ["fake-discord-gateway"]}))
        async with self._changed:
            self._changed.notify_all()

    async def _request_members(self, session: GatewaySession, d: JSON) -> None:
        self.member_requests.append(d)
        st = self.fake.state
        guild = st.guilds.get(int(d["guild_id"]))
        if guild is None:
            return
        wanted = [int(u) for u in d.get("user_ids") or []]
        if wanted:
            ids = [u for u in wanted if u in guild.members]
        else:
            query = str(d.get("query") or "").lower()
            ids = [u for u in guild.members if st.users[u]["username"].lower().startswith(query)]
            limit = int(d.get("limit") or 0)
            if limit:
                ids = ids[:limit]
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": [st.member_payload(guild.id, u) for u in ids],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if wanted:
            chunk["not_found"] = [str(u) for u in wanted if u not in guild.members]
        if d.get("nonce"):
            chunk["nonce"] = d["nonce"]
        if session.conn is not None:
            await session.conn.send(session.next_dispatch("GUILD_MEMBERS_CHUNK", chunk))

    # ------------------------------------------------------------ public-ish
    def live_sessions(self) -> list[GatewaySession]:
        return [s for s in self.sessions.values() if s.live]

    async def dispatch(
        self,
        event: str,
        data: JSON,
        *,
        intent: int | None = None,
        transform: Transform | None = None,
        require_client: bool = True,
    ) -> int:
        """Send a DISPATCH to every session (buffered for resumable, disconnected ones)."""
        sessions = list(self.sessions.values())
        if require_client and not any(s.live for s in sessions):
            raise RuntimeError(
                f"cannot dispatch {event}: no discord.py client is connected to the fake gateway"
            )
        delivered = 0
        guild_id = _guild_of(event, data)
        for session in sessions:
            if intent is not None and not session.intents & intent:
                continue
            if not session.serves(guild_id):
                continue
            body = transform(data, session) if transform else data
            payload = session.next_dispatch(event, body)
            if session.conn is not None and await session.conn.send(payload):
                delivered += 1
        return delivered

    async def wait_until_ready(self, timeout: float = 5.0, identifies: int | None = None) -> None:  # noqa: ASYNC109
        def ready() -> bool:
            if identifies is not None and len(self.identifies) < identifies:
                return False
            return bool(self.live_sessions())

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(ready), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"no client identified with the fake gateway within {timeout}s "
                    f"(identifies so far: {len(self.identifies)})"
                ) from None

    async def send_op(self, op: int, d: Any) -> None:
        for session in self.live_sessions():
            assert session.conn is not None
            await session.conn.send({"op": op, "d": d, "s": None, "t": None})

    async def close_connections(
        self, code: int = 4000, *, resumable: bool = True, reason: str = "fake disconnect"
    ) -> int:
        conns = list(self.connections)
        for conn in conns:
            if not resumable and conn.session is not None:
                self.sessions.pop(conn.session.session_id, None)
            await self._close(conn, code, reason)
        return len(conns)

    async def shutdown(self) -> None:
        await self.close_connections(WSCloseCode.GOING_AWAY, reason="fake discord shutting down")
