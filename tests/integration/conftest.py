"""Integration fixtures: moto (``mock_aws``) with tables and bucket built from template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openlqs.api.authorizer import get_keys
from openlqs.local.apigateway import DEFAULT_STAGE, LOCAL_API_ID, AuthorizerCacheFlushHook
from openlqs.local.functions import InProcessFunction
from openlqs.local.moto_fence import install_ranged_reads, install_transactions
from openlqs.local.resources import create_buckets, create_tables, local_resource_names, settings_environment
from openlqs.services import get_services
from openlqs.settings import get_settings
from tests.support.api import ApiClient
from tests.support.moto import empty_moto
from tests.support.paths import DATASTORE_ID, PROJECT_DIR


def _clear_caches() -> None:
    # The resolver holds no settings; services and settings are rebuilt for each module's environment.
    get_settings.cache_clear()
    get_services.cache_clear()
    get_keys.cache_clear()


def _forget_changed_settings() -> None:
    """Keep the services (their boto3 clients are the costly part) while the settings are the same."""
    built_with = get_settings()
    get_settings.cache_clear()
    get_keys.cache_clear()
    if get_settings() != built_with:
        get_services.cache_clear()


@pytest.fixture(scope="session")
def api_function() -> InProcessFunction:
    """ApiFunction's real handler file, imported once as the Lambda runtime would."""
    return InProcessFunction.from_file(PROJECT_DIR / "functions" / "api" / "app.py", logical_id="ApiFunction")


#: The environment every test of the tier runs in (AWS credentials for moto, quiet Powertools).
BASE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "openlqs",
    "DATASTORE_ID": DATASTORE_ID,
}


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's fake credentials and region, and no endpoint or profile of the machine's own."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def aws_module(template: dict[str, Any]) -> Iterator[dict[str, str]]:
    """moto with the template's tables and bucket, built once for a test module."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in BASE_ENVIRONMENT.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        install_transactions()
        install_ranged_reads()
        with mock_aws():
            names = local_resource_names(template, prefix="itest")
            create_tables(boto3.client("dynamodb"), template, names)
            create_buckets(boto3.client("s3"), template, names)
            environment = settings_environment(names)
            key = boto3.client("kms").create_key(Description="object store secrets")["KeyMetadata"]
            environment["SECRETS_KEY_ID"] = key["KeyId"]
            _clear_caches()
            yield environment
    _clear_caches()


@pytest.fixture
def aws(aws_module: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The module's moto, emptied for this test (what a fresh moto with the template's tables and bucket
    would hold); yields the settings environment. A test may change the environment (``limits``): the
    services are rebuilt when the settings they were built from are not the test's."""
    empty_moto(aws_module)
    for name, value in {**BASE_ENVIRONMENT, **aws_module}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    _forget_changed_settings()
    yield aws_module
    _forget_changed_settings()


@pytest.fixture
def authorizer_flushes() -> Iterator[list[tuple[str, str]]]:
    """The stages whose authorizer cache the code flushed (``FlushStageAuthorizersCache``), answered
    in-process for the stage of the test's events (moto does not implement the operation)."""
    flushed: list[tuple[str, str]] = []
    stage = (LOCAL_API_ID, DEFAULT_STAGE)
    with AuthorizerCacheFlushHook({stage: lambda: flushed.append(stage)}):
        yield flushed


@pytest.fixture
def api(aws: dict[str, str], authorizer_flushes: list[tuple[str, str]]) -> ApiClient:
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
