"""Errors of the client itself, beside the server's vocabulary (``openlqs.errors``) it also raises."""

from __future__ import annotations

from openlqs.errors import OpenLQSError


class ApiUnreachable(OpenLQSError, ConnectionError):
    """A request could not be sent or got no answer: the message names the URL and what to check.

    Raised instead of httpx's transport errors once the retries are spent, for the API and for the
    presigned storage URLs the API hands out. It is a ``ConnectionError`` too.
    """

    status_code = 503
