"""Load and faults on the local stack over HTTP: nothing lost, nothing doubled, nothing left behind.

One stack (a subprocess, as `make local` runs it) serves the module. Each test states one property
the deployed services promise too (docs/reliability.md): a short mix of many clients while bags
ingest, one winner among concurrent creates of a name, one execution for concurrent queueings, a
log deleted while its ingestion runs, and an upload whose client was killed. Nothing here is timed:
``bench/reliability.py`` measures the long run.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from openlqs.client import ClientConfig, LogQS
from tests.e2e.conftest import LocalStackProcess
from tests.support import load
from tests.support.bags import topic_counts, write_string_bag
from tests.support.paths import PROJECT_DIR
from tests.support.stack_api import StackApi

pytestmark = pytest.mark.e2e

TOPICS = ("/imu", "/odom", "/tf")
CONCURRENT = 20
MIB = 1024 * 1024
#: How long the short load runs, and with how many clients (bench/reliability.py: the same for a minute).
LOAD_SECONDS = 10
LOAD_CLIENTS = 16
#: Bounds for things to happen; nothing is timed against them.
SETTLE_S = 60


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    with LocalStackProcess(tmp_path_factory.mktemp("reliability") / "openlqs-data") as local:
        yield local


@pytest.fixture(scope="module")
def api(stack: LocalStackProcess) -> Iterator[StackApi]:
    client = StackApi.at(stack.base(), stack.authorization())
    yield client
    client.close()


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150,000 small messages on three topics (~10 MB, one part): ingests in about a second when idle."""
    path = tmp_path_factory.mktemp("bags") / "load.bag"
    start = 1_700_000_000 * 10**9
    return write_string_bag(
        path, ((TOPICS[i % 3], start + i * 1_000_000, f"message {i % 50}") for i in range(150_000))
    )


@pytest.fixture(scope="module")
def bag_counts(bag: Path) -> dict[str, int]:
    return topic_counts(bag)


def _at_once(count: int, request: Callable[[httpx.Client], httpx.Response]) -> list[httpx.Response]:
    """``count`` requests sent together, each on its own connection, released by one barrier."""
    barrier = threading.Barrier(count)

    def send(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            return request(http)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(send, range(count)))


def _log_with_bag(api: StackApi, bag: Path, name: str) -> dict[str, Any]:
    _, log = api.group_and_log(name, name)
    api.upload(log["id"], bag.name, bag.read_bytes())
    return log


# 1. Many clients while bags ingest ----------------------------------------------------------------


def test_reliability_short_load_loses_nothing(
    stack: LocalStackProcess, api: StackApi, bag: Path, bag_counts: dict[str, int]
) -> None:
    # Given a log already ingested (the windows to query)
    queried = load.IngestionLoop(api, bag, "queried").run_once()

    # When a few clients mix windows, lists and creates into the log being ingested, while one
    # ingestion follows another
    run = load.run_while_ingesting(
        api, stack.authorization(), queried, bag, clients=LOAD_CLIENTS, seconds=LOAD_SECONDS
    )
    tally, rounds = run.tally, run.rounds

    # Then every request was answered, none with a 5xx, a 409 only to try again
    assert tally.connection_errors == []
    assert tally.server_errors == []
    assert tally.unexpected() == {}
    assert tally.conflicts_not_retryable() == []
    assert tally.requests("create") > 0 and tally.requests("window") > 0 and tally.requests("list") > 0
    # every acknowledged create is served, and every ingested log holds the bag exactly once
    assert load.unreadable_creates(api.http, api.base, tally.created) == []
    assert rounds
    problems = load.ingestion_problems(api.http, api.base, [queried, *rounds], bag_counts, tally.created)
    assert not problems, "\n".join(problems)


# 2. Concurrent creates of one name ------------------------------------------------------------------


def _contested(api: StackApi, kind: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Where a ``kind`` named "Contested" is created, the body, and the list query that finds it."""
    if kind == "group":
        return "/groups", {"name": "Contested"}, {"name": "Contested"}
    group, log = api.group_and_log(f"Contested {kind}s", "Holder")
    if kind == "log":
        return "/logs", {"group_id": group["id"], "name": "Contested"}, {"group_id": group["id"]}
    body = {"log_id": log["id"], "name": "/contested", "type_name": "std_msgs/String"}
    return "/topics", body, {"log_id": log["id"]}


@pytest.mark.parametrize("kind", ["group", "log", "topic"])
def test_reliability_concurrent_creates_of_one_name_have_one_winner(api: StackApi, kind: str) -> None:
    path, body, listed = _contested(api, kind)
    headers = dict(api.http.headers)

    answers = _at_once(CONCURRENT, lambda http: http.post(f"{api.base}{path}", json=body, headers=headers))

    # Then one create won, every other was refused with 409, and only the winner exists
    assert sorted(a.status_code for a in answers) == [200] + [409] * (CONCURRENT - 1)
    assert all(a.json()["message"].startswith("[Conflict]") for a in answers if a.status_code == 409)
    winner = next(a.json()["data"] for a in answers if a.status_code == 200)
    assert [r["id"] for r in api.items(path, **listed) if r["name"] == body["name"]] == [winner["id"]]


# 3. Concurrent queueings of one ingestion -----------------------------------------------------------


def _executions_of(stack: LocalStackProcess, ingestion_id: str) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    machines = sfn.list_state_machines()["stateMachines"]
    return [
        execution
        for machine in machines
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"])
        for execution in page["executions"]
        if execution["name"].startswith(ingestion_id)
    ]


def test_reliability_concurrent_queueings_run_one_execution(
    stack: LocalStackProcess, api: StackApi, bag: Path, bag_counts: dict[str, int]
) -> None:
    log = _log_with_bag(api, bag, "Queued at once")
    ingestion = api.data("POST", "/ingestions", json={"log_id": log["id"], "object_key": bag.name})
    assert ingestion["state"] == "ready"
    headers = dict(api.http.headers)

    answers = _at_once(
        CONCURRENT,
        lambda http: http.patch(
            f"{api.base}/ingestions/{ingestion['id']}", json={"state": "queued"}, headers=headers
        ),
    )
    done = api.wait(ingestion["id"])

    # Then each PATCH was answered 200, or 409: to try again (the version it read kept changing), or
    # because the ingestion had moved on to processing meanwhile; and it ran once, with one copy of
    # every record
    refused = [a.json()["message"] for a in answers if a.status_code != 200]
    assert len(refused) < CONCURRENT
    assert all(
        message.endswith("try again.") or message.endswith("from processing to queued.")
        for message in refused
    ), refused
    assert done["state"] == "completed", (done["error_name"], done["error_message"], done["error_payload"])
    executions = _executions_of(stack, ingestion["id"])
    assert [(e["name"], e["status"]) for e in executions] == [(f"{ingestion['id']}-1", "SUCCEEDED")]
    assert load.count_problems(api.http, api.base, log["id"], bag_counts) == []


# 4. Deleting a log while its ingestion runs ---------------------------------------------------------


def _running(api: StackApi, ingestion_id: str, stage: str) -> None:
    """Return once the ingestion is at ``stage``: ``processing`` (as soon as it is seen processing,
    often while it is planned) or ``indexing`` (a part processing). Fails if it ended first."""
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        ingestion = api.data("GET", f"/ingestions/{ingestion_id}")
        assert ingestion["state"] in ("queued", "processing"), f"it ended before {stage}: {ingestion}"
        if ingestion["state"] != "processing":
            continue
        if stage == "processing":
            return
        if any(part["state"] == "processing" for part in api.items(f"/ingestions/{ingestion_id}/parts")):
            return
    raise AssertionError(f"ingestion {ingestion_id} not {stage} after {SETTLE_S} s")


def _delete_log(api: StackApi, log_id: str) -> httpx.Response:
    """DELETE the log, again while it answers that it still has topics (until ``SETTLE_S``): a plan of
    the stopped attempt, still running when the cancel came, takes back the topics it made once it
    sees the cancel (AWS cannot stop a running Lambda either). Any other answer is returned at once."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        response = api.request("DELETE", f"/logs/{log_id}")
        waiting = response.status_code == 409 and "still has topics" in response.text
        if not waiting or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


#: A part manifest's key (``openlqs.domain.object_keys.part_manifest_key``).
MANIFEST = re.compile(r"ingestions/[0-9a-f-]{36}/[0-9]+/parts\.json")


def _leftovers(stack: LocalStackProcess, ids: set[str]) -> dict[str, list[str]]:
    """Items of either table and objects of the bucket that name any of ``ids``, until there are none
    (a part still running when the execution was stopped takes back what it wrote) or ``SETTLE_S``.

    Part manifests (``ingestions/{id}/{attempt}/parts.json``) are not counted: they hold part ids only,
    are kept for troubleshooting and expire with the bucket's lifecycle rule (IngestionManifestExpiryDays),
    as an execution's history outlives it in Step Functions."""
    bucket = stack.exports["OPENLQS_BUCKET"]
    deadline = time.monotonic() + SETTLE_S
    while True:
        found = {
            logical_id: [str(item) for item in stack.scan(logical_id) if any(i in str(item) for i in ids)]
            for logical_id in ("ResourcesTable", "RecordsTable")
        }
        listed = stack.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
        found["ObjectsBucket"] = [
            o["Key"] for o in listed if any(i in o["Key"] for i in ids) and not MANIFEST.fullmatch(o["Key"])
        ]
        if not any(found.values()) or time.monotonic() > deadline:
            return {where: items for where, items in found.items() if items}
        time.sleep(0.5)


@pytest.mark.parametrize(("stage", "state"), [("processing", "cancelled"), ("indexing", "failed")])
def test_reliability_log_deleted_while_its_ingestion_runs_leaves_nothing(
    stack: LocalStackProcess, api: StackApi, bag: Path, stage: str, state: str
) -> None:
    log = _log_with_bag(api, bag, f"Deleted while {stage}")
    ingestion = api.queue(log["id"], bag.name)
    _running(api, ingestion["id"], stage)

    # A plain DELETE is refused while the log has an ingestion (and topics): nothing changes
    refused = api.request("DELETE", f"/logs/{log['id']}")
    assert refused.status_code == 409, refused.text
    assert refused.json()["message"].startswith("[Conflict]")

    # The way out: cancel (or fail) the ingestion, then delete it, the log's objects and the log
    stopped = api.data("PATCH", f"/ingestions/{ingestion['id']}", json={"state": state})
    assert stopped["state"] == state
    topic_ids = {t["id"] for t in api.items("/topics", log_id=log["id"])}
    ingestion_ids = {ingestion["id"], ingestion["id"].replace("-", "")}  # record segments use the hex
    assert api.request("DELETE", f"/ingestions/{ingestion['id']}").status_code == 204
    assert api.request("DELETE", f"/logs/{log['id']}/objects/{bag.name}").status_code == 204
    deleted = _delete_log(api, log["id"])
    assert deleted.status_code == 204, deleted.text

    assert api.request("GET", f"/logs/{log['id']}").status_code == 404
    assert api.request("GET", f"/ingestions/{ingestion['id']}").status_code == 404
    assert [e["status"] for e in _executions_of(stack, ingestion["id"])] == ["ABORTED"]
    assert _leftovers(stack, {log["id"], *topic_ids, *ingestion_ids}) == {}


# 5. A client killed in the middle of an upload -----------------------------------------------------


def test_reliability_upload_of_a_killed_client_resumes_with_continue_upload(
    stack: LocalStackProcess, api: StackApi, tmp_path: Path
) -> None:
    part_size = 5 * MIB  # S3's smallest part
    content = os.urandom(6 * part_size + 12345)
    path = tmp_path / "interrupted.bin"
    path.write_bytes(content)
    _, log = api.group_and_log("Killed upload", "Killed upload")
    env = {**os.environ, **{name: value for name, value in stack.exports.items() if name.startswith("LQS_")}}

    # Given a client process that has sent two parts of seven, killed (SIGKILL) before the third
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.support.slow_upload", log["id"], str(path), str(part_size)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PROJECT_DIR,
    )
    assert child.stdout is not None
    said = [child.stdout.readline().strip() for _ in range(2)]
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert said == ["part 1 sent", "part 2 sent"]
    objects = f"/logs/{log['id']}/objects/{path.name}"
    assert api.data("GET", objects)["upload_state"] == "processing"
    assert [p["part_number"] for p in api.items(f"{objects}/parts")] == [1, 2]

    # When our client uploads the file again with continue_upload
    sent: list[httpx.Request] = []
    config = ClientConfig.load({"progress": False}, environ=stack.exports)  # the lines `make local` prints
    with LogQS(config, http_client=httpx.Client(timeout=60, event_hooks={"request": [sent.append]})) as lqs:
        obj, parts = lqs.utils.upload_log_object(
            log_id=log["id"], file_path=str(path), part_size=part_size, continue_upload=True
        )

    # Then only the missing parts were sent, and the object is the file, byte for byte
    assert sorted(int(r.url.params["partNumber"]) for r in sent if r.method == "PUT") == [3, 4, 5, 6, 7]
    assert [p.part_number for p in parts] == [1, 2, 3, 4, 5, 6, 7]
    assert (obj.upload_state, obj.size) == ("complete", len(content))
    url = api.data("GET", objects)["presigned_url"]
    assert hashlib.sha256(httpx.get(url, timeout=60).content).digest() == hashlib.sha256(content).digest()
