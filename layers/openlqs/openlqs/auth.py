"""The LogQS credential format: ``Authorization: Bearer base64("{key_id}:{secret}")`` (contract §1.2), and
how a hook's POST proves where it comes from (its ``Authorization`` and its signature)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
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


# -- hook deliveries -----------------------------------------------------------------------------------
#: Headers of a hook's POST besides ``Authorization`` (docs/security.md, "Hook deliveries").
HOOK_SIGNATURE_HEADER = "X-Openlqs-Signature"
HOOK_EVENT_ID_HEADER = "X-Openlqs-Event-Id"
HOOK_ATTEMPT_HEADER = "X-Openlqs-Delivery-Attempt"
#: How old a signed timestamp a receiver accepts by default (replays of older deliveries are refused).
HOOK_SIGNATURE_TOLERANCE_S = 300


def hook_authorization(secret: str) -> str:
    """``Authorization`` of a hook's POST as the official client's receiver expects it: ``Bearer
    base64(secret)``, the secret alone (``lqs/client/server.py`` in logqs 1.1.16)."""
    return "Bearer " + base64.b64encode(secret.encode()).decode()


def hook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Openlqs-Signature`` value: ``t={timestamp},v1={hex HMAC-SHA256 of "{timestamp}." + body,
    keyed with the secret}``, as Stripe signs its webhooks (the timestamp is signed too, so a captured
    delivery cannot be replayed later with a new one)."""
    return f"t={timestamp},v1={_hook_mac(secret, timestamp, body)}"


def verify_hook_signature(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    tolerance_s: int = HOOK_SIGNATURE_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check a delivery's ``X-Openlqs-Signature`` against the raw body; returns its timestamp.

    For receivers: ``Unauthorized`` when the header is missing or malformed, no ``v1`` signature
    matches (compared in constant time), or the timestamp is more than ``tolerance_s`` away from
    ``now`` (default: the clock). Verify the body exactly as received, before parsing it.
    """
    fields: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        name, separator, value = item.strip().partition("=")
        if separator:
            fields.setdefault(name, []).append(value)
    try:
        (timestamp_text,) = fields.get("t", [])
        timestamp = int(timestamp_text)
    except ValueError:
        raise Unauthorized(f"{HOOK_SIGNATURE_HEADER} is missing or has no single timestamp t=.") from None
    expected = _hook_mac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in fields.get("v1", [])):
        raise Unauthorized(f"{HOOK_SIGNATURE_HEADER} does not match the body and the secret.")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise Unauthorized(f"{HOOK_SIGNATURE_HEADER} was made {int(current - timestamp)} s ago.")
    return timestamp


def _hook_mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
