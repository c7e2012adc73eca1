"""The local stack's DynamoDB stream events: a table's stream → poller → filtered batches → function."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel

from openlqs.local import LocalStack
from openlqs.local.cloudformation import load_template
from openlqs.local.filters import FilterCriteria
from openlqs.local.functions import InProcessFunction, LambdaContext
from openlqs.local.resources import DynamoDBEventSubscription, dynamodb_event_subscriptions
from openlqs.local.streams import DynamoDBStreamSource, lambda_dynamodb_record
from tests.local.test_local_statemachines import (
    EXECUTION_LIMIT_S,
    local_stack,
    wait_for_execution,
    write_project,
)
from tests.support.hooks import as_sent
from tests.support.local import RecordingFunction

TRIGGER = "TriggerFunction"
TABLE = "openlqs-resources"
QUEUED_PATTERN = {"dynamodb": {"NewImage": {"state": {"S": ["queued"]}}}}


def recording_function(failures: int = 0) -> RecordingFunction:
    """A stand-in {TRIGGER}: keeps every event; fails the first ``failures`` calls."""
    return RecordingFunction(TRIGGER, failures=failures, answer=None)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project")


def _stack(project: Path, data_dir: Path, trigger: InProcessFunction, **kwargs: Any) -> LocalStack:
    return local_stack(project, data_dir, function_overrides={TRIGGER: trigger}, **kwargs)


def _put(stack: LocalStack, key: str, state: str, value: int = 1) -> None:
    stack.client("dynamodb").put_item(
        TableName=TABLE, Item={"pk": {"S": key}, "state": {"S": state}, "value": {"N": str(value)}}
    )


def _set_state(stack: LocalStack, key: str, state: str) -> None:
    stack.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": key}},
        UpdateExpression="SET #state = :state",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":state": {"S": state}},
    )


def _keys(event: dict[str, Any]) -> list[tuple[str, str]]:
    return [(record["eventName"], record["dynamodb"]["Keys"]["pk"]["S"]) for record in event["Records"]]


def test_local_stream_delivers_records_passing_the_filter_and_drops_the_others(
    project: Path, data_dir: Path
) -> None:
    trigger = recording_function()
    with _stack(project, data_dir, trigger) as stack:
        _put(stack, "a", "ready")  # INSERT, not queued: dropped
        _set_state(stack, "a", "queued")  # ready → queued: delivered
        _set_state(stack, "a", "queued")  # queued → queued: dropped
        _put(stack, "b", "queued")  # INSERT queued: delivered (second filter)
        _set_state(stack, "b", "processing")  # dropped
        _put(stack, "last", "queued")  # delivered: everything before it has been read

        delivered = []
        while ("INSERT", "last") not in delivered:
            delivered += _keys(trigger.next_event())

    assert delivered == [("MODIFY", "a"), ("INSERT", "b"), ("INSERT", "last")]


def test_local_stream_event_has_the_shape_lambda_gives_a_function(project: Path, data_dir: Path) -> None:
    trigger = recording_function()
    with _stack(project, data_dir, trigger) as stack:
        _put(stack, "a", "ready", value=7)
        _set_state(stack, "a", "queued")
        event = trigger.next_event()
        stream_arn = stack.stream_arns["ResourcesTable"]

    (record,) = event["Records"]
    assert list(record) == [
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    ]
    assert (record["eventSource"], record["eventVersion"], record["eventSourceARN"]) == (
        "aws:dynamodb",
        "1.1",
        stream_arn,
    )
    change = record["dynamodb"]
    assert change["Keys"] == {"pk": {"S": "a"}}
    assert change["NewImage"] == {"pk": {"S": "a"}, "state": {"S": "queued"}, "value": {"N": "7"}}
    assert change["OldImage"]["state"] == {"S": "ready"}
    assert change["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(change["ApproximateCreationDateTime"], int)
    json.dumps(event)  # what Lambda sends is JSON
    parsed = DynamoDBStreamModel.model_validate(event)  # the parser a trigger handler would use
    assert parsed.Records[0].dynamodb is not None
    assert parsed.Records[0].dynamodb.NewImage == {"pk": "a", "state": "queued", "value": 7}


def test_local_stream_does_not_replay_restored_items_after_a_restart(project: Path, data_dir: Path) -> None:
    first = recording_function()
    with _stack(project, data_dir, first) as stack:
        _put(stack, "before-restart", "queued")
        before = _keys(first.next_event())

    second = recording_function()
    with _stack(project, data_dir, second) as stack:
        restored = stack.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": "before-restart"}})
        _put(stack, "after-restart", "queued")
        after = _keys(second.next_event())

    assert before == [("INSERT", "before-restart")]
    assert restored["Item"]["state"] == {"S": "queued"}
    assert after == [("INSERT", "after-restart")]


def test_local_stream_retries_a_failed_batch_then_goes_on(project: Path, data_dir: Path) -> None:
    trigger = recording_function(failures=1)
    with _stack(project, data_dir, trigger, trigger_retry_delay_s=0) as stack:
        _put(stack, "a", "queued")
        first, second = trigger.next_event(), trigger.next_event()
        _put(stack, "b", "queued")
        third = trigger.next_event()

    assert first == second
    assert _keys(third) == [("INSERT", "b")]


def test_local_stream_gives_a_batch_up_after_maximum_retry_attempts(
    project: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The template says MaximumRetryAttempts: 1, so two attempts in all.
    trigger = recording_function(failures=100)
    with _stack(project, data_dir, trigger, trigger_retry_delay_s=0) as stack:
        _put(stack, "bad", "queued")
        attempts = [_keys(trigger.next_event()), _keys(trigger.next_event())]
        _put(stack, "next", "queued")
        after = _keys(trigger.next_event())

    assert attempts == [[("INSERT", "bad")], [("INSERT", "bad")]]
    assert after == [("INSERT", "next")]
    assert "giving up" in capsys.readouterr().err


class FailsOnBadRecords(RecordingFunction):
    """A stand-in {TRIGGER} that fails every batch holding the item ``bad``."""

    def invoke(self, event: Any, context: LambdaContext | None = None) -> Any:
        self.events.put(event)
        if ("INSERT", "bad") in _keys(event):
            raise RuntimeError("a bad record")
        return None


def test_local_stream_bisects_a_failing_batch_and_dead_letters_the_bad_record(
    project: Path, data_dir: Path
) -> None:
    trigger = FailsOnBadRecords(TRIGGER)
    with _stack(project, data_dir, trigger, trigger_retry_delay_s=0) as stack:
        # Both items in one write, so that they arrive in one batch
        stack.client("dynamodb").transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": key}, "state": {"S": "queued"}}}}
                for key in ("good", "bad")
            ]
        )
        batches = [_keys(trigger.next_event()) for _ in range(4)]
        sqs = stack.client("sqs")
        queue_url = stack.queue_urls["TriggerDeadLetterQueue"]
        deadline = time.monotonic() + 30
        messages: list[dict[str, Any]] = []
        while not messages and time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
        stream_arn = stack.stream_arns["ResourcesTable"]

    # Then the batch was split, the good record handled once, the bad one tried twice then dead-lettered
    assert sorted(batches[0]) == [("INSERT", "bad"), ("INSERT", "good")]
    assert sorted(batches[1:]) == [[("INSERT", "bad")], [("INSERT", "bad")], [("INSERT", "good")]]
    (message,) = messages
    failure = json.loads(message["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["functionArn"] == trigger.arn
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
    assert failure["DDBStreamBatchInfo"]["streamArn"] == stream_arn


def test_local_stream_starts_the_state_machine_through_the_real_trigger_handler(
    project: Path, data_dir: Path
) -> None:
    # No override: TriggerFunction's own file calls StartExecution, the execution runs in-process.
    with local_stack(project, data_dir) as stack:
        _put(stack, "job", "ready", value=5)
        _set_state(stack, "job", "queued")
        machine = stack.state_machine_arns["WorkStateMachine"]
        execution_arn = f"{machine.replace(':stateMachine:', ':execution:')}:job-1"
        description = _wait_until_started_and_ended(stack, execution_arn)

    assert description["status"] == "SUCCEEDED", description
    assert json.loads(description["output"])["value"] == 10


def _wait_until_started_and_ended(stack: LocalStack, execution_arn: str) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    machine = stack.state_machine_arns["WorkStateMachine"]
    deadline = time.monotonic() + EXECUTION_LIMIT_S
    while time.monotonic() < deadline:
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        if any(execution["executionArn"] == execution_arn for execution in executions):
            return wait_for_execution(stack, execution_arn)
        time.sleep(0.05)
    raise AssertionError(f"{execution_arn} was never started")


# The source on its own: batching and ordering, with the stack's poller stopped.


def _stopped_pollers(stack: LocalStack) -> None:
    for poller in stack.pollers:
        poller.stop()


def _source(stack: LocalStack, **kwargs: Any) -> DynamoDBStreamSource:
    assert stack.moto is not None
    return DynamoDBStreamSource(
        stack.stream_arns["ResourcesTable"], reading=stack.moto.gate.locks["dynamodb"].reading, **kwargs
    )


def _receive_batch(source: DynamoDBStreamSource) -> list[str]:
    for _ in range(100):
        deliveries = source.receive()
        if deliveries:
            (delivery,) = deliveries
            source.succeeded(delivery)
            return [record["dynamodb"]["Keys"]["pk"]["S"] for record in delivery.event["Records"]]
    raise AssertionError("no batch came")


def test_dynamodb_stream_source_batches_records_in_order(project: Path, data_dir: Path) -> None:
    with _stack(project, data_dir, recording_function()) as stack:
        _stopped_pollers(stack)
        source = _source(stack, batch_size=2)
        for key in ("r1", "r2", "r3"):
            _put(stack, key, "ready")

        batches = [_receive_batch(source), _receive_batch(source)]

    assert batches == [["r1", "r2"], ["r3"]]


def test_dynamodb_stream_source_holds_later_records_back_while_a_batch_is_retried(
    project: Path, data_dir: Path
) -> None:
    with _stack(project, data_dir, recording_function()) as stack:
        _stopped_pollers(stack)
        source = _source(stack, batch_size=1, retry_delay_s=0)
        _put(stack, "r1", "ready")
        _put(stack, "r2", "ready")
        (first,) = _wait_for(source)
        source.failed(first, retry=True)
        (again,) = _wait_for(source)
        source.succeeded(again)
        (second,) = _wait_for(source)

    assert again.event == first.event
    assert (first.attempt, again.attempt) == (1, 2)
    assert second.event["Records"][0]["dynamodb"]["Keys"]["pk"]["S"] == "r2"


def _wait_for(source: DynamoDBStreamSource) -> list[Any]:
    for _ in range(100):
        deliveries = source.receive()
        if deliveries:
            return deliveries
    raise AssertionError("no batch came")


def test_dynamodb_stream_source_waiting_idle_wakes_at_the_next_write(project: Path, data_dir: Path) -> None:
    """An idle source waits for moto's next append to the stream, not for its idle wait to end."""
    idle_wait_s = 30.0
    with _stack(project, data_dir, recording_function()) as stack:
        _stopped_pollers(stack)
        source = _source(stack, batch_size=1)
        source._idle_wait_s = idle_wait_s
        waited: list[float] = []

        def receive_nothing() -> None:
            start = time.monotonic()
            assert source.receive() == []  # nothing yet: waits
            waited.append(time.monotonic() - start)

        waiter = threading.Thread(target=receive_nothing)
        waiter.start()
        time.sleep(0.3)
        _put(stack, "r1", "ready")
        waiter.join(idle_wait_s + 5)
        batch = _receive_batch(source)

    assert waited and waited[0] < idle_wait_s / 2
    assert batch == ["r1"]


def test_dynamodb_stream_source_applies_its_filters(project: Path, data_dir: Path) -> None:
    with _stack(project, data_dir, recording_function()) as stack:
        _stopped_pollers(stack)
        source = _source(stack, filters=FilterCriteria.parse([json.dumps(QUEUED_PATTERN)]))
        _put(stack, "ready", "ready")
        _put(stack, "queued", "queued")

        batch = _receive_batch(source)

    assert batch == ["queued"]


def test_dynamodb_event_subscriptions_read_the_template_event(project: Path) -> None:
    (subscription,) = dynamodb_event_subscriptions(load_template(project / "template.yaml"))

    assert subscription == DynamoDBEventSubscription(
        function_id=TRIGGER,
        event_id="Queued",
        table_id="ResourcesTable",
        starting_position="LATEST",
        batch_size=2,
        maximum_retry_attempts=1,
        filter_patterns=subscription.filter_patterns,
        bisect=True,
        on_failure_queue_id="TriggerDeadLetterQueue",
    )
    assert len(subscription.filter_patterns) == 2
    assert FilterCriteria.parse(subscription.filter_patterns).patterns


def test_dynamodb_stream_source_gives_the_records_the_streams_api_gives(
    project: Path, data_dir: Path
) -> None:
    """The source reads moto's shard in-process; what it delivers is what Lambda would build from
    GetRecords (read here through the Streams API, as the test of hook deliveries does)."""
    item = {
        "pk": {"S": "typed"},
        "state": {"S": "ready"},
        "blob": {"B": bytes(range(256))},
        "blobs": {"BS": [b"\x00\x01", b"\xff"]},
        "nested": {"M": {"inner": {"B": b"\x80zz"}, "list": {"L": [{"N": "1.5"}, {"NULL": True}]}}},
        "flag": {"BOOL": False},
        "numbers": {"NS": ["1", "2"]},
    }
    with _stack(project, data_dir, recording_function()) as stack:
        _stopped_pollers(stack)
        source = _source(stack, batch_size=10)
        stack.client("dynamodb").put_item(TableName=TABLE, Item=item)
        _set_state(stack, "typed", "queued")
        delivered = _wait_for(source)[0].event["Records"]
        streams = stack.client("dynamodbstreams")
        stream_arn = stack.stream_arns["ResourcesTable"]
        shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        sent = streams.get_records(ShardIterator=iterator)["Records"][-2:]

    assert [r["eventName"] for r in delivered] == ["INSERT", "MODIFY"]
    assert delivered == [lambda_dynamodb_record(as_sent(record), stream_arn) for record in sent]
    assert delivered[0]["dynamodb"]["NewImage"]["blob"] == {"B": base64.b64encode(bytes(range(256))).decode()}
    assert isinstance(delivered[0]["dynamodb"]["ApproximateCreationDateTime"], int)
