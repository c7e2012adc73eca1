"""A start shows what the user needs and nothing else: no warnings, banners or rates."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from openlqs.local.runner import RUNNING_MESSAGE
from tests.e2e.conftest import LocalStackProcess

pytestmark = pytest.mark.e2e

#: Every line `openlqs local` may print while it starts and serves a request.
EXPECTED_LINES = [
    re.compile(r"openlqs local: data in \S+"),
    re.compile(r"export [A-Z0-9_]+=\S+"),
    re.compile(r"# API docs: http://127\.0\.0\.1:\d+/docs \(Authorize with the bearer token \S+\)"),
    re.compile(
        r"# Console: http://127\.0\.0\.1:\d+/console/ \(sign in with LQS_API_KEY_ID and LQS_API_KEY_SECRET\)"
    ),
    re.compile(re.escape(RUNNING_MESSAGE)),
    re.compile(r'api 127\.0\.0\.1 "GET /\S+ HTTP/1\.1" \d{3} -'),  # the access log
]


def test_local_start_and_first_requests_print_only_what_a_user_needs(local_stack: LocalStackProcess) -> None:
    # When a user makes the first requests (each function's cold start)
    with httpx.Client(headers={"Authorization": local_stack.authorization()}, timeout=30) as http:
        assert http.get(f"{local_stack.base()}/groups").status_code == 200
        assert http.get(f"{local_stack.api_url}/openapi.json").status_code == 200
    time.sleep(0.5)  # let the access log lines arrive

    # Then every line printed is one of the expected ones
    lines = [line.rstrip("\n") for line in local_stack.output if line.strip()]
    unexpected = [line for line in lines if not any(p.fullmatch(line) for p in EXPECTED_LINES)]
    assert unexpected == [], "\n".join(lines)
