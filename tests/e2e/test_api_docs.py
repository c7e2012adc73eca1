"""The API docs a new user is told about: printed by the stack, served at the root, and usable.

A real browser (headless Chromium, tests/support/browser.py) opens the Swagger UI at the URL the stack
printed, authorizes with the bearer token printed beside it, and runs one request.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.e2e.conftest import LocalStackProcess
from tests.support.browser import Screenshots

pytestmark = pytest.mark.e2e


def test_local_stack_prints_a_docs_url_that_answers_without_a_key(local_stack: LocalStackProcess) -> None:
    assert local_stack.docs_url == f"{local_stack.api_url}/docs"
    assert local_stack.docs_token is not None
    docs = httpx.get(local_stack.docs_url, timeout=30)
    spec = httpx.get(f"{local_stack.api_url}/openapi.json", timeout=30)

    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert spec.status_code == 200
    assert spec.json()["servers"] == [{"url": f"/apps/lqs/{local_stack.datastore_id}/api"}]


def test_swagger_ui_authorizes_with_the_printed_token_and_runs_a_request(
    local_stack: LocalStackProcess, browser_page: tuple[Any, Screenshots]
) -> None:
    page, screenshots = browser_page
    assert local_stack.docs_url is not None and local_stack.docs_token is not None
    group_name = f"Swagger {uuid4().hex[:8]}"
    created = httpx.post(
        f"{local_stack.base()}/groups",
        json={"name": group_name},
        headers={"Authorization": local_stack.authorization()},
        timeout=30,
    )
    assert created.status_code == 200, created.text

    # Given Swagger UI, opened at the URL the stack printed
    page.goto(local_stack.docs_url)
    page.locator(".swagger-ui .info .title").wait_for()
    screenshots.take("opened")

    # When the user authorizes with the printed token
    page.locator(".auth-wrapper button.authorize").click()
    page.locator(".modal-ux input").first.fill(local_stack.docs_token)
    page.locator(".modal-ux .auth-btn-wrapper button.authorize").click()
    screenshots.take("authorized")
    page.locator(".modal-ux .auth-btn-wrapper button.btn-done").click()

    # And tries GET /groups
    operation = page.locator('.opblock-get:has(.opblock-summary-path[data-path="/groups"])').first
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    status.scroll_into_view_if_needed()
    screenshots.take("executed")

    # Then the request went to this datastore's API with the key, and listed the group
    assert status.inner_text().strip() == "200"
    request_url = operation.locator(".request-url").inner_text()
    assert re.search(rf"/apps/lqs/{local_stack.datastore_id}/api/groups\b", request_url), request_url
    body = operation.locator(".live-responses-table tbody .response-col_description pre").first.inner_text()
    assert group_name in body
