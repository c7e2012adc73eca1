"""SQS event source mappings, run locally: queue messages delivered to in-process functions.

On AWS, Lambda polls a queue subscribed by a function (SAM ``Type: SQS``) with several pollers at once,
invokes the function with batches of messages, deletes the messages of a batch that succeeded (all but
the ``batchItemFailures`` the function names, with ``ReportBatchItemFailures``), and leaves the others
in the queue, where they come back once their visibility timeout passes (the function may change it)
and go to the queue's dead-letter queue after ``maxReceiveCount`` receives (moto moves them). Locally, a
:class:`SqsEventQueue` is the same, as an :class:`~openlqs.local.triggers.EventSource`, and a
:class:`QueuePoller` receives from it whenever one of its ``MaximumConcurrency`` invocations is free
and runs each batch on a thread of its own: batches run at once, as on Lambda, while an idle queue is
polled by one thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from openlqs.local.cloudformation import LOCAL_REGION
from openlqs.local.triggers import MAX_IDLE_WAIT_S, MIN_IDLE_WAIT_S, Delivery, TriggerPoller

Invoke = Callable[[dict[str, Any]], Any]
#: Attributes Lambda gives each record (``attributes``), when the queue has them.
_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "MessageGroupId",
    "MessageDeduplicationId",
    "SequenceNumber",
    "AWSTraceHeader",
)


class SqsEventQueue:
    """A queue subscribed by a function, as an ``EventSource`` of Lambda SQS events.

    Each receive takes up to ``batch_size`` messages, made invisible for ``visibility_timeout_s`` (the
    queue's own when None), and delivers them as one event. How they are settled depends on the
    function's answer (:meth:`settle`, called by the invoke wrapper of :func:`invoker`); a failed
    invocation leaves all of them to come back, as on Lambda.
    """

    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        queue_arn: str,
        *,
        batch_size: int = 10,
        report_batch_item_failures: bool = False,
    ) -> None:
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = max(1, min(batch_size, 10))
        self.report_batch_item_failures = report_batch_item_failures
        self.description = f"queue {queue_url.rsplit('/', 1)[-1]}"
        self._idle_wait_s = MIN_IDLE_WAIT_S

    def receive(self) -> list[Delivery]:
        # A short poll and an idle wait of its own: moto's long poll would hold a stop for a second.
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages") or []
        if not messages:
            time.sleep(self._idle_wait_s)
            self._idle_wait_s = min(MAX_IDLE_WAIT_S, self._idle_wait_s * 2)
            return []
        self._idle_wait_s = MIN_IDLE_WAIT_S
        records = [lambda_sqs_record(message, self.queue_arn) for message in messages]
        attempt = max(int(record["attributes"].get("ApproximateReceiveCount", 1)) for record in records)
        ids = ", ".join(record["messageId"] for record in records)
        return [
            Delivery(
                event={"Records": records},
                attempt=attempt,
                description=f"{len(records)} message(s) {ids} of {self.description}",
                receipt=[record["receiptHandle"] for record in records],
            )
        ]

    def settle(self, event: Mapping[str, Any], answer: Any) -> None:
        """Delete the messages of a batch the function handled, but those it reported as failed."""
        failed: set[str] = set()
        if self.report_batch_item_failures and isinstance(answer, Mapping):
            failures = answer.get("batchItemFailures") or []
            failed = {str(item.get("itemIdentifier")) for item in failures if isinstance(item, Mapping)}
        for record in event.get("Records") or []:
            if record["messageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"])

    def succeeded(self, delivery: Delivery) -> None:
        return None  # settled by the invoke wrapper, which has the function's answer

    def failed(self, delivery: Delivery, *, retry: bool) -> bool:
        # Left in the queue: the messages come back after their visibility timeout, and the queue's
        # redrive policy, not the poller, decides when they have had enough attempts.
        return False

    def invoker(self, invoke: Invoke) -> Invoke:
        """``invoke``, then the batch settled by the function's answer."""

        def invoke_and_settle(event: dict[str, Any]) -> Any:
            answer = invoke(event)
            self.settle(event, answer)
            return answer

        return invoke_and_settle


#: A poller never counts a batch's attempts: the queue's redrive policy (or the message's retention)
#: ends them.
_UNCOUNTED_ATTEMPTS = 1_000_000


class QueuePoller(TriggerPoller):
    """Feeds a function the batches of one queue, ``concurrency`` invocations at once.

    It receives only when an invocation is free (a received batch never waits with its visibility
    timeout running), runs the batch on a thread of its own and settles it by the function's answer. A
    failed invocation is logged and its messages come back. :meth:`stop` waits for the invocations in
    progress too.
    """

    def __init__(
        self,
        name: str,
        source: SqsEventQueue,
        invoke: Invoke,
        *,
        concurrency: int,
        stop_timeout_s: float | None = None,
        err: TextIO | None = None,
    ) -> None:
        super().__init__(
            name,
            source,
            self._dispatch,
            max_attempts=_UNCOUNTED_ATTEMPTS,
            stop_timeout_s=stop_timeout_s,
            err=err,
        )
        self.queue = source
        self.concurrency = max(1, concurrency)
        self._run_batch = source.invoker(invoke)
        self._free = threading.BoundedSemaphore(self.concurrency)

    def poll_once(self) -> int:
        while not self._free.acquire(timeout=MAX_IDLE_WAIT_S):
            if self._stop.is_set():
                return 0
        deliveries = self.queue.receive()
        if not deliveries:
            self._free.release()
            return 0
        for delivery in deliveries:
            self.deliver(delivery)
        return len(deliveries)

    def _dispatch(self, event: dict[str, Any]) -> None:
        threading.Thread(
            target=self._invoke, args=(event,), name=f"{self.thread_name}-batch", daemon=True
        ).start()

    def _invoke(self, event: dict[str, Any]) -> None:
        try:
            self._run_batch(event)
        except Exception:
            ids = ", ".join(str(record.get("messageId")) for record in event.get("Records") or [])
            self._log(
                f"{self.name} failed on message(s) {ids}; they come back after their visibility timeout",
                with_traceback=True,
            )
        finally:
            self._free.release()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop receiving, then wait for the invocations in progress (``timeout`` for both)."""
        timeout = self.stop_timeout_s if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        stopped = super().stop(timeout)
        taken = 0
        while taken < self.concurrency:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._free.acquire(timeout=remaining):
                self._log(f"{self.name}: {self.concurrency - taken} invocation(s) still running at stop")
                break
            taken += 1
        for _ in range(taken):
            self._free.release()
        return stopped and taken == self.concurrency


def lambda_sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """The record Lambda gives a function for one message of ReceiveMessage (boto3-parsed)."""
    attributes = message.get("Attributes") or {}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {name: str(attributes[name]) for name in _RECORD_ATTRIBUTES if name in attributes},
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": LOCAL_REGION,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record
