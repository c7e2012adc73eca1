"""HookDeliveryFunction's rules: a process's state change becomes one signed POST per hook it fires.

Two event sources, told apart by the records' ``eventSource``, split the work so that no receiver can
hold anything else back:

1. **The ResourcesTable stream** (``aws:dynamodb``, filtered in template.yaml to processes that have a
   workflow): each change that moved a process into a state (created, or ``state`` changed) is matched
   against the hooks of its workflow, and one *delivery job* per hook goes to HookDeliveryQueue. No
   receiver is called here: a stream shard is read in order, and a slow POST would hold back every later
   change of the table (and the ingestions' own trigger reads the same stream).
2. **HookDeliveryQueue** (``aws:sqs``): the jobs of a batch are POSTed all at once, each within
   ``HOOK_DELIVERY_TIMEOUT_S`` in all. A failed one (no answer, a timeout, a status other than 2xx) is
   reported as a batch item failure and made visible again after a back-off that doubles per attempt
   (``HOOK_RETRY_BASE_DELAY_S`` times 2^(attempt-1), at most 15 minutes); after
   ``HOOK_DELIVERY_MAX_ATTEMPTS`` attempts the queue's redrive policy moves it to
   HookDeliveryDeadLetterQueue. Lambda polls the queue with several invocations at once, so a receiver
   that hangs costs one invocation its timeout and no one else anything.

Delivery is at least once. Each delivery has an event id (a UUID derived from the process, the
transition and the hook), so that a receiver can drop a duplicate; the hook also remembers its last
delivered event ids and does not POST one of them again. How the last delivery went is kept in the
hook's ``context.last_delivery``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamChangedRecordModel,
    DynamoDBStreamModel,
    DynamoDBStreamRecordModel,
    SqsModel,
    SqsRecordModel,
)
from pydantic import BaseModel, ValidationError

from openlqs.auth import (
    HOOK_ATTEMPT_HEADER,
    HOOK_EVENT_ID_HEADER,
    HOOK_SIGNATURE_HEADER,
    hook_authorization,
    hook_signature,
)
from openlqs.domain.workflows import (
    HOOK,
    DeliveryQueue,
    HookRequest,
    HookResponse,
    HookService,
    HookTransport,
)
from openlqs.models.common import ProcessState
from openlqs.models.workflows import Hook, HookEvent, ProcessType
from openlqs.version import __version__

logger = Logger(service="openlqs")

STREAM_SOURCE = "aws:dynamodb"
QUEUE_SOURCE = "aws:sqs"
#: Namespace of event ids (``uuid5``): the same transition and hook always give the same id.
EVENT_ID_NAMESPACE = UUID("5f0c6a51-8f6e-4b8e-9d53-2f1a7c4e0b9d")
#: The longest a failed delivery waits before its next attempt.
MAX_RETRY_DELAY_S = 900
USER_AGENT = f"openlqs-hooks/{__version__}"


class ProcessImage(BaseModel):
    """The attributes of a ResourcesTable item the fan-out reads (``kind`` is the process type)."""

    kind: str | None = None
    id: UUID | None = None
    state: str | None = None
    previous_state: str | None = None
    workflow_id: UUID | None = None
    transitioned_at: str | None = None


@dataclass(frozen=True)
class Transition:
    """A process of a workflow that entered ``current_state``."""

    process_type: ProcessType
    resource_id: UUID
    workflow_id: UUID
    previous_state: ProcessState | None
    current_state: ProcessState
    #: When it entered the state (the item's ``transitioned_at``), or the stream record's id.
    moment: str


class ProcessChange(DynamoDBStreamChangedRecordModel):
    NewImage: ProcessImage | None = None
    OldImage: ProcessImage | None = None

    def transition(self, record_id: str) -> Transition | None:
        """The state a process of a workflow entered with this change, or None.

        The same test as the FilterCriteria of HookDeliveryFunction's stream event in template.yaml,
        completed with what a filter cannot say: that ``state`` differs from the old image's.
        """
        new, old = self.NewImage, self.OldImage
        kinds = {kind.value for kind in ProcessType}
        if new is None or new.kind not in kinds or new.id is None or new.workflow_id is None:
            return None
        if new.state not in {state.value for state in ProcessState}:
            return None
        if old is not None and old.state == new.state:
            return None
        previous = old.state if old is not None else new.previous_state
        return Transition(
            process_type=ProcessType(str(new.kind)),
            resource_id=new.id,
            workflow_id=new.workflow_id,
            previous_state=ProcessState(previous) if previous in {s.value for s in ProcessState} else None,
            current_state=ProcessState(new.state),
            moment=new.transitioned_at or record_id,
        )


class ProcessStreamRecord(DynamoDBStreamRecordModel):
    dynamodb: ProcessChange


class ProcessStreamModel(DynamoDBStreamModel):
    Records: list[ProcessStreamRecord]  # type: ignore[assignment]


class HookDeliveryJob(BaseModel):
    """One delivery to make: a HookDeliveryQueue message's body."""

    event_id: UUID
    hook_id: UUID
    workflow_id: UUID
    process_type: ProcessType
    resource_id: UUID
    previous_state: ProcessState | None = None
    current_state: ProcessState


def event_id(transition: Transition, hook_id: UUID) -> UUID:
    """The delivery's id: the same for every copy of one transition's delivery to one hook."""
    name = (
        f"{transition.process_type}/{transition.resource_id}/{transition.current_state}/"
        f"{transition.moment}/{hook_id}"
    )
    return uuid5(EVENT_ID_NAMESPACE, name)


def retry_delay_s(attempt: int, base_s: int, jitter: Callable[[], float] = random.random) -> int:
    """How long to wait after failed attempt ``attempt`` (1, 2, ...): ``base_s`` doubling per attempt,
    plus up to a fifth more so that retries of many deliveries spread out, at most 15 minutes."""
    delay = base_s * 2 ** min(attempt - 1, 20)
    return int(min(MAX_RETRY_DELAY_S, delay * (1 + 0.2 * jitter())))


def event_source(event: Mapping[str, Any]) -> str:
    """The one ``eventSource`` of the event's records; ``ValueError`` for anything else."""
    records = event.get("Records") or []
    sources = {record.get("eventSource") for record in records if isinstance(record, dict)}
    if len(sources) != 1 or not sources <= {STREAM_SOURCE, QUEUE_SOURCE}:
        raise ValueError(f"HookDeliveryFunction does not handle events from {sorted(map(str, sources))}")
    return str(sources.pop())


@dataclass
class DeliveryReport:
    """What one invocation did: jobs queued (stream), or deliveries made and failed (queue)."""

    queued: int = 0
    delivered: int = 0
    skipped: int = 0
    failed_message_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The function's answer; for the queue, Lambda's partial batch response."""
        return {
            "queued": self.queued,
            "delivered": self.delivered,
            "skipped": self.skipped,
            "batchItemFailures": [{"itemIdentifier": message_id} for message_id in self.failed_message_ids],
        }


@dataclass(frozen=True)
class _Pending:
    record: SqsRecordModel
    job: HookDeliveryJob
    attempt: int
    request: HookRequest


class HookDelivery:
    """Fans state changes out to delivery jobs, and makes the deliveries.

    ``datastore_id`` and ``api_url`` name the datastore in every POST (``datastore_endpoint`` is the
    API URL a receiver calls back); ``clock`` gives the signature's timestamp.
    """

    def __init__(
        self,
        hooks: HookService,
        queue: DeliveryQueue,
        transport: HookTransport,
        *,
        datastore_id: UUID,
        api_url: str | None,
        max_attempts: int,
        retry_base_delay_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hooks = hooks
        self.queue = queue
        self.transport = transport
        self.datastore_id = datastore_id
        self.api_url = api_url
        self.max_attempts = max_attempts
        self.retry_base_delay_s = retry_base_delay_s
        self.clock = clock

    def handle(self, event: Mapping[str, Any]) -> DeliveryReport:
        """Parse the event by its source and act on it."""
        if event_source(event) == STREAM_SOURCE:
            return DeliveryReport(queued=self.fan_out(parse(dict(event), model=ProcessStreamModel)))
        return self.deliver(parse(dict(event), model=SqsModel).Records)

    # -- 1. the stream: which hooks a change fires --------------------------------------------------

    def fan_out(self, event: ProcessStreamModel) -> int:
        """Queue one job per hook each transition of the batch fires; returns how many were queued.

        A batch seen twice (a retry) queues its jobs twice, with the same event ids.
        """
        fired: dict[tuple[UUID, ProcessType, ProcessState], list[Hook]] = {}
        bodies = []
        for record in event.Records:
            transition = record.dynamodb.transition(str(record.eventID))
            if transition is None:
                continue
            key = (transition.workflow_id, transition.process_type, transition.current_state)
            if key not in fired:
                fired[key] = self.hooks.triggered(*key)
            for hook in fired[key]:
                job = HookDeliveryJob(
                    event_id=event_id(transition, hook.id),
                    hook_id=hook.id,
                    workflow_id=transition.workflow_id,
                    process_type=transition.process_type,
                    resource_id=transition.resource_id,
                    previous_state=transition.previous_state,
                    current_state=transition.current_state,
                )
                bodies.append(job.model_dump_json())
        if bodies:
            self.queue.send(bodies)
        return len(bodies)

    # -- 2. the queue: POST, record, retry ------------------------------------------------------------

    def deliver(self, records: Sequence[SqsRecordModel]) -> DeliveryReport:
        """POST every job of the batch at once; failed ones come back later (batch item failures)."""
        report = DeliveryReport()
        pending: list[_Pending] = []
        for record in records:
            attempt = int(record.attributes.ApproximateReceiveCount)
            try:
                job = HookDeliveryJob.model_validate_json(str(record.body))
            except ValidationError:
                logger.error(
                    "not a hook delivery job; left to the dead-letter queue", extra={"id": record.messageId}
                )
                self._retry(record, attempt, report, give_up=True)
                continue
            hook = self.hooks.repository.find(HOOK, job.hook_id)
            if hook is None or hook.disabled or hook.uri is None or self.hooks.delivered(hook, job.event_id):
                report.skipped += 1  # deleted, disabled or pointed nowhere since; or delivered already
                continue
            pending.append(_Pending(record, job, attempt, self._request(hook, job, attempt)))
        responses = self.transport.post_all([item.request for item in pending])
        for item, response in zip(pending, responses, strict=True):
            give_up = item.attempt >= self.max_attempts
            # The hook says how the attempt went before the message moves on: a job in the
            # dead-letter queue has its hook already saying "failed".
            self._record(item, response, give_up=give_up)
            if response.ok:
                report.delivered += 1
            else:
                self._retry(item.record, item.attempt, report, give_up=give_up)
        return report

    def _request(self, hook: Hook, job: HookDeliveryJob, attempt: int) -> HookRequest:
        body = (
            HookEvent(
                previous_state=job.previous_state,
                current_state=job.current_state,
                process_type=job.process_type,
                resource_id=job.resource_id,
                workflow_id=job.workflow_id,
                hook_id=hook.id,
                datastore_id=self.datastore_id,
                datastore_endpoint=self.api_url,
            )
            .model_dump_json()
            .encode()
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            HOOK_EVENT_ID_HEADER: str(job.event_id),
            HOOK_ATTEMPT_HEADER: str(attempt),
        }
        secret = self.hooks.secret_of(hook)
        if secret is not None:
            headers["Authorization"] = hook_authorization(secret)
            headers[HOOK_SIGNATURE_HEADER] = hook_signature(secret, int(self.clock()), body)
        assert hook.uri is not None
        return HookRequest(uri=hook.uri, body=body, headers=headers)

    def _retry(self, record: SqsRecordModel, attempt: int, report: DeliveryReport, *, give_up: bool) -> None:
        """Report the message failed; it comes back after the back-off (or at once, to be moved to the
        dead-letter queue by the redrive policy, when it has had its attempts)."""
        delay = 0 if give_up else retry_delay_s(attempt, self.retry_base_delay_s)
        self.queue.retry_later(record.receiptHandle, delay)
        report.failed_message_ids.append(record.messageId)

    def _record(self, item: _Pending, response: HookResponse, *, give_up: bool) -> None:
        status = "delivered" if response.ok else "failed" if give_up else "retrying"
        last = {
            "event_id": str(item.job.event_id),
            "process_type": str(item.job.process_type),
            "resource_id": str(item.job.resource_id),
            "state": str(item.job.current_state),
            "status": status,
            "http_status": response.status,
            "error": response.error,
            "attempt": item.attempt,
            "max_attempts": self.max_attempts,
            "duration_ms": response.duration_ms,
            "at": datetime.now(UTC).isoformat(),
        }
        extra = {key: value for key, value in last.items() if key != "error"}
        if response.ok:
            logger.info("hook delivered", extra={"hook_id": str(item.job.hook_id), **extra})
        else:
            logger.warning(
                "hook delivery failed",
                extra={"hook_id": str(item.job.hook_id), "reason": response.error, **extra},
            )
        try:
            self.hooks.record_delivery(item.job.hook_id, item.job.event_id, last, delivered=response.ok)
        except Exception:
            # The POST happened; failing the batch now would send it again. The status is what is lost.
            logger.exception(
                "could not record a delivery on its hook", extra={"hook_id": str(item.job.hook_id)}
            )
