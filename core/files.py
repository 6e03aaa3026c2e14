"""Making a message's files fit a platform's upload limit: compressed, or split, never cut.

Each platform port says how large one file may be (``max_file_bytes``) and how many files
one message may carry (``max_files``); adapters pass every outgoing message through
:func:`fit_message` with those. A file over the limit is gzip-compressed; if that is still
too large, the compressed bytes are split into numbered parts (``name.gz.001``, ``.002``,
…) that ``cat`` joins back in order. The message then says what was done. When even the
parts would need more files than one message may carry, the files are left out and the
message says so plainly: nothing is ever silently truncated.
"""

from __future__ import annotations

import gzip
from dataclasses import replace

from core.messages import File, Message

GZIP_TYPE = "application/gzip"
PART_TYPE = "application/octet-stream"


def fit_files(files: tuple[File, ...], limit: int | None) -> tuple[tuple[File, ...], list[str]]:
    """``files`` made to fit ``limit`` bytes each, and a note per file that was changed."""
    if limit is None or all(len(f.data) <= limit for f in files):
        return files, []
    fitted: list[File] = []
    notes: list[str] = []
    for file in files:
        if len(file.data) <= limit:
            fitted.append(file)
            continue
        packed = gzip.compress(file.data, compresslevel=9, mtime=0)
        name = f"{file.name}.gz"
        if len(packed) <= limit:
            fitted.append(File(name, packed, GZIP_TYPE))
            notes.append(f"{file.name} was too large to send as it is, so it is compressed: {name}")
            continue
        count = -(-len(packed) // limit)
        width = max(3, len(str(count)))
        for n in range(count):
            chunk = packed[n * limit : (n + 1) * limit]
            fitted.append(File(f"{name}.{n + 1:0{width}d}", chunk, PART_TYPE))
        notes.append(
            f"{file.name} is compressed and split into {count} parts; join them in order "
            f"(`cat {name}.* > {name}`) and unpack {name}"
        )
    return tuple(fitted), notes


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
