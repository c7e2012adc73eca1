"""ConsoleFunction: the web console's files, with the origin of the API's presigned URLs in their policy."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from openlqs.api.console import storage_origins
from openlqs.local.apigateway import proxy_response_parts
from openlqs.local.functions import InProcessFunction
from openlqs.settings import get_settings
from tests.support.api import ApiClient
from tests.support.events import load_event
from tests.support.paths import PROJECT_DIR
from tests.support.resources import create_group


def test_console_policy_allows_the_origin_of_the_apis_presigned_urls(
    api: ApiClient, aws: dict[str, str]
) -> None:
    # Given a part URL the API hands out for an upload
    log = api.post("/logs", {"group_id": create_group(api)["id"], "name": "uploads"}).data
    api.post(f"/logs/{log['id']}/objects", {"key": "run.bag"})
    part = api.post(f"/logs/{log['id']}/objects/run.bag/parts", {"part_number": 1, "size": 10}).data

    # Then the console's policy lets the page send it there
    url = urlsplit(part["presigned_url"])
    assert storage_origins(get_settings()) == (f"{url.scheme}://{url.netloc}",)


def test_console_function_serves_its_page_with_that_policy(aws: dict[str, str]) -> None:
    function = InProcessFunction.from_file(
        PROJECT_DIR / "functions" / "console" / "app.py", logical_id="ConsoleFunction"
    )

    status, headers, body = proxy_response_parts(function.invoke(load_event("console/get_page.json")))

    header = dict(headers)
    assert status == 200 and b'<meta name="openlqs-api"' in body
    origins = storage_origins(get_settings())
    assert header["Content-Security-Policy"].startswith("default-src 'none';")
    assert f"connect-src 'self' {' '.join(origins)};" in header["Content-Security-Policy"]


def test_console_policy_allows_the_regional_endpoint_outside_us_east_1(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # S3's global endpoint redirects to the regional one for a new bucket outside us-east-1
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    bucket = get_settings().objects_bucket_name

    assert storage_origins(get_settings()) == (
        f"https://{bucket}.s3.amazonaws.com",
        f"https://{bucket}.s3.eu-west-1.amazonaws.com",
    )
