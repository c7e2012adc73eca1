"""The formats a digestion can be exported as, by ``context.export.format``."""

from __future__ import annotations

from types import MappingProxyType

from openlqs.formats.export import ExportError, ExportFormat
from openlqs.formats.mcap.writer import McapExport
from openlqs.formats.ros1.writer import BagExport

EXPORT_FORMATS: MappingProxyType[str, ExportFormat] = MappingProxyType(
    {"mcap": McapExport(), "bag": BagExport()}
)


def export_format(name: str) -> ExportFormat:
    """The export format named ``name`` (``ExportError`` for another)."""
    found = EXPORT_FORMATS.get(name)
    if found is None:
        raise ExportError(f"context.export.format: unknown export format {name!r}; use mcap or bag.")
    return found
