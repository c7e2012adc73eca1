"""Every use of moto's private API in openlqs, in one place, for the moto version pyproject.toml pins.

moto's public API is its decorators and its server. The local stack needs a few things only moto's
internals give: the server's WSGI application (to put a change tracker in front of it), its process-wide
config (to make Step Functions executions run their states), the in-process KMS keys (to give a key its
saved id and material back after a restart) and the DynamoDB Streams backend (to drop shard iterators it
would otherwise keep forever). Nothing else in openlqs imports from moto.

Importing this module with another moto version fails at once, naming this file: an upgrade of moto has
to check each use below, and the tests of the local stack, before the pin moves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

#: The moto release every use below was written and checked against (``moto[server]`` in pyproject.toml).
PINNED_MOTO_VERSION = "5.2.5"


class UnsupportedMotoVersion(RuntimeError):
    """The installed moto is not the release the local stack's use of its internals was checked with."""


def check_moto_version(installed: str | None = None) -> None:
    """Refuse a moto other than :data:`PINNED_MOTO_VERSION`."""
    installed = installed or metadata.version("moto")
    if installed != PINNED_MOTO_VERSION:
        raise UnsupportedMotoVersion(
            f"openlqs's local stack uses moto internals checked with moto {PINNED_MOTO_VERSION}, and "
            f"moto {installed} is installed. Install the pinned version (make local reinstalls it), or "
            f"check every use in {__file__} against moto {installed} and move the pin in pyproject.toml."
        )


check_moto_version()

from moto.core.config import default_user_config  # noqa: E402
from moto.dynamodbstreams.models import dynamodbstreams_backends  # noqa: E402
from moto.kms.models import kms_backends  # noqa: E402
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

__all__ = [
    "PINNED_MOTO_VERSION",
    "MotoRequestHandler",
    "ThreadedMotoServer",
    "UnsupportedMotoVersion",
    "check_moto_version",
    "forget_shard_iterator",
    "kms_keys",
    "moto_wsgi_app",
    "step_functions_config",
]


def moto_wsgi_app() -> WsgiApp:
    """The WSGI application moto's server serves (every service, dispatched by host and path)."""
    app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    return app


def step_functions_config() -> dict[str, Any]:
    """moto's process-wide Step Functions config, as it is now (a copy)."""
    return dict(default_user_config.get("stepfunctions", {}))


def kms_keys(account_id: str, region: str) -> dict[str, Any]:
    """moto's KMS keys of one account and region, by key id (the objects its server answers from)."""
    keys: dict[str, Any] = kms_backends[account_id][region].keys
    return keys


def forget_shard_iterator(account_id: str, region: str, iterator: str) -> None:
    """Drop a used DynamoDB Streams shard iterator from moto's backend (moto keeps every one it hands
    out; AWS expires them after 15 minutes)."""
    dynamodbstreams_backends[account_id][region].shard_iterators.pop(iterator, None)
