"""Files over a platform's upload limit are compressed or split, never cut (core.files)."""

from __future__ import annotations

import gzip
import os

from core.files import fit_files, fit_message
from core.messages import File, Message

DOC = File("data.json", b'{"rows": [' + b", ".join(b'"row %d"' % n for n in range(5000)) + b"]}")


def test_files_within_the_limit_are_left_alone() -> None:
    assert fit_files((DOC,), None) == ((DOC,), [])
    assert fit_files((DOC,), len(DOC.data)) == ((DOC,), [])


def test_a_file_over_the_limit_is_compressed_when_that_fits() -> None:
    (packed,), notes = fit_files((DOC,), len(DOC.data) - 1)
    assert packed.name == "data.json.gz"
    assert gzip.decompress(packed.data) == DOC.data
    assert "compressed" in notes[0]


def test_a_file_still_too_large_compressed_is_split_into_parts_that_join_back() -> None:
    noise = File("noise.bin", os.urandom(10_000))  # does not compress
    parts, notes = fit_files((noise,), 3000)
    assert [p.name for p in parts] == [f"noise.bin.gz.{n:03d}" for n in range(1, 5)]
    assert all(len(p.data) <= 3000 for p in parts)
    assert gzip.decompress(b"".join(p.data for p in parts)) == noise.data
    assert "split into 4 parts" in notes[0]


def test_a_message_says_what_was_done_and_never_drops_a_file_silently() -> None:
    message = Message(text="Your data", files=(DOC,), footer="Mentorbot")
    fitted = fit_message(message, 1000)
    assert fitted.footer is not None
    assert fitted.footer.startswith("Mentorbot · data.json")
    assert sum(len(f.data) for f in fitted.files) < len(DOC.data)

    too_many = fit_message(Message(files=(File("n.bin", os.urandom(5000)),)), 1000, 2)
    assert too_many.files == ()
    assert too_many.footer is not None
    assert "none were sent" in too_many.footer
    assert too_many.tone == "warning"
