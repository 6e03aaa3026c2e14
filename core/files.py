"""Making a message's files fit a platform's upload limit: compressed, or split, never cut.

Each platform port says how large one file may be (``max_file_bytes``) and how many files
one message may carry (``max_files``); adapters pass every outgoing message through
:func:`fit_message` with those, so a use case attaches its file whole and never thinks of
limits. A file over the limit is compressed; if that is still too large it is split:

- a CSV (``.csv``) into numbered parts at row boundaries, each starting with the header
  row, so each part opens on its own in a spreadsheet (``m.part1of3.csv``, each zipped
  when that makes it smaller);
- any other file as its gzip-compressed bytes in numbered parts (``name.gz.001``, …) that
  ``cat`` joins back in order.

The message then says what was done. When even the parts would need more files than one
message may carry, the files are left out and the message says so plainly: nothing is
ever silently truncated.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from dataclasses import replace
from pathlib import PurePosixPath

from core.messages import File, Message

GZIP_TYPE = "application/gzip"
ZIP_TYPE = "application/zip"
PART_TYPE = "application/octet-stream"
# Room left in a zipped part for the zip's own headers.
ZIP_OVERHEAD = 1024


def fit_files(files: tuple[File, ...], limit: int | None) -> tuple[tuple[File, ...], list[str]]:
    """``files`` made to fit ``limit`` bytes each, and a note per file that was changed."""
    if limit is None or all(len(f.data) <= limit for f in files):
        return files, []
    fitted: list[File] = []
    notes: list[str] = []
    for file in files:
        if len(file.data) <= limit:
            fitted.append(file)
        elif PurePosixPath(file.name).suffix.lower() == ".csv":
            fitted.extend(_fit_csv(file, limit, notes))
        else:
            fitted.extend(_fit_bytes(file, limit, notes))
    return tuple(fitted), notes


def _fit_bytes(file: File, limit: int, notes: list[str]) -> list[File]:
    packed = gzip.compress(file.data, compresslevel=9, mtime=0)
    name = f"{file.name}.gz"
    if len(packed) <= limit:
        notes.append(f"{file.name} was too large to send as it is, so it is compressed: {name}")
        return [File(name, packed, GZIP_TYPE)]
    count = -(-len(packed) // limit)
    width = max(3, len(str(count)))
    notes.append(
        f"{file.name} is compressed and split into {count} parts; join them in order "
        f"(`cat {name}.* > {name}`) and unpack {name}"
    )
    return [
        File(f"{name}.{n + 1:0{width}d}", packed[n * limit : (n + 1) * limit], PART_TYPE)
        for n in range(count)
    ]


def _fit_csv(file: File, limit: int, notes: list[str]) -> list[File]:
    packed = _zipped(file.name, file.data)
    if len(packed.data) <= limit:
        notes.append(
            f"{file.name} was too large to send as it is, so it is compressed: {packed.name}"
        )
        return [packed]
    path = PurePosixPath(file.name)
    parts: list[File] | None = None
    # Rows compress well, so bigger raw pieces usually still zip under the limit.
    ratio = len(packed.data) / len(file.data)
    if ratio < 0.8 and limit > 2 * ZIP_OVERHEAD:
        bigger = _rows(file.data, int((limit - ZIP_OVERHEAD) / max(ratio, 0.05) * 0.8))
        zipped = [_zipped(_part(path, i, len(bigger)), p) for i, p in enumerate(bigger)]
        if all(len(z.data) <= limit for z in zipped):
            parts = zipped
    if parts is None:
        pieces = _rows(file.data, limit)
        parts = [
            _smaller(_part(path, i, len(pieces)), p, file.content_type)
            for i, p in enumerate(pieces)
        ]
    notes.append(
        f"{file.name} comes in {len(parts)} parts, each a CSV with the header row; "
        "put them together in order"
    )
    return parts


def _zipped(name: str, data: bytes) -> File:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return File(f"{name}.zip", buffer.getvalue(), ZIP_TYPE)


def _smaller(name: str, data: bytes, content_type: str) -> File:
    packed = _zipped(name, data)
    return packed if len(packed.data) < len(data) else File(name, data, content_type)


def _rows(data: bytes, size: int) -> list[bytes]:
    """``data`` in pieces of at most ``size`` bytes, ending at line ends where a line fits;
    every piece after the first starts with the first (header) line again, unless that
    line alone leaves no room: then the pieces simply follow each other."""
    header = data[: data.index(b"\n") + 1] if b"\n" in data else b""
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


def _part(path: PurePosixPath, index: int, total: int) -> str:
    return f"{path.stem}.part{index + 1}of{total}{path.suffix}"


def fit_message(message: Message, limit: int | None, max_files: int | None = None) -> Message:
    """``message`` with its files fitted to a platform's limits (see the module docstring)."""
    if not message.files:
        return message
    files, notes = fit_files(message.files, limit)
    if max_files is not None and len(files) > max_files:
        total = sum(len(f.data) for f in files)
        note = (
            f"The files ({total / 2**20:.1f} MiB even compressed) are more than this platform "
            f"can send in one message ({max_files} files of {_size(limit)}), so none were "
            "sent. Ask an admin for a copy."
        )
        return replace(message, files=(), footer=_joined(message.footer, note), tone="warning")
    if not notes:
        return message
    return replace(message, files=files, footer=_joined(message.footer, "; ".join(notes) + "."))


def _size(limit: int | None) -> str:
    return "any size" if limit is None else f"{limit / 2**20:g} MiB"


def _joined(footer: str | None, note: str) -> str:
    return f"{footer} · {note}" if footer else note
