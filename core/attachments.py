"""Files that fit a platform's upload limit: compressed, then split, never cut.

Discord refuses a bot's upload over 10 MiB (more only on boosted servers); Slack takes up
to 1 GB; the console has no limit. A file over the limit is zipped; if the zip is still
too big, the file is split into numbered parts (a CSV at row boundaries, each part with
its header row), each zipped when that makes it smaller. Joined back (or unzipped and
joined, dropping the repeated headers), the parts are the whole file.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath

from core.messages import File

PLATFORM_FILE_LIMITS: dict[str, int | None] = {
    "discord": 10 * 1024 * 1024,
    "slack": 1024 * 1024 * 1024,
    "console": None,
}
# Room left in a zipped part for the zip's own headers.
ZIP_OVERHEAD = 1024


def file_limit(platform: str, override: int | None = None) -> int | None:
    """The largest file ``platform`` accepts (``override`` first, e.g. from settings)."""
    return override if override is not None else PLATFORM_FILE_LIMITS.get(platform)


def _zipped(name: str, data: bytes) -> File:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return File(f"{name}.zip", buffer.getvalue(), "application/zip")


def _smaller(name: str, data: bytes, content_type: str) -> File:
    packed = _zipped(name, data)
    return packed if len(packed.data) < len(data) else File(name, data, content_type)


def _chunks(data: bytes, size: int, csv_header: bool) -> list[bytes]:
    """``data`` in pieces of at most ``size`` bytes, ending at line ends where a line fits;
    with ``csv_header`` every piece after the first starts with the first line again
    (unless that line alone leaves no room: then the pieces simply follow each other)."""
    header = data[: data.index(b"\n") + 1] if csv_header and b"\n" in data else b""
    body = data[len(header) :] if header else data
    room = size - len(header)
    if room <= 0:
        header, body, room = b"", data, size
    pieces, start = [], 0
    while start < len(body):
        end = min(start + room, len(body))
        if end < len(body):
            cut = body.rfind(b"\n", start, end)
            end = cut + 1 if cut >= start else end
        pieces.append(header + body[start:end])
        start = end
    return pieces or [data]


def fit(file: File, limit: int | None) -> tuple[File, ...]:
    """``file`` as one or more files of at most ``limit`` bytes each (None: no limit)."""
    if limit is None or len(file.data) <= limit:
        return (file,)
    packed = _zipped(file.name, file.data)
    if len(packed.data) <= limit:
        return (packed,)
    path = PurePosixPath(file.name)
    csv = path.suffix.lower() == ".csv"
    pieces = _chunks(file.data, limit, csv)
    # Rows compress well, so bigger raw pieces usually still zip under the limit.
    ratio = len(packed.data) / len(file.data)
    if ratio < 0.8 and limit > 2 * ZIP_OVERHEAD:
        bigger = _chunks(file.data, int((limit - ZIP_OVERHEAD) / max(ratio, 0.05) * 0.8), csv)
        zipped = [_zipped(_part(path, i, len(bigger)), p) for i, p in enumerate(bigger)]
        if all(len(z.data) <= limit for z in zipped):
            return tuple(zipped)
    return tuple(
        _smaller(_part(path, i, len(pieces)), p, file.content_type) for i, p in enumerate(pieces)
    )


def _part(path: PurePosixPath, index: int, total: int) -> str:
    return f"{path.stem}.part{index + 1}of{total}{path.suffix}"


def fit_all(files: tuple[File, ...], limit: int | None) -> tuple[File, ...]:
    return tuple(part for f in files for part in fit(f, limit))
