"""What one attempt of a digestion leaves behind, where it lives, and taking it back.

An attempt writes its parts' blobs, the export fragments of its parts, and at its end the export, all
objects of the digestion's log under ``digestions/{id}/``; it runs as one Step Functions execution named
after the digestion and the attempt. A failed attempt ("Fail digestion"), a cancelled one (the API) and
one whose execution ended without finishing it (the reconciler) are settled here alike: the execution
stopped, parts still queued cancelled and running ones failed, the fragments deleted. Blobs of parts that
completed stay (each is whole: one PutObject), as the parts say; queueing again replaces everything.
"""

from __future__ import annotations

from contextlib import suppress
from uuid import UUID

from openlqs.domain.digestions import DigestionPartService
from openlqs.domain.ingestions import attempt_of
from openlqs.domain.object_stores import ObjectSpaces
from openlqs.domain.objects import ObjectSpace
from openlqs.domain.ports import Executions
from openlqs.errors import NotFound, OpenLQSError
from openlqs.ingestion.trigger import execution_name
from openlqs.models.common import ProcessState
from openlqs.models.digestions import Digestion, DigestionPart, DigestionPartListParams


def outputs_prefix(digestion_id: UUID) -> str:
    """Every object a digestion's runs write is under this key of its log."""
    return f"digestions/{digestion_id}/"


def blob_key(digestion_id: UUID, part_id: UUID) -> str:
    """A part's blob, where the official client reads it (``digestion_utils.py``)."""
    return f"{outputs_prefix(digestion_id)}digestion_parts/{part_id}.bin"


def fragment_key(digestion_id: UUID, sequence: int) -> str:
    """A part's export fragment, until the export is assembled."""
    return f"{outputs_prefix(digestion_id)}fragments/{sequence:06d}"


def export_key(digestion_id: UUID, extension: str) -> str:
    return f"{outputs_prefix(digestion_id)}export.{extension}"


class DigestionAttempts:
    """Takes a digestion's attempt back, and deletes what its runs wrote."""

    def __init__(self, parts: DigestionPartService, spaces: ObjectSpaces, executions: Executions) -> None:
        self.parts = parts
        self.spaces = spaces
        self.executions = executions

    def all_parts(self, digestion_id: UUID) -> list[DigestionPart]:
        """Every part of the digestion (without indexes), in creation order."""
        parts: list[DigestionPart] = []
        while True:
            params = DigestionPartListParams(limit=1000, offset=len(parts))
            _, page = self.parts.list(params, digestion_id)
            parts.extend(page)
            if len(page) < 1000:
                return parts

    def _space(self, digestion: Digestion) -> ObjectSpace | None:
        try:
            return self.spaces.for_log(digestion.log_id)
        except NotFound:
            return None  # the log is gone, and its objects with it

    def _delete_under(self, digestion: Digestion, prefix: str) -> int:
        space = self._space(digestion)
        if space is None:
            return 0
        deleted, token = 0, None
        while True:
            listing = space.blobs.list_objects(
                prefix=space.full_key(prefix),
                delimiter=None,
                start_after=None,
                continuation_token=token,
                max_keys=1000,
            )
            for found in listing.objects:
                space.blobs.delete(found.key)
                deleted += 1
            token = listing.next_continuation_token
            if not listing.is_truncated or not token:
                return deleted

    def delete_outputs(self, digestion: Digestion) -> None:
        """``DigestionOutputs``: delete every object the digestion's runs wrote (blobs, fragments, export)."""
        self._delete_under(digestion, outputs_prefix(digestion.id))

    def discard_unfinished(self, digestion: Digestion) -> None:
        """Delete what only a finished export would have used: the fragments."""
        self._delete_under(digestion, f"{outputs_prefix(digestion.id)}fragments/")

    def replace_outputs(self, digestion: Digestion) -> None:
        """Before a new attempt plans: the earlier parts (with their indexes) and objects go."""
        for part in self.all_parts(digestion.id):
            self.parts.remove(part)
        self.delete_outputs(digestion)

    def settle_parts(self, digestion: Digestion, reason: str) -> None:
        """Parts still queued are cancelled and parts still running failed, naming ``reason``."""
        for part in self.all_parts(digestion.id):
            # A part may finish (or be deleted) meanwhile: what it became is kept.
            with suppress(OpenLQSError):
                if part.state == ProcessState.queued:
                    self.parts.transition(
                        part.id, ProcessState.cancelled, expected_from={ProcessState.queued}
                    )
                elif part.state == ProcessState.processing:
                    self.parts.transition(
                        part.id,
                        ProcessState.failed,
                        expected_from={ProcessState.processing},
                        error_name="DigestionCancelled",
                        error_message=reason,
                    )

    def cancel(self, digestion: Digestion, reason: str) -> None:
        """``DigestionOutputs``: a request moved the digestion out of its running states."""
        self.executions.stop(execution_name(digestion.id, attempt_of(digestion)), reason)
        self.settle_parts(digestion, reason)
        self.discard_unfinished(digestion)

    def discard(self, digestion: Digestion) -> None:
        """What the reconciler takes back of an attempt whose execution ended without settling it."""
        self.discard_unfinished(digestion)
