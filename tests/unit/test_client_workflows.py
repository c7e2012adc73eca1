"""The client's workflows, hooks and callbacks: the official client's verbs and routes (contract §2)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import httpx
import pytest

from tests.support.client import CREATED_AT, ScriptedApi, data, offline_client, page

WORKFLOW_ID = UUID("0f0f0f0f-1111-4222-8333-444444444444")
HOOK_ID = UUID("1e1e1e1e-1111-4222-8333-444444444444")


def _workflow(**fields: Any) -> dict[str, Any]:
    return {
        "id": str(WORKFLOW_ID),
        "created_at": CREATED_AT.isoformat(),
        "name": "Notify",
        "process_type": "ingestion",
        "managed": False,
        "default": False,
        "disabled": False,
        **fields,
    }


def _hook(**fields: Any) -> dict[str, Any]:
    return {
        "id": str(HOOK_ID),
        "created_at": CREATED_AT.isoformat(),
        "workflow_id": str(WORKFLOW_ID),
        "trigger_process": "ingestion",
        "trigger_state": "completed",
        "managed": False,
        "disabled": False,
        "uri": "https://hooks.example.com/events",
        **fields,
    }


def test_client_creates_hooks_under_their_workflow_with_a_write_only_secret() -> None:
    api = ScriptedApi(data(_workflow()), data(_hook()))
    lqs = offline_client(api)

    workflow = lqs.create.workflow(name="Notify", process_type="ingestion").data
    hook = lqs.create.hook(
        workflow_id=workflow.id,
        trigger_process="ingestion",
        trigger_state="completed",
        uri="https://hooks.example.com/events",
        secret="s3cret",
    ).data

    assert api.calls == [("POST", "/workflows"), ("POST", f"/workflows/{WORKFLOW_ID}/hooks")]
    assert json.loads(api.requests[1].content) == {
        "trigger_process": "ingestion",
        "trigger_state": "completed",
        "uri": "https://hooks.example.com/events",
        "secret": "s3cret",
    }
    assert isinstance(hook, lqs.resource.Hook) and hook.trigger_state == "completed"
    assert not hasattr(hook, "secret")


def test_client_hook_resource_uses_the_flat_routes_as_the_official_client_does() -> None:
    api = ScriptedApi(
        data(_hook()), data(_hook(note="n")), data(_hook(note="n")), data(_workflow()), page(_hook())
    )
    lqs = offline_client(api)

    hook = lqs.resource.Hook.fetch(HOOK_ID)
    hook.update(note="n")
    hook.refresh()
    workflow = hook.fetch_workflow()
    hooks = workflow.list_hooks()

    assert api.calls == [
        ("GET", f"/hooks/{HOOK_ID}"),
        ("PATCH", f"/hooks/{HOOK_ID}"),
        ("GET", f"/hooks/{HOOK_ID}"),
        ("GET", f"/workflows/{WORKFLOW_ID}"),
        ("GET", f"/workflows/{WORKFLOW_ID}/hooks"),
    ]
    assert hook.note == "n" and [h.id for h in hooks] == [HOOK_ID]


def test_client_hook_verbs_take_an_optional_workflow_id() -> None:
    api = ScriptedApi(data(_hook()), data(_hook()), httpx.Response(204), page(), page())
    lqs = offline_client(api)

    lqs.fetch.hook(HOOK_ID, workflow_id=WORKFLOW_ID)
    lqs.update.hook(HOOK_ID, data={"disabled": True}, workflow_id=WORKFLOW_ID)
    lqs.delete.hook(HOOK_ID, workflow_id=WORKFLOW_ID)
    lqs.list.hook(workflow_id=WORKFLOW_ID, trigger_state="failed")
    lqs.list.hook(uri_like="example")

    assert api.calls == [
        ("GET", f"/workflows/{WORKFLOW_ID}/hooks/{HOOK_ID}"),
        ("PATCH", f"/workflows/{WORKFLOW_ID}/hooks/{HOOK_ID}"),
        ("DELETE", f"/workflows/{WORKFLOW_ID}/hooks/{HOOK_ID}"),
        ("GET", f"/workflows/{WORKFLOW_ID}/hooks"),
        ("GET", "/hooks"),
    ]
    assert api.requests[3].url.params["trigger_state"] == "failed"


def test_client_refuses_a_filter_the_api_does_not_have() -> None:
    lqs = offline_client(ScriptedApi())

    with pytest.raises(TypeError, match="trigger_states"):
        lqs.list.hook(trigger_states="failed")
    with pytest.raises(TypeError, match="process_type"):
        lqs.update.workflow(WORKFLOW_ID, data={"process_type": "digestion"})


def test_client_callbacks_round_trip() -> None:
    callback = {
        "id": str(HOOK_ID),
        "created_at": CREATED_AT.isoformat(),
        "name": "export",
        "managed": False,
        "default": False,
        "disabled": False,
    }
    api = ScriptedApi(data(callback), page(callback), httpx.Response(204))
    lqs = offline_client(api)

    created = lqs.create.callback(name="export", secret="x").data
    listed = lqs.list.callback(name_like="exp").data
    lqs.delete.callback(created.id)

    assert api.calls == [("POST", "/callbacks"), ("GET", "/callbacks"), ("DELETE", f"/callbacks/{HOOK_ID}")]
    assert [c.name for c in listed] == ["export"]
