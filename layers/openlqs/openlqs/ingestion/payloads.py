"""The ingestion state machine's payloads, and the plan an ingestion keeps between its tasks.

The task models mirror ``statemachines/ingestion.asl.json``: what each Lambda task receives (its
``Payload``) and returns (what its ``ResultSelector`` reads). The function entry points parse their
event into these models at the door (Powertools parser), so a malformed payload fails there.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from openlqs.ingestion.recordings import PlannedFile
from openlqs.models.common import ProcessState


class TaskModel(BaseModel):
    """A payload of the state machine: its fields exactly (an unknown field is a mistake in the ASL)."""

    model_config = ConfigDict(extra="forbid")


class IngestionTask(TaskModel):
    """Execution input and the payload of "Plan ingestion" and "Finalize ingestion"."""

    ingestion_id: UUID
    attempt: int = Field(ge=1)


class PartTask(TaskModel):
    """One item of "Process parts": the payload of "Process part"."""

    ingestion_id: UUID
    part_id: UUID
    sequence: int = Field(ge=0)
    attempt: int = Field(ge=1)


class PartManifestItem(TaskModel):
    """One item of a part manifest: the Map's ItemSelector adds the ingestion id and attempt to make
    the ``PartTask`` of "Process part"."""

    part_id: UUID
    sequence: int = Field(ge=0)


class ManifestLocation(TaskModel):
    """Where "Plan ingestion" wrote the part manifest (the Map's ItemReader reads it)."""

    bucket: str
    key: str


class PlannedIngestion(TaskModel):
    """What "Plan ingestion" returns: small references only, never the parts themselves (a state holds
    at most 256 KiB; a terabyte log has ~20,000 parts). The parts are a JSON array of
    ``PartManifestItem`` at ``manifest``, in sequence order."""

    ingestion_id: UUID
    attempt: int
    manifest: ManifestLocation
    part_count: int = Field(ge=0)


class PartOutcome(TaskModel):
    """What "Process part" returns."""

    part_id: UUID
    record_count: int


class PartState(TaskModel):
    """What "Record part failure" returns: the part's state after it (None: no such part)."""

    part_id: UUID
    state: ProcessState | None


class IngestionOutcome(TaskModel):
    """What "Finalize ingestion" and "Fail ingestion" return."""

    ingestion_id: UUID
    state: ProcessState


class CaughtError(BaseModel):
    """The error a Catch puts at ``$.error``: Step Functions' ``{"Error", "Cause"}``."""

    model_config = ConfigDict(populate_by_name=True)

    error: str | None = Field(None, alias="Error")
    cause: str | None = Field(None, alias="Cause")

    def details(self) -> tuple[str, str]:
        """The error's name and message; a Lambda error's cause is JSON with its type and message."""
        name = self.error or "IngestionFailed"
        cause = self.cause or ""
        try:
            parsed = json.loads(cause)
        except (TypeError, ValueError):
            parsed = None
        if isinstance(parsed, dict):
            return str(parsed.get("errorType") or name), str(parsed.get("errorMessage") or cause)
        return name, cause or name


class FailedPartTask(TaskModel):
    """The payload of "Record part failure": a part whose "Process part" failed, and the error its
    Catch caught (the Map then fails, and "Fail ingestion" names the part)."""

    ingestion_id: UUID
    part_id: UUID
    sequence: int = Field(ge=0)
    attempt: int = Field(ge=1)
    error: CaughtError


class FailTask(TaskModel):
    """The payload of "Fail ingestion": the ingestion and the error a Catch caught."""

    ingestion_id: UUID
    attempt: int = Field(ge=1)
    error: CaughtError | None = None


class IngestionPlan(BaseModel):
    """What "Plan ingestion" decided and the later tasks need, kept with the ingestion (server-side).

    ``topics`` maps each channel id of the log (a ROS 1 connection, an MCAP channel), as text, to the
    topic it belongs to; ``widths`` is each topic's record bucket width in nanoseconds.
    """

    format: str
    #: The attempt that made the plan (a retried "Plan ingestion" of the same attempt plans again).
    attempt: int = 0
    topics: dict[str, UUID]
    widths: dict[UUID, int]
    #: Topics this attempt created (a failed attempt deletes those it left empty).
    created_topics: list[UUID] = Field(default_factory=list)
    #: Topics that opted in to stored ``query_data`` (their small messages are decoded at ingestion).
    query_data_topics: list[UUID] = Field(default_factory=list)
    #: How many parts the plan made (the denominator of the ingestion's progress).
    part_count: int = 0
    #: A recording's files (``metadata.yaml``'s storage files, or a lone ``.db3``): each part names
    #: its file. Empty for a single file, whose channels are ``topics``.
    files: list[PlannedFile] = Field(default_factory=list)
    #: A recording's topics by name (a converted file's channels are matched by name).
    names: dict[str, UUID] = Field(default_factory=dict)

    def topic_ids(self) -> list[UUID]:
        """Every topic the log's channels map to, in a stable order."""
        return sorted(set(self.topics.values()) | set(self.names.values()))

    def to_internal(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
