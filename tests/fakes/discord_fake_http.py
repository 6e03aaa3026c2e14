"""HTTP plumbing for the fake Discord: call records, fault injection, JSON responses.

discord.py-specific details handled here (see ``discord/http.py``):

* ``json_or_text`` only parses a body when ``Content-Type`` is *exactly* ``application/json``;
  aiohttp's ``web.json_response`` appends ``; charset=utf-8`` and would make discord.py see a
  ``str``.  :func:`json_response` therefore sets the header verbatim.
* A 429 is only retried if the response carries a ``Via`` header and a JSON body with
  ``retry_after``; otherwise discord.py assumes a Cloudflare ban and raises ``HTTPException``.
* Normal responses carry a generous ``X-RateLimit-*`` set (remaining > 0, tiny reset) so the
  client never pre-emptively sleeps.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes.discord_fake_interactions import UploadedFile
from tests.fakes.discord_fake_types import JSON, ApiError


@dataclass
class Call:
    """One REST request received by the fake (path is relative to ``/api/v10``)."""

    method: str
    path: str
    json: Any
    query: dict[str, str] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 0
    route: str | None = None

    @property
    def reason(self) -> str | None:
        """The ``X-Audit-Log-Reason`` header (URL-quoted as discord.py sends it)."""
        return self.headers.get("X-Audit-Log-Reason")

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def compile_path_pattern(pattern: str) -> re.Pattern[str]:
    """``/guilds/{g}/members/{u}`` -> regex; ``{name}`` matches one segment, ``*`` anything."""
    out = []
    for token in re.split(r"(\{[^}/]+\}|\*)", pattern):
        if token == "*":
            out.append(".*")
        elif token.startswith("{") and token.endswith("}"):
            out.append(f"(?P<{token[1:-1]}>[^/]+)")
        else:
            out.append(re.escape(token))
    return re.compile("".join(out))


@dataclass
class FaultRule:
    """A scheduled failure created by ``FakeDiscord.fail_next``."""

    method: str
    pattern: str
    status: int
    remaining: int
    retry_after: float = 0.05
    code: int | None = None
    message: str | None = None
    is_global: bool = False
    body: JSON | None = None
    cloudflare: bool = False
    hits: list[Call] = field(default_factory=list)
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.regex = compile_path_pattern(self.pattern)

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and self.method in ("*", method)
            and self.regex.fullmatch(path) is not None
        )

    def response(self) -> web.Response:
        headers: dict[str, str] = {}
        if self.status == 429 and self.cloudflare:
            # Cloudflare's own ban: an HTML page, Retry-After, none of Discord's headers.
            return web.Response(
                status=429,
                text="<html><body>Error 1015: You are being rate limited</body></html>",
                content_type="text/html",
                headers={"Retry-After": str(max(1, round(self.retry_after)))},
            )
        if self.status == 429:
            body = self.body or {
                "message": "You are being rate limited.",
                "retry_after": self.retry_after,
                "global": self.is_global,
            }
            headers = {
                "Retry-After": f"{self.retry_after:.3f}",
                "X-RateLimit-Scope": "global" if self.is_global else "user",
                "X-RateLimit-Limit": "1",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + self.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
                "X-RateLimit-Bucket": "fakebucket429",
                # discord.py treats a 429 without Via as a Cloudflare ban (no retry)
                "Via": "1.1 google",
            }
            if self.is_global:
                headers["X-RateLimit-Global"] = "true"
        else:
            defaults: dict[int, tuple[int, str]] = {
                400: (50035, "Invalid Form Body"),
                401: (0, "401: Unauthorized"),
                403: (50013, "Missing Permissions"),
                404: (0, "404: Not Found"),
            }
            dcode, dmsg = defaults.get(self.status, (0, f"{self.status}: Server Error"))
            body = self.body or {
                "message": self.message or dmsg,
                "code": dcode if self.code is None else self.code,
            }
        return json_response(body, status=self.status, headers=headers)


def ratelimit_headers(bucket_key: str) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 0.05:.3f}",
        "X-RateLimit-Reset-After": "0.050",
        "X-RateLimit-Bucket": hashlib.sha1(bucket_key.encode()).hexdigest()[:16],
    }


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    # Exactly "application/json": discord.py compares the header with == (no charset!).
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def no_content() -> web.Response:
    return web.Response(status=204)


def error_response(err: ApiError) -> web.Response:
    return json_response(err.body(), status=err.status)


async def read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    """JSON body, or multipart ``payload_json`` + ``files[n]`` parts as discord.py sends them."""
    files: list[UploadedFile] = []
    if request.content_type.startswith("multipart/"):
        payload: Any = None
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart: discord.py never sends one
            raw = await part.read()
            name = part.name or ""
            if name == "payload_json":
                payload = json.loads(raw.decode())
            else:
                files.append(
                    UploadedFile(
                        field_name=name,
                        filename=part.filename,
                        content_type=part.headers.get("Content-Type"),
                        data=bytes(raw),
                    )
                )
        return payload, files
    if not request.can_read_body:
        return None, files
    text = await request.text()
    if not text:
        return None, files
    try:
        return json.loads(text), files
    except ValueError:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from None
