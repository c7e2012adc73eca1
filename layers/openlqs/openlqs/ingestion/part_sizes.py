"""How "Plan ingestion" cuts a log's spans (chunks) into parts: each within what one "Process part"
indexes well inside its Lambda's timeout and memory.

A part is contiguous spans in file order. It grows while all three hold:

* its bytes stay within ``max_bytes``: a part holds its whole byte range in memory while it decompresses
  one chunk at a time;
* its messages stay within ``max_messages``: each message costs numpy columns and its share of the
  sorted copies and blocks (~140 bytes at the peak, ``docs/performance.md``);
* its estimated time stays within ``target_seconds``: ``bytes / byte_rate(compression) + messages /
  message_rate``, rates measured per chunk compression on the benchmark bags (bz2 is the slow case:
  it decompresses at ~11 MiB of file a second where lz4 and plain chunks are indexed at hundreds).

A span is never split (a chunk is the unit a format indexes), so a single span over a bound is a part of
its own. A span whose compression the index does not say (``UNKNOWN_COMPRESSION``) or that has no rate
is estimated at the slowest rate known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from openlqs.formats.base import Span
from openlqs.settings import (
    DEFAULT_PART_BYTE_RATES_MIB_S,
    DEFAULT_PART_MAX_MESSAGES,
    DEFAULT_PART_MESSAGE_RATE,
    DEFAULT_PART_TARGET_SECONDS,
    Settings,
)

MIB = 1024 * 1024

#: File bytes one part processes per second, by chunk compression (uncompressed is "none"): see
#: ``openlqs.settings`` and docs/performance.md, "Part sizes".
DEFAULT_BYTE_RATES: Mapping[str, float] = MappingProxyType(
    {name: rate * MIB for name, rate in DEFAULT_PART_BYTE_RATES_MIB_S.items()}
)


def compression_name(compression: str | None) -> str:
    """The rate table's name of a chunk compression: ``none`` for uncompressed chunks."""
    return "none" if compression in (None, "", "none") else str(compression)


@dataclass(frozen=True)
class PartSizing:
    """The bounds of one part, and the rates its time is estimated with."""

    max_bytes: int = 64 * MIB
    max_messages: int = DEFAULT_PART_MAX_MESSAGES
    target_seconds: float = DEFAULT_PART_TARGET_SECONDS
    #: File bytes a second by compression name (see :func:`compression_name`).
    byte_rates: Mapping[str, float] = field(default_factory=lambda: DEFAULT_BYTE_RATES)
    message_rate: float = DEFAULT_PART_MESSAGE_RATE

    @classmethod
    def from_mib_rates(cls, *, rates_mib_s: Mapping[str, float], **bounds: Any) -> PartSizing:
        """Sizing with byte rates given in MiB a second (as the settings hold them)."""
        return cls(byte_rates={name: rate * MIB for name, rate in rates_mib_s.items()}, **bounds)

    @classmethod
    def from_settings(cls, settings: Settings) -> PartSizing:
        """The deployment's sizing (``PART_*`` settings)."""
        return cls.from_mib_rates(
            rates_mib_s=settings.part_byte_rates_mib_s,
            max_bytes=settings.part_target_bytes,
            max_messages=settings.part_max_messages,
            target_seconds=settings.part_target_seconds,
            message_rate=settings.part_message_rate,
        )

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_messages < 1 or self.target_seconds <= 0:
            raise ValueError("part bounds must be positive")
        if not self.byte_rates or min(self.byte_rates.values()) <= 0 or self.message_rate <= 0:
            raise ValueError("part rates must be positive")

    def byte_rate(self, compression: str | None) -> float:
        """File bytes a second for chunks of ``compression``; the slowest known for an unknown one."""
        rate = self.byte_rates.get(compression_name(compression))
        return rate if rate is not None else min(self.byte_rates.values())

    def seconds(self, span: Span) -> float:
        """The estimated time one part spends on ``span``."""
        return (span.end - span.start) / self.byte_rate(
            span.compression
        ) + span.message_count / self.message_rate

    def split(self, spans: list[Span]) -> list[list[Span]]:
        """Contiguous runs of spans in file order, each within the bounds (or a single span)."""
        parts: list[list[Span]] = []
        current: list[Span] = []
        size = messages = 0
        seconds = 0.0
        for span in sorted(spans, key=lambda s: s.start):
            span_bytes, span_messages, span_seconds = (
                span.end - span.start,
                span.message_count,
                self.seconds(span),
            )
            if current and (
                size + span_bytes > self.max_bytes
                or messages + span_messages > self.max_messages
                or seconds + span_seconds > self.target_seconds
            ):
                parts.append(current)
                current, size, messages, seconds = [], 0, 0, 0.0
            current.append(span)
            size += span_bytes
            messages += span_messages
            seconds += span_seconds
        if current:
            parts.append(current)
        return parts
