"""Client configuration: constructor > logqs-config.json > LQS_* variables, and what it puts on the wire."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from openlqs.client import ClientConfig, LogQS
from tests.support.client import ScriptedApi, page

FILE_DATASTORE = UUID("00000000-0000-0000-0000-00000000f11e")
ENV_DATASTORE = UUID("00000000-0000-0000-0000-000000000e00")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No LQS_* variable and no logqs-config.json but the ones a test writes (in ``tmp_path``)."""
    for name in list(os.environ):
        if name.startswith("LQS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def _write_config(directory: Path, content: dict[str, Any], name: str = "logqs-config.json") -> Path:
    path = directory / name
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def test_client_config_constructor_argument_beats_file_and_environment(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    monkeypatch.setenv("LQS_API_URL", "http://env.test")
    _write_config(clean_environment, {"api_url": "http://file.test"})

    lqs = LogQS(api_url="http://constructor.test")

    assert lqs.config.api_url == "http://constructor.test"


def test_client_config_file_beats_environment(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    monkeypatch.setenv("LQS_API_URL", "http://env.test")
    monkeypatch.setenv("LQS_DATASTORE_ID", str(ENV_DATASTORE))
    _write_config(clean_environment, {"datastore_id": str(FILE_DATASTORE)})

    config = LogQS().config

    assert config.datastore_id == FILE_DATASTORE
    assert config.api_url == "http://env.test"  # what the file leaves out still comes from the environment


def test_client_config_environment_values_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LQS_API_KEY_ID", "11111111-2222-3333-4444-555555555555")
    monkeypatch.setenv("LQS_RETRY_COUNT", "7")
    monkeypatch.setenv("LQS_ADDITIONAL_HEADERS", '{"X-Team": "robots"}')

    config = LogQS().config

    assert config.api_key_id == UUID("11111111-2222-3333-4444-555555555555")
    assert config.retry_count == 7
    assert config.additional_headers == {"X-Team": "robots"}


def test_client_config_dict_keeps_its_values_when_arguments_are_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The official client's style: LogQS(config={...}) with no keyword arguments.
    monkeypatch.setenv("LQS_API_URL", "http://env.test")

    lqs = LogQS({"api_url": "http://dict.test", "datastore_id": str(FILE_DATASTORE), "api_key_secret": "s"})

    assert lqs.config.api_url == "http://dict.test"
    assert lqs.config.datastore_id == FILE_DATASTORE
    assert lqs.config.api_key_secret == "s"


def test_client_config_keyword_argument_beats_the_config_dict() -> None:
    lqs = LogQS({"api_url": "http://dict.test"}, api_url="http://keyword.test")

    assert lqs.config.api_url == "http://keyword.test"


def test_client_config_config_key_selects_a_nested_section(clean_environment: Path) -> None:
    _write_config(
        clean_environment,
        {
            "api_url": "http://top.test",
            "retry_count": 5,
            "staging": {"api_url": "http://staging.test"},
            "production": {"api_url": "http://production.test", "retry_count": 9},
        },
    )

    config = LogQS({"config_key": "staging"}).config

    assert config.api_url == "http://staging.test"
    assert config.retry_count == 5  # top-level settings apply to every section


def test_client_config_config_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    _write_config(clean_environment, {"production": {"api_url": "http://production.test"}})
    monkeypatch.setenv("LQS_CONFIG_KEY", "production")

    assert LogQS().config.api_url == "http://production.test"


def test_client_config_config_path_names_another_file(clean_environment: Path) -> None:
    path = _write_config(clean_environment, {"api_url": "http://elsewhere.test"}, name="other.json")

    assert LogQS({"config_path": str(path)}).config.api_url == "http://elsewhere.test"


def test_client_config_without_any_source_uses_the_defaults() -> None:
    config = LogQS().config

    assert config.model_dump() == ClientConfig().model_dump()
    assert config.api_url_source == "default"


def test_client_config_additional_headers_from_the_file_are_sent(clean_environment: Path) -> None:
    _write_config(clean_environment, {"additional_headers": {"X-Team": "robots", "X-Trace": "1"}})
    api = ScriptedApi(page())
    config = LogQS().config.model_copy(update={"api_url": "http://lqs.test"})
    lqs = LogQS(config, http_client=httpx.Client(transport=httpx.MockTransport(api)))

    lqs.list.group()

    assert api.requests[0].headers["X-Team"] == "robots"
    assert api.requests[0].headers["X-Trace"] == "1"


def test_client_config_nested_additional_headers_replace_the_top_level_ones(clean_environment: Path) -> None:
    _write_config(
        clean_environment,
        {"additional_headers": {"X-Team": "top"}, "staging": {"additional_headers": {"X-Team": "staging"}}},
    )

    assert LogQS({"config_key": "staging"}).config.additional_headers == {"X-Team": "staging"}


def test_client_config_strips_the_trailing_slash_of_the_api_url() -> None:
    lqs = LogQS(api_url="http://lqs.test/", datastore_id=FILE_DATASTORE)

    assert lqs.transport.base_url == f"http://lqs.test/apps/lqs/{FILE_DATASTORE}/api"
