"""A local stand-in for API Gateway (REST API, Lambda proxy integration, payload format 1.0).

Each HTTP request becomes the proxy event API Gateway would send for a ``/{proxy+}`` resource, the
function's handler runs in-process, and its proxy response is written back as is: status, headers
(no header is added or rewritten, ``Content-Type`` included) and body, base64-decoded when the handler
says so.
"""

from __future__ import annotations

import base64
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Mapping, Sequence
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from openlqs.local.functions import InProcessFunction
from openlqs.local.template import LOCAL_ACCOUNT_ID

DEFAULT_STAGE = "local"
PROXY_RESOURCE = "/{proxy+}"
# Hop-by-hop framing is the server's business, not the handler's.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
_INTERNAL_ERROR_BODY = b'{"message": "Internal server error"}'


class MalformedProxyResponse(ValueError):
    """A handler returned something that is not a Lambda proxy response."""


def build_proxy_event(
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes | None,
    *,
    source_ip: str = "127.0.0.1",
    stage: str = DEFAULT_STAGE,
    request_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The API Gateway REST proxy event (v1) for one request.

    ``target`` is the request target as received (path and raw query string). As API Gateway does,
    ``path`` stays percent-encoded while ``pathParameters`` and the query parameters are decoded
    (``+`` is a space); repeated query keys and headers keep every value in the ``multiValue*`` fields
    and their last value in the single-value fields. A body that is not UTF-8 text is base64-encoded.
    """
    split = urlsplit(target)
    path = split.path or "/"
    request_id = request_id or str(uuid.uuid4())
    now = time.time() if now is None else now

    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    query_pairs = parse_qsl(split.query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for key, value in query_pairs:
        multi_query.setdefault(key, []).append(value)

    is_root = path == "/"
    resource = "/" if is_root else PROXY_RESOURCE
    event_body, is_base64 = _encode_body(body)
    header_lookup = {name.lower(): values[-1] for name, values in multi_headers.items()}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} if multi_query else None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": None if is_root else {"proxy": unquote(path[1:])},
        "stageVariables": None,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": "local",
            "domainName": header_lookup.get("host", "127.0.0.1"),
            "extendedRequestId": request_id,
            "httpMethod": method,
            "identity": {
                "sourceIp": source_ip,
                "userAgent": header_lookup.get("user-agent"),
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
            # No "/{stage}" prefix: the local server, like a custom domain, serves the API at its root.
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": formatdate(now, usegmt=True),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "local",
            "resourcePath": resource,
            "stage": stage,
        },
        "body": event_body,
        "isBase64Encoded": is_base64,
    }


def proxy_response_parts(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body bytes of a Lambda proxy response.

    ``headers`` and ``multiValueHeaders`` are merged as API Gateway merges them (a name/value pair in
    both is sent once). Raises :class:`MalformedProxyResponse` for anything else, which API Gateway
    answers with 502.
    """
    if not isinstance(result, Mapping):
        raise MalformedProxyResponse(f"not a mapping: {result!r:.200}")
    try:
        status = int(result["statusCode"])
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedProxyResponse(f"no numeric statusCode: {result!r:.200}") from error
    header_list: list[tuple[str, str]] = []
    for name, values in (result.get("multiValueHeaders") or {}).items():
        header_list.extend((name, _header_text(value)) for value in values)
    sent = {(name.lower(), value) for name, value in header_list}
    for name, value in (result.get("headers") or {}).items():
        if (name.lower(), _header_text(value)) not in sent:
            header_list.append((name, _header_text(value)))
    header_list = [(name, value) for name, value in header_list if name.lower() not in _FRAMING_HEADERS]
    body = result.get("body")
    if body is None:
        payload = b""
    elif result.get("isBase64Encoded"):
        payload = base64.b64decode(body)
    else:
        payload = str(body).encode("utf-8")
    return status, header_list, payload


def _encode_body(body: bytes | None) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ApiGatewayServer:
    """An HTTP server on 127.0.0.1 that sends every request to one function as a proxy event."""

    def __init__(
        self,
        function: InProcessFunction,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stage: str = DEFAULT_STAGE,
        access_log: bool = False,
    ) -> None:
        self.function = function
        self.stage = stage
        self.access_log = access_log
        try:
            self._httpd = ThreadingHTTPServer((host, port), _make_request_handler(self))
        except OSError as error:
            raise OSError(f"the API cannot listen on {host}:{port}: {error}") from error
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when it was created with port 0)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:8000``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve requests on a background thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openlqs-api", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests and close the listening socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def handle(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes | None, client_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Run one request through the function; returns the response status, headers and body."""
        event = build_proxy_event(method, target, headers, body, source_ip=client_ip, stage=self.stage)
        try:
            return proxy_response_parts(self.function.invoke(event))
        except Exception:
            # API Gateway answers 502 when the integration fails; the traceback is the function's log.
            traceback.print_exc(file=sys.stderr)
            return 502, [("Content-Type", "application/json")], _INTERNAL_ERROR_BODY


def _make_request_handler(server: ApiGatewayServer) -> type[BaseHTTPRequestHandler]:
    class ProxyRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 300  # idle keep-alive connections end eventually
        server_version = "openlqs-local"

        def _proxy(self) -> None:
            body = self._read_body()
            status, headers, payload = server.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _read_body(self) -> bytes | None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else None

        def _read_chunked(self) -> bytes:
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()

        def log_message(self, format: str, *args: Any) -> None:
            if server.access_log:
                sys.stderr.write(f"api {self.address_string()} {format % args}\n")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy  # noqa: N815

    return ProxyRequestHandler
