"""The local stack serves the web console as API Gateway would: public, from ConsoleFunction, with the
local storage's origin in its policy; every other route still needs a key."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.local import local_stack, stand_in_project
from tests.support.paths import PROJECT_DIR


def test_local_stack_serves_the_console_without_a_key(data_dir: Path) -> None:
    with (
        local_stack(PROJECT_DIR, data_dir) as stack,
        httpx.Client(base_url=stack.api_url, timeout=30) as http,
    ):
        page = http.get("/console/")
        bare = http.get("/console")
        script = http.get("/console/console.js")
        missing = http.get("/console/missing.js")
        data = http.get("/groups")
        posted = http.post("/console/", json={})
        moto_url = stack.moto_url

    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert f'<meta name="openlqs-api" content="/apps/lqs/{stack.datastore_id}/api">' in page.text
    assert bare.status_code == 200 and bare.text == page.text
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    # The console's own 404, not the authorizer's 401
    assert missing.status_code == 404 and missing.json()["message"].startswith("[NotFound] ")
    # Moto's port is where presigned uploads go: the policy lets the page send them there
    assert f"connect-src 'self' {moto_url};" in page.headers["content-security-policy"]
    # Only GETs of the console are public
    assert data.status_code == 401 and posted.status_code == 401


def test_local_stack_without_the_console_still_serves_its_api(tmp_path: Path) -> None:
    # A project whose ConsoleFunction has no code: the API starts; the console answers 502
    project = stand_in_project(tmp_path / "project")
    with (
        local_stack(project, tmp_path / "data") as stack,
        httpx.Client(base_url=stack.api_url, timeout=30) as http,
    ):
        assert http.get("/console/").status_code == 502
        assert http.get("/groups").status_code == 401
