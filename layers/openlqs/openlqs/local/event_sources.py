"""The template's event source mappings, run locally: pollers that deliver S3 and stream events.

On AWS, S3 notifications and DynamoDB stream event source mappings invoke functions. Locally, S3 events
go through SQS queues and the table's stream is read through moto's API; a :class:`TriggerPoller` per
subscription receives them and invokes the in-process function, as Lambda would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from openlqs.local.cloudformation import Template, queue_arn
from openlqs.local.filters import FilterCriteria
from openlqs.local.functions import InProcessFunction
from openlqs.local.queue_events import QueuePoller, SqsEventQueue
from openlqs.local.resources import (
    dynamodb_event_subscriptions,
    s3_event_subscriptions,
    schedule_subscriptions,
    sqs_event_subscriptions,
)
from openlqs.local.streams import DynamoDBStreamSource
from openlqs.local.triggers import (
    DEFAULT_MAX_ATTEMPTS,
    Delivery,
    S3NotificationQueue,
    ScheduleSource,
    TriggerPoller,
    subscribe_queues,
)

#: A function by logical id, as something that takes an event.
Invoker = Callable[[str], Callable[[dict[str, Any]], Any]]


def s3_event_pollers(
    template: Template,
    names: Mapping[str, str],
    functions: Mapping[str, InProcessFunction],
    s3_client: Any,
    sqs_client: Any,
    invoker: Invoker,
    *,
    retry_delay_s: float,
) -> list[TriggerPoller]:
    """One poller per S3 event subscription of a local function (its bucket's notifications go to a
    queue made for it)."""
    subscriptions = [
        subscription
        for subscription in s3_event_subscriptions(template)
        if subscription.function_id in functions and subscription.bucket_id in names
    ]
    if not subscriptions:
        return []
    timeouts = {sub.function_id: functions[sub.function_id].spec.timeout_s for sub in subscriptions}
    queues = subscribe_queues(s3_client, sqs_client, subscriptions, names, visibility_timeouts_s=timeouts)
    pollers = []
    for subscription, queue_url in queues.items():
        source = S3NotificationQueue(
            sqs_client,
            queue_url,
            visibility_timeout_s=timeouts[subscription.function_id],
            retry_delay_s=retry_delay_s,
        )
        pollers.append(
            TriggerPoller(
                f"{subscription.function_id}.{subscription.event_id}",
                source,
                invoker(subscription.function_id),
                # A receive waits about a second; an invocation in progress may take its whole timeout.
                stop_timeout_s=5.0 + timeouts[subscription.function_id],
            )
        )
    return pollers


def stream_event_pollers(
    template: Template,
    functions: Mapping[str, InProcessFunction],
    stream_arns: Mapping[str, str],
    invoker: Invoker,
    *,
    reading: Callable[[], AbstractContextManager[Any]],
    retry_delay_s: float,
    sqs_client: Any = None,
    queue_urls: Mapping[str, str] | None = None,
) -> list[TriggerPoller]:
    """One poller per DynamoDB stream subscription of a local function, reading from the stream's end.

    ``reading`` enters the moto server's DynamoDB read lock (the sources read moto's shards in this
    process). A batch given up goes, as Lambda describes it, to the subscription's on-failure queue
    (its logical id in ``queue_urls``) when it has one.
    """
    pollers = []
    for subscription in dynamodb_event_subscriptions(template):
        if not subscription.enabled or subscription.function_id not in functions:
            continue
        stream_arn = stream_arns.get(subscription.table_id)
        if stream_arn is None:
            raise ValueError(
                f"{subscription.function_id}.{subscription.event_id} reads the stream of "
                f"{subscription.table_id}, which has no StreamSpecification"
            )
        source = DynamoDBStreamSource(
            stream_arn,
            reading=reading,
            filters=FilterCriteria.parse(subscription.filter_patterns),
            batch_size=subscription.batch_size,
            starting_position=subscription.starting_position,
            retry_delay_s=retry_delay_s,
            bisect=subscription.bisect,
        )
        retries = subscription.maximum_retry_attempts
        function = functions[subscription.function_id]
        queue_url = (queue_urls or {}).get(subscription.on_failure_queue_id or "")
        give_up = None if queue_url is None else _to_queue(sqs_client, queue_url, source, function.arn)
        pollers.append(
            TriggerPoller(
                f"{subscription.function_id}.{subscription.event_id}",
                source,
                invoker(subscription.function_id),
                # Lambda's default retries a stream batch until its records expire; locally, bounded.
                max_attempts=retries + 1 if retries is not None and retries >= 0 else DEFAULT_MAX_ATTEMPTS,
                stop_timeout_s=5.0 + function.spec.timeout_s,
                on_give_up=give_up,
            )
        )
    return pollers


def _to_queue(sqs_client: Any, queue_url: str, source: DynamoDBStreamSource, function_arn: str) -> Any:
    def send(delivery: Delivery) -> None:
        record = source.failure_record(delivery, function_arn)
        sqs_client.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))

    return send


def sqs_event_pollers(
    template: Template,
    functions: Mapping[str, InProcessFunction],
    queue_urls: Mapping[str, str],
    sqs_client: Any,
    invoker: Invoker,
) -> list[TriggerPoller]:
    """One poller per SQS event source of a local function, running up to ``MaximumConcurrency``
    invocations at once (Lambda polls a queue with several: a batch that takes long holds back none of
    the others)."""
    pollers: list[TriggerPoller] = []
    for subscription in sqs_event_subscriptions(template):
        queue_url = queue_urls.get(subscription.queue_id)
        if not subscription.enabled or subscription.function_id not in functions or queue_url is None:
            continue
        source = SqsEventQueue(
            sqs_client,
            queue_url,
            queue_arn(queue_url.rsplit("/", 1)[-1]),
            batch_size=subscription.batch_size,
            report_batch_item_failures=subscription.report_batch_item_failures,
        )
        pollers.append(
            QueuePoller(
                f"{subscription.function_id}.{subscription.event_id}",
                source,
                invoker(subscription.function_id),
                concurrency=subscription.maximum_concurrency,
                stop_timeout_s=5.0 + functions[subscription.function_id].spec.timeout_s,
            )
        )
    return pollers


#: The longest a schedule waits locally between ticks: EventBridge's execution-status rules do not fire
#: here (moto's interpreter emits no events), so the sweeps that catch what they would catch run often.
LOCAL_SCHEDULE_MAX_PERIOD_S = 15.0


def schedule_pollers(
    template: Template,
    functions: Mapping[str, InProcessFunction],
    invoker: Invoker,
    *,
    max_period_s: float = LOCAL_SCHEDULE_MAX_PERIOD_S,
) -> list[TriggerPoller]:
    """One poller per ``rate(...)`` schedule of a local function (at most ``max_period_s`` apart)."""
    pollers = []
    for subscription in schedule_subscriptions(template):
        if subscription.function_id not in functions:
            continue
        source = ScheduleSource(subscription.rule_name, min(subscription.period_s, max_period_s))
        pollers.append(
            TriggerPoller(
                f"{subscription.function_id}.{subscription.event_id}",
                source,
                invoker(subscription.function_id),
                max_attempts=1,
                stop_timeout_s=5.0 + functions[subscription.function_id].spec.timeout_s,
            )
        )
    return pollers
