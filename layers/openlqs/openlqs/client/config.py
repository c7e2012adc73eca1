"""Client configuration: constructor arguments, then a JSON config file, then ``LQS_*`` variables.

The precedence and the file (``logqs-config.json`` in the working directory, optionally nested under a
``config_key``) are the official LogQS client's, so one configuration serves both clients. The
environment is read here, when a client is built, never at import time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Prefix of the environment variables (``LQS_API_URL``, ``LQS_API_KEY_ID``, ...).
ENV_PREFIX = "LQS_"
DEFAULT_CONFIG_PATH = "logqs-config.json"
DEFAULT_API_URL = "http://localhost:8000"


class ClientConfig(BaseModel):
    """Where the API is, who is calling, and how patient to be."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    #: Base URL of the deployment (``sam deploy`` prints it; ``make local`` prints the local one).
    api_url: str = DEFAULT_API_URL
    api_endpoint_prefix: str = "/apps"
    datastore_id: UUID | None = None
    api_key_id: UUID | None = None
    api_key_secret: str | None = Field(default=None, repr=False)
    #: Retries after the first attempt, for failures that are safe to repeat (see ``transport``).
    retry_count: int = Field(default=2, ge=0)
    #: First back-off in seconds; it doubles on every retry (with jitter), up to ``retry_max_delay``.
    retry_delay: float = Field(default=0.5, ge=0)
    retry_max_delay: float = Field(default=30.0, ge=0)
    api_request_timeout: float = Field(default=60.0, gt=0)
    additional_headers: dict[str, str] = Field(default_factory=dict)
    #: Progress bars (tqdm, when installed) for uploads and waits; never shown when not on a TTY.
    progress: bool = True
    config_path: str = DEFAULT_CONFIG_PATH
    config_key: str | None = None
    #: Where ``api_url`` came from (``load`` sets it): named when the API cannot be reached.
    api_url_source: str | None = Field(default=None, exclude=True, repr=False)

    @field_validator("api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("additional_headers", mode="before")
    @classmethod
    def _headers_from_json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> ClientConfig:
        """Merge the three sources; ``overrides`` (constructor arguments) win, the environment loses."""
        environ = os.environ if environ is None else environ
        given = {key: value for key, value in (overrides or {}).items() if value is not None}
        from_env = {
            name: environ[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if ENV_PREFIX + name.upper() in environ
        }
        config_path = given.get("config_path") or from_env.get("config_path") or DEFAULT_CONFIG_PATH
        config_key = given.get("config_key") or from_env.get("config_key")
        from_file = _read_config_file(Path(config_path), config_key)
        source = (
            "argument"
            if "api_url" in given
            else config_path
            if "api_url" in from_file
            else ENV_PREFIX + "API_URL"
            if "api_url" in from_env
            else "default"
        )
        return cls.model_validate({**from_env, **from_file, **given, "api_url_source": source})

    def describe_api_url(self) -> str:
        """Where ``api_url`` came from and what to do when nothing answers there."""
        local = "paste the export lines that `make local` printed (or start it with `make local`)"
        if self.api_url_source == "default" or (
            self.api_url_source is None and self.api_url == DEFAULT_API_URL
        ):
            return f"{ENV_PREFIX}API_URL is not set, so the default URL was tried: {local}."
        if self.api_url_source == ENV_PREFIX + "API_URL":
            where = f"{ENV_PREFIX}API_URL"
        elif self.api_url_source in (None, "argument"):
            where = "the api_url given to LogQS"
        else:
            where = f"api_url in {self.api_url_source}"
        return (
            f"The URL is {where}: is the server running there? For a local stack, {local}; its URL "
            "may have changed since the lines were pasted."
        )


def _read_config_file(path: Path, config_key: str | None) -> dict[str, Any]:
    """The file's top-level settings, overlaid with those nested under ``config_key`` if any."""
    if not path.is_file():
        return {}
    content = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(content, dict):
        raise ValueError(f"{path} must hold a JSON object")
    settings = {key: value for key, value in content.items() if not isinstance(value, dict)}
    nested = content.get(config_key) if config_key else None
    if isinstance(nested, dict):
        settings.update(nested)
    if isinstance(content.get("additional_headers"), dict):
        settings.setdefault("additional_headers", content["additional_headers"])
    return settings
