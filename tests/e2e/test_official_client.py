"""The official LogQS client (logqs==1.1.16) runs the documentation walkthrough against the local stack,
on ROS 1 bags, on an MCAP file of ROS 2 messages in zstd chunks, and on ROS 2 recordings (a rosbag2
directory of MCAP files, and one of a .db3 converted at ingestion) whose records name their file in
``source``; and its webhook receiver takes openlqs's hook deliveries.

The client lives in its own virtual environment, .venv-compat (scripts/compat-venv.sh), because it pins
rosbags < 0.11 and heavy media packages; tests/compat/official_walkthrough.py runs there. Without a way
to install it (no network) the test is skipped, unless OPENLQS_REQUIRE_COMPAT=1 or CI=true makes that a
failure; without the real bags it is skipped (fails in CI) as every real-file test is.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import LocalStackProcess
from tests.support import real_files
from tests.support.bags import EXAMPLE_BAG_TOPIC_COUNTS, write_string_bag
from tests.support.rosbag2 import mixed_messages, write_split_recording

pytestmark = pytest.mark.e2e

PROJECT_DIR = Path(__file__).resolve().parents[2]
COMPAT_PYTHON = PROJECT_DIR / ".venv-compat" / "bin" / "python"
WALKTHROUGH = PROJECT_DIR / "tests" / "compat" / "official_walkthrough.py"
HOOKS = PROJECT_DIR / "tests" / "compat" / "official_hooks.py"
INSTALL_TIMEOUT_S = 900
WALKTHROUGH_TIMEOUT_S = 900
START = 1_650_000_000_000_000_000
# An uncompressed bag, then an lz4-compressed one: record bytes are read by offset, then from chunks.
BAGS = ("example.bag", "example-lz4.bag")
# Topics whose every record's bytes are checked (the others: first and last record).
EVERY_RECORD_OF = ("/rosout", "/turtle1/cmd_vel")
# An MCAP file of ROS 2 messages in zstd chunks, written by the Go mcap tool (shared/fixtures/logs).
MCAP_FILES = ("rosbag2-talker-mcap/talker.mcap",)
# ROS 2 recordings by rosbag2's tools: an MCAP one, and a sqlite3 one converted at ingestion.
RECORDINGS = ("rosbag2-talker-mcap", "rosbag2-cdr-test-sqlite3")


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _compat_environment(stack: LocalStackProcess) -> dict[str, str]:
    """This process's environment without LogQS settings, plus the stack's (its URL, id and admin key)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LQS_")}
    env.update(
        LQS_API_URL=stack.api_url,
        LQS_DATASTORE_ID=stack.datastore_id,
        LQS_API_KEY_ID=stack.api_key_id,
        LQS_API_KEY_SECRET=stack.api_key_secret,
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="module")
def compat_python() -> Path:
    """.venv-compat's interpreter, installed on first use."""
    try:
        install = subprocess.run(
            ["bash", str(PROJECT_DIR / "scripts" / "compat-venv.sh")],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
        failed = install.returncode != 0
        output = install.stdout + install.stderr
    except subprocess.TimeoutExpired as timeout:
        failed, output = True, f"timed out after {INSTALL_TIMEOUT_S} s\n{timeout.stderr or ''}"
    if failed:
        reason = f"could not install logqs==1.1.16 into .venv-compat:\n{_tail(str(output))}"
        if os.environ.get("OPENLQS_REQUIRE_COMPAT") == "1" or real_files.in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return COMPAT_PYTHON


def test_official_client_runs_the_documentation_walkthrough(
    compat_python: Path,
    local_stack: LocalStackProcess,
    fixture_bags: Path,
    fixture_logs: Path,
    tmp_path: Path,
) -> None:
    # Given the local stack, a recording split into three MCAP files (rosbags' writer, custom type too),
    # and an environment holding no LogQS settings but the stack's
    split = write_split_recording(
        tmp_path / "split_run",
        [mixed_messages(START, 30), mixed_messages(START + 10**9, 20), mixed_messages(START + 3 * 10**9, 9)],
        storage="mcap",
    ).path
    env = _compat_environment(local_stack)
    command = [
        str(compat_python),
        str(WALKTHROUGH),
        "--topic-counts",
        json.dumps(EXAMPLE_BAG_TOPIC_COUNTS),
        *(f"--every-record-of={topic}" for topic in EVERY_RECORD_OF),
        *(str(fixture_bags / bag) for bag in BAGS),
        *(f"--mcap={fixture_logs / name}" for name in MCAP_FILES),
        *(f"--rosbag2={fixture_logs / name}" for name in RECORDINGS),
        f"--rosbag2={split}",
    ]

    # When the official client walks through the documentation (from an empty directory, so that no
    # .env or logqs-config.json is picked up)
    run = subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=WALKTHROUGH_TIMEOUT_S,
    )

    # Then every step passed
    print(run.stdout)  # shown with -rP
    assert run.returncode == 0, (
        f"official walkthrough exited {run.returncode}:\n{run.stdout}\n"
        f"--- local stack output (tail) ---\n{_tail(''.join(local_stack.output), 60)}"
    )
    assert "all steps passed" in run.stdout


def test_official_client_manages_hooks_and_its_receiver_accepts_our_deliveries(
    compat_python: Path, local_stack: LocalStackProcess, tmp_path: Path
) -> None:
    # Given the local stack (hooks may reach this machine) and a small bag
    messages = [("/chatter", 1_700_000_000_000_000_000 + i * 10_000_000, f"m{i}") for i in range(50)]
    bag = write_string_bag(tmp_path / "hooked.bag", messages)
    env = _compat_environment(local_stack)

    # When the official client sets up a workflow and hooks, and its own receiver takes the deliveries
    run = subprocess.run(
        [str(compat_python), str(HOOKS), str(bag)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=WALKTHROUGH_TIMEOUT_S,
    )

    # Then it accepted the signed completion and refused the hook with another secret
    print(run.stdout)
    assert run.returncode == 0, (
        f"official hooks script exited {run.returncode}:\n{run.stdout}\n"
        f"--- local stack output (tail) ---\n{_tail(''.join(local_stack.output), 60)}"
    )
    assert "all steps passed" in run.stdout
