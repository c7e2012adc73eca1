"""HookDeliveryFunction in moto: state changes read from ResourcesTable's stream (through the template's
FilterCriteria) become delivery jobs in HookDeliveryQueue, and the jobs become signed POSTs to a real
receiver on 127.0.0.1; failed ones come back after their back-off and end in the dead-letter queue."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import boto3
import pytest

from openlqs.auth import verify_hook_signature
from openlqs.local.cloudformation import override_parameters, queue_arn
from openlqs.local.functions import InProcessFunction
from openlqs.local.queue_events import SqsEventQueue
from openlqs.local.resources import create_queues
from openlqs.services import get_services
from openlqs.settings import get_settings
from tests.support import digestion as digestion_tasks
from tests.support.api import ApiClient, ApiResponse
from tests.support.bags import write_string_bag
from tests.support.hooks import HookReceiver, StreamReader
from tests.support.ingestion import ingest, put_log_object
from tests.support.paths import DATASTORE_ID, PROJECT_DIR
from tests.support.resources import create_group, create_ingestion, create_log

API_URL = "https://api.example.com/v1"
SECRET = "whsec-7f3a9c"
#: The body of every delivery: the official client's EventCreateRequest.
EVENT_KEYS = {
    "previous_state",
    "current_state",
    "process_type",
    "resource_id",
    "workflow_id",
    "hook_id",
    "datastore_id",
    "datastore_endpoint",
}


#: HookDeliveryMaxAttempts here: the queue's maxReceiveCount and the function's setting, as deployed.
MAX_ATTEMPTS = "3"


@pytest.fixture(scope="module")
def queues(aws_module: dict[str, str], template: dict[str, Any]) -> dict[str, str]:
    """The template's queues, with their attributes and redrive policies, in the module's moto."""
    deployed = override_parameters(template, {"HookDeliveryMaxAttempts": MAX_ATTEMPTS})
    return create_queues(boto3.client("sqs"), deployed, prefix="itest")


@dataclass
class Deliveries:
    """HookDeliveryFunction fed as Lambda feeds it: stream batches, then queue batches."""

    function: InProcessFunction
    stream: StreamReader
    source: SqsEventQueue
    queue_url: str
    dead_letter_url: str

    def fan_out(self, records: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        """Invoke with what the stream holds since the last read (or ``records``); None when nothing."""
        records = self.stream.read() if records is None else records
        self.last_stream_records = records
        return None if not records else dict(self.function.invoke({"Records": records}))

    def deliver(self) -> dict[str, Any] | None:
        """Invoke with the next batch of the queue, then settle it as Lambda does; None when empty."""
        deliveries = self.source.receive()
        if not deliveries:
            return None
        (delivery,) = deliveries
        answer = dict(self.function.invoke(delivery.event))
        self.source.settle(delivery.event, answer)
        self.last_batch = delivery.event
        return answer

    def run(self) -> None:
        """Fan out what the stream holds and deliver until the queue has nothing visible."""
        self.fan_out()
        while self.deliver() is not None:
            pass

    def queued(self, url: str | None = None) -> dict[str, int]:
        attributes = boto3.client("sqs").get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return {
            "visible": int(attributes["ApproximateNumberOfMessages"]),
            "invisible": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        }


def _settings(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_services.cache_clear()


@pytest.fixture
def deliveries(
    aws: dict[str, str], queues: dict[str, str], template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deliveries]:
    sqs = boto3.client("sqs")
    url = queues["HookDeliveryQueue"]
    _settings(
        monkeypatch,
        HOOK_DELIVERY_QUEUE_URL=url,
        HOOK_ALLOWED_NETWORKS="127.0.0.0/8,::1/128",
        HOOK_RETRY_BASE_DELAY_S="0",
        HOOK_DELIVERY_TIMEOUT_S="2",
        HOOK_DELIVERY_MAX_ATTEMPTS=MAX_ATTEMPTS,
        API_URL=API_URL,
    )
    yield Deliveries(
        InProcessFunction.from_file(PROJECT_DIR / "functions" / "hook_delivery" / "app.py"),
        StreamReader(template, aws["RESOURCES_TABLE_NAME"]),
        SqsEventQueue(sqs, url, queue_arn(url.rsplit("/", 1)[-1]), report_batch_item_failures=True),
        url,
        queues["HookDeliveryDeadLetterQueue"],
    )
    get_settings.cache_clear()
    get_services.cache_clear()


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    with HookReceiver() as running:
        yield running


def _ok(response: ApiResponse) -> Any:
    assert response.status == 200, response.body
    return response.data


def _workflow(api: ApiClient, **fields: Any) -> dict[str, Any]:
    return dict(_ok(api.post("/workflows", {"name": "Notify", "process_type": "ingestion", **fields})))


def _hook(api: ApiClient, workflow: dict[str, Any], process: str, state: str, uri: str, **fields: Any) -> Any:
    body = {"trigger_process": process, "trigger_state": state, "uri": uri, **fields}
    return _ok(api.post(f"/workflows/{workflow['id']}/hooks", body))


def _log(api: ApiClient, name: str = "Run") -> dict[str, Any]:
    return create_log(api, create_group(api, f"Hooks {name}")["id"], name)


def _ingested(api: ApiClient, aws: dict[str, str], tmp_path: Path, name: str = "Run") -> dict[str, Any]:
    """A small bag ingested to the end (queued, processing, finalizing, completed), its parts too."""
    messages = [("/chatter", 1_700_000_000_000_000_000 + i * 10_000_000, f"m{i}") for i in range(40)]
    bag = write_string_bag(tmp_path / f"{name}.bag", messages, chunk_threshold=512).read_bytes()
    log = _log(api, name)
    put_log_object(aws, DATASTORE_ID, log["id"], "run.bag", bag)
    return ingest(api, log["id"], "run.bag")


def _last_delivery(api: ApiClient, hook: dict[str, Any]) -> dict[str, Any]:
    return dict(_ok(api.get(f"/hooks/{hook['id']}"))["context"]["last_delivery"])


# -- what is POSTed ---------------------------------------------------------------------------------


def test_hook_delivery_posts_the_event_signed_with_the_hooks_secret(
    api: ApiClient, aws: dict[str, str], deliveries: Deliveries, receiver: HookReceiver, tmp_path: Path
) -> None:
    # Given the default ingestion workflow with a hook on ingestion/completed that has a secret
    workflow = _workflow(api, default=True)
    hook = _hook(api, workflow, "ingestion", "completed", receiver.url("/completed"), secret=SECRET)

    # When an ingestion runs to the end and the function gets the stream's changes, then the queue's
    ingestion = _ingested(api, aws, tmp_path)
    deliveries.run()

    # Then the receiver got one POST: the EventCreateRequest, with Bearer base64(secret) and a signature
    (post,) = receiver.posts_to("/completed")
    event = json.loads(post.body)
    assert set(event) == EVENT_KEYS
    assert event == {
        "previous_state": "finalizing",
        "current_state": "completed",
        "process_type": "ingestion",
        "resource_id": ingestion["id"],
        "workflow_id": workflow["id"],
        "hook_id": hook["id"],
        "datastore_id": DATASTORE_ID,
        "datastore_endpoint": API_URL,
    }
    assert post.headers["content-type"] == "application/json"
    assert post.headers["authorization"] == "Bearer " + base64.b64encode(SECRET.encode()).decode()
    signed_at = verify_hook_signature(SECRET, post.headers["x-openlqs-signature"], post.body)
    assert abs(signed_at - time.time()) < 60
    assert UUID(post.headers["x-openlqs-event-id"]).version == 5
    assert post.headers["x-openlqs-delivery-attempt"] == "1"
    # and the hook says how its last delivery went
    last = _last_delivery(api, hook)
    assert {key: last[key] for key in ("status", "http_status", "attempt", "event_id", "resource_id")} == {
        "status": "delivered",
        "http_status": 200,
        "attempt": 1,
        "event_id": post.headers["x-openlqs-event-id"],
        "resource_id": ingestion["id"],
    }
    assert deliveries.queued() == {"visible": 0, "invisible": 0}


def test_hook_delivery_signature_fails_for_another_secret_or_a_changed_body(
    api: ApiClient, deliveries: Deliveries, receiver: HookReceiver
) -> None:
    workflow = _workflow(api)
    _hook(api, workflow, "ingestion", "ready", receiver.url("/ready"), secret=SECRET)
    create_ingestion(api, _log(api)["id"], workflow_id=workflow["id"])

    deliveries.run()

    (post,) = receiver.posts_to("/ready")
    header = post.headers["x-openlqs-signature"]
    verify_hook_signature(SECRET, header, post.body)
    for secret, body in (("another", post.body), (SECRET, post.body.replace(b"ready", b"READY"))):
        with pytest.raises(Exception, match=r"does not match"):
            verify_hook_signature(secret, header, body)
    with pytest.raises(Exception, match=r"s ago"):
        verify_hook_signature(SECRET, header, post.body, now=time.time() + 600)


def test_hook_without_a_secret_is_posted_unsigned(
    api: ApiClient, deliveries: Deliveries, receiver: HookReceiver
) -> None:
    workflow = _workflow(api)
    _hook(api, workflow, "ingestion", "ready", receiver.url("/open"))
    create_ingestion(api, _log(api)["id"], workflow_id=workflow["id"])

    deliveries.run()

    (post,) = receiver.posts_to("/open")
    assert "authorization" not in post.headers and "x-openlqs-signature" not in post.headers
    assert "x-openlqs-event-id" in post.headers


# -- which changes fire which hooks -------------------------------------------------------------------


def test_hook_on_ingestion_completed_fires_exactly_once_per_completion(
    api: ApiClient, aws: dict[str, str], deliveries: Deliveries, receiver: HookReceiver, tmp_path: Path
) -> None:
    # Given hooks on ingestion/completed and ingestion_part/completed of the default workflow
    workflow = _workflow(api, default=True)
    _hook(api, workflow, "ingestion", "completed", receiver.url("/ingestion"))
    _hook(api, workflow, "ingestion_part", "completed", receiver.url("/part"))

    # When an ingestion completes, and the stream batch is delivered a second time (a retried batch)
    first = _ingested(api, aws, tmp_path, "First")
    deliveries.run()
    repeated = deliveries.fan_out(deliveries.last_stream_records)
    while (answer := deliveries.deliver()) is not None:
        assert answer["skipped"] == len(deliveries.last_batch["Records"])
    # and then a second ingestion completes
    second = _ingested(api, aws, tmp_path, "Second")
    deliveries.run()

    # Then each completion was POSTed once, with its own event id; the duplicate jobs were not sent
    posts = receiver.posts_to("/ingestion")
    assert [json.loads(post.body)["resource_id"] for post in posts] == [first["id"], second["id"]]
    assert len({post.headers["x-openlqs-event-id"] for post in posts}) == 2
    assert repeated is not None and repeated["queued"] == 2
    parts = [json.loads(post.body) for post in receiver.posts_to("/part")]
    part_ids = {
        part["id"]
        for ingestion in (first, second)
        for part in api.get(f"/ingestions/{ingestion['id']}/parts").json()["data"]
    }
    assert {part["resource_id"] for part in parts} == part_ids and len(parts) == len(part_ids)
    assert all(
        part["process_type"] == "ingestion_part" and part["current_state"] == "completed" for part in parts
    )


def test_hook_fires_only_for_its_process_type_and_state_and_only_while_enabled(
    api: ApiClient, deliveries: Deliveries, receiver: HookReceiver
) -> None:
    workflow, other = _workflow(api), _workflow(api, name="Other")
    _hook(api, workflow, "ingestion", "ready", receiver.url("/ready"))
    _hook(api, workflow, "ingestion", "cancelled", receiver.url("/cancelled"))
    _hook(api, workflow, "digestion", "ready", receiver.url("/digestion"))
    _hook(api, workflow, "ingestion", "ready", receiver.url("/disabled"), disabled=True)
    _hook(api, other, "ingestion", "ready", receiver.url("/other"))
    log = _log(api)

    ingestion = create_ingestion(api, log["id"], workflow_id=workflow["id"])
    create_ingestion(api, log["id"])  # no workflow: the stream's filter drops it
    _ok(api.patch(f"/ingestions/{ingestion['id']}", {"note": "edited"}))  # no state change
    deliveries.run()
    _ok(api.patch(f"/ingestions/{ingestion['id']}", {"state": "cancelled"}))
    deliveries.run()
    _ok(api.patch(f"/workflows/{workflow['id']}", {"disabled": True}))
    create_ingestion(api, log["id"], workflow_id=other["id"])
    _ok(api.patch(f"/workflows/{workflow['id']}", {"disabled": False}))
    deliveries.run()

    assert {
        path: len(receiver.posts_to(path))
        for path in ("/ready", "/cancelled", "/digestion", "/disabled", "/other")
    } == {
        "/ready": 1,
        "/cancelled": 1,
        "/digestion": 0,
        "/disabled": 0,
        "/other": 1,
    }
    cancelled = json.loads(receiver.posts_to("/cancelled")[0].body)
    assert (cancelled["previous_state"], cancelled["current_state"]) == ("ready", "cancelled")


def test_hooks_fire_for_a_digestion_and_its_parts_under_the_default_digestion_workflow(
    api: ApiClient, aws: dict[str, str], deliveries: Deliveries, receiver: HookReceiver, tmp_path: Path
) -> None:
    # Given the default digestion workflow, with hooks on digestion/completed and digestion_part/completed
    workflow = _workflow(api, name="Clips", process_type="digestion", default=True)
    _hook(api, workflow, "digestion", "completed", receiver.url("/digestion"))
    _hook(api, workflow, "digestion_part", "completed", receiver.url("/part"))
    ingestion = _ingested(api, aws, tmp_path, "Clip")
    (topic,) = api.get("/topics", params={"log_id": ingestion["log_id"]}).json()["data"]

    # When a digestion made without a workflow runs to the end
    made = _ok(api.post("/digestions", {"log_id": ingestion["log_id"], "name": "clip"}))
    _ok(api.post(f"/digestions/{made['id']}/topics", {"topic_id": topic["id"]}))
    finished = digestion_tasks.run(api, made["id"])
    deliveries.run()

    # Then it ran under the default workflow, and its completion and each part's were POSTed once
    assert (finished["state"], finished["workflow_id"]) == ("completed", workflow["id"])
    (completion,) = [json.loads(post.body) for post in receiver.posts_to("/digestion")]
    assert (completion["process_type"], completion["resource_id"]) == ("digestion", made["id"])
    parts = api.get(f"/digestions/{made['id']}/parts").json()["data"]
    posted = [json.loads(post.body) for post in receiver.posts_to("/part")]
    assert parts and sorted(post["resource_id"] for post in posted) == sorted(part["id"] for part in parts)
    assert {part["workflow_id"] for part in parts} == {workflow["id"]}


# -- failures: retries, timeouts, the dead-letter queue -----------------------------------------------


def test_hook_delivery_is_retried_after_a_500(
    api: ApiClient, deliveries: Deliveries, receiver: HookReceiver
) -> None:
    # Given a receiver that answers 500, then 200
    receiver.answer("/flaky", 500, 200)
    workflow = _workflow(api)
    hook = _hook(api, workflow, "ingestion", "ready", receiver.url("/flaky"), secret=SECRET)
    create_ingestion(api, _log(api)["id"], workflow_id=workflow["id"])

    # When the delivery is made, fails, and is received again
    deliveries.fan_out()
    first = deliveries.deliver()
    retrying = _last_delivery(api, hook)
    second = deliveries.deliver()

    # Then the failure was reported for Lambda to keep the message, and the retry went through
    assert first is not None and [item["itemIdentifier"] for item in first["batchItemFailures"]] == [
        deliveries.last_batch["Records"][0]["messageId"]
    ]
    assert (retrying["status"], retrying["http_status"], retrying["attempt"]) == ("retrying", 500, 1)
    assert second is not None and (second["delivered"], second["batchItemFailures"]) == (1, [])
    posts = receiver.posts_to("/flaky")
    assert [post.headers["x-openlqs-delivery-attempt"] for post in posts] == ["1", "2"]
    assert len({post.headers["x-openlqs-event-id"] for post in posts}) == 1
    assert _last_delivery(api, hook)["status"] == "delivered"
    assert deliveries.queued() == {"visible": 0, "invisible": 0}


def test_hook_delivery_waits_out_its_back_off_before_a_retry(
    api: ApiClient, deliveries: Deliveries, receiver: HookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settings(monkeypatch, HOOK_RETRY_BASE_DELAY_S="60")
    receiver.answer("/down", 503)
    workflow = _workflow(api)
    _hook(api, workflow, "ingestion", "ready", receiver.url("/down"))
    create_ingestion(api, _log(api)["id"], workflow_id=workflow["id"])

    deliveries.fan_out()
    failed = deliveries.deliver()

    assert failed is not None and len(failed["batchItemFailures"]) == 1
    assert deliveries.deliver() is None  # not visible again before its back-off
    assert deliveries.queued() == {"visible": 0, "invisible": 1}
    assert len(receiver.posts_to("/down")) == 1


def test_hook_delivery_to_a_hanging_receiver_times_out_without_holding_back_the_others(
    api: ApiClient, deliveries: Deliveries, receiver: HookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a receiver that answers only after 30 s, another that answers at once, a 1 s timeout
    _settings(monkeypatch, HOOK_DELIVERY_TIMEOUT_S="1")
    receiver.answer("/hang", 200, delay_s=30)
    workflow = _workflow(api)
    hanging = _hook(api, workflow, "ingestion", "ready", receiver.url("/hang"))
    prompt = _hook(api, workflow, "ingestion", "ready", receiver.url("/prompt"))
    create_ingestion(api, _log(api)["id"], workflow_id=workflow["id"])
    deliveries.fan_out()

    # When one batch holds both deliveries
    started = time.monotonic()
    answer = deliveries.deliver()
    took = time.monotonic() - started

    # Then the prompt receiver had its POST at once, the hanging one was given up after 1 s, and only
    # its delivery is to be retried
    (prompt_post,) = receiver.posts_to("/prompt")
    assert prompt_post.received_at - started < 0.8
    assert 1.0 <= took < 5.0
    assert answer is not None and answer["delivered"] == 1 and len(answer["batchItemFailures"]) == 1
    hung_job = next(
        r for r in deliveries.last_batch["Records"] if json.loads(r["body"])["hook_id"] == hanging["id"]
    )
    assert answer["batchItemFailures"] == [{"itemIdentifier": hung_job["messageId"]}]
    last = _last_delivery(api, hanging)
    assert (last["status"], last["http_status"], last["error"]) == ("retrying", None, "no answer within 1 s")
    assert _last_delivery(api, prompt)["status"] == "delivered"


def test_hook_delivery_that_keeps_failing_ends_in_the_dead_letter_queue(
    api: ApiClient, deliveries: Deliveries, receiver: HookReceiver
) -> None:
    receiver.answer("/broken", 500)
    workflow = _workflow(api)
    hook = _hook(api, workflow, "ingestion", "ready", receiver.url("/broken"))
    create_ingestion(api, _log(api)["id"], workflow_id=workflow["id"])
    deliveries.fan_out()

    answers = [deliveries.deliver() for _ in range(4)]

    # Three attempts (HOOK_DELIVERY_MAX_ATTEMPTS), then the redrive policy moved the job
    assert [answer is not None for answer in answers] == [True, True, True, False]
    assert len(receiver.posts_to("/broken")) == 3
    assert deliveries.queued() == {"visible": 0, "invisible": 0}
    (dead,) = boto3.client("sqs").receive_message(QueueUrl=deliveries.dead_letter_url)["Messages"]
    job = json.loads(dead["Body"])
    assert (job["hook_id"], job["current_state"]) == (hook["id"], "ready")
    last = _last_delivery(api, hook)
    assert (last["status"], last["attempt"], last["max_attempts"]) == ("failed", 3, 3)


def test_hook_delivery_checks_the_address_again_when_it_posts(
    api: ApiClient, deliveries: Deliveries, receiver: HookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a hook on a host name stored while loopback was allowed
    workflow = _workflow(api)
    hook = _hook(api, workflow, "ingestion", "ready", receiver.url("/guarded", host="localhost"))
    create_ingestion(api, _log(api)["id"], workflow_id=workflow["id"])
    deliveries.fan_out()

    # When the deployment no longer allows it by the time the delivery is made
    _settings(monkeypatch, HOOK_ALLOWED_NETWORKS="")
    answer = deliveries.deliver()

    # Then nothing was sent, and the refusal is the delivery's error
    assert answer is not None and len(answer["batchItemFailures"]) == 1
    assert receiver.posts_to("/guarded") == []
    last = _last_delivery(api, hook)
    assert "localhost resolves to" in last["error"] and "loopback" in last["error"]


def test_hook_delivery_goes_to_the_resolved_address_with_the_hooks_host(
    api: ApiClient, deliveries: Deliveries, receiver: HookReceiver
) -> None:
    workflow = _workflow(api)
    uri = receiver.url("/named", host="localhost")
    _hook(api, workflow, "ingestion", "ready", uri)
    create_ingestion(api, _log(api)["id"], workflow_id=workflow["id"])

    deliveries.run()

    (post,) = receiver.posts_to("/named")
    assert post.headers["host"] == uri.split("/")[2]  # localhost:port, though sent to 127.0.0.1


def test_hook_deleted_before_its_delivery_is_skipped(
    api: ApiClient, deliveries: Deliveries, receiver: HookReceiver
) -> None:
    workflow = _workflow(api)
    hook = _hook(api, workflow, "ingestion", "ready", receiver.url("/gone"))
    create_ingestion(api, _log(api)["id"], workflow_id=workflow["id"])
    deliveries.fan_out()
    assert api.delete(f"/hooks/{hook['id']}").status == 204

    answer = deliveries.deliver()

    assert answer is not None and (answer["skipped"], answer["batchItemFailures"]) == (1, [])
    assert receiver.posts_to("/gone") == []
