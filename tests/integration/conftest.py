"""Integration fixtures: moto (``mock_aws``) with tables and bucket built from template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openlqs.api.app import get_app
from openlqs.api.authorizer import get_keys
from openlqs.local.cloudformation import load_template
from openlqs.local.functions import InProcessFunction
from openlqs.local.resources import create_buckets, create_tables, local_resource_names, settings_environment
from openlqs.services import get_services
from openlqs.settings import get_settings
from tests.support.api import ApiClient

PROJECT_DIR = Path(__file__).resolve().parents[2]
DATASTORE_ID = "0f6c2a53-6d7e-4f1f-9e5a-2b8c7f0d9a11"


def _clear_caches() -> None:
    # The resolver holds no settings; services and settings are rebuilt for each test's environment.
    get_settings.cache_clear()
    get_services.cache_clear()
    get_keys.cache_clear()


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template(PROJECT_DIR / "template.yaml")


@pytest.fixture(scope="session")
def api_function() -> InProcessFunction:
    """ApiFunction's real handler file, imported once as the Lambda runtime would."""
    get_app.cache_clear()
    return InProcessFunction.from_file(PROJECT_DIR / "functions" / "api" / "app.py", logical_id="ApiFunction")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, template: dict[str, Any]) -> Iterator[dict[str, str]]:
    """moto with the template's tables and bucket; yields the settings environment."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "openlqs",
        "DATASTORE_ID": DATASTORE_ID,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        names = local_resource_names(template, prefix="itest")
        create_tables(boto3.client("dynamodb"), template, names)
        create_buckets(boto3.client("s3"), template, names)
        environment = settings_environment(names)
        environment["SECRETS_KEY_ID"] = boto3.client("kms").create_key(Description="object store secrets")[
            "KeyMetadata"
        ]["KeyId"]
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        _clear_caches()
        yield environment
    _clear_caches()


@pytest.fixture
def api(aws: dict[str, str]) -> ApiClient:
    """ApiFunction's real handler file, called with API Gateway proxy events."""
    function = InProcessFunction.from_file(
        PROJECT_DIR / "functions" / "api" / "app.py", logical_id="ApiFunction"
    )
    return ApiClient(function, f"/apps/lqs/{DATASTORE_ID}/api")


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch, aws: dict[str, str]) -> Any:
    """Set small datastore limits for one test."""

    def set_limits(**values: int) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name.upper(), str(value))
        _clear_caches()

    return set_limits
