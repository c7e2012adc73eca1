"""Deliver to in-process functions the events that moto cannot deliver to them.

In AWS, S3 invokes IngestionTriggerFunction itself when a file lands in the drop folder. moto runs
Lambda code only in Docker, so locally the bucket notifies an SQS queue instead, and a
:class:`TriggerPoller` thread receives from that queue, turns each message back into the event S3 gives
a function, and invokes the function in this process.

The poller knows nothing about S3: an :class:`EventSource` hands it :class:`Delivery` objects and is
told how each one ended (handled, to be retried, or given up), so another source, such as a DynamoDB
stream, can feed the same function. As with Lambda's asynchronous invocations, a failed event is retried
a bounded number of times, then dropped with an error on standard error.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO
from urllib.parse import quote_plus, unquote_plus

from openlqs.local.cloudformation import LOCAL_ACCOUNT_ID, LOCAL_REGION
from openlqs.local.resources import S3EventSubscription

#: Lambda retries a failed asynchronous invocation twice: three attempts in all.
DEFAULT_MAX_ATTEMPTS = 3
#: An idle source polls after this long, doubling up to the longest wait (a stop waits at most that).
#: Lambda polls a stream's shard four times a second, so a write waits at most ~0.25 s there too.
MIN_IDLE_WAIT_S = 0.05
MAX_IDLE_WAIT_S = 0.25
DEFAULT_RETRY_DELAY_S = 2.0
_MAX_ERROR_BACKOFF_S = 30.0

Invoke = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Delivery:
    """One event for the function, as its source delivered it."""

    event: dict[str, Any]
    #: 1 the first time the source delivers this event, then 2, 3... on retries.
    attempt: int
    #: What a log line names, e.g. "s3://bucket/drop/g/l/a.bag (ObjectCreated:Put)".
    description: str
    #: The source's own handle on the delivery (an SQS receipt handle, a stream position...).
    receipt: Any = None


class EventSource(Protocol):
    """Where a :class:`TriggerPoller` gets its events from, and whom it tells how they ended."""

    description: str

    def receive(self) -> Sequence[Delivery]:
        """The next deliveries; waits about a second at most when there are none."""
        ...

    def succeeded(self, delivery: Delivery) -> None:
        """The function handled ``delivery``: never deliver it again."""
        ...

    def failed(self, delivery: Delivery, *, retry: bool) -> bool:
        """The function failed on ``delivery``: deliver it again later if ``retry``, else give it up.

        Returns whether it was given up (a source may keep a delivery it was told not to retry: a stream
        that bisects a failed batch)."""
        ...


class TriggerPoller:
    """A thread that feeds one function the deliveries of one source, one at a time.

    ``invoke`` calls the function with an event (exceptions mean failure). A delivery whose
    ``attempt`` reaches ``max_attempts`` and fails is given up, with an error and traceback on ``err``
    (standard error by default), and handed to ``on_give_up`` (the subscription's on-failure
    destination) when there is one. :meth:`stop` waits ``stop_timeout_s`` by default: long enough for a
    receive and an invocation in progress (the function's timeout) to end.
    """

    def __init__(
        self,
        name: str,
        source: EventSource,
        invoke: Invoke,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        stop_timeout_s: float | None = None,
        err: TextIO | None = None,
        on_give_up: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.name = name
        self.source = source
        self.invoke = invoke
        self.on_give_up = on_give_up
        self.max_attempts = max_attempts
        self.stop_timeout_s = stop_timeout_s
        self._err = err
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def thread_name(self) -> str:
        return f"openlqs-trigger-{self.name}"

    def start(self) -> None:
        """Start polling on a daemon thread."""
        if self._thread is not None:
            raise RuntimeError(f"{self.thread_name} is already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the poller to stop after its current receive or invocation, without waiting (to stop several
        pollers at once: ask each, then :meth:`stop` each)."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop after the current receive or invocation; returns whether the thread has ended.

        Waits ``timeout`` seconds at most (default ``stop_timeout_s``; None: as long as it takes).
        An event received but not handled yet stays with its source (an SQS message becomes visible
        again after its visibility timeout).
        """
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None:
            return True
        timeout = self.stop_timeout_s if timeout is None else timeout
        thread.join(timeout)
        if thread.is_alive():
            self._log(f"{self.thread_name} did not stop within {timeout} s; left running as a daemon")
            return False
        return True

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def poll_once(self) -> int:
        """Receive once and deliver what came; returns how many deliveries were handled or failed."""
        deliveries = self.source.receive()
        for delivery in deliveries:
            self.deliver(delivery)
        return len(deliveries)

    def deliver(self, delivery: Delivery) -> bool:
        """Invoke the function with one delivery and tell the source; returns whether it succeeded."""
        try:
            self.invoke(delivery.event)
        except Exception:
            given_up = self.source.failed(delivery, retry=delivery.attempt < self.max_attempts)
            if not given_up:
                outcome = "will retry"
            elif self.on_give_up is not None:
                outcome = "giving up, the event goes to the on-failure destination"
            else:
                outcome = "giving up, the event is dropped"
            self._log(
                f"{self.name} failed on {delivery.description} "
                f"(attempt {delivery.attempt} of {self.max_attempts}); {outcome}",
                with_traceback=True,
            )
            if given_up and self.on_give_up is not None:
                self.on_give_up(delivery)
            return False
        self.source.succeeded(delivery)
        return True

    def _run(self) -> None:
        errors = 0
        while not self._stop.is_set():
            try:
                self.poll_once()
                errors = 0
            except Exception:
                if self._stop.is_set():
                    return  # moto may already be going away
                errors += 1
                if errors == 1:
                    message = f"{self.name} cannot poll {self.source.description}; retrying"
                    self._log(message, with_traceback=True)
                self._stop.wait(min(_MAX_ERROR_BACKOFF_S, 0.5 * 2**errors))

    def _log(self, message: str, *, with_traceback: bool = False) -> None:
        err = self._err or sys.stderr
        print(f"openlqs local: {message}", file=err)
        if with_traceback:
            traceback.print_exc(file=err)
        err.flush()


class S3NotificationQueue:
    """An SQS queue that a bucket notifies, as an :class:`EventSource` of S3 events for Lambda.

    Each message is one S3 notification; it is delivered as the event S3 would have given the
    function (:func:`lambda_s3_event`), deleted once handled, made visible again after
    ``retry_delay_s`` times the attempt number when it failed, and deleted when given up. S3's
    ``s3:TestEvent`` messages are deleted unseen, as S3 never sends them to a function.
    """

    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        *,
        visibility_timeout_s: int = 900,
        retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
    ) -> None:
        self.sqs = sqs_client
        self.queue_url = queue_url
        self.description = f"queue {queue_url.rsplit('/', 1)[-1]}"
        self._idle_wait_s = MIN_IDLE_WAIT_S
        self.visibility_timeout_s = visibility_timeout_s
        self.retry_delay_s = retry_delay_s

    def receive(self) -> list[Delivery]:
        # One message at a time: the function runs one invocation at a time, and a message waiting
        # behind a long invocation would otherwise reach its visibility timeout and come back twice.
        # A short poll, then an idle wait of its own: moto's long poll would hold a stop for a second.
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=0,
            VisibilityTimeout=self.visibility_timeout_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        if not response.get("Messages"):
            time.sleep(self._idle_wait_s)
            self._idle_wait_s = min(MAX_IDLE_WAIT_S, self._idle_wait_s * 2)
            return []
        self._idle_wait_s = MIN_IDLE_WAIT_S
        deliveries = []
        for message in response.get("Messages", []):
            body = json.loads(message["Body"])
            if not isinstance(body, dict) or not body.get("Records"):
                self._delete(message["ReceiptHandle"])  # s3:TestEvent
                continue
            event = lambda_s3_event(body)
            deliveries.append(
                Delivery(
                    event=event,
                    attempt=int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 1)),
                    description=_describe_s3_event(event),
                    receipt=message["ReceiptHandle"],
                )
            )
        return deliveries

    def succeeded(self, delivery: Delivery) -> None:
        self._delete(delivery.receipt)

    def failed(self, delivery: Delivery, *, retry: bool) -> bool:
        if not retry:
            self._delete(delivery.receipt)
            return True
        self.sqs.change_message_visibility(
            QueueUrl=self.queue_url,
            ReceiptHandle=delivery.receipt,
            VisibilityTimeout=round(self.retry_delay_s * delivery.attempt),
        )
        return False

    def _delete(self, receipt: str) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)


def lambda_s3_event(notification: Mapping[str, Any]) -> dict[str, Any]:
    """The event S3 gives a function, from the notification moto sends to a queue.

    moto's records leave out what S3 always sends (the requester, its IP address, the response's
    request ids, the bucket owner, the object's sequencer); they are filled in here, in S3's order, so
    the function's parser sees the real shape. Keys stay URL-encoded as S3 encodes them ("+" for a
    space); moto also encodes "/", which S3 leaves as it is.
    """
    return {"Records": [_lambda_s3_record(record) for record in notification.get("Records") or []]}


def _lambda_s3_record(moto_record: Mapping[str, Any]) -> dict[str, Any]:
    # What is filled in derives from the record itself, so a retried event is the same event.
    s3 = copy.deepcopy(dict(moto_record.get("s3") or {}))
    identity = json.dumps([moto_record.get("eventTime"), moto_record.get("eventName"), s3])
    hex_digest = hashlib.sha256(identity.encode()).hexdigest()
    s3_object = s3.get("object")
    if isinstance(s3_object, dict) and isinstance(s3_object.get("key"), str):
        s3_object["key"] = quote_plus(unquote_plus(s3_object["key"]), safe="/")
        s3_object.setdefault("sequencer", _sequencer(moto_record.get("eventTime"), hex_digest))
    s3.setdefault("bucket", {}).setdefault("ownerIdentity", {"principalId": LOCAL_ACCOUNT_ID})
    record = {
        "eventVersion": moto_record.get("eventVersion", "2.1"),
        "eventSource": moto_record.get("eventSource", "aws:s3"),
        "awsRegion": moto_record.get("awsRegion"),
        "eventTime": moto_record.get("eventTime"),
        "eventName": moto_record.get("eventName"),
        "userIdentity": {"principalId": f"AWS:{LOCAL_ACCOUNT_ID}"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": hex_digest[:16].upper(), "x-amz-id-2": hex_digest[16:]},
    }
    record.update(copy.deepcopy(dict(moto_record)))
    record["s3"] = s3
    return record


def _sequencer(event_time: Any, hex_digest: str) -> str:
    """S3's sequencer grows with time for one key: the event's milliseconds, then a tie-breaker."""
    try:
        milliseconds = int(datetime.fromisoformat(str(event_time)).timestamp() * 1000)
    except ValueError:
        milliseconds = 0
    return f"{milliseconds:012X}{hex_digest[:6].upper()}"


def _describe_s3_event(event: Mapping[str, Any]) -> str:
    parts = []
    for record in event.get("Records") or []:
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name")
        key = (s3.get("object") or {}).get("key")
        parts.append(f"s3://{bucket}/{key} ({record.get('eventName')})")
    return ", ".join(parts) or "an empty S3 event"


def queue_name(subscription: S3EventSubscription) -> str:
    """The queue between a bucket and a function: ``openlqs-IngestionTriggerFunction-DropFolder``."""
    return f"openlqs-{subscription.function_id}-{subscription.event_id}"[:80]


def subscribe_queues(
    s3_client: Any,
    sqs_client: Any,
    subscriptions: Sequence[S3EventSubscription],
    bucket_names: Mapping[str, str],
    *,
    visibility_timeouts_s: Mapping[str, int] | None = None,
) -> dict[S3EventSubscription, str]:
    """Create a queue per subscription and point its bucket's notifications at it.

    Each bucket gets one notification configuration with an entry per subscription, with the
    subscription's events and key filter. Returns the queue URL of each subscription.
    ``visibility_timeouts_s`` (by function id) defaults to 900 s, a Lambda function's longest timeout.
    """
    timeouts = visibility_timeouts_s or {}
    queue_urls: dict[S3EventSubscription, str] = {}
    by_bucket: dict[str, list[dict[str, Any]]] = {}
    for subscription in subscriptions:
        timeout = timeouts.get(subscription.function_id, 900)
        url = sqs_client.create_queue(
            QueueName=queue_name(subscription), Attributes={"VisibilityTimeout": str(timeout)}
        )["QueueUrl"]
        attributes = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn = attributes["Attributes"]["QueueArn"]
        queue_urls[subscription] = url
        entry: dict[str, Any] = {
            "Id": f"{subscription.function_id}{subscription.event_id}",
            "QueueArn": arn,
            "Events": list(subscription.events),
        }
        if subscription.filter_rules:
            entry["Filter"] = subscription.notification_filter()
        by_bucket.setdefault(bucket_names[subscription.bucket_id], []).append(entry)
    for bucket, entries in by_bucket.items():
        s3_client.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": entries}
        )
    return queue_urls


class ScheduleSource:
    """An EventBridge schedule (``rate(...)``) as an :class:`EventSource`: a "Scheduled Event" per tick.

    The first tick comes at once, then every ``period_s``. A failed invocation is not retried: the next
    tick comes anyway (EventBridge retries an asynchronous target, which comes to the same for a sweep).
    """

    def __init__(
        self, rule_name: str, period_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rule_name = rule_name
        self.period_s = period_s
        self.description = f"the schedule {rule_name} (every {period_s:g} s)"
        self._clock = clock
        self._next = clock()

    def receive(self) -> list[Delivery]:
        wait = self._next - self._clock()
        if wait > 0:
            time.sleep(min(wait, MAX_IDLE_WAIT_S))
            return []
        self._next = self._clock() + self.period_s
        event = scheduled_event(self.rule_name)
        return [
            Delivery(event=event, attempt=1, description=f"a tick of {self.rule_name}", receipt=event["id"])
        ]

    def succeeded(self, delivery: Delivery) -> None:
        return None

    def failed(self, delivery: Delivery, *, retry: bool) -> bool:
        return True


def scheduled_event(rule_name: str) -> dict[str, Any]:
    """The event EventBridge gives a target of a schedule rule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": LOCAL_REGION,
        "resources": [f"arn:aws:events:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }
