"""Workflows and hooks with the official client (``logqs==1.1.16``), delivered to its own webhook receiver.

Runs inside ``.venv-compat`` (see ``scripts/compat-venv.sh``) and never imports openlqs. The official
client creates a workflow and two hooks, fetches, lists and updates them through its resource models,
and the official receiver (``lqs/client/server.py``: FastAPI, run here with uvicorn on 127.0.0.1) takes
the deliveries: one hook has the receiver's secret and fires when the ingestion of ``BAG`` completes,
the other has another secret and fires when the ingestion is created, so the receiver must refuse it
(401) and openlqs must record that on the hook.

    LQS_API_URL=... LQS_DATASTORE_ID=... LQS_API_KEY_ID=... LQS_API_KEY_SECRET=... \\
        .venv-compat/bin/python tests/compat/official_hooks.py BAG

Every passed step prints ``ok <step>``; exit 0 means every step passed.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from lqs import LogQS
from lqs.client.server import get_server
from official_walkthrough import connect, step  # the script beside this one (sys.path[0])

SECRET = "receiver-secret-8c1f"
WAIT_S = 300.0


def wait_until(what: str, test: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT_S
    while True:
        found = test()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_S} s for {what}")
        time.sleep(0.5)


class Receiver:
    """The official receiver on a free port of 127.0.0.1; ``events`` are the events it accepted."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        app = get_server(event_callback=self._accept, expected_secret=SECRET)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def _accept(self, event: Any) -> dict[str, str]:
        self.events.append(event)
        return {"status": "ok"}

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def start(self) -> None:
        self.thread.start()
        wait_until("the receiver to start", lambda: self.server.started)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def create_workflow(lqs: LogQS) -> Any:
    workflow = lqs.create.workflow(
        name="Notify on completion",
        process_type="ingestion",
        context_schema={"type": "object", "properties": {"robot": {"type": "string"}}, "required": ["robot"]},
    ).data
    assert (workflow.managed, workflow.default, workflow.disabled) == (False, False, False)
    assert str(getattr(workflow.process_type, "value", workflow.process_type)) == "ingestion"
    return workflow


def create_hooks(lqs: LogQS, workflow: Any, receiver: Receiver) -> tuple[Any, Any]:
    completed = lqs.create.hook(
        workflow_id=workflow.id,
        trigger_process="ingestion",
        trigger_state="completed",
        name="completed",
        uri=receiver.uri,
        secret=SECRET,
    ).data
    refused = lqs.create.hook(
        workflow_id=workflow.id,
        trigger_process="ingestion",
        trigger_state="ready",
        name="wrong secret",
        uri=receiver.uri,
        secret="not-the-receivers",
    ).data
    assert "secret" not in completed.model_dump(), "the secret came back"
    return completed, refused


def hook_resources(lqs: LogQS, workflow: Any, completed: Any) -> None:
    fetched = lqs.resource.Hook.fetch(completed.id)  # GET hooks/{id}
    assert fetched.workflow_id == workflow.id and fetched.uri == completed.uri
    nested = lqs.fetch.hook(hook_id=completed.id, workflow_id=workflow.id).data
    assert nested.id == completed.id
    assert sorted(hook.name for hook in workflow.list_hooks()) == ["completed", "wrong secret"]
    fetched.update(note="delivered to the official receiver")  # PATCH hooks/{id}
    assert fetched.refresh().note == "delivered to the official receiver"
    assert fetched.fetch_workflow().id == workflow.id


def refused_context(lqs: LogQS, log: Any, workflow: Any) -> None:
    try:
        lqs.create.ingestion(
            log_id=log.id, name="no robot", workflow_id=workflow.id, workflow_context={"r": 1}
        )
    except Exception as error:  # the client raises on the 400
        assert "robot" in str(error), error
        return
    raise AssertionError("an ingestion whose workflow_context breaks the schema was created")


def ingest(lqs: LogQS, log: Any, workflow: Any, bag: Path) -> Any:
    lqs.utils.upload_log_object(log_id=log.id, file_path=str(bag))
    ingestion = lqs.create.ingestion(
        log_id=log.id,
        name="Hooked ingestion",
        object_key=bag.name,
        workflow_id=workflow.id,
        workflow_context={"robot": "r2"},
    ).data
    ingestion = lqs.update.ingestion(ingestion_id=ingestion.id, data={"state": "queued"}).data

    def finished() -> Any:
        current = lqs.fetch.ingestion(ingestion.id).data
        state = str(getattr(current.state, "value", current.state))
        assert state != "failed", current.error_message
        return current if state == "completed" else None

    return wait_until("the ingestion to complete", finished)


def delivered(lqs: LogQS, receiver: Receiver, ingestion: Any, workflow: Any, completed: Any) -> None:
    events = wait_until("the receiver to accept the completion", lambda: receiver.events)
    (event,) = events
    assert str(event.resource_id) == str(ingestion.id)
    assert (str(event.process_type.value), str(event.current_state.value)) == ("ingestion", "completed")
    assert str(event.previous_state.value) == "finalizing"
    assert (event.workflow_id, event.hook_id) == (workflow.id, completed.id)
    assert str(event.datastore_id) == os.environ["LQS_DATASTORE_ID"]
    assert event.datastore_endpoint == os.environ["LQS_API_URL"]

    def status() -> Any:
        context = lqs.fetch.hook(completed.id).data.context or {}
        return (context.get("last_delivery") or {}).get("status") == "delivered"

    wait_until("the hook to say it delivered", status)


def refused_by_the_receiver(lqs: LogQS, refused: Any) -> None:
    def answered_401() -> bool:
        context = lqs.fetch.hook(refused.id).data.context or {}
        return (context.get("last_delivery") or {}).get("http_status") == 401

    wait_until("the receiver to refuse the wrong secret", answered_401)


def main(argv: list[str]) -> int:
    bag = Path(argv[1])
    receiver = Receiver()
    try:
        step("receiver started", receiver.start)
        lqs = connect()
        workflow = step("create.workflow", create_workflow, lqs)
        completed, refused = step("create.hook", create_hooks, lqs, workflow, receiver)
        step("Hook resource fetch, list, update", hook_resources, lqs, workflow, completed)
        group = lqs.create.group(name="Hooks Group").data
        log = lqs.create.log(group_id=group.id, name="Hooks Log").data
        step("workflow_context checked", refused_context, lqs, log, workflow)
        ingestion = step("ingestion completed", ingest, lqs, log, workflow, bag)
        step(
            "official receiver accepted the completion",
            delivered,
            lqs,
            receiver,
            ingestion,
            workflow,
            completed,
        )
        step("official receiver refused another secret", refused_by_the_receiver, lqs, refused)
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        receiver.stop()
    print("all steps passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
