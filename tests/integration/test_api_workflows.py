"""Workflows, hooks and callbacks through ApiFunction (contract logqs-next.md §2), and the workflow rules of
processes: ``workflow_context`` checked against ``context_schema``, disabled and mismatched workflows
refused, default workflows, parts running under their ingestion's workflow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import boto3
import pytest

from openlqs.services import get_services
from openlqs.settings import get_settings
from tests.support.api import ApiClient, ApiResponse
from tests.support.resources import create_group, create_ingestion, create_ingestion_part, create_log

SCHEMA = {
    "type": "object",
    "properties": {"robot": {"type": "string"}, "speed": {"type": "number", "minimum": 0}},
    "required": ["robot"],
}
RECEIVER = "http://127.0.0.1:9/events"


@pytest.fixture
def loopback_allowed(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hooks may point at this machine (as in the local stack)."""
    monkeypatch.setenv("HOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
    get_settings.cache_clear()
    get_services.cache_clear()
    yield
    get_settings.cache_clear()
    get_services.cache_clear()


def _ok(response: ApiResponse) -> Any:
    assert response.status == 200, response.body
    return response.data


def _workflow(api: ApiClient, name: str = "Tag runs", **fields: Any) -> dict[str, Any]:
    return dict(_ok(api.post("/workflows", {"name": name, "process_type": "ingestion", **fields})))


def _log(api: ApiClient) -> dict[str, Any]:
    return create_log(api, create_group(api, "Workflows")["id"], "Run")


# -- workflows ----------------------------------------------------------------------------------------


def test_workflow_create_emits_every_field_with_the_clients_defaults(api: ApiClient) -> None:
    # The official client's create body (verified): process_type digestion unless given.
    created = _ok(
        api.post("/workflows", {"name": "Clip", "note": None, "context": None, "context_schema": None})
    )

    assert {key: created[key] for key in ("name", "process_type", "managed", "default", "disabled")} == {
        "name": "Clip",
        "process_type": "digestion",
        "managed": False,
        "default": False,
        "disabled": False,
    }
    assert {"note", "context", "context_schema", "id", "created_at"} <= set(created)
    assert _ok(api.get(f"/workflows/{created['id']}")) == created


def test_workflow_names_are_unique(api: ApiClient) -> None:
    _workflow(api, "Same")

    response = api.post("/workflows", {"name": "Same"})

    assert response.status == 409
    assert "Same" in response.message


def test_workflow_context_schema_that_is_not_json_schema_is_400_naming_the_place(api: ApiClient) -> None:
    response = api.post(
        "/workflows", {"name": "Broken", "context_schema": {"properties": {"speed": {"type": "speedy"}}}}
    )

    assert response.status == 400
    assert response.message.startswith("[BadRequest] context_schema.properties.speed.type:")


def test_workflow_update_changes_all_but_process_type_and_managed(api: ApiClient) -> None:
    workflow = _workflow(api, managed=True)

    updated = _ok(
        api.patch(
            f"/workflows/{workflow['id']}",
            {"name": "Renamed", "disabled": True, "process_type": "digestion", "managed": False, "note": "n"},
        )
    )

    assert (updated["name"], updated["disabled"], updated["note"]) == ("Renamed", True, "n")
    assert (updated["process_type"], updated["managed"]) == ("ingestion", True)


def test_workflow_lists_filter_by_process_type_default_and_schema(api: ApiClient) -> None:
    tagged = _workflow(api, "Tagged", default=True, context_schema=SCHEMA)
    _workflow(api, "Plain")
    _ok(api.post("/workflows", {"name": "Clips"}))

    def names(**params: Any) -> list[str]:
        return [w["name"] for w in api.get("/workflows", params=params).json()["data"]]

    assert names(process_type="ingestion") == ["Tagged", "Plain"]
    assert names(default="true") == ["Tagged"]
    assert names(context_schema_filter=json.dumps({"var": "required", "op": "contains", "val": "robot"})) == [
        tagged["name"]
    ]
    assert names(name_like="clip") == ["Clips"]


def test_workflow_one_default_per_process_type(api: ApiClient) -> None:
    first = _workflow(api, "First", default=True)

    second = api.post("/workflows", {"name": "Second", "process_type": "ingestion", "default": True})
    untyped = api.post("/workflows", {"name": "Any", "process_type": None, "default": True})
    digestions = api.post("/workflows", {"name": "Clips", "default": True})

    assert second.status == 409 and first["id"] in second.message
    assert untyped.status == 400 and "process_type" in untyped.message
    assert digestions.status == 200


def test_workflow_with_hooks_cannot_be_deleted_until_they_are(api: ApiClient) -> None:
    workflow = _workflow(api)
    hook = _ok(
        api.post(
            f"/workflows/{workflow['id']}/hooks",
            {"trigger_process": "ingestion", "trigger_state": "completed"},
        )
    )

    refused = api.delete(f"/workflows/{workflow['id']}")
    assert api.delete(f"/hooks/{hook['id']}").status == 204
    deleted = api.delete(f"/workflows/{workflow['id']}")

    assert refused.status == 409
    assert deleted.status == 204
    assert api.get(f"/workflows/{workflow['id']}").status == 404


def test_workflow_routes_need_an_admin_key_to_change_and_a_read_key_to_read(api: ApiClient) -> None:
    workflow = _workflow(api)

    written = api.acting_as("write").post("/workflows", {"name": "By a writer"})
    hook = api.acting_as("write").post(
        f"/workflows/{workflow['id']}/hooks", {"trigger_process": "ingestion", "trigger_state": "queued"}
    )
    read = api.acting_as("read").get("/workflows")

    assert (written.status, hook.status, read.status) == (403, 403, 200)
    assert read.json()["count"] == 1


# -- hooks --------------------------------------------------------------------------------------------


def test_hook_secret_is_write_only_and_sealed(
    api: ApiClient, aws: dict[str, str], loopback_allowed: None
) -> None:
    workflow = _workflow(api)
    body = {
        "trigger_process": "ingestion",
        "trigger_state": "completed",
        "name": "notify",
        "note": None,
        "context": None,
        "managed": False,
        "disabled": False,
        "uri": RECEIVER,
        "secret": "s3cr3t-value",
    }

    created = _ok(api.post(f"/workflows/{workflow['id']}/hooks", body))
    fetched = _ok(api.get(f"/hooks/{created['id']}"))
    listed = api.get(f"/workflows/{workflow['id']}/hooks").json()["data"]
    item = (
        boto3.resource("dynamodb")
        .Table(aws["RESOURCES_TABLE_NAME"])
        .get_item(Key={"pk": f"hook#{created['id']}", "sk": "#"})["Item"]
    )

    assert "secret" not in created and "secret" not in fetched and "secret" not in listed[0]
    assert fetched == created == listed[0]
    assert created["workflow_id"] == workflow["id"] and created["uri"] == RECEIVER
    assert "s3cr3t-value" not in json.dumps(item, default=str)
    assert get_services().hooks.secret_of(get_services().hooks.get(created["id"])) == "s3cr3t-value"


def test_hook_nested_routes_find_hooks_by_id_and_refuse_another_workflows(api: ApiClient) -> None:
    mine, other = _workflow(api, "Mine"), _workflow(api, "Other")
    hook = _ok(
        api.post(
            f"/workflows/{mine['id']}/hooks", {"trigger_process": "ingestion_part", "trigger_state": "failed"}
        )
    )
    nil = "00000000-0000-0000-0000-000000000000"

    assert _ok(api.get(f"/workflows/{mine['id']}/hooks/{hook['id']}"))["id"] == hook["id"]
    assert _ok(api.get(f"/workflows/{nil}/hooks/{hook['id']}"))["id"] == hook["id"]
    assert api.get(f"/workflows/{other['id']}/hooks/{hook['id']}").status == 404
    assert api.patch(f"/workflows/{other['id']}/hooks/{hook['id']}", {"name": "x"}).status == 404
    assert api.delete(f"/workflows/{other['id']}/hooks/{hook['id']}").status == 404
    assert api.get(f"/workflows/{other['id']}/hooks").json()["count"] == 0
    assert (
        api.post(
            f"/workflows/{nil}/hooks", {"trigger_process": "ingestion", "trigger_state": "failed"}
        ).status
        == 404
    )


def test_hook_lists_filter_as_the_contract_says(api: ApiClient) -> None:
    workflow = _workflow(api)
    for process, state, name in (
        ("ingestion", "completed", "done"),
        ("ingestion", "failed", "broke"),
        ("ingestion_part", "failed", "part"),
    ):
        _ok(
            api.post(
                f"/workflows/{workflow['id']}/hooks",
                {"trigger_process": process, "trigger_state": state, "name": name},
            )
        )

    def names(path: str = "/hooks", **params: Any) -> list[str]:
        return [hook["name"] for hook in api.get(path, params=params).json()["data"]]

    assert names(trigger_state="failed") == ["broke", "part"]
    assert names(trigger_process="ingestion_part") == ["part"]
    assert names(workflow_id=workflow["id"], name_like="o") == ["done", "broke"]
    assert names(f"/workflows/{workflow['id']}/hooks", trigger_process="ingestion") == ["done", "broke"]


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("ftp://example.com/events", "http:// or https://"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.1.2.3/events", "private"),
        ("http://[fd00::1]/events", "private"),
        ("http://127.0.0.1:8080/events", "loopback"),
        ("http://localhost:8080/events", "resolves to"),
        ("http://[::ffff:127.0.0.1]/events", "loopback"),
        ("http://0.0.0.0/events", "unspecified"),
        ("http://100.64.0.1/events", "not public"),
        ("http://user:pass@example.com/events", "credentials"),
        ("http:///events", "host"),
        ("https://no-such-host.invalid/events", "does not resolve"),
    ],
)
def test_hook_uri_must_be_http_and_reach_a_public_address(api: ApiClient, uri: str, reason: str) -> None:
    workflow = _workflow(api)
    created = api.post(
        f"/workflows/{workflow['id']}/hooks",
        {"trigger_process": "ingestion", "trigger_state": "completed", "uri": uri},
    )
    hook = _ok(
        api.post(
            f"/workflows/{workflow['id']}/hooks",
            {"trigger_process": "ingestion", "trigger_state": "completed"},
        )
    )
    updated = api.patch(f"/hooks/{hook['id']}", {"uri": uri})

    for response in (created, updated):
        assert response.status == 400, response.body
        assert response.message.startswith("[BadRequest] uri"), response.message
        assert reason in response.message
    assert _ok(api.get(f"/hooks/{hook['id']}"))["uri"] is None
    assert api.get("/hooks").json()["count"] == 1


def test_hook_uri_on_an_allowed_network_is_accepted(api: ApiClient, loopback_allowed: None) -> None:
    workflow = _workflow(api)

    created = api.post(
        f"/workflows/{workflow['id']}/hooks",
        {"trigger_process": "ingestion", "trigger_state": "completed", "uri": "http://localhost:8080/events"},
    )

    assert created.status == 200, created.body


def test_hook_context_update_keeps_the_last_delivery(api: ApiClient) -> None:
    workflow = _workflow(api)
    hook = _ok(
        api.post(
            f"/workflows/{workflow['id']}/hooks",
            {"trigger_process": "ingestion", "trigger_state": "queued", "context": {"team": "a"}},
        )
    )
    report = {"status": "delivered", "http_status": 200}
    get_services().hooks.record_delivery(UUID(hook["id"]), uuid4(), report, delivered=True)

    updated = _ok(api.patch(f"/hooks/{hook['id']}", {"context": {"team": "b", "last_delivery": "forged"}}))
    cleared = _ok(api.patch(f"/hooks/{hook['id']}", {"context": None}))

    assert updated["context"] == {"team": "b", "last_delivery": report}
    assert cleared["context"] == {"last_delivery": report}
    assert updated["updated_at"] is not None


def test_hook_trigger_fields_are_validated(api: ApiClient) -> None:
    workflow = _workflow(api)

    response = api.post(
        f"/workflows/{workflow['id']}/hooks", {"trigger_process": "topic", "trigger_state": "done"}
    )

    assert response.status == 400
    assert "trigger_process" in response.message and "trigger_state" in response.message


# -- callbacks ----------------------------------------------------------------------------------------


def test_callback_crud_keeps_the_secret_write_only(api: ApiClient) -> None:
    created = _ok(
        api.post(
            "/callbacks",
            {
                "name": "export",
                "uri": "https://example.com/cb",
                "secret": "hidden",
                "parameter_schema": {"type": "object"},
            },
        )
    )
    updated = _ok(
        api.patch(f"/callbacks/{created['id']}", {"secret": "new", "default": True, "managed": True})
    )
    bad = api.patch(f"/callbacks/{created['id']}", {"parameter_schema": {"type": 5}})

    assert "secret" not in created and "secret" not in updated
    assert (updated["default"], updated["managed"], updated["name"]) == (True, True, "export")
    assert bad.status == 400 and bad.message.startswith("[BadRequest] parameter_schema.type:")
    assert [c["name"] for c in api.get("/callbacks", params={"name_like": "exp"}).json()["data"]] == [
        "export"
    ]
    assert api.delete(f"/callbacks/{created['id']}").status == 204
    assert api.get(f"/callbacks/{created['id']}").status == 404


# -- the workflow of a process ------------------------------------------------------------------------


def test_ingestion_workflow_context_is_checked_against_the_schema_on_create(api: ApiClient) -> None:
    workflow = _workflow(api, context_schema=SCHEMA)
    log = _log(api)

    bad_type = api.post(
        "/ingestions",
        {
            "log_id": log["id"],
            "workflow_id": workflow["id"],
            "workflow_context": {"robot": "r2", "speed": "fast"},
        },
    )
    missing = api.post("/ingestions", {"log_id": log["id"], "workflow_id": workflow["id"]})
    good = create_ingestion(
        api, log["id"], workflow_id=workflow["id"], workflow_context={"robot": "r2", "speed": 1.5}
    )

    assert bad_type.status == 400
    assert bad_type.message.startswith("[BadRequest] workflow_context.speed: 'fast' is not of type 'number'")
    assert workflow["id"] in bad_type.message
    assert missing.status == 400
    assert missing.message.startswith("[BadRequest] workflow_context: 'robot' is a required property")
    assert good["workflow_context"] == {"robot": "r2", "speed": 1.5}
    assert api.get("/ingestions").json()["count"] == 1


def test_ingestion_workflow_context_is_checked_on_update(api: ApiClient) -> None:
    workflow = _workflow(api, context_schema=SCHEMA)
    ingestion = create_ingestion(api, _log(api)["id"])

    refused = api.patch(
        f"/ingestions/{ingestion['id']}", {"workflow_id": workflow["id"], "workflow_context": {"speed": -1}}
    )
    accepted = _ok(
        api.patch(
            f"/ingestions/{ingestion['id']}",
            {"workflow_id": workflow["id"], "workflow_context": {"robot": "r"}},
        )
    )
    context_only = api.patch(f"/ingestions/{ingestion['id']}", {"workflow_context": {"robot": 7}})

    assert refused.status == 400
    assert "workflow_context" in refused.message and "(and 1 more)" in refused.message
    assert accepted["workflow_id"] == workflow["id"]
    assert context_only.status == 400
    assert context_only.message.startswith("[BadRequest] workflow_context.robot: 7 is not of type 'string'")
    assert _ok(api.get(f"/ingestions/{ingestion['id']}"))["workflow_context"] == {"robot": "r"}


def test_ingestion_refuses_a_disabled_a_mismatched_or_a_missing_workflow(api: ApiClient) -> None:
    log = _log(api)
    disabled = _workflow(api, "Off", disabled=True)
    digestions = _ok(api.post("/workflows", {"name": "Clips", "process_type": "digestion"}))

    answers = [
        api.post("/ingestions", {"log_id": log["id"], "workflow_id": disabled["id"]}),
        api.post("/ingestions", {"log_id": log["id"], "workflow_id": digestions["id"]}),
        api.post("/ingestions", {"log_id": log["id"], "workflow_id": "8d5c3e1a-2f47-4b6e-9c1d-0a7e5f3b2c94"}),
    ]

    assert [answer.status for answer in answers] == [400, 400, 404]
    assert "is disabled" in answers[0].message
    assert "is for digestion processes, not for a ingestion" in answers[1].message
    assert api.get("/ingestions").json()["count"] == 0


def test_ingestion_created_without_a_workflow_gets_the_default_one(api: ApiClient) -> None:
    log = _log(api)
    before = create_ingestion(api, log["id"])
    default = _workflow(api, "Default", default=True, context_schema={"type": "object"})
    _workflow(api, "Other")

    chosen = create_ingestion(api, log["id"])
    explicit_none = create_ingestion(api, log["id"], workflow_id=None)
    _ok(api.patch(f"/workflows/{default['id']}", {"disabled": True}))
    after_disabling = create_ingestion(api, log["id"])

    assert before["workflow_id"] is None
    assert chosen["workflow_id"] == default["id"]
    assert explicit_none["workflow_id"] == default["id"]
    assert after_disabling["workflow_id"] is None


def test_ingestion_default_workflow_schema_checks_a_context_given_without_workflow(api: ApiClient) -> None:
    _workflow(api, "Default", default=True, context_schema=SCHEMA)

    response = api.post("/ingestions", {"log_id": _log(api)["id"], "workflow_context": {"robot": 3}})

    assert response.status == 400
    assert response.message.startswith("[BadRequest] workflow_context.robot:")


def test_ingestion_part_runs_under_its_ingestions_workflow(api: ApiClient) -> None:
    workflow = _workflow(api, context_schema=SCHEMA)
    ingestion = create_ingestion(
        api, _log(api)["id"], workflow_id=workflow["id"], workflow_context={"robot": "r"}
    )
    parts_workflow = _workflow(api, "Parts")
    digestions = _ok(api.post("/workflows", {"name": "Clips", "process_type": "digestion"}))

    inherited = create_ingestion_part(api, ingestion["id"], 0)
    own = create_ingestion_part(api, ingestion["id"], 1, workflow_id=parts_workflow["id"])
    mismatched = api.post(
        f"/ingestions/{ingestion['id']}/parts", {"sequence": 2, "workflow_id": digestions["id"]}
    )
    bad_context = api.patch(f"/ingestionParts/{inherited['id']}", {"workflow_context": {"speed": 1}})

    assert (inherited["workflow_id"], inherited["workflow_context"]) == (workflow["id"], None)
    assert own["workflow_id"] == parts_workflow["id"]
    assert mismatched.status == 400
    assert bad_context.status == 400 and "'robot' is a required property" in bad_context.message


def test_workflow_schema_with_a_remote_reference_is_refused_when_used(api: ApiClient) -> None:
    workflow = _workflow(api, context_schema={"$ref": "https://example.com/schema.json"})

    response = api.post("/ingestions", {"log_id": _log(api)["id"], "workflow_id": workflow["id"]})

    assert response.status == 400
    assert "only references inside the schema are followed" in response.message
