"""Hooks on the local stack: the stream poller and the queue's pollers drive the real HookDeliveryFunction,
so a state change reaches a receiver on this machine, signed, and a receiver that hangs or fails holds
back no other delivery."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from openlqs.auth import format_authorization, verify_hook_signature
from openlqs.local import LocalStack
from tests.support.hooks import HookReceiver
from tests.support.local import EVENT_LIMIT_S, local_stack
from tests.support.paths import PROJECT_DIR

SECRET = "local-secret"


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    with HookReceiver() as running:
        yield running


def _api(stack: LocalStack) -> httpx.Client:
    assert stack.admin_key is not None
    return httpx.Client(
        base_url=f"{stack.api_url}/apps/lqs/{stack.datastore_id}/api",
        headers={"Authorization": format_authorization(stack.admin_key.key_id, stack.admin_key.secret)},
        timeout=30,
    )


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _workflow_with_hook(api: httpx.Client, name: str, uri: str, **hook: Any) -> tuple[Any, Any]:
    workflow = _ok(api.post("/workflows", json={"name": name, "process_type": "ingestion"}))
    body = {"trigger_process": "ingestion", "trigger_state": "ready", "uri": uri, **hook}
    return workflow, _ok(api.post(f"/workflows/{workflow['id']}/hooks", json=body))


def _ingestion(api: httpx.Client, workflow: dict[str, Any]) -> Any:
    group = _ok(api.post("/groups", json={"name": f"Group {time.monotonic_ns()}"}))
    log = _ok(api.post("/logs", json={"group_id": group["id"], "name": "Run"}))
    return _ok(api.post("/ingestions", json={"log_id": log["id"], "workflow_id": workflow["id"]}))


def _stack(data_dir: Path, **parameters: str) -> LocalStack:
    return local_stack(
        PROJECT_DIR, data_dir, parameter_overrides={"HookRetryBaseDelaySeconds": "0", **parameters}
    )


def test_local_stack_delivers_a_signed_hook_to_a_receiver_on_this_machine(
    data_dir: Path, receiver: HookReceiver
) -> None:
    with _stack(data_dir) as stack, _api(stack) as api:
        # Loopback is allowed locally (HookAllowedNetworks), and refused on AWS
        workflow, hook = _workflow_with_hook(api, "Local", receiver.url("/events"), secret=SECRET)
        ingestion = _ingestion(api, workflow)

        receiver.wait_for(lambda: bool(receiver.posts_to("/events")), EVENT_LIMIT_S)
        (post,) = receiver.posts_to("/events")
        event = json.loads(post.body)
        assert (event["resource_id"], event["hook_id"], event["current_state"]) == (
            ingestion["id"],
            hook["id"],
            "ready",
        )
        assert event["datastore_endpoint"] == stack.api_url
        assert event["datastore_id"] == stack.datastore_id
        verify_hook_signature(SECRET, post.headers["x-openlqs-signature"], post.body)

        def delivered() -> bool:
            context = _ok(api.get(f"/hooks/{hook['id']}"))["context"] or {}
            return (context.get("last_delivery") or {}).get("status") == "delivered"

        receiver.wait_for(delivered, EVENT_LIMIT_S)


def test_local_hanging_receiver_holds_back_no_other_hook(data_dir: Path) -> None:
    # Given a receiver that answers after 15 s (the delivery timeout is 20 s) and one that answers at once
    # (the receiver stops first: its hanging answer ends, and so does the stack's last invocation)
    with (
        _stack(data_dir, HookDeliveryTimeoutSeconds="20") as stack,
        _api(stack) as api,
        HookReceiver() as receiver,
    ):
        receiver.answer("/hang", 200, delay_s=15)
        slow, _ = _workflow_with_hook(api, "Slow", receiver.url("/hang"))
        fast, _ = _workflow_with_hook(api, "Fast", receiver.url("/prompt"))

        # When a process of the slow workflow changes state, then, while its POST hangs, one of the fast's
        _ingestion(api, slow)
        receiver.wait_for(lambda: bool(receiver.posts_to("/hang")), EVENT_LIMIT_S)
        changed_at = time.monotonic()
        _ingestion(api, fast)

        # Then the fast receiver gets its POST at once, long before the slow one answers
        receiver.wait_for(lambda: bool(receiver.posts_to("/prompt")), 10)
        (prompt,) = receiver.posts_to("/prompt")
        assert prompt.received_at - changed_at < 5
        assert time.monotonic() - receiver.posts_to("/hang")[0].received_at < 15


def test_local_failing_receiver_is_retried_then_dead_lettered(data_dir: Path, receiver: HookReceiver) -> None:
    receiver.answer("/down", 500)
    with _stack(data_dir, HookDeliveryMaxAttempts="3") as stack, _api(stack) as api:
        workflow, hook = _workflow_with_hook(api, "Down", receiver.url("/down"))
        _ingestion(api, workflow)
        sqs = stack.client("sqs")
        dead_letters = stack.queue_urls["HookDeliveryDeadLetterQueue"]

        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + EVENT_LIMIT_S
        while not messages and time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=dead_letters, WaitTimeSeconds=1).get("Messages", [])

        assert len(messages) == 1, receiver.posts
        assert json.loads(messages[0]["Body"])["hook_id"] == hook["id"]
        assert [post.headers["x-openlqs-delivery-attempt"] for post in receiver.posts_to("/down")] == [
            "1",
            "2",
            "3",
        ]
        last = _ok(api.get(f"/hooks/{hook['id']}"))["context"]["last_delivery"]
        assert (last["status"], last["attempt"], last["http_status"]) == ("failed", 3, 500)
