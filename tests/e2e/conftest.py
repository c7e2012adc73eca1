"""E2E fixtures: the local stack as a subprocess on free ports, driven over real HTTP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT_S = 90


@dataclass
class LocalStackProcess:
    """`openlqs local` running in a child process."""

    data_dir: Path
    process: subprocess.Popen[str] | None = None
    exports: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)

    def start(self) -> None:
        env = {**os.environ, "OPENLQS_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1"}
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "OPENLQS_DATASTORE_ID"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "openlqs.cli", "local", "--port", "0", "--moto-port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        ready = threading.Event()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        if not ready.wait(STARTUP_TIMEOUT_S):
            self.stop()
            raise RuntimeError("local stack did not start:\n" + "".join(self.output))

    def _read(self, ready: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            match = re.match(r"^(?:export )?([A-Z0-9_]+)=(\S+)\s*$", line.strip())
            if match:
                self.exports[match.group(1)] = match.group(2)
            if "running" in line and "LQS_API_URL" in self.exports:
                ready.set()

    @property
    def api_url(self) -> str:
        return self.exports["LQS_API_URL"]

    @property
    def datastore_id(self) -> str:
        return self.exports["LQS_DATASTORE_ID"]

    def base(self) -> str:
        return f"{self.api_url}/apps/lqs/{self.datastore_id}/api"

    def stop(self) -> int | None:
        """Ctrl-C, as a user would; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        time.sleep(0.1)
        return code


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[LocalStackProcess]:
    stack = LocalStackProcess(tmp_path / "openlqs-data")
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client
