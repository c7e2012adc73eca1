"""Worker processes: the state machines' task functions run outside the stack's process, kept warm."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openlqs.local.cloudformation import load_template
from openlqs.local.functions import InProcessFunction, InvocationError
from openlqs.local.statemachines import state_machine_specs, task_functions
from openlqs.local.workers import ProcessFunction
from tests.support.local import local_stack, stand_in_project
from tests.support.paths import PROJECT_DIR

HANDLER = """
import decimal
import os
import time

CALLS = 0


class BadLogFile(Exception):
    pass


def lambda_handler(event, context):
    global CALLS
    CALLS += 1
    action = event.get("action")
    if action == "fail":
        raise BadLogFile("not a bag")
    if action == "exit":
        os._exit(3)
    if action == "wait":
        time.sleep(event["seconds"])
    if action == "not-json":
        return {"value": object()}
    if action == "decimal":
        return {"whole": decimal.Decimal("3"), "half": decimal.Decimal("1.5")}
    return {
        "pid": os.getpid(),
        "calls": CALLS,
        "setting": os.environ.get("OPENLQS_WORKER_TEST_SETTING"),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
    }
"""


def _function(tmp_path: Path, processes: int, **kwargs: Any) -> ProcessFunction:
    handler_file = tmp_path / "worker" / "app.py"
    handler_file.parent.mkdir(exist_ok=True)
    handler_file.write_text(HANDLER)
    spec = InProcessFunction.from_file(handler_file, logical_id="WorkerFunction").spec
    # As the stack's functions: several invocations may run at once, ``processes`` of them in workers.
    return ProcessFunction(dataclasses.replace(spec, max_concurrency=4), processes=processes, **kwargs)


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[ProcessFunction]:
    function = _function(tmp_path, processes=1)
    yield function
    function.close()


def test_a_worker_runs_the_handler_in_another_process_and_stays_warm(worker: ProcessFunction) -> None:
    first = worker.invoke({})
    context = worker.new_context()
    second = worker.invoke({}, context)

    assert first["pid"] != os.getpid()
    assert second["pid"] == first["pid"]
    assert (first["calls"], second["calls"]) == (1, 2)  # the module stayed loaded
    assert second["request_id"] == context.aws_request_id
    assert second["function_name"] == worker.function_name


@pytest.mark.parametrize(("processes", "distinct"), [(1, 1), (2, 2)])
def test_invocations_at_once_use_at_most_the_allowed_workers(
    tmp_path: Path, processes: int, distinct: int
) -> None:
    function = _function(tmp_path, processes=processes)
    pids: list[int] = []
    start = threading.Barrier(2)

    def invoke() -> None:
        start.wait()
        pids.append(function.invoke({"action": "wait", "seconds": 1.0})["pid"])

    try:
        threads = [threading.Thread(target=invoke) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        function.close()

    assert len(pids) == 2
    assert len(set(pids)) == distinct


def test_a_handlers_exception_keeps_its_type_and_the_worker(worker: ProcessFunction) -> None:
    before = worker.invoke({})["pid"]
    with pytest.raises(InvocationError) as raised:
        worker.invoke({"action": "fail"})

    assert raised.value.error_type == "BadLogFile"
    assert str(raised.value) == "not a bag"
    assert any("lambda_handler" in line for line in raised.value.stack_trace)
    assert "BadLogFile: not a bag" in raised.value.formatted
    assert worker.invoke({})["pid"] == before


def test_a_worker_that_dies_fails_its_invocation_and_is_replaced(worker: ProcessFunction) -> None:
    before = worker.invoke({})["pid"]
    with pytest.raises(InvocationError) as raised:
        worker.invoke({"action": "exit"})
    after = worker.invoke({})

    assert raised.value.error_type == "Runtime.ExitError"
    assert "exit code 3" in str(raised.value)
    assert after["pid"] != before
    assert after["calls"] == 1  # a cold start


def test_a_worker_takes_the_environment_of_when_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLQS_WORKER_TEST_SETTING", "from the stack")
    default = _function(tmp_path, processes=1)
    given = _function(tmp_path, processes=1, environment={"OPENLQS_WORKER_TEST_SETTING": "given"})
    try:
        assert default.invoke({})["setting"] == "from the stack"
        assert given.invoke({})["setting"] == "given"
    finally:
        default.close()
        given.close()


def test_a_result_is_marshalled_to_json_in_the_worker(worker: ProcessFunction) -> None:
    before = worker.invoke({})["pid"]
    with pytest.raises(InvocationError) as raised:
        worker.invoke({"action": "not-json"})

    assert raised.value.error_type == "Runtime.MarshalError"
    assert worker.invoke({"action": "decimal"}) == {"whole": 3, "half": 1.5}
    assert worker.invoke({})["pid"] == before


def test_a_worker_that_died_while_idle_is_replaced_before_the_next_invocation(
    worker: ProcessFunction,
) -> None:
    before = worker.invoke({})["pid"]
    os.kill(before, signal.SIGKILL)
    _wait_until(lambda: not _alive(before))

    after = worker.invoke({})

    assert after["pid"] != before
    assert after["calls"] == 1


def test_ctrl_c_does_not_interrupt_a_workers_invocation(worker: ProcessFunction) -> None:
    pid = worker.invoke({})["pid"]

    def signal_it() -> None:
        os.kill(pid, signal.SIGINT)  # as Ctrl-C sends it to the terminal's whole process group
        os.kill(pid, signal.SIGTERM)

    result = _while_invoking(worker, signal_it)

    assert result["pid"] == pid
    assert _alive(pid)


def test_close_lets_a_running_invocation_end_then_stops_its_worker(worker: ProcessFunction) -> None:
    pid = worker.invoke({})["pid"]

    result = _while_invoking(worker, worker.close)

    assert result["pid"] == pid
    _wait_until(lambda: not _alive(pid))


def test_close_stops_the_workers(worker: ProcessFunction) -> None:
    pid = worker.invoke({})["pid"]
    worker.close()

    assert worker.worker_pids == []
    assert not _alive(pid)
    with pytest.raises(RuntimeError, match="stopped"):
        worker.invoke({})


def test_the_task_functions_are_those_the_state_machines_name() -> None:
    specs = state_machine_specs(load_template(PROJECT_DIR / "template.yaml"), PROJECT_DIR)

    assert task_functions(specs.values()) == {
        "PlanIngestionFunction",
        "ProcessPartFunction",
        "FailPartFunction",
        "FinalizeIngestionFunction",
        "FailIngestionFunction",
        "PlanDigestionFunction",
        "WriteDigestionPartFunction",
        "FinalizeDigestionFunction",
        "FailDigestionFunction",
    }


@pytest.mark.parametrize("lambda_processes", [0, 2])
def test_the_stack_runs_task_functions_in_workers_unless_told_not_to(
    tmp_path: Path, data_dir: Path, lambda_processes: int
) -> None:
    project = stand_in_project(tmp_path / "project")
    with local_stack(project, data_dir, lambda_processes=lambda_processes) as stack:
        in_workers = {
            logical_id for logical_id, f in stack.functions.items() if isinstance(f, ProcessFunction)
        }
        processes = {f.processes for f in stack.functions.values() if isinstance(f, ProcessFunction)}
        pids = []
        if lambda_processes:
            fail = stack.functions["FailIngestionFunction"]
            # The stand-in project has no such handler: the worker starts, and reports it.
            with pytest.raises(InvocationError) as raised:
                fail.invoke({})
            assert raised.value.error_type == "Runtime.ImportModuleError"
            pids = fail.worker_pids  # type: ignore[attr-defined]

    if lambda_processes:
        assert "WriteDigestionPartFunction" in in_workers
        assert "ApiFunction" not in in_workers
        assert in_workers == task_functions(stack.state_machines.values())
        assert processes == {lambda_processes}
        assert len(pids) == 1
        assert not any(_alive(pid) for pid in pids)  # the stack stopped its workers
    else:
        assert in_workers == set()


def _while_invoking(worker: ProcessFunction, act: Any) -> dict[str, Any]:
    """``act()`` while the one worker runs an invocation of a second; the invocation's result."""
    results: list[dict[str, Any]] = []
    thread = threading.Thread(
        target=lambda: results.append(worker.invoke({"action": "wait", "seconds": 1.0}))
    )
    thread.start()
    _wait_until(lambda: not worker.worker_pids)  # the invocation has the worker
    act()
    thread.join()
    return results[0]


def _wait_until(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that ended but was not reaped yet is a zombie: gone for every purpose here.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
