"""moto's port stays the same across restarts, so exports pasted earlier keep working (local/ports.py)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from openlqs.local import LocalStack
from openlqs.local.ports import PORTS_FILE, preferred_moto_port, remember_moto_port, remembered_moto_port
from tests.support.local import ECHO_HANDLER
from tests.support.paths import PROJECT_DIR


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The real template and state machines with a stand-in ApiFunction handler."""
    root = tmp_path / "project"
    (root / "functions" / "api").mkdir(parents=True)
    shutil.copy(PROJECT_DIR / "template.yaml", root / "template.yaml")
    shutil.copytree(PROJECT_DIR / "statemachines", root / "statemachines")
    (root / "functions" / "api" / "app.py").write_text(ECHO_HANDLER)
    shutil.copytree(PROJECT_DIR / "functions" / "authorizer", root / "functions" / "authorizer")
    return root


@pytest.fixture(autouse=True)
def no_port_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENLQS_MOTO_PORT", raising=False)
    monkeypatch.delenv("OPENLQS_PORT", raising=False)


def _stack(project: Path, data_dir: Path) -> LocalStack:
    # The API on a free port; moto's port left to the stack (no moto_port, no OPENLQS_MOTO_PORT).
    return LocalStack(port=0, data_dir=data_dir, project_dir=project, snapshot_interval=3600)


def test_preferred_moto_port_is_the_apis_plus_one_on_a_first_start(tmp_path: Path) -> None:
    assert preferred_moto_port(tmp_path, 8000) == 8001
    assert preferred_moto_port(tmp_path, 0) == 0


def test_preferred_moto_port_is_the_one_remembered_unless_the_api_takes_it(tmp_path: Path) -> None:
    remember_moto_port(tmp_path, 45123)

    assert preferred_moto_port(tmp_path, 8000) == 45123
    assert preferred_moto_port(tmp_path, 45123) == 45124


def test_local_stack_keeps_motos_port_across_restarts(project: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with _stack(project, data_dir) as stack:
        first = stack.exports()["OPENLQS_S3_ENDPOINT"]

    with _stack(project, data_dir) as stack:
        second = stack.exports()["OPENLQS_S3_ENDPOINT"]

    assert first == second
    assert remembered_moto_port(data_dir) == int(first.rsplit(":", 1)[1])


def test_local_stack_moves_moto_to_a_free_port_when_its_own_is_taken_and_says_so(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        remember_moto_port(data_dir, port)

        with _stack(project, data_dir) as stack:
            endpoint = stack.exports()["OPENLQS_S3_ENDPOINT"]

    new_port = int(endpoint.rsplit(":", 1)[1])
    assert new_port != port
    assert remembered_moto_port(data_dir) == new_port
    message = capsys.readouterr().err
    assert f"moto's port {port} is taken" in message
    assert f"using {new_port}" in message and "OPENLQS_S3_ENDPOINT changed" in message


def test_local_stack_with_an_explicit_moto_port_neither_falls_back_nor_remembers(
    project: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    with LocalStack(port=0, moto_port=0, data_dir=data_dir, project_dir=project, snapshot_interval=3600):
        pass

    assert not (data_dir / PORTS_FILE).exists()
