"""The local stack's drop folder: S3 notifications → SQS → poller → IngestionTriggerFunction in-process."""

from __future__ import annotations

import io
import queue
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import S3Model

from openlqs.ingestion.drop_folder import DropFolder
from openlqs.local import LocalStack
from openlqs.local.functions import InProcessFunction
from openlqs.local.resources import S3EventSubscription
from openlqs.local.triggers import (
    Delivery,
    S3NotificationQueue,
    TriggerPoller,
    lambda_s3_event,
    subscribe_queues,
)
from tests.support.local import RecordingFunction, stand_in_project

TRIGGER = "IngestionTriggerFunction"
# Generous upper bounds so a slow machine does not hang the suite; nothing is timed.
EVENT_LIMIT_S = 30


def recording_function(failures: int = 0) -> RecordingFunction:
    """A stand-in {TRIGGER}: keeps every event; fails the first ``failures`` calls."""
    return RecordingFunction(TRIGGER, failures=failures, answer={"ingestion_ids": []})


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The real template.yaml, ASL files, trigger handler and authorizer, with a stand-in ApiFunction."""
    return stand_in_project(tmp_path / "project", "ingestion_trigger")


def _stack(
    project: Path, data_dir: Path, trigger: InProcessFunction | None = None, **kwargs: Any
) -> LocalStack:
    overrides = {TRIGGER: trigger} if trigger is not None else None
    return LocalStack(
        port=0,
        moto_port=0,
        data_dir=data_dir,
        project_dir=project,
        snapshot_interval=3600,
        function_overrides=overrides,
        **kwargs,
    )


def _object_of(event: dict[str, Any]) -> dict[str, Any]:
    (record,) = event["Records"]
    s3_object: dict[str, Any] = record["s3"]["object"]
    return s3_object


def test_local_drop_folder_invokes_the_trigger_with_a_real_shaped_s3_event(
    project: Path, data_dir: Path
) -> None:
    trigger = recording_function()
    with _stack(project, data_dir, trigger) as stack:
        put = stack.client("s3").put_object(
            Bucket=stack.bucket_name, Key="drop/My Group/log 1/a+b.bag", Body=b"0123456789"
        )

        event = trigger.next_event()

    parsed = S3Model.model_validate(event)  # the parser IngestionTriggerFunction uses
    (record,) = parsed.Records
    assert record.eventName == "ObjectCreated:Put"
    assert record.s3.bucket.name == stack.bucket_name
    assert record.s3.object is not None
    assert record.s3.object.key == "drop/My+Group/log+1/a%2Bb.bag"  # URL-encoded, as S3 sends it
    assert (record.s3.object.eTag, record.s3.object.size) == (put["ETag"].strip('"'), 10)


def test_local_drop_folder_ignores_keys_outside_the_drop_prefix(project: Path, data_dir: Path) -> None:
    trigger = recording_function()
    with _stack(project, data_dir, trigger) as stack:
        s3 = stack.client("s3")
        s3.put_object(Bucket=stack.bucket_name, Key="lqs/logs/l1/a.bag", Body=b"1")
        s3.put_object(Bucket=stack.bucket_name, Key="not-drop/g/l/b.bag", Body=b"2")
        s3.put_object(Bucket=stack.bucket_name, Key="drop/g/l/c.bag", Body=b"3")

        first = trigger.next_event()

    assert _object_of(first)["key"] == "drop/g/l/c.bag"
    assert trigger.events.empty()


def test_local_drop_folder_delivers_both_events_of_a_multipart_upload(project: Path, data_dir: Path) -> None:
    # moto sends ObjectCreated:Put and ObjectCreated:CompleteMultipartUpload; the trigger deduplicates.
    trigger = recording_function()
    with _stack(project, data_dir, trigger) as stack:
        s3, key = stack.client("s3"), "drop/g/l/multi.bag"
        upload = s3.create_multipart_upload(Bucket=stack.bucket_name, Key=key)
        part = s3.upload_part(
            Bucket=stack.bucket_name, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 100
        )
        s3.complete_multipart_upload(
            Bucket=stack.bucket_name,
            Key=key,
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )

        events = [trigger.next_event(), trigger.next_event()]

    names = sorted(event["Records"][0]["eventName"] for event in events)
    assert names == ["ObjectCreated:CompleteMultipartUpload", "ObjectCreated:Put"]
    assert {_object_of(event)["key"] for event in events} == {key}


def test_local_drop_folder_runs_the_real_handler_with_the_decoded_key(
    project: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered: queue.Queue[dict[str, Any]] = queue.Queue()

    def register_dropped_object(
        *, bucket: str, key: str, etag: str | None, size: int | None
    ) -> uuid.UUID | None:
        registered.put({"bucket": bucket, "key": key, "etag": etag, "size": size})
        return uuid.uuid4()

    _fake_drop_folder(monkeypatch, register_dropped_object)
    with _stack(project, data_dir) as stack:
        stack.client("s3").put_object(
            Bucket=stack.bucket_name, Key="drop/My Group/log 1/a+b.bag", Body=b"abc"
        )

        call = registered.get(timeout=EVENT_LIMIT_S)

    assert call["key"] == "drop/My Group/log 1/a+b.bag"
    assert (call["bucket"], call["size"]) == (stack.bucket_name, 3)


def test_local_drop_folder_retries_a_failed_event(project: Path, data_dir: Path) -> None:
    trigger = recording_function(failures=1)
    with _stack(project, data_dir, trigger, trigger_retry_delay_s=0) as stack:
        stack.client("s3").put_object(Bucket=stack.bucket_name, Key="drop/g/l/retry.bag", Body=b"1")

        first, second = trigger.next_event(), trigger.next_event()

    assert _object_of(first) == _object_of(second)
    assert trigger.failures == 0


def test_local_drop_folder_gives_up_after_three_attempts_with_an_error(
    project: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trigger = recording_function(failures=100)
    with _stack(project, data_dir, trigger, trigger_retry_delay_s=0) as stack:
        stack.client("s3").put_object(Bucket=stack.bucket_name, Key="drop/g/l/bad.bag", Body=b"1")
        attempts = [trigger.next_event() for _ in range(3)]
        late = _poll_nothing(trigger)
        sqs = stack.client("sqs")
        (queue_url,) = sqs.list_queues(QueueNamePrefix=f"openlqs-{TRIGGER}-")["QueueUrls"]
        remaining = _messages_in(sqs, queue_url)

    assert len(attempts) == 3 and late is None
    assert remaining == 0
    assert "failed on s3://openlqs-objects/drop/g/l/bad.bag" in capsys.readouterr().err
    assert trigger.failures == 97


def test_local_drop_folder_redelivers_a_file_left_there_at_restart(project: Path, data_dir: Path) -> None:
    # A file still in the drop folder was not handled (the trigger moves it out): restored, it is delivered.
    with _stack(project, data_dir, recording_function()) as stack:
        stack.client("s3").put_object(Bucket=stack.bucket_name, Key="drop/g/l/left.bag", Body=b"1")

    trigger = recording_function()
    with _stack(project, data_dir, trigger):
        event = trigger.next_event()

    assert _object_of(event)["key"] == "drop/g/l/left.bag"


def test_local_stack_stop_stops_the_trigger_pollers(project: Path, data_dir: Path) -> None:
    stack = _stack(project, data_dir, recording_function()).start()
    pollers = list(stack.pollers)
    running = [poller.is_alive() for poller in pollers]

    stack.stop()

    # The drop folder's poller, and the stream's once the template subscribes the trigger to it.
    assert f"{TRIGGER}.DropFolder" in [poller.name for poller in pollers]
    assert all(running)
    assert not any(poller.is_alive() for poller in pollers)
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("openlqs-trigger-")]
    assert stack.pollers == []


# The poller and the S3 queue on their own.


class ListSource:
    """An EventSource over a list: records what the poller told it."""

    description = "a list"

    def __init__(self, *deliveries: Delivery) -> None:
        self.pending = list(deliveries)
        self.succeeded_events: list[Delivery] = []
        self.failed_events: list[tuple[Delivery, bool]] = []

    def receive(self) -> list[Delivery]:
        batch, self.pending = self.pending, []
        return batch

    def succeeded(self, delivery: Delivery) -> None:
        self.succeeded_events.append(delivery)

    def failed(self, delivery: Delivery, *, retry: bool) -> bool:
        self.failed_events.append((delivery, retry))
        return not retry


def _failing(event: dict[str, Any]) -> Any:
    raise RuntimeError("no")


def test_trigger_poller_reports_success_and_failure_to_its_source() -> None:
    ok, bad, last = (
        Delivery({"n": 1}, 1, "ok"),
        Delivery({"n": 2}, 2, "bad"),
        Delivery({"n": 3}, 3, "last"),
    )
    source = ListSource(ok, bad, last)
    err = io.StringIO()
    poller = TriggerPoller("F", source, lambda event: _failing(event) if event["n"] > 1 else None, err=err)

    handled = poller.poll_once()

    assert handled == 3
    assert source.succeeded_events == [ok]
    assert source.failed_events == [(bad, True), (last, False)]
    assert "F failed on last (attempt 3 of 3); giving up" in err.getvalue()
    assert "RuntimeError: no" in err.getvalue()


def test_lambda_s3_event_encodes_keys_as_s3_does() -> None:
    moto_notification: dict[str, Any] = {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2025-01-01T00:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "c",
                    "bucket": {"name": "b", "arn": "arn:aws:s3:::b"},
                    "object": {"key": "drop%2FMy+Group%2Fa%2Bb.bag", "size": 1, "eTag": "e"},
                },
            }
        ]
    }

    event = lambda_s3_event(moto_notification)

    assert _object_of(event)["key"] == "drop/My+Group/a%2Bb.bag"
    assert S3Model.model_validate(event).Records[0].responseElements.x_amz_request_id
    assert moto_notification["Records"][0]["s3"]["object"]["key"] == "drop%2FMy+Group%2Fa%2Bb.bag"


def test_s3_notification_queue_deletes_s3_test_events_unseen(project: Path, data_dir: Path) -> None:
    with _stack(project, data_dir, recording_function()) as stack:
        for poller in stack.pollers:
            poller.stop()
        s3, sqs = stack.client("s3"), stack.client("sqs")
        subscription = S3EventSubscription("F", "Files", "ObjectsBucket", ("s3:ObjectCreated:*",))
        (queue_url,) = subscribe_queues(s3, sqs, [subscription], stack.names).values()
        source = S3NotificationQueue(sqs, queue_url)

        first = source.receive()  # the s3:TestEvent S3 sends when notifications are configured
        s3.put_object(Bucket=stack.bucket_name, Key="anything", Body=b"1")
        second = source.receive()

    assert first == []
    assert [_object_of(delivery.event)["key"] for delivery in second] == ["anything"]
    assert second[0].attempt == 1


def _messages_in(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _poll_nothing(trigger: RecordingFunction) -> dict[str, Any] | None:
    try:
        return trigger.next_event(timeout=2)
    except queue.Empty:
        return None


def _fake_drop_folder(monkeypatch: pytest.MonkeyPatch, register: Any) -> None:
    """Make the drop folder's ``register`` the given fake."""
    monkeypatch.setattr(DropFolder, "register", lambda self, **event: register(**event))


def test_local_schedule_runs_the_reconciler_sweep_when_the_stack_starts(
    project: Path, data_dir: Path
) -> None:
    reconciler = RecordingFunction("ReconcileIngestionsFunction", answer={"failed": [], "started": []})
    stack = LocalStack(
        port=0,
        moto_port=0,
        data_dir=data_dir,
        project_dir=project,
        snapshot_interval=3600,
        function_overrides={"ReconcileIngestionsFunction": reconciler},
    )
    with stack:
        event = reconciler.next_event()

    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == [
        "arn:aws:events:us-east-1:123456789012:rule/ReconcileIngestionsFunctionSweep"
    ]
