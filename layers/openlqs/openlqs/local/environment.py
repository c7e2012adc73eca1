"""This process's environment while a local stack runs: pointed at the local resources, then put back.

The functions run in this process and read their settings (and boto3 its endpoint and credentials) from
``os.environ``; the local stack sets what a deployed function would find, and :meth:`restore` puts the
caller's environment back. Every cache built from the environment is dropped on both occasions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import boto3

from openlqs.api.authorizer import get_keys
from openlqs.services import get_services
from openlqs.settings import get_settings


class ProcessEnvironment:
    """Changes ``os.environ`` and remembers what to put back (the values before the first change)."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def apply(
        self, environment: Mapping[str, str], *, cleared: Iterable[str] = (), keep_session: bool = False
    ) -> None:
        """Set ``environment`` and unset ``cleared``; may be called again (only the first call saves).

        ``keep_session`` keeps boto3's default session (and the handlers installed on it) for a change
        that is only the settings'.
        """
        cleared = tuple(cleared)
        for name in (*environment, *cleared):
            self._saved.setdefault(name, os.environ.get(name))
        for name in cleared:
            os.environ.pop(name, None)
        os.environ.update(environment)
        forget_cached_configuration(keep_session=keep_session)

    def restore(self) -> None:
        """Put back every variable changed since the first :meth:`apply` (idempotent)."""
        if not self._saved:
            return
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved = {}
        forget_cached_configuration()


def forget_cached_configuration(*, keep_session: bool = False) -> None:
    """Make the settings, the services built from them and boto3's default session (unless
    ``keep_session``) read the environment again (the services hold clients of the previous moto
    server, named by the previous settings)."""
    get_settings.cache_clear()
    get_services.cache_clear()
    get_keys.cache_clear()
    if not keep_session:
        boto3.DEFAULT_SESSION = None
