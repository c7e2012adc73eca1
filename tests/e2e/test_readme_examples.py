"""Every example of the README marked ``<!-- example: run twice ... -->`` runs against the local stack,
twice, in two orders, from an empty folder holding only ``run.bag`` (example.bag), with only the
environment ``make local`` prints.

The shell examples share their variables (``B``, ``A``, ``L``...), so they run as one script, in the
README's order; each Python example runs on its own. The first round runs the shell script first, the
second the Python examples first. Afterwards the log holds each of run.bag's records once.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import LocalStackProcess
from tests.support import real_files
from tests.support.bags import EXAMPLE_BAG_TOPIC_COUNTS
from tests.support.paths import PROJECT_DIR

pytestmark = pytest.mark.e2e

MARKER = "<!-- example: run twice by tests/e2e/test_readme_examples.py -->"
BLOCK = re.compile(re.escape(MARKER) + r"\n```(?P<language>\w+)\n(?P<code>.*?)\n```", re.DOTALL)
#: The shell's variables that must hold ids at the end (a failed create leaves "null" or nothing).
SHELL_IDS = ("G", "L", "T", "I")
#: The timestamps of the /imu records the shell example makes, in its one-second window, newest first.
WINDOW = [1700000000123456789 + i * 100000000 for i in range(28, 18, -1)]
TOOLS = ("bash", "curl", "jq", "base64", "aws")
STEP_TIMEOUT_S = 600


def readme_examples() -> list[tuple[str, str]]:
    """``(language, code)`` of every marked example, in the README's order."""
    text = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    return [(match["language"], match["code"]) for match in BLOCK.finditer(text)]


def test_readme_marks_its_shell_and_python_examples() -> None:
    examples = readme_examples()

    assert {language for language, _ in examples} == {"sh", "python"}
    assert len(examples) == (PROJECT_DIR / "README.md").read_text(encoding="utf-8").count(MARKER)


def _shell_script(examples: list[tuple[str, str]]) -> str:
    checks = "\n".join(
        f'[[ -n "${{{name}}}" && "${{{name}}}" != null ]] || {{ echo "{name}: no id" >&2; exit 1; }}'
        for name in SHELL_IDS
    )
    blocks = "\n".join(code for language, code in examples if language == "sh")
    return f"set -euo pipefail\n{blocks}\n{checks}\n"


def _run(command: list[str], folder: Path, env: dict[str, str], what: str) -> str:
    result = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _environment(stack: LocalStackProcess) -> dict[str, str]:
    """The caller's environment without LogQS or AWS settings, plus what `make local` printed."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LQS_", "AWS_", "OPENLQS_")) and name != "PYTHONPATH"
    }
    venv_bin = str(Path(sys.executable).parent)
    return {**kept, **stack.exports, "PATH": f"{venv_bin}:{kept.get('PATH', '')}", "PYTHONUNBUFFERED": "1"}


def _topic_counts(stack: LocalStackProcess) -> dict[str, int]:
    headers = {"Authorization": stack.authorization()}
    base = stack.base()
    with httpx.Client(headers=headers, timeout=30) as http:
        group = http.get(f"{base}/groups", params={"name": "Demo Group"}).json()["data"][0]
        log = http.get(f"{base}/logs", params={"group_id": group["id"], "name": "Demo Log"}).json()["data"][0]
        topics = http.get(f"{base}/topics", params={"log_id": log["id"], "limit": 1000}).json()["data"]
    return {topic["name"]: topic["record_count"] for topic in topics if topic["name"] != "/imu"}


def _drop_folder_is_empty(stack: LocalStackProcess, env: dict[str, str], folder: Path) -> bool:
    listing = subprocess.run(
        [
            *("aws", "s3", "ls", f"s3://{stack.exports['OPENLQS_BUCKET']}/drop/", "--recursive"),
            *("--endpoint-url", stack.exports["OPENLQS_S3_ENDPOINT"]),
        ],
        cwd=folder,
        env={**env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return listing.stdout.strip() == ""


def test_readme_examples_run_twice_in_either_order(local_stack: LocalStackProcess, tmp_path: Path) -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        reason = f"the README's examples need {', '.join(missing)} (make test installs them)"
        if real_files.in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    bag = real_files.require("bags", "example.bag")
    folder = tmp_path / "readme"
    folder.mkdir()
    shutil.copy(bag, folder / "run.bag")
    env = _environment(local_stack)
    examples = readme_examples()
    script = _shell_script(examples)
    python = [code for language, code in examples if language == "python"]

    def shell() -> str:
        return _run(["bash", "-c", script], folder, env, "the README's shell examples")

    def pythons() -> None:
        for number, code in enumerate(python, start=1):
            _run([sys.executable, "-c", code], folder, env, f"the README's Python example {number}")

    # First round: the shell examples, then the Python ones; second round: the other way round
    first = shell()
    pythons()
    pythons()
    second = shell()

    # Then every run printed the window's timestamps exactly (no rounding through a double)
    for output in (first, second):
        printed = [int(n) for n in re.findall(r'"timestamp": ?([0-9]+)', output)]
        assert printed[: len(WINDOW)] == WINDOW, output
        assert "#ROSBAG V2.0" in output
    # And once the drop folder has taken the dropped files, the log holds each record of run.bag once
    deadline = time.monotonic() + 60
    while not _drop_folder_is_empty(local_stack, env, folder):
        assert time.monotonic() < deadline, "the drop folder did not take the dropped files"
        time.sleep(0.5)
    assert _topic_counts(local_stack) == EXAMPLE_BAG_TOPIC_COUNTS
