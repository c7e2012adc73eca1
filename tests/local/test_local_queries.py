"""Queries in the local stack run in QueryFunction, invoked by ApiFunction as on AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openlqs.local import LocalStack
from openlqs.local.cloudformation import load_template
from openlqs.local.functions import InProcessFunction, LambdaContext
from openlqs.local.resources import function_specs
from tests.support.paths import PROJECT_DIR
from tests.support.stack_api import StackApi


class _Counted(InProcessFunction):
    """The template's QueryFunction, keeping the events it was invoked with."""

    def __init__(self) -> None:
        super().__init__(
            function_specs(load_template(PROJECT_DIR / "template.yaml"), PROJECT_DIR)["QueryFunction"]
        )
        self.events: list[Any] = []

    def invoke(self, event: Any, context: LambdaContext | None = None) -> Any:
        self.events.append(event)
        return super().invoke(event, context)


def test_local_queries_run_in_the_query_function(data_dir: Path) -> None:
    query_function = _Counted()
    with LocalStack(
        port=0,
        moto_port=0,
        data_dir=data_dir,
        project_dir=PROJECT_DIR,
        function_overrides={"QueryFunction": query_function},
    ) as stack:
        api = StackApi(stack)
        _, log = api.group_and_log("Queried", "Log")
        topic = api.data("POST", "/topics", json={"log_id": log["id"], "name": "/a"})
        for timestamp in (1, 2, 3):
            api.data("POST", f"/topics/{topic['id']}/records", json={"timestamp": timestamp})

        query = api.data(
            "POST",
            f"/logs/{log['id']}/queries",
            json={
                "statement": "SELECT topic, count(*) FROM records WHERE timestamp >= $t GROUP BY 1",
                "parameters": {"t": 2},
            },
        )
        refused = api.data(
            "POST", f"/logs/{log['id']}/queries", json={"statement": "COPY records TO 'x.csv'"}
        )
        api.close()

    assert query["rows"] == [["/a", 2]]
    assert refused["error"]["name"] == "BadQuery"
    assert [event["log_id"] for event in query_function.events] == [log["id"], log["id"]]
    assert query_function.events[0]["parameters"] == {"t": 2}
