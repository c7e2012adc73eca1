"""Planning a 1 TB bag of 20,000 chunks stays inside Step Functions' and PlanIngestionFunction's limits.

The bag is synthetic (tests/support/terabyte.py): its header, its index and the chunk headers planning
samples are real ROS 1 records at their offsets in a 10^12-byte file; the chunk bodies, which planning
never reads, are not stored. Everything else is real: the pipeline's plan, its 20,000 parts written to
DynamoDB and its manifest to S3. Here moto runs as a server in another process (not ``mock_aws``), so
that this process holds what a PlanIngestionFunction would hold: ``tracemalloc``'s peak is the plan's
own memory, boto3's responses included, and not moto's copies of the items it stores. Bounds are
generous: a sanity check of the shape, not a benchmark (docs/performance.md has the figures).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import boto3
import pytest

from openlqs.adapters import keys
from openlqs.adapters.items import item_size
from openlqs.api.authorizer import get_keys
from openlqs.domain.object_stores import ObjectSpaces
from openlqs.domain.ports import Counter
from openlqs.domain.resources import INGESTION_PART
from openlqs.local.functions import InProcessFunction
from openlqs.local.resources import create_buckets, create_tables, local_resource_names, settings_environment
from openlqs.services import get_services
from openlqs.settings import get_settings
from tests.support import tasks
from tests.support.api import ApiClient
from tests.support.paths import DATASTORE_ID, PROJECT_DIR
from tests.support.resources import create_group, create_log
from tests.support.terabyte import SyntheticBag, SyntheticObjects

#: Step Functions' limit on a state's input or output, and a DynamoDB item's.
STATE_LIMIT = 256 * 1024
ITEM_LIMIT = 400 * 1024
#: PlanIngestionFunction's memory and timeout (template.yaml: Globals, and its Timeout).
PLAN_MEMORY = 1024 * 1024 * 1024
PLAN_TIMEOUT_S = 900
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "DATASTORE_ID": DATASTORE_ID,
    "S3_ADDRESSING_STYLE": "path",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """moto's server in a child process; its URL."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "moto's server did not start"
                time.sleep(0.1)
        yield url
    finally:
        server.kill()
        server.wait(timeout=30)


@pytest.fixture
def stack(
    moto_server: str, template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The template's tables and bucket in moto's server, and this process's settings naming them."""
    for name, value in {**ENVIRONMENT, "AWS_ENDPOINT_URL": moto_server}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    names = local_resource_names(template, prefix="terabyte")
    create_tables(boto3.client("dynamodb"), template, names, streams=False)
    create_buckets(boto3.client("s3"), template, names)
    environment = settings_environment(names)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_services.cache_clear()
    get_keys.cache_clear()
    yield environment
    get_settings.cache_clear()
    get_services.cache_clear()


@pytest.fixture
def terabyte(stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A queued ingestion whose object reads as the synthetic 1 TB bag (a few placeholder bytes are in
    the bucket so that the API accepts queueing it)."""
    api = ApiClient(
        InProcessFunction.from_file(PROJECT_DIR / "functions" / "api" / "app.py", logical_id="ApiFunction"),
        f"/apps/lqs/{DATASTORE_ID}/api",
    )
    log = create_log(api, create_group(api, "Terabyte")["id"], "One terabyte")
    key = f"lqs/{DATASTORE_ID}/logs/{log['id']}/big.bag"
    boto3.client("s3").put_object(Bucket=stack["OBJECTS_BUCKET_NAME"], Key=key, Body=b"#ROSBAG V2.0\n")
    ingestion = api.post(
        "/ingestions", {"log_id": log["id"], "object_key": "big.bag", "state": "queued"}
    ).data
    bag = SyntheticBag()
    pipeline = get_services().pipeline
    spaces = pipeline.spaces
    synthetic = ObjectSpaces(
        spaces.resources,
        SyntheticObjects(spaces.managed, key, bag),  # type: ignore[arg-type]
        spaces.stores,
        spaces.store_blobs,
        spaces.datastore_id,
    )
    monkeypatch.setattr(pipeline, "spaces", synthetic)
    return {"ingestion": ingestion, "bag": bag}


def test_a_terabyte_bag_plans_within_the_limits(stack: dict[str, str], terabyte: dict[str, Any]) -> None:
    ingestion, bag = terabyte["ingestion"], terabyte["bag"]
    payload = {"ingestion_id": ingestion["id"], "attempt": 1}

    # When "Plan ingestion" runs, timed, its memory traced (tracemalloc slows what allocates)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        plan = tasks.plan(payload)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then the state carries a few hundred bytes, whatever the size of the log
    manifest = tasks.manifest_of(plan)
    state_after_plan = {
        **payload,
        "plan": {"manifest": plan["manifest"], "part_count": plan["part_count"], "max_concurrency": 100},
    }
    map_result = [{} for _ in range(plan["part_count"])]  # each child's output is {} (OutputPath null)
    sizes = {
        "plan output": len(json.dumps(plan)),
        "state after the plan": len(json.dumps(state_after_plan)),
        "a child's input": len(json.dumps({**payload, **manifest[0]})),
        "the Map's result": len(json.dumps(map_result)),
    }
    manifest_bytes = boto3.client("s3").head_object(
        Bucket=plan["manifest"]["bucket"], Key=plan["manifest"]["key"]
    )["ContentLength"]
    print(f"\n1 TB plan: {plan['part_count']} parts in {seconds:.1f} s (traced), peak {peak / 2**20:.0f} MiB")
    print(f"payloads (bytes): {sizes}; manifest: {manifest_bytes / 2**20:.2f} MiB")
    assert sizes["plan output"] < 1024 and sizes["state after the plan"] < 1024
    assert sizes["a child's input"] < 1024
    assert sizes["the Map's result"] < STATE_LIMIT / 3
    # and one part per 50 MB chunk (a part holds at most 64 MiB), every one in the manifest and stored
    assert plan["part_count"] == bag.chunk_count == 20_000
    assert [item["sequence"] for item in manifest] == list(range(bag.chunk_count))
    # (the batches' counter says 20,000 were written, and a sample is read back: listing or counting
    # 20,000 items through moto's server takes a minute or more)
    resources = get_services().pipeline.resources
    assert resources.count(Counter(ingestion["id"], INGESTION_PART.name)) == 20_000
    sample = [manifest[i] for i in range(0, bag.chunk_count, 997)] + [manifest[-1]]
    for item in sample:
        part = resources.get(INGESTION_PART, UUID(item["part_id"]))
        context = part.context or {}
        assert (part.sequence, part.state) == (item["sequence"], "queued")
        assert (context["start"], context["end"]) == (
            bag.chunk_pos(part.sequence),
            bag.chunk_pos(part.sequence + 1) if part.sequence + 1 < bag.chunk_count else bag.index_pos,
        )
        assert context["message_count"] == bag.message_count // bag.chunk_count
    # having read the format's first bytes, the header, the index and three chunk headers: no chunk body
    assert len(bag.reads) == 6
    assert sum(end - start for start, end in bag.reads) < len(bag.index) + 64 * 1024
    # The ingestion's item (its plan: topics and widths, not parts) is far from DynamoDB's limit
    item = (
        boto3.resource("dynamodb")
        .Table(stack["RESOURCES_TABLE_NAME"])
        .get_item(Key={"pk": keys.entity_pk("ingestion", UUID(ingestion["id"])), "sk": keys.SINGLE})["Item"]
    )
    assert item_size(item) < ITEM_LIMIT / 10
    # Time and memory: generous sanity bounds against the function's
    assert seconds < PLAN_TIMEOUT_S / 3
    assert peak < PLAN_MEMORY / 4
