"""IngestionTriggerFunction's rules: queued processes start their execution; dropped files are ingested.

The function is subscribed to two event sources, told apart by the records' ``eventSource``: the
ResourcesTable stream (an ingestion or a digestion entered ``queued``: start its state machine's
execution, named after the process and its attempt so that a duplicate event starts nothing) and S3 (a
file created in the drop folder). Each event is parsed into its Powertools model first. Digestions are
started here rather than by a consumer of their own: a DynamoDB stream serves at most two readers per
shard without throttling, and the hooks' delivery is the other one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus
from uuid import UUID

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamChangedRecordModel,
    DynamoDBStreamModel,
    DynamoDBStreamRecordModel,
    S3Model,
)
from pydantic import BaseModel

from openlqs.digestion.payloads import DigestionTask
from openlqs.domain.ports import Executions
from openlqs.ingestion.drop_folder import DropFolder
from openlqs.ingestion.payloads import IngestionTask

STREAM_SOURCE = "aws:dynamodb"
S3_SOURCE = "aws:s3"


def execution_name(ingestion_id: UUID, attempt: int) -> str:
    """One execution per attempt: a duplicate event can never start a second run."""
    return f"{ingestion_id}-{attempt}"


class ResourceImage(BaseModel):
    """The attributes of a ResourcesTable item the trigger reads (``x_attempt``: the attempt number)."""

    kind: str | None = None
    id: UUID | None = None
    state: str | None = None
    x_attempt: int | None = None


class ResourceChange(DynamoDBStreamChangedRecordModel):
    NewImage: ResourceImage | None = None
    OldImage: ResourceImage | None = None

    def queued(self, kind: str) -> ResourceImage | None:
        """The new image if this change moved a process of ``kind`` into ``queued``, else None.

        The same test as the event's FilterCriteria in template.yaml, repeated for the sources that do
        not filter (local mode's stream poller).
        """
        new, old = self.NewImage, self.OldImage
        if new is None or new.kind != kind or new.state != "queued":
            return None
        return new if old is None or old.state != "queued" else None

    @property
    def queued_ingestion(self) -> ResourceImage | None:
        """The new image if this change moved an ingestion into ``queued``, else None."""
        return self.queued("ingestion")


class ResourceStreamRecord(DynamoDBStreamRecordModel):
    dynamodb: ResourceChange


class ResourceStreamModel(DynamoDBStreamModel):
    Records: list[ResourceStreamRecord]  # type: ignore[assignment]


@dataclass(frozen=True)
class TriggerResult:
    """What one invocation did: the executions it started, or the dropped files it queued."""

    execution_arns: list[str] | None = None
    ingestion_ids: list[UUID] | None = None

    def to_json(self) -> dict[str, Any]:
        if self.ingestion_ids is not None:
            return {"ingestion_ids": [str(i) for i in self.ingestion_ids]}
        return {"execution_arns": list(self.execution_arns or [])}


def event_source(event: Mapping[str, Any]) -> str:
    """The one ``eventSource`` of the event's records; ``ValueError`` for anything else."""
    records = event.get("Records") or []
    sources = {record.get("eventSource") for record in records if isinstance(record, dict)}
    if len(sources) != 1 or not sources <= {STREAM_SOURCE, S3_SOURCE}:
        raise ValueError(f"IngestionTriggerFunction does not handle events from {sorted(map(str, sources))}")
    return str(sources.pop())


class IngestionTrigger:
    """Starts ingestion executions (``starter``) and digestion executions (``digestions``, when the
    deployment has them), and registers dropped files (``drop_folder``)."""

    def __init__(
        self, starter: Executions, drop_folder: DropFolder, digestions: Executions | None = None
    ) -> None:
        self.starter = starter
        self.drop_folder = drop_folder
        self.digestions = digestions

    def handle(self, event: Mapping[str, Any]) -> TriggerResult:
        """Parse the event by its source and act on it."""
        if event_source(event) == STREAM_SOURCE:
            return TriggerResult(
                execution_arns=self.on_resources_changed(parse(dict(event), model=ResourceStreamModel))
            )
        return TriggerResult(ingestion_ids=self.on_objects_created(parse(dict(event), model=S3Model)))

    def start_ingestion(self, ingestion_id: UUID, attempt: int) -> str | None:
        """Start the execution of this attempt; None when it was already started."""
        task = IngestionTask(ingestion_id=ingestion_id, attempt=attempt)
        return self.starter.start(execution_name(ingestion_id, attempt), task.model_dump(mode="json"))

    def start_digestion(self, digestion_id: UUID, attempt: int) -> str | None:
        """Start the digestion execution of this attempt; None when it was already started."""
        if self.digestions is None:
            raise ValueError("This deployment has no digestion state machine (DIGESTION_STATE_MACHINE_ARN).")
        task = DigestionTask(digestion_id=digestion_id, attempt=attempt)
        return self.digestions.start(execution_name(digestion_id, attempt), task.model_dump(mode="json"))

    def on_resources_changed(self, event: ResourceStreamModel) -> list[str]:
        """Start one execution per ingestion or digestion that entered ``queued``; returns the started
        executions' ARNs.

        An execution already started for the same attempt (a duplicate or retried record) is not started
        again and not listed.
        """
        starts = {"ingestion": self.start_ingestion, "digestion": self.start_digestion}
        execution_arns = []
        for record in event.Records:
            for kind, start in starts.items():
                queued = record.dynamodb.queued(kind)
                if queued is None:
                    continue
                if queued.id is None or queued.x_attempt is None:
                    raise ValueError(f"Queued {kind} item {record.dynamodb.Keys} has no id or no x_attempt.")
                execution_arn = start(queued.id, queued.x_attempt)
                if execution_arn is not None:
                    execution_arns.append(execution_arn)
        return execution_arns

    def on_objects_created(self, event: S3Model) -> list[UUID]:
        """Register every file of an S3 ``ObjectCreated`` event; returns the ids of the queued ingestions.

        S3 URL-encodes the keys of its events ("+" for a space), so keys are decoded first.
        """
        ingestion_ids = []
        for record in event.Records:
            created = record.s3.object
            if created is None:
                continue
            ingestion_id = self.drop_folder.register(
                bucket=record.s3.bucket.name,
                key=unquote_plus(created.key),
                etag=created.eTag,
                size=None if created.size is None else int(created.size),
            )
            if ingestion_id is not None:
                ingestion_ids.append(ingestion_id)
        return ingestion_ids
