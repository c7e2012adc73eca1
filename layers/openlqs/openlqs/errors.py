"""The one error vocabulary of openlqs.

Domain code raises these; ``openlqs.api.errors`` maps them to HTTP statuses and the LogQS error body
``{"message": "[Name] detail"}`` in one place. The status lives next to the error so that the mapping
cannot drift from the definition.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OpenLQSError(Exception):
    """Base of every error openlqs reports to a caller."""

    status_code: ClassVar[int] = 500
    #: The bracketed name in the LogQS message; defaults to the class name.
    error_name: ClassVar[str | None] = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @classmethod
    def name(cls) -> str:
        return cls.error_name or cls.__name__

    @property
    def message(self) -> str:
        """The LogQS-style message: ``[Name] detail``."""
        return f"[{self.name()}] {self.detail}"


class BadRequest(OpenLQSError):
    """The request is malformed or names something that cannot be used."""

    status_code = 400


class LimitExceeded(BadRequest):
    """A datastore limit (logs per datastore, topics per log, ...) would be exceeded."""


class Unauthorized(OpenLQSError):
    status_code = 401


class Forbidden(OpenLQSError):
    status_code = 403


class NotFound(OpenLQSError):
    status_code = 404


class Conflict(OpenLQSError):
    """A unique name is taken, a resource is still in use, or a concurrent write won."""

    status_code = 409


class ConcurrentChange(Conflict):
    """A concurrent write won the race for an item this request read: reading again and writing again
    may succeed (``retry_on_conflict`` does; the caller is told to try again)."""

    error_name = "Conflict"


class InvalidTransition(Conflict):
    """A process (ingestion, part) cannot move from its current state to the requested one."""


class DuplicateIngestion(Conflict):
    """The log already holds (or is ingesting) the records of a file with the same content."""


class ContentTooLarge(OpenLQSError):
    """The request body, or a resource as it would be stored, is larger than the API accepts."""

    status_code = 413


class UnsupportedMediaType(OpenLQSError):
    """A request body that is not JSON (every body of the LogQS API is ``application/json``)."""

    status_code = 415


class Locked(OpenLQSError):
    """The resource is locked and the request does not carry its lock token."""

    status_code = 423


class BadLogFile(OpenLQSError):
    """A log file cannot be read (not a bag, truncated, corrupt).

    ``payload`` says where, for a failed ingestion's ``error_payload`` (``{"chunk_offset": 1234}``: the
    file offset of the chunk that is corrupt).
    """

    status_code = 400

    def __init__(self, detail: str, *, payload: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.payload: dict[str, Any] = dict(payload or {})


class StaleAttempt(OpenLQSError):
    """A task of an older attempt ran after the ingestion was queued again (or ended); it must not write.

    Not a ``Conflict``: nothing retries it (a retry would meet the same newer attempt).
    """

    status_code = 409


class IngestionIncomplete(OpenLQSError):
    """Finalize found parts of the ingestion that did not complete."""

    status_code = 409


class DigestionIncomplete(OpenLQSError):
    """Finalize found parts of the digestion that did not complete."""

    status_code = 409


class TooManyRequests(OpenLQSError):
    """The API's throttling limits were reached; retry later."""

    status_code = 429


class ServiceUnavailable(OpenLQSError):
    """A service openlqs depends on did not do its part; the request can be sent again."""

    status_code = 503


class InternalServerError(OpenLQSError):
    """Something unexpected failed; details are in the logs, never in the response."""

    status_code = 500
