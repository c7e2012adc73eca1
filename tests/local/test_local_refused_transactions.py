"""A refused transaction (a taken name, a log or group still in use) never stops later ingestions.

moto used to roll a cancelled TransactWriteItems back by putting back copies of whole tables, each with
a new stream shard, while the stream poller kept reading the old one: after any 409, every later
ingestion stayed queued. The real project runs here: its template, its state machine and its functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openlqs.local import LocalStack
from tests.support.bags import EXAMPLE_BAG_TOPIC_COUNTS
from tests.support.paths import PROJECT_DIR
from tests.support.stack_api import StackApi


@pytest.fixture
def api(tmp_path: Path) -> Iterator[StackApi]:
    with LocalStack(port=0, moto_port=0, data_dir=tmp_path / "data", project_dir=PROJECT_DIR) as stack:
        client = StackApi(stack)
        yield client
        client.close()


def test_local_refused_transactions_leave_later_ingestions_running(api: StackApi, fixture_bags: Path) -> None:
    bag = (fixture_bags / "example.bag").read_bytes()
    group, log = api.group_and_log("Demo Group", "Demo Log")
    assert api.ingest(log["id"], "run.bag", bag)["state"] == "completed"

    # When every kind of refused transaction happens: a taken name, a log with topics, a group with logs
    assert api.request("POST", "/groups", json={"name": "Demo Group"}).status_code == 409
    assert api.request("DELETE", f"/logs/{log['id']}").status_code == 409
    assert api.request("DELETE", f"/groups/{group['id']}").status_code == 409
    assert api.request("POST", "/logs", json={"group_id": group["id"], "name": "Demo Log"}).status_code == 409

    # Then a later ingestion still runs to the end, with every record
    second = api.data("POST", "/logs", json={"group_id": group["id"], "name": "Second Log"})
    done = api.ingest(second["id"], "run.bag", bag)
    assert done["state"] == "completed", done
    for log_id in (log["id"], second["id"]):
        topics = api.items("/topics", log_id=log_id)
        assert {t["name"]: t["record_count"] for t in topics} == EXAMPLE_BAG_TOPIC_COUNTS
