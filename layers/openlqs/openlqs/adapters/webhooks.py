"""HTTP for hooks: resolving a hook's host (``HostResolver``) and POSTing deliveries (``HookTransport``).

Server-side request forgery is what a hook could be turned into: a URI naming, or resolving to, the
metadata endpoint or a private service. Each host is resolved once, every address is judged by the
deployment's ``AddressPolicy``, and the connection goes to the judged address itself (with the URI's
host as ``Host`` and as the TLS server name, so certificates are checked as usual): a DNS answer that
changes between the check and the connection cannot move it. Redirects are not followed and proxies from
the environment are not used.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import ipaddress
import socket
import time
from collections.abc import Sequence
from typing import Any

import httpx

from openlqs.domain.workflows import (
    AddressPolicy,
    HookRequest,
    HookResponse,
    IPAddress,
    host_and_port,
)
from openlqs.errors import BadRequest

#: How long a host name may take to resolve when a hook is stored.
RESOLVE_TIMEOUT_S = 5.0
#: How much of a receiver's answer is read (the rest is not waited for).
MAX_ANSWER_BYTES = 1024


class AddressRefused(Exception):
    """The hook's host resolves to an address the policy refuses."""


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _addresses(infos: Sequence[tuple[Any, ...]]) -> list[IPAddress]:
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


class SocketHostResolver:
    """``HostResolver`` with the system's resolver (``getaddrinfo``), bounded in time."""

    def __init__(self, timeout_s: float = RESOLVE_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="openlqs-dns")

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        literal = _literal(host)
        if literal is not None:
            return [literal]
        future = self._pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            return _addresses(future.result(timeout=self.timeout_s))
        except concurrent.futures.TimeoutError:
            raise BadRequest(f"uri: {host} did not resolve within {self.timeout_s:g} s.") from None
        except socket.gaierror as error:
            raise BadRequest(f"uri: {host} does not resolve ({error.strerror}).") from None


class HttpHookTransport:
    """``HookTransport`` with httpx: every POST of a batch at once, each within ``timeout_s`` in all
    (resolution, connection, request and answer), so a receiver that hangs delays nothing but itself."""

    def __init__(self, policy: AddressPolicy, timeout_s: float) -> None:
        self.policy = policy
        self.timeout_s = timeout_s
        # Host names are resolved on threads of this pool, not the event loop's default executor: the
        # loop waits for its default executor when it closes, so a lookup that hangs would hold the
        # invocation past every timeout.
        self._resolving = concurrent.futures.ThreadPoolExecutor(
            max_workers=8, thread_name_prefix="openlqs-hook-dns"
        )

    def post_all(self, requests: list[HookRequest]) -> list[HookResponse]:
        if not requests:
            return []
        return asyncio.run(self._post_all(requests))

    async def _post_all(self, requests: list[HookRequest]) -> list[HookResponse]:
        async with httpx.AsyncClient(
            trust_env=False, follow_redirects=False, timeout=httpx.Timeout(self.timeout_s)
        ) as client:
            return list(await asyncio.gather(*(self._post_one(client, request) for request in requests)))

    async def _post_one(self, client: httpx.AsyncClient, request: HookRequest) -> HookResponse:
        started = time.monotonic()
        address: IPAddress | None = None

        def answer(status: int | None, error: str | None = None) -> HookResponse:
            elapsed = int((time.monotonic() - started) * 1000)
            return HookResponse(status, error, elapsed, None if address is None else str(address))

        try:
            async with asyncio.timeout(self.timeout_s):
                *others, last = await self._judged_addresses(request.uri)
                for address in others:  # the next address only when this one refuses the connection
                    try:
                        return answer(await self._post(client, request, address))
                    except httpx.ConnectError:
                        continue
                address = last
                return answer(await self._post(client, request, address))
        except TimeoutError:
            return answer(None, f"no answer within {self.timeout_s:g} s")
        except AddressRefused as refused:
            return answer(None, str(refused))
        except (httpx.HTTPError, OSError) as error:
            return answer(None, f"{type(error).__name__}: {error}"[:500])

    async def _judged_addresses(self, uri: str) -> list[IPAddress]:
        host, port = host_and_port(uri)
        addresses = [literal] if (literal := _literal(host)) is not None else []
        if not addresses:
            try:
                infos = await asyncio.get_running_loop().run_in_executor(
                    self._resolving,
                    functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM),
                )
            except socket.gaierror as error:
                raise AddressRefused(f"{host} does not resolve ({error.strerror})") from None
            addresses = _addresses(infos)
        if not addresses:
            raise AddressRefused(f"{host} does not resolve to any address")
        try:
            self.policy.check(host, addresses)
        except BadRequest as refused:
            raise AddressRefused(refused.detail.removeprefix("uri: ")) from None
        return addresses

    async def _post(self, client: httpx.AsyncClient, request: HookRequest, address: IPAddress) -> int:
        url = httpx.URL(request.uri)
        target = url.copy_with(host=str(address))
        headers = {**request.headers, "Host": url.netloc.decode("ascii")}
        extensions = (
            {"sni_hostname": url.host} if url.scheme == "https" and _literal(url.host) is None else {}
        )
        async with client.stream(
            "POST", target, content=request.body, headers=headers, extensions=extensions
        ) as response:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= MAX_ANSWER_BYTES:
                    break
            return response.status_code
