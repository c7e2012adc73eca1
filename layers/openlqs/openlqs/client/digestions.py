"""Reading a digestion's output through the API: its parts' blobs, its records, its export.

A completed digestion's parts each have a blob (``digestions/{id}/digestion_parts/{part id}.bin`` in
the digestion's log) holding its records' message bytes in index order: :meth:`DigestionReader.records`
reads them as the official client's ``utils.iter_digestion_records`` does, one GET per part.
:meth:`DigestionReader.data` reads the same records from the logs they point into instead (as
``utils.iter_digestion_data``). :meth:`DigestionReader.download_export` streams the playable file a
digestion with ``context.export`` wrote, with a progress bar.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from openlqs.client.progress import progress_bar
from openlqs.client.waiting import IngestionWaiter
from openlqs.errors import BadRequest, Conflict
from openlqs.models.digestions import EXPORT, DigestionPartIndexEntry

if TYPE_CHECKING:
    from openlqs.client.client import LogQS
    from openlqs.client.models import Digestion, DigestionPart, Ingestion, Record

#: Bytes read from the storage per request of a download.
DOWNLOAD_CHUNK_BYTES = 1024 * 1024


class DigestionWaiter(IngestionWaiter):
    """Refreshes one digestion until it ends, saying what it is doing (``processing 3/12 parts``)."""

    what = "digestion"

    def _parts(self, ingestion: Ingestion | Digestion) -> tuple[int, int]:
        listing = self.client.list.digestion_part
        total = listing(digestion_id=ingestion.id, limit=1).count or 0
        done = listing(digestion_id=ingestion.id, state="completed", limit=1).count or 0
        return done, total

    def status(self, ingestion: Ingestion | Digestion) -> str:
        line = super().status(ingestion)
        if str(ingestion.state) == "finalizing":
            return line.replace("writing the log's statistics", "assembling its export")
        if str(ingestion.state) == "processing" and line.endswith("planning its parts"):
            return line.replace("planning its parts", "selecting its records")
        return line

    def advice(self, ingestion: Ingestion | Digestion) -> str:
        state = str(ingestion.state)
        if state == "queued":
            return (
                "No execution has picked it up: the trigger starts one when a digestion is queued. Locally, "
                "check that `make local` (openlqs local) is still running; on AWS, look at "
                "IngestionTriggerFunction's logs."
            )
        if state == "ready":
            return "It was never queued: add its topics, then digestion.update(state='queued')."
        return (
            "It is still running: locally, look at the output of `make local`; on AWS, at "
            f"DigestionStateMachine's execution for {ingestion.id} in the Step Functions console."
        )


def blob_key(digestion_id: UUID | str, part_id: UUID | str) -> str:
    """Where a part's blob is in the digestion's log (as the official client reads it)."""
    return f"digestions/{digestion_id}/digestion_parts/{part_id}.bin"


class DigestionReader:
    """Reads digestions' parts, records and exports for one client."""

    def __init__(self, client: LogQS) -> None:
        self._client = client

    def _digestion(self, digestion: Digestion | UUID | str) -> Digestion:
        if isinstance(digestion, UUID | str):
            return self._client.fetch.digestion(digestion).data
        return digestion

    def parts(self, digestion: Digestion) -> list[DigestionPart]:
        """Every part of the digestion with its index, in sequence order; ``Conflict`` when one is not
        completed yet (wait for the digestion first: ``lqs.utils.wait_for(digestion)``)."""
        listed = sorted(digestion.list_digestion_parts(), key=lambda part: part.sequence)
        parts = []
        for part in listed:
            if str(part.state) != "completed":
                raise Conflict(
                    f"Part {part.sequence} ({part.id}) of digestion {digestion.id} is {part.state}, not "
                    "completed: wait for the digestion (lqs.utils.wait_for(digestion)) and read it then."
                )
            parts.append(self._client.fetch.digestion_part(part.id, digestion.id).data)
        return parts

    def _blob(self, digestion: Digestion, part: DigestionPart) -> bytes:
        key = blob_key(digestion.id, part.id)
        found = self._client.fetch.log_object(key, digestion.log_id, redirect=True)
        assert isinstance(found, bytes)
        return found

    def records(
        self, digestion: Digestion | UUID | str
    ) -> Iterator[tuple[UUID, DigestionPartIndexEntry, bytes]]:
        """``(part id, index entry, message bytes)`` for every record of the digestion, part by part."""
        digestion = self._digestion(digestion)
        for part in self.parts(digestion):
            blob = self._blob(digestion, part)
            at = 0
            for raw in part.index or []:
                entry = DigestionPartIndexEntry.of(raw)
                size = entry.message_size
                yield part.id, entry, blob[at : at + size]
                at += size
            if at != len(blob):
                raise BadRequest(f"The blob of part {part.id} holds {len(blob)} bytes; its index says {at}.")

    def record_models(self, digestion: Digestion | UUID | str) -> Iterator[Record]:
        """The digestion's records as ``Record`` models (pointing into their logs), in order."""
        digestion = self._digestion(digestion)
        created = datetime.fromtimestamp(0).astimezone()
        for part in self.parts(digestion):
            for raw in part.index or []:
                entry = DigestionPartIndexEntry.of(raw)
                yield self._client.resource.Record.model_validate(
                    {
                        **entry.model_dump(),
                        "log_id": digestion.log_id,
                        "created_at": created,
                    }
                )

    def export_location(self, digestion: Digestion) -> tuple[str, int | None]:
        """The export's key (in the digestion's log) and size; ``BadRequest`` when there is none."""
        written = (digestion.context or {}).get(EXPORT) or {}
        if not written.get("key"):
            if not written:
                raise BadRequest(
                    f"Digestion {digestion.id} asked for no export: create it with "
                    'context={"export": {"format": "mcap"}} (or "bag").'
                )
            raise Conflict(f"Digestion {digestion.id} is {digestion.state}: its export is not written yet.")
        return str(written["key"]), written.get("size")

    def download_export(
        self,
        digestion: Digestion | UUID | str,
        path: Path | str | None = None,
        show_progress: bool | None = None,
    ) -> Path:
        """Stream the digestion's export to ``path`` (default: the export's name in the current folder);
        returns the path written."""
        digestion = self._digestion(digestion)
        key, size = self.export_location(digestion)
        extension = key.rsplit(".", 1)[-1]
        target = Path(path) if path is not None else Path(f"{digestion.name or digestion.id}.{extension}")
        found = self._client.fetch.log_object(key, digestion.log_id)
        assert not isinstance(found, bytes)
        url = found.data.presigned_url
        if url is None:
            raise Conflict(f"The export of digestion {digestion.id} cannot be read yet ({key}).")
        enabled = self._client.config.progress if show_progress is None else show_progress
        partial = target.with_name(target.name + ".part")
        bar = progress_bar(
            None if enabled else False, total=size, unit="B", unit_scale=True, desc=target.name
        )
        with bar, partial.open("wb") as out, self._client.transport.stream("GET", url) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes(DOWNLOAD_CHUNK_BYTES):
                out.write(chunk)
                bar.update(len(chunk))
        partial.replace(target)
        return target
