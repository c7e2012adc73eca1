"""A ``ByteSource`` over bytes in memory, for reading log files in tests."""

from __future__ import annotations

from pathlib import Path


class BytesSource:
    """``ByteSource`` over bytes in memory, counting the reads so tests can see how much was read."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[tuple[int, int]] = []

    @classmethod
    def of(cls, path: Path) -> BytesSource:
        return cls(path.read_bytes())

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, start: int, end: int) -> bytes:
        self.reads.append((start, end))
        return self.data[start:end]

    @property
    def bytes_read(self) -> int:
        return sum(end - start for start, end in self.reads)
