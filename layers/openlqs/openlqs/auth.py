"""The LogQS credential format: ``Authorization: Bearer base64("{key_id}:{secret}")`` (contract §1.2)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from uuid import UUID

from openlqs.errors import Unauthorized

_INVALID = "Missing or malformed credentials."


@dataclass(frozen=True)
class Credentials:
    key_id: UUID
    secret: str

    def __repr__(self) -> str:  # never print secrets
        return f"Credentials(key_id={self.key_id}, secret=***)"


def parse_authorization(header: str | None) -> Credentials | None:
    """Parse the header; None when absent, ``Unauthorized`` when present but not of the LogQS form."""
    if header is None or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(_INVALID)
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        key_id, separator, secret = decoded.partition(":")
        if not separator or not secret:
            raise ValueError("no secret")
        return Credentials(UUID(key_id), secret)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthorized(_INVALID) from None


def format_authorization(key_id: UUID, secret: str) -> str:
    """The header value the official client sends for a key."""
    return "Bearer " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()
