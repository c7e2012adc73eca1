"""The web console's files as ConsoleFunction answers them: the page, its policy, caching, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from openlqs.api.console import ConsoleFiles, content_security_policy, request_prefix
from openlqs.settings import Settings
from tests.support.events import load_event
from tests.support.paths import PROJECT_DIR

STATIC = PROJECT_DIR / "functions" / "console" / "static"
DATASTORE = UUID("0f6c2a53-6d7e-4f1f-9e5a-2b8c7f0d9a11")
STORAGE = "https://openlqs-objects-123456789012-us-east-1-665544332211.s3.amazonaws.com"


def console(folder: Path = STATIC) -> ConsoleFiles:
    settings = Settings(datastore_id=DATASTORE)
    return ConsoleFiles(folder, settings=lambda: settings, origins=lambda _settings: (STORAGE,))


def get(files: ConsoleFiles, path: str, **headers: str) -> dict[str, Any]:
    event = load_event("console/get_script.json")
    event["path"] = path
    event["requestContext"]["path"] = f"/v1{path}"
    event["headers"].update(headers)
    return files.answer(event)


def test_console_page_is_rendered_with_where_the_api_is_behind_the_stage() -> None:
    # Given a request through API Gateway's stage URL (https://{api}.execute-api…/v1/console/)
    answer = console().answer(load_event("console/get_page.json"))

    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == "text/html; charset=utf-8"
    page = answer["body"]
    assert f'<meta name="openlqs-api" content="/v1/apps/lqs/{DATASTORE}/api">' in page
    assert '<script type="module" src="/v1/console/console.js"></script>' in page
    assert "{{" not in page


def test_console_page_has_no_inline_script_or_style() -> None:
    page = console().answer(load_event("console/get_page.json"))["body"]

    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all('src="' in attributes and not body.strip() for attributes, body in scripts)
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)


def test_console_answers_carry_a_strict_content_security_policy() -> None:
    answer = console().answer(load_event("console/get_script.json"))
    policy = dict(part.split(" ", 1) for part in answer["headers"]["Content-Security-Policy"].split("; "))

    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == "text/javascript; charset=utf-8"
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == f"'self' {STORAGE}"
    assert policy["img-src"] == "'self' data: blob:"
    assert policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'none'"
    assert answer["headers"]["X-Content-Type-Options"] == "nosniff"
    assert answer["headers"]["Referrer-Policy"] == "no-referrer"


def test_console_files_are_revalidated_by_etag() -> None:
    files = console()
    first = get(files, "/console/console.css")
    etag = first["headers"]["ETag"]

    again = get(files, "/console/console.css", **{"If-None-Match": etag})
    changed = get(files, "/console/console.css", **{"If-None-Match": '"something-else"'})

    assert first["headers"]["Cache-Control"] == "no-cache"
    assert (again["statusCode"], again["body"]) == (304, "")
    assert again["headers"]["ETag"] == etag
    assert changed["statusCode"] == 200 and changed["body"] == first["body"]


def test_console_page_etag_follows_what_it_was_rendered_with() -> None:
    files = console()
    through_stage = files.answer(load_event("console/get_page.json"))
    event = load_event("console/get_page.json")
    event["requestContext"]["path"] = "/console/"  # a custom domain at the root
    at_root = files.answer(event)

    assert at_root["headers"]["ETag"] != through_stage["headers"]["ETag"]
    assert f'content="/apps/lqs/{DATASTORE}/api"' in at_root["body"]


@pytest.mark.parametrize(
    "path",
    [
        "/console/missing.js",
        "/console/../template.yaml",
        "/console/%2e%2e/app.py",
        "/console/sub/console.js",
        "/console/.hidden.js",
        "/consoles/",
    ],
)
def test_console_refuses_what_is_not_one_of_its_files(path: str) -> None:
    answer = get(console(), path)

    assert answer["statusCode"] == 404
    assert answer["headers"]["Content-Type"] == "application/json"
    assert json.loads(answer["body"])["message"].startswith("[NotFound] ")


def test_console_serves_only_its_kinds_of_files(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<p>{{api_base}}</p>")
    (tmp_path / "notes.txt").write_text("private")
    (tmp_path / "app.py").write_text("secret = 1")
    files = console(tmp_path)

    assert get(files, "/console/notes.txt")["statusCode"] == 404
    assert get(files, "/console/app.py")["statusCode"] == 404
    assert get(files, "/console/index.html")["body"] == f"<p>/v1/apps/lqs/{DATASTORE}/api</p>"


def test_console_answers_only_get() -> None:
    event = load_event("console/get_page.json")
    event["httpMethod"] = "POST"

    answer = console().answer(event)

    assert answer["statusCode"] == 405
    assert json.loads(answer["body"])["message"].startswith("[MethodNotAllowed] ")


def test_request_prefix_is_what_came_before_the_route() -> None:
    assert request_prefix({"path": "/console/", "requestContext": {"path": "/v1/console/"}}) == "/v1"
    assert request_prefix({"path": "/console", "requestContext": {"path": "/console"}}) == ""
    assert request_prefix({"path": "/console/a.js"}) == ""


def test_content_security_policy_names_each_storage_origin() -> None:
    policy = content_security_policy(["http://127.0.0.1:8001", "https://b.s3.eu-west-1.amazonaws.com"])

    assert "connect-src 'self' http://127.0.0.1:8001 https://b.s3.eu-west-1.amazonaws.com;" in policy
