"""A local stand-in for API Gateway (REST API, Lambda proxy integration, payload format 1.0).

Each HTTP request becomes the proxy event API Gateway would send for a ``/{proxy+}`` resource, the
function's handler runs in-process, and its proxy response is written back as is: status, headers
(no header is added or rewritten, ``Content-Type`` included) and body, base64-decoded when the handler
says so. What the server answers itself (a request it cannot read, a failed integration) has the LogQS
error body too, ``{"message": "[Name] detail"}``.

API Gateway's control plane is here as far as the handlers use it: ``FlushStageAuthorizersCache`` on
boto3's default session is answered in-process by the server of that stage, which empties its
authorizer cache, so ApiFunction flushes the cache with the same call as on AWS.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from email.utils import formatdate
from fnmatch import fnmatchcase
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3
from botocore.awsrequest import AWSResponse

from openlqs.local.api_auth import ApiAuthSpec, ApiRoute, route_for
from openlqs.local.cloudformation import LOCAL_ACCOUNT_ID, LOCAL_REGION
from openlqs.local.functions import InProcessFunction

DEFAULT_STAGE = "local"
#: ``requestContext.apiId`` of the local REST API (API Gateway's ids are ten characters; any string works).
LOCAL_API_ID = "local"
PROXY_RESOURCE = "/{proxy+}"
# Hop-by-hop framing is the server's business, not the handler's.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})
#: The bracketed names of the statuses the HTTP server answers by itself (others: the status's phrase).
_STATUS_NAMES = {
    400: "BadRequest",
    413: "ContentTooLarge",
    414: "URITooLong",
    431: "RequestHeaderFieldsTooLarge",
    500: "InternalServerError",
    501: "NotImplemented",
    502: "InternalServerError",
    505: "HTTPVersionNotSupported",
}
FLUSH_EVENT = "before-call.apigateway.FlushStageAuthorizersCache"
_FLUSH_PATH = re.compile(r"^/restapis/(?P<api>[^/?]+)/stages/(?P<stage>[^/?]+)/cache/authorizers(?:\?|$)")


def error_answer(status: int, detail: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """An answer of the server itself, in the LogQS error shape: ``{"message": "[Name] detail"}``."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    name = _STATUS_NAMES.get(status) or re.sub(r"[^A-Za-z]", "", phrase.title())
    body = json.dumps({"message": f"[{name}] {detail}"}).encode("utf-8")
    return status, [("Content-Type", "application/json")], body


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
    api_id: str = LOCAL_API_ID,
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
            "apiId": api_id,
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


class RequestAuthorizer:
    """API Gateway's Lambda REQUEST authorizer, locally: the same handler, the same cache by header.

    A request without the identity header is refused without calling the function, as API Gateway
    does; an ``Exception("Unauthorized")`` is a 401, a policy that does not allow the method a 403,
    and any other failure a 500. An allowed answer's ``context`` (and ``principalId``) becomes the
    proxy event's ``requestContext.authorizer``. Answers are cached per header value for the TTL.
    """

    def __init__(self, function: InProcessFunction, spec: ApiAuthSpec, clock: Any = time.monotonic) -> None:
        self.function = function
        self.spec = spec
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def authorize(self, event: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """``("ALLOW", authorizer context)`` or a gateway response type and None."""
        if self.spec.is_public(event["httpMethod"], event["path"]):
            return "ALLOW", None
        identity = _header(event, self.spec.identity_header)
        if not identity:
            return "UNAUTHORIZED", None
        method_arn = _method_arn(event)
        answer = self._cached(identity)
        if answer is None:
            request = {**event, "type": "REQUEST", "methodArn": method_arn}
            try:
                answer = self.function.invoke(request)
            except Exception as error:
                if str(error) == "Unauthorized":
                    return "UNAUTHORIZED", None
                traceback.print_exc(file=sys.stderr)
                return "DEFAULT_5XX", None
            if self.spec.cache_ttl_s > 0:
                with self._lock:
                    self._cache[identity] = (self._clock() + self.spec.cache_ttl_s, answer)
        if not _allows(answer.get("policyDocument") or {}, method_arn):
            return "ACCESS_DENIED", None
        return "ALLOW", {**(answer.get("context") or {}), "principalId": answer.get("principalId")}

    def flush(self) -> None:
        """Forget every cached answer (API Gateway's ``FlushStageAuthorizersCache``)."""
        with self._lock:
            self._cache.clear()

    def _cached(self, identity: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._cache.get(identity)
            if entry is None or entry[0] <= self._clock():
                self._cache.pop(identity, None)
                return None
            return entry[1]


def _header(event: Mapping[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _method_arn(event: Mapping[str, Any]) -> str:
    context = event["requestContext"]
    return (
        f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:{context['apiId']}/{context['stage']}"
        f"/{event['httpMethod']}{event['path']}"
    )


def _allows(policy: Mapping[str, Any], method_arn: str) -> bool:
    """Whether an IAM policy document allows ``execute-api:Invoke`` on ``method_arn`` (and denies not)."""
    allowed = False
    for statement in policy.get("Statement") or []:
        resources = statement.get("Resource")
        actions = statement.get("Action")
        resources = [resources] if isinstance(resources, str) else resources or []
        actions = [actions] if isinstance(actions, str) else actions or []
        if not any(fnmatchcase("execute-api:Invoke", action) for action in actions):
            continue
        if any(fnmatchcase(method_arn, resource) for resource in resources):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


class _HttpServer(ThreadingHTTPServer):
    #: Connections waiting to be accepted: a burst of clients must not meet "connection reset" (the
    #: standard library's 5 reset 26 of 50 concurrent creates).
    request_queue_size = 1024


class AuthorizerCacheFlushHook:
    """Answers ``apigateway.FlushStageAuthorizersCache`` made through boto3's default session, in-process.

    ``stages`` maps (REST API id, stage name) to what empties that stage's authorizer cache. A botocore
    ``before-call`` handler answers the call before any HTTP request is made, with API Gateway's 202, as
    ``openlqs.local.invoke`` answers ``lambda.Invoke``. A call for another stage goes on to the endpoint
    (moto, which does not implement the operation, answers 404). Use :meth:`install`/:meth:`uninstall`
    (or ``with``); only clients created while it is installed are answered.
    """

    def __init__(self, stages: Mapping[tuple[str, str], Callable[[], None]]) -> None:
        self._stages = dict(stages)
        self._session: boto3.session.Session | None = None
        self._unique_id = f"openlqs-local-authorizer-flush-{id(self)}"

    def install(self) -> AuthorizerCacheFlushHook:
        """Register on boto3's default session (created from the environment if there is none)."""
        if self._session is not None:
            raise RuntimeError("the authorizer cache hook is already installed")
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
        assert session is not None
        session.events.register(FLUSH_EVENT, self._on_flush, unique_id=self._unique_id)
        self._session = session
        return self

    def uninstall(self) -> None:
        """Unregister from the session it was installed on (idempotent)."""
        session, self._session = self._session, None
        if session is not None:
            session.events.unregister(FLUSH_EVENT, unique_id=self._unique_id)

    def __enter__(self) -> AuthorizerCacheFlushHook:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()

    def _on_flush(
        self, params: Mapping[str, Any], **_kwargs: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        match = _FLUSH_PATH.match(str(params.get("url_path", "")))
        if match is None:
            return None
        flush = self._stages.get((unquote(match["api"]), unquote(match["stage"])))
        if flush is None:
            return None
        flush()
        request_id = str(uuid.uuid4())
        headers = {"x-amzn-requestid": request_id, "content-length": "0"}
        http = AWSResponse(f"https://apigateway.{LOCAL_REGION}.amazonaws.com", 202, headers, _NoBody())
        metadata = {
            "RequestId": request_id,
            "HTTPStatusCode": 202,
            "HTTPHeaders": headers,
            "RetryAttempts": 0,
        }
        return http, {"ResponseMetadata": metadata}


class _NoBody:
    """The ``raw`` of an :class:`AWSResponse` without a body that never went over the network."""

    def stream(self, **_kwargs: Any) -> Any:
        yield b""


class ApiGatewayServer:
    """An HTTP server on 127.0.0.1 that sends every request to one function as a proxy event.

    ``routes`` are the template's routes to other functions (``/console`` to ConsoleFunction), with the
    function each invokes: a request they declare goes there, with that resource in its event, as API
    Gateway picks the most specific resource; every other request goes to ``function``.

    While it runs with an ``authorizer``, a ``FlushStageAuthorizersCache`` of its stage (made through
    boto3's default session) empties that authorizer's cache.
    """

    def __init__(
        self,
        function: InProcessFunction,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stage: str = DEFAULT_STAGE,
        access_log: bool = False,
        authorizer: RequestAuthorizer | None = None,
        routes: Sequence[tuple[ApiRoute, InProcessFunction]] = (),
    ) -> None:
        self.function = function
        self.routes = dict(routes)
        self.stage = stage
        self.api_id = LOCAL_API_ID
        self.access_log = access_log
        self.authorizer = authorizer
        self._flush_hook: AuthorizerCacheFlushHook | None = None
        try:
            self._httpd = _HttpServer((host, port), _make_request_handler(self))
        except OSError as error:
            raise OSError(f"the API cannot listen on {host}:{port}: {error}") from error
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The address the server listens on (127.0.0.1 unless told otherwise)."""
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when it was created with port 0)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:8000``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve requests on a background thread (and answer flushes of the stage's authorizer cache)."""
        if self.authorizer is not None:
            stages = {(self.api_id, self.stage): self.authorizer.flush}
            self._flush_hook = AuthorizerCacheFlushHook(stages).install()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="openlqs-api", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests and close the listening socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        if self._flush_hook is not None:
            self._flush_hook.uninstall()
            self._flush_hook = None
        self._httpd.server_close()

    def handle(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes | None, client_ip: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Run one request through the function; returns the response status, headers and body."""
        event = build_proxy_event(
            method, target, headers, body, source_ip=client_ip, stage=self.stage, api_id=self.api_id
        )
        if self.authorizer is not None:
            outcome, context = self.authorizer.authorize(event)
            if outcome != "ALLOW":
                status, payload = self.authorizer.spec.response(outcome)
                return status, [("Content-Type", "application/json")], payload.encode("utf-8")
            if context is not None:
                event["requestContext"]["authorizer"] = context
        function = self._function_for(event)
        try:
            return proxy_response_parts(function.invoke(event))
        except Exception:
            # API Gateway answers 502 when the integration fails, with its DEFAULT_5XX response (the
            # template's, when there is one); the traceback is the function's log.
            traceback.print_exc(file=sys.stderr)
            if self.authorizer is not None:
                _, payload = self.authorizer.spec.response("DEFAULT_5XX")
                return 502, [("Content-Type", "application/json")], payload.encode("utf-8")
            return error_answer(502, "The integration failed; see the function's log.")

    def _function_for(self, event: dict[str, Any]) -> InProcessFunction:
        """The function of the route that declares this request (its resource set in the event), or the
        default one."""
        route = route_for(self.routes, event["httpMethod"], event["path"])
        if route is None:
            return self.function
        event["resource"] = event["requestContext"]["resourcePath"] = route.path
        greedy = re.search(r"\{(\w+)\+\}", route.path)
        if greedy is not None:
            start = route.path.index(greedy.group(0))
            event["pathParameters"] = {greedy.group(1): unquote(event["path"][start:])}
        else:
            event["pathParameters"] = None
        return self.routes[route]


def _make_request_handler(server: ApiGatewayServer) -> type[BaseHTTPRequestHandler]:
    class ProxyRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 300  # idle keep-alive connections end eventually
        server_version = "openlqs-local"

        def _proxy(self) -> None:
            try:
                body = self._read_body()
            except ValueError:
                self.send_error(400, "The request's Content-Length or chunked body is not valid.")
                return
            status, headers, payload = server.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
            self._answer(status, headers, payload)

        def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """What ``http.server`` answers by itself (a request line or headers it cannot read: 400,
            414, 431, 505...) in the LogQS error shape instead of its HTML page. The connection is
            closed: nothing after an unreadable request can be trusted to be the next one."""
            self.close_connection = True
            if self.request_version == "HTTP/0.9":
                # Its version was not read (a bad request line): answer with a status line and headers,
                # which http.server leaves out for HTTP/0.9.
                self.request_version = "HTTP/1.0"
            detail = "; ".join(part for part in (message, explain) if part) or HTTPStatus(code).phrase
            status, headers, payload = error_answer(code, detail if detail.endswith(".") else f"{detail}.")
            self.log_error("code %d, message %s", code, detail)
            self._answer(status, [*headers, ("Connection", "close")], payload)

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

        def __getattr__(self, name: str) -> Any:
            # Any other method (TRACE, QUERY...) goes to the API too, as API Gateway's ANY does.
            if name.startswith("do_"):
                return self._proxy
            raise AttributeError(name)

    return ProxyRequestHandler
