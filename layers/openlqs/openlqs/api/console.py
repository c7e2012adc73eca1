"""The web console's files, as ConsoleFunction serves them at ``/console/`` (public, like ``/docs``).

The console is static HTML, CSS and JavaScript (``functions/console/static``: no build step) that calls
the API from the browser with the user's key. This module answers API Gateway proxy events for those
files: ``/console`` and ``/console/`` are the page, rendered with where the API is (a ``<meta>``, never
an inline script); ``/console/{file}`` is any other file of the folder. Every file is text, so the API
needs no binary media types.

Every answer carries a strict Content-Security-Policy: scripts and styles from the console's own origin
only, images from it and as ``data:``/``blob:`` URLs (record previews), and connections to the API's
origin and to the objects bucket's origin, where presigned part uploads and downloads go. That origin is
the one of a URL the S3 adapter presigns as the API presigns them (moto's port locally).

Answers are revalidated on every use (``Cache-Control: no-cache`` and a strong ``ETag``, 304 when it
matches): a new deployment shows at once, and an unchanged file costs a few bytes.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from openlqs.adapters.objects import S3BlobStore, s3_client
from openlqs.settings import Settings, get_settings

#: The files the console may serve, by extension. Anything else in the folder is never sent.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
PAGE = "index.html"
#: ``/console``, ``/console/`` or ``/console/index.html``: the page (rendered); ``/console/{name}``: one
#: other file of the folder (no subfolders).
_PAGE_PATH = re.compile(r"^/console(?:/|/index\.html)?$")
_FILE_PATH = re.compile(r"^/console/(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)$")
#: What the page is told, as ``{{name}}`` in index.html (HTML-escaped).
_PLACEHOLDER = re.compile(r"\{\{(api_base|console_base)\}\}")
#: The page's key, once given, is kept in the tab's session storage; nothing else is cached but by ETag.
CACHE_CONTROL = "no-cache"


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def content_security_policy(storage_origins: Sequence[str]) -> str:
    """The console's policy: nothing but its own files, the API's origin and the bucket's."""
    connect = " ".join(["'self'", *storage_origins])
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def storage_origins(settings: Settings) -> tuple[str, ...]:
    """Origins of the presigned URLs the API hands out for log objects.

    A URL is presigned here exactly as the API presigns one (same client factory and bucket), and its
    origin taken: path style on moto's port locally, ``https://{bucket}.s3.amazonaws.com`` on AWS. S3's
    global endpoint may answer a bucket outside us-east-1 with a redirect to its regional endpoint (for a
    while after the bucket is made), so that origin is allowed too there.
    """
    blobs = S3BlobStore(
        settings.objects_bucket_name, lambda: s3_client(addressing_style=settings.s3_addressing_style)
    )
    url = urlsplit(blobs.presign_get("lqs/"))
    origins = [f"{url.scheme}://{url.netloc}"]
    region = blobs.client.meta.region_name
    if url.hostname == f"{settings.objects_bucket_name}.s3.amazonaws.com" and region not in (
        None,
        "us-east-1",
    ):
        origins.append(f"https://{settings.objects_bucket_name}.s3.{region}.amazonaws.com")
    return tuple(origins)


def request_prefix(event: Mapping[str, Any]) -> str:
    """What came before the route in the request (an API Gateway stage, a custom domain's base path)."""
    path = str(event.get("path") or "/")
    requested = str((event.get("requestContext") or {}).get("path") or path)
    return requested[: -len(path)].rstrip("/") if requested.endswith(path) else ""


class ConsoleFiles:
    """Answers proxy events for the console's files in ``folder``.

    The folder is read on first use (once per process). ``origins`` gives the storage origins for the
    policy (default: :func:`storage_origins` of the settings), asked once.
    """

    def __init__(
        self,
        folder: Path,
        *,
        settings: Callable[[], Settings] = get_settings,
        origins: Callable[[Settings], Sequence[str]] = storage_origins,
    ) -> None:
        self.folder = folder
        self._settings = settings
        self._origins = origins
        self._files: dict[str, StaticFile] | None = None
        self._headers: dict[str, str] | None = None
        self._lock = threading.Lock()

    def files(self) -> dict[str, StaticFile]:
        """Every servable file of the folder, by name."""
        with self._lock:
            if self._files is None:
                self._files = {
                    path.name: StaticFile(body, CONTENT_TYPES[path.suffix], _etag(body))
                    for path in sorted(self.folder.iterdir())
                    if path.is_file() and path.suffix in CONTENT_TYPES
                    for body in (path.read_bytes(),)
                }
            return self._files

    def security_headers(self) -> dict[str, str]:
        """Headers of every answer: the policy and the browser's other protections."""
        with self._lock:
            if self._headers is None:
                policy = content_security_policy(self._origins(self._settings()))
                self._headers = {
                    "Content-Security-Policy": policy,
                    "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "DENY",
                    "Cross-Origin-Opener-Policy": "same-origin",
                    "Cross-Origin-Resource-Policy": "same-origin",
                }
            return self._headers

    def answer(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The proxy response to one request for a console file."""
        path = str(event.get("path") or "/")
        if str(event.get("httpMethod") or "GET").upper() != "GET":
            return self._error(405, "MethodNotAllowed", "The console's files are read with GET only.")
        found = self._find(path, event)
        if found is None:
            return self._error(404, "NotFound", f"No console file at {path}.")
        headers = {**self.security_headers(), "Cache-Control": CACHE_CONTROL, "ETag": found.etag}
        if found.etag in _if_none_match(event):
            return {"statusCode": 304, "headers": headers, "body": "", "isBase64Encoded": False}
        headers["Content-Type"] = found.content_type
        return {"statusCode": 200, "headers": headers, "body": found.body.decode(), "isBase64Encoded": False}

    def _find(self, path: str, event: Mapping[str, Any]) -> StaticFile | None:
        """The page (rendered with where the API is), or another file."""
        if _PAGE_PATH.match(path):
            page = self.files().get(PAGE)
            return None if page is None else self._render(page, event)
        match = _FILE_PATH.match(path)
        return self.files().get(match.group("name")) if match else None

    def _render(self, page: StaticFile, event: Mapping[str, Any]) -> StaticFile:
        prefix = request_prefix(event)
        values = {
            "api_base": f"{prefix}/apps/lqs/{self._settings().datastore_id}/api",
            "console_base": f"{prefix}/console/",
        }
        text = _PLACEHOLDER.sub(lambda m: html.escape(values[m.group(1)], quote=True), page.body.decode())
        body = text.encode()
        return StaticFile(body, page.content_type, _etag(body))

    def _error(self, status: int, name: str, detail: str) -> dict[str, Any]:
        return {
            "statusCode": status,
            "headers": {**self.security_headers(), "Content-Type": "application/json"},
            "body": json.dumps({"message": f"[{name}] {detail}"}),
            "isBase64Encoded": False,
        }


def _if_none_match(event: Mapping[str, Any]) -> set[str]:
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    value = headers.get("if-none-match", "")
    return {tag.strip().removeprefix("W/") for tag in value.split(",") if tag.strip()}
