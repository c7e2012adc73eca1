"""Schemathesis fuzzes every operation of the running local stack's ``/openapi.json``.

Each operation gets a bounded, seeded run (examples, coverage and fuzzing phases; positive and negative
data), authorised with the stack's admin key. Every response must be a non-5xx with a declared status
code, content type and headers, a body that matches the declared schema, and errors must read
``[Name] detail``. About half of the generated cases use ids of resources seeded up front (a group, log,
topic with records, ingestion with a part, log object, object store and API key; deletes get a spare
set), so the operations reach real resources rather than only answering 404. The whole file takes about
a minute on two cores; the stack's log is kept as ``stack.log`` in the test's temporary directory.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st

from tests.e2e.conftest import LocalStackProcess

pytestmark = pytest.mark.e2e

#: Hypothesis examples per operation in the fuzzing phase (the coverage phase adds its own boundary cases).
MAX_EXAMPLES = 25
SEED = 20_240_601
#: The response checks every case runs; the others (stateful, negative-data acceptance) are off.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
#: Every error body of the API: ``{"message": "[Name] detail"}`` (contract §1.6).
ERROR_MESSAGE = re.compile(r"^\[[A-Za-z]+\] \S")
RECORD_TIMESTAMPS = (1_000, 2_000, 3_000)
OBJECT_KEY = "seed/data.bin"


@dataclass(frozen=True)
class Seeded:
    """Path parameter values naming resources that exist when the run starts.

    Deletes get their own resources (``disposable``), so that deleting a seeded topic early in the run
    does not leave the operations after it with nothing but 404s.
    """

    values: dict[str, Any]
    disposable: dict[str, Any]

    def for_method(self, method: str) -> dict[str, Any]:
        return self.disposable if method.upper() == "DELETE" else self.values


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    stack = LocalStackProcess(Path(tmp_path_factory.mktemp("fuzz")) / "openlqs-data")
    stack.start()
    yield stack
    stack.stop()
    # The stack's own log (tracebacks of any 500) is kept beside its data.
    (stack.data_dir.parent / "stack.log").write_text("".join(stack.output))


def _auth_headers(stack: LocalStackProcess) -> dict[str, str]:
    """The admin key's header when the stack exports one (the official client's bearer format)."""
    key_id = stack.exports.get("LQS_API_KEY_ID")
    secret = stack.exports.get("LQS_API_KEY_SECRET")
    if not key_id or not secret:
        return {}
    key_id, secret = shlex.split(key_id)[0], shlex.split(secret)[0]
    token = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    return {"Authorization": f"Bearer {token}"}


class _Seeder:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def data(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.data(self.http.post(path, json=body))

    def object(self, log_id: str) -> None:
        objects = f"/logs/{log_id}/objects"
        self.post(objects, {"key": OBJECT_KEY})
        part = self.post(f"{objects}/{OBJECT_KEY}/parts", {"part_number": 1, "size": 12})
        assert httpx.put(part["presigned_url"], content=b"fuzzing data", timeout=30).status_code == 200
        self.data(self.http.patch(f"{objects}/{OBJECT_KEY}", json={"upload_state": "complete"}))

    def resources(self, name: str, group_id: str, log_id: str) -> dict[str, Any]:
        """A topic with records, an ingestion with a part, an object store and an API key."""
        topic = self.post("/topics", {"log_id": log_id, "name": f"/{name}", "type_encoding": "json"})
        for timestamp in RECORD_TIMESTAMPS:
            self.post(f"/topics/{topic['id']}/records", {"timestamp": timestamp, "note": name})
        ingestion = self.post("/ingestions", {"log_id": log_id, "name": name})
        return {
            "group_id": group_id,
            "log_id": log_id,
            "topic_id": topic["id"],
            "timestamp": RECORD_TIMESTAMPS[0],
            "ingestion_id": ingestion["id"],
            "part_id": self.post(f"/ingestions/{ingestion['id']}/parts", {"sequence": 0})["id"],
            "object_store_id": self.post("/objectStores", {"name": name, "bucket_name": "fuzz-bucket"})["id"],
            "object_key": OBJECT_KEY.replace("/", "%2F"),
            "part_number": 1,
            "api_key_id": self.post("/apiKeys", {"name": name})["id"],
        }


def _seed(stack: LocalStackProcess, headers: dict[str, str]) -> Seeded:
    with httpx.Client(base_url=stack.base(), headers=headers, timeout=30) as http:
        seeder = _Seeder(http)
        group = seeder.post("/groups", {"name": "Fuzz group", "context": {"seed": True}})
        log = seeder.post("/logs", {"group_id": group["id"], "name": "Fuzz log"})
        seeder.object(log["id"])
        # What deletes get: an empty group, and a log holding only an object, so both can go (204).
        spare_group = seeder.post("/groups", {"name": "Fuzz spare group"})
        spare_log = seeder.post("/logs", {"group_id": group["id"], "name": "Fuzz spare log"})
        seeder.object(spare_log["id"])
        return Seeded(
            values=seeder.resources("fuzz", group["id"], log["id"]),
            disposable={
                **seeder.resources("fuzz-spare", spare_group["id"], log["id"]),
                "log_id": spare_log["id"],
            },
        )


@pytest.fixture(scope="module")
def seeded(fuzz_stack: LocalStackProcess) -> Seeded:
    return _seed(fuzz_stack, _auth_headers(fuzz_stack))


@pytest.fixture(scope="module")
def api_schema(fuzz_stack: LocalStackProcess, seeded: Seeded) -> Any:
    headers = _auth_headers(fuzz_stack)
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": fuzz_stack.base(),
            "headers": headers,
            "request-timeout": 30,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{fuzz_stack.api_url}/openapi.json", config=config)

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
        """About half of the cases name the seeded resources instead of the generated ids."""
        if not path_parameters:
            return st.just(path_parameters)
        values = seeded.for_method(context.operation.method)
        seeded_parameters = {name: values.get(name, value) for name, value in path_parameters.items()}
        return st.sampled_from([path_parameters, seeded_parameters])

    return schema


def error_body_names_the_error(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx/5xx body is ``{"message": "[Name] detail"}``, whatever the schema allows."""
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and ERROR_MESSAGE.match(str(body.get("message", ""))), (
            f"error body {response.text[:200]!r} is not {{'message': '[Name] detail'}}"
        )


@pytest.fixture(autouse=True)
def _schemathesis_node_id(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32 renames each operation's subtest through ``node._nodeid``, gone in pytest 9."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_fuzz_api_conforms_to_its_openapi(case: Any, seeded: Seeded) -> None:
    # The seeded store keeps its endpoint: the API must never be led to connect to a made-up host.
    seeded_store = (case.path_parameters or {}).get("object_store_id") == seeded.values["object_store_id"]
    if case.method == "PATCH" and seeded_store and isinstance(case.body, dict):
        case.body.pop("endpoint_url", None)
    # A redirect is checked as declared (302 + Location), not followed to the blob store.
    case.call_and_validate(allow_redirects=False, additional_checks=[error_body_names_the_error])
