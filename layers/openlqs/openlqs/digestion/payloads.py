"""The digestion state machine's payloads, and the plan a digestion keeps between its tasks.

The task models mirror ``statemachines/digestion.asl.json``. A part's descriptor (:class:`DigestionPartTask`)
is small and self-contained, like an ingestion part's: the inline Map carries them in its state today, and
the same items could be read from an S3 manifest (one JSON object per line) by a Distributed Map.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from openlqs.ingestion.payloads import CaughtError, TaskModel
from openlqs.models.common import ProcessState


class DigestionTask(TaskModel):
    """Execution input and the payload of "Plan digestion" and "Finalize digestion"."""

    digestion_id: UUID
    attempt: int = Field(ge=1)


class DigestionPartTask(TaskModel):
    """One item of "Write parts": the payload of "Write part"."""

    digestion_id: UUID
    part_id: UUID
    sequence: int = Field(ge=0)
    attempt: int = Field(ge=1)


class PlannedDigestion(TaskModel):
    """What "Plan digestion" returns: the parts the Map iterates over."""

    digestion_id: UUID
    attempt: int
    parts: list[DigestionPartTask]


class DigestionPartOutcome(TaskModel):
    """What "Write part" returns."""

    part_id: UUID
    record_count: int


class DigestionOutcome(TaskModel):
    """What "Finalize digestion" and "Fail digestion" return."""

    digestion_id: UUID
    state: ProcessState


class DigestionFailTask(TaskModel):
    """The payload of "Fail digestion": the digestion and the error a Catch caught."""

    digestion_id: UUID
    attempt: int = Field(ge=1)
    error: CaughtError | None = None


class PlannedChannel(BaseModel):
    """A topic of the digestion as the export writes it: its channel (connection) id."""

    id: int
    topic_id: UUID
    latched: bool = False


class DigestionPlan(BaseModel):
    """What "Plan digestion" decided and the later tasks need, kept with the digestion (server-side).

    ``latched`` holds, when the export asks for it, each latched topic's last record before its window
    (wire index entries): the export writes them first, reading them then.
    """

    attempt: int
    part_count: int
    record_count: int
    #: Records of the windows that were left out because they point into no object (made through the
    #: API without offsets, or of no ingestion): a part's blob cannot hold them.
    skipped_records: int = 0
    channels: list[PlannedChannel] = Field(default_factory=list)
    export: dict[str, Any] | None = None
    latched: list[list[Any]] = Field(default_factory=list)

    def channel_of(self) -> dict[str, int]:
        """Topic id (text) → channel id."""
        return {str(channel.topic_id): channel.id for channel in self.channels}

    def to_internal(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
