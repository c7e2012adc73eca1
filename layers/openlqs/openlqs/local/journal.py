"""The local stack's write-ahead journal: what every acknowledged write left behind, on disk.

moto keeps everything in memory. The periodic snapshot (``snapshot.py``) saves tables and buckets, but a
write made after the last snapshot would be lost by a crash (a ``kill -9``) although the API had
answered that it was stored. So every write request moto serves is followed, before its answer leaves
the server, by a journal entry holding the state it left: the whole item for a DynamoDB write, the
object (its bytes in a blob file first) for an S3 write, and each step of a multipart upload. A restart
loads the last snapshot and then replays the journal segments written since it.

Entries are JSON lines, one state per line, in the order the writes happened (the moto server's locks
order them); replaying a state twice leaves the same result, which is what makes a snapshot taken while
writes go on correct: the journal is rotated first, and the segments from the rotation on are replayed
over the snapshot. A line cut off by a crash is the last of its segment and is skipped.

Guarantees: an answered write survives the local stack's process dying (the lines reach the operating
system before the answer is sent); it does not survive the machine losing power (nothing is fsync'ed
per write; the snapshot files are).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

JOURNAL_DIR = "journal"
_SEGMENT_SUFFIX = ".jsonl"


def _bytes_as_base64(value: Any) -> str:
    """Binary DynamoDB values as DynamoDB JSON writes them (base64 text)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} cannot be journaled")


class Journal:
    """Numbered segments ``journal/<n>.jsonl`` in the data directory; appends go to the newest."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / JOURNAL_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        numbers = self.segment_numbers()
        self._number = (numbers[-1] + 1) if numbers else 0
        self._stream: IO[str] | None = None

    def segment_numbers(self) -> list[int]:
        """The segments on disk, oldest first."""
        numbers = []
        for path in self.folder.glob(f"*{_SEGMENT_SUFFIX}"):
            try:
                numbers.append(int(path.name.removesuffix(_SEGMENT_SUFFIX)))
            except ValueError:
                continue
        return sorted(numbers)

    def _path(self, number: int) -> Path:
        return self.folder / f"{number:012d}{_SEGMENT_SUFFIX}"

    @property
    def current(self) -> int:
        """The number of the segment appends go to."""
        return self._number

    def append(self, entries: list[dict[str, Any]]) -> None:
        """Write entries, in order, to the current segment (flushed to the operating system)."""
        if not entries:
            return
        lines = "".join(
            json.dumps(entry, separators=(",", ":"), default=_bytes_as_base64) + "\n" for entry in entries
        )
        with self._lock:
            if self._stream is None:
                self._stream = self._path(self._number).open("a", encoding="utf-8")
            self._stream.write(lines)
            self._stream.flush()

    def rotate(self) -> int:
        """Start a new segment; returns its number (every later append is in it or a later one)."""
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
            self._number += 1
            return self._number

    def entries(self, start: int = 0) -> Iterator[dict[str, Any]]:
        """Every entry of the segments numbered ``start`` or more, in order (a torn last line skipped)."""
        for number in self.segment_numbers():
            if number < start:
                continue
            with self._path(number).open(encoding="utf-8") as stream:
                for line in stream:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue  # the line a crash cut off
                    if isinstance(entry, dict):
                        yield entry

    def remove_before(self, number: int) -> None:
        """Delete the segments older than ``number`` (a snapshot holds what they said)."""
        for old in self.segment_numbers():
            if old < number:
                self._path(old).unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
