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
from typing import Any
from uuid import UUID

import boto3
import httpx
import pytest
from botocore.config import Config

from openlqs.auth import format_authorization
from openlqs.local.cloudformation import load_template
from openlqs.local.resources import local_resource_names
from tests.support.paths import PROJECT_DIR

STARTUP_TIMEOUT_S = 90


@dataclass
class LocalStackProcess:
    """`openlqs local` running in a child process."""

    data_dir: Path
    process: subprocess.Popen[str] | None = None
    exports: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    #: The API docs URL and the bearer token the stack printed for them.
    docs_url: str | None = None
    docs_token: str | None = None
    #: The web console's URL the stack printed.
    console_url: str | None = None

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
            docs = re.match(r"^# API docs: (\S+)(?: \(Authorize with the bearer token (\S+)\))?", line)
            if docs:
                self.docs_url, self.docs_token = docs.group(1), docs.group(2)
            console = re.match(r"^# Console: (\S+)", line)
            if console:
                self.console_url = console.group(1)
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

    @property
    def api_key_id(self) -> str:
        return self.exports["LQS_API_KEY_ID"]

    @property
    def api_key_secret(self) -> str:
        return self.exports["LQS_API_KEY_SECRET"]

    def authorization(self) -> str:
        """The admin key the stack printed, as the Authorization header's value."""
        return format_authorization(UUID(self.api_key_id), self.api_key_secret)

    def client(self, service: str) -> Any:
        """A boto3 client for one service of the stack's moto server (S3, DynamoDB, Step Functions...),
        with the fake credentials moto accepts: to look at what the stack stored, behind its API."""
        return boto3.client(
            service,
            endpoint_url=self.exports["OPENLQS_S3_ENDPOINT"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(s3={"addressing_style": "path"}),
        )

    def scan(self, logical_id: str) -> list[dict[str, Any]]:
        """Every item of one of the stack's tables (``ResourcesTable``, ``RecordsTable``), read through
        moto's endpoint."""
        table = local_resource_names(load_template(PROJECT_DIR / "template.yaml"))[logical_id]
        pages = self.client("dynamodb").get_paginator("scan").paginate(TableName=table)
        return [item for page in pages for item in page["Items"]]

    def __enter__(self) -> LocalStackProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

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


class ApiKeyAuth(httpx.Auth):
    """The stack's admin key on requests to its API only (never on presigned storage URLs).

    The stack is asked on every request: after a restart its URL (a new free port) is another.
    """

    def __init__(self, stack: LocalStackProcess) -> None:
        self.stack = stack

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        if str(request.url).startswith(self.stack.api_url):
            request.headers["Authorization"] = self.stack.authorization()
        yield request


@pytest.fixture
def http(local_stack: LocalStackProcess) -> Iterator[httpx.Client]:
    """An HTTP client that calls the local stack's API with its admin key."""
    with httpx.Client(timeout=30, auth=ApiKeyAuth(local_stack)) as client:
        yield client
