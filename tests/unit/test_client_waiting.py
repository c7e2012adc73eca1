"""Waiting for an ingestion: it ends, says what the ingestion is doing, and times out saying why."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from openlqs.client.waiting import DEFAULT_WAIT_TIMEOUT_S, IngestionWaiter, IngestionWaitTimeout
from tests.support.client import CREATED_AT, offline_client

INGESTION_ID = UUID("5e5e5e5e-1111-2222-3333-444444444444")
LOG_ID = UUID("1a1a1a1a-1111-2222-3333-444444444444")
GROUP_ID = UUID("6a7c0d2e-1b3f-4c5d-8e9f-0a1b2c3d4e5f")


def _ingestion(state: str, progress: float | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "id": str(INGESTION_ID),
        "log_id": str(LOG_ID),
        "group_id": str(GROUP_ID),
        "name": "run.bag",
        "created_at": CREATED_AT.isoformat(),
        "transitioned_at": CREATED_AT.isoformat(),
        "state": state,
        "progress": progress,
    } | fields


class FakeDeployment:
    """Serves the ingestion in the states given (one per fetch, the last one for ever) and its parts."""

    def __init__(self, *states: dict[str, Any], parts: tuple[int, int] = (0, 0)) -> None:
        self.states = list(states)
        self.done, self.total = parts
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith(f"/ingestions/{INGESTION_ID}"):
            state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            return httpx.Response(200, json={"data": state})
        if path.endswith(f"/ingestions/{INGESTION_ID}/parts"):
            count = self.done if request.url.params.get("state") == "completed" else self.total
            page = {"offset": 0, "limit": 1, "order": "created_at", "sort": "ASC", "count": count, "data": []}
            return httpx.Response(200, json=page)
        raise AssertionError(f"unexpected request {request.method} {request.url}")


class FakeClock:
    """Monotonic seconds that move only when the waiter sleeps."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.001)

    def wall(self) -> datetime:
        return CREATED_AT + timedelta(seconds=self.t)


def _waiter(deployment: FakeDeployment) -> tuple[IngestionWaiter, FakeClock, io.StringIO, Any]:
    lqs = offline_client(deployment)
    clock, out = FakeClock(), io.StringIO()
    waiter = IngestionWaiter(lqs, clock=clock, sleep=clock.sleep, now=clock.wall, out=out)
    return waiter, clock, out, lqs.resource.Ingestion.model_validate(_ingestion("ready"))


def test_wait_refreshes_until_a_final_state_and_returns_it() -> None:
    deployment = FakeDeployment(
        _ingestion("queued"),
        _ingestion("processing", 0.5),
        _ingestion("failed", 0.5, error_message="not a bag"),
    )
    waiter, _, out, ingestion = _waiter(deployment)

    finished = waiter.wait(ingestion, poll_interval=1)

    assert finished is ingestion
    assert (finished.state, finished.error_message) == ("failed", "not a bag")
    assert len(deployment.requests) == 3
    assert out.getvalue() == ""  # over within the first report interval: nothing to say


def test_wait_says_why_a_queued_ingestion_is_waiting_without_a_terminal() -> None:
    # Given an ingestion that stays queued (no trigger ever starts it)
    deployment = FakeDeployment(*[_ingestion("queued")] * 40, _ingestion("completed", 1.0))
    waiter, _, out, ingestion = _waiter(deployment)

    # When waiting with reports every 15 s and polls every second
    waiter.wait(ingestion, poll_interval=1, report_interval=15, show_progress=False)

    # Then every 15 s a line on stderr says what it is doing, naming it
    lines = out.getvalue().splitlines()
    assert lines == [
        f"ingestion run.bag ({INGESTION_ID}): queued for 15 s: no execution has started",
        f"ingestion run.bag ({INGESTION_ID}): queued for 30 s: no execution has started",
    ]


def test_wait_reports_the_parts_a_processing_ingestion_has_done() -> None:
    deployment = FakeDeployment(
        *[_ingestion("processing", 0.25)] * 20, _ingestion("completed", 1.0), parts=(3, 12)
    )
    waiter, _, out, ingestion = _waiter(deployment)

    waiter.wait(ingestion, poll_interval=1, report_interval=15)

    assert out.getvalue().splitlines() == [f"ingestion run.bag ({INGESTION_ID}): processing 3/12 parts"]


def test_wait_ends_at_its_timeout_naming_the_ingestion_its_state_and_what_to_check() -> None:
    deployment = FakeDeployment(_ingestion("queued"))
    waiter, clock, _, ingestion = _waiter(deployment)

    with pytest.raises(IngestionWaitTimeout) as raised:
        waiter.wait(ingestion, timeout=60, poll_interval=1)

    message = str(raised.value)
    assert isinstance(raised.value, TimeoutError)
    assert f"Ingestion run.bag ({INGESTION_ID}) is still queued after waiting 60 s" in message
    assert "no execution has started" in message
    assert "`make local`" in message and "IngestionTriggerFunction" in message
    assert 60 <= clock.t < 62
    assert raised.value.ingestion.state == "queued"


def test_wait_has_a_default_timeout() -> None:
    deployment = FakeDeployment(_ingestion("processing", 0.1), parts=(1, 4))
    waiter, clock, _, ingestion = _waiter(deployment)

    with pytest.raises(IngestionWaitTimeout, match=r"still processing .*\(processing 1/4 parts\)"):
        waiter.wait(ingestion, poll_interval=30, report_interval=None)

    assert clock.t == pytest.approx(DEFAULT_WAIT_TIMEOUT_S)


def test_utils_wait_for_times_out_by_default_too() -> None:
    deployment = FakeDeployment(_ingestion("processing", 0.1), parts=(0, 0))
    lqs = offline_client(deployment)
    ingestion = lqs.resource.Ingestion.model_validate(_ingestion("queued"))

    with pytest.raises(TimeoutError, match=r"still processing .*planning its parts"):
        lqs.utils.wait_for(ingestion, timeout=0, poll_interval=0)
