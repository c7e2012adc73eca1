"""HttpHookTransport against real sockets on 127.0.0.1: each POST within its deadline, name lookups
included; no redirects followed; the next judged address tried when one refuses the connection."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from openlqs.adapters.webhooks import HttpHookTransport
from openlqs.domain.workflows import AddressPolicy, HookRequest
from tests.support.hooks import HookReceiver

LOOPBACK = AddressPolicy.parse("127.0.0.0/8,::1/128")


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    with HookReceiver() as running:
        yield running


def _request(uri: str) -> HookRequest:
    return HookRequest(
        uri=uri, body=b'{"current_state":"completed"}', headers={"Content-Type": "application/json"}
    )


def test_transport_deadline_covers_a_name_lookup_that_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a resolver that answers after 3 s, and a transport that allows 0.5 s
    real = socket.getaddrinfo

    def slow(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "slow.example":
            time.sleep(3)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    transport = HttpHookTransport(LOOPBACK, timeout_s=0.5)

    started = time.monotonic()
    (response,) = transport.post_all([_request("http://slow.example/events")])

    assert time.monotonic() - started < 2
    assert (response.status, response.error) == (None, "no answer within 0.5 s")


def test_transport_does_not_follow_redirects(receiver: HookReceiver) -> None:
    receiver.answer("/moved", 307)

    (response,) = HttpHookTransport(LOOPBACK, timeout_s=5).post_all([_request(receiver.url("/moved"))])

    assert response.status == 307 and not response.ok
    assert [post.path for post in receiver.posts] == ["/moved"]


def test_transport_tries_the_next_judged_address_when_one_refuses(
    receiver: HookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a name that resolves to ::1 (where nothing listens) and then to 127.0.0.1 (the receiver)
    port = int(receiver.url("/").split(":")[2].split("/")[0])
    answers = [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::1", port))  # IPv6 loopback exists here, and nothing listens on ::1 at that port
        except OSError:
            pytest.skip("no IPv6 loopback here")

    (response,) = HttpHookTransport(LOOPBACK, timeout_s=5).post_all(
        [_request(f"http://receiver.test:{port}/x")]
    )

    assert response.ok and response.address == "127.0.0.1"
    assert receiver.posts_to("/x")[0].headers["host"] == f"receiver.test:{port}"


def test_transport_refuses_before_connecting_when_any_address_is_forbidden(
    receiver: HookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(receiver.url("/").split(":")[2].split("/")[0])
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)

    (response,) = HttpHookTransport(LOOPBACK, timeout_s=5).post_all([_request(f"http://mixed.test:{port}/x")])

    assert response.status is None and response.error is not None
    assert "resolves to 10.0.0.7, which is a private address" in response.error
    assert receiver.posts == []


def test_transport_refuses_loopback_without_an_allowance() -> None:
    transport = HttpHookTransport(AddressPolicy(), timeout_s=1)

    (response,) = transport.post_all([_request("http://127.0.0.1:9/events")])

    assert response.error is not None and "loopback" in response.error
    assert transport.policy.refusal(ipaddress.ip_address("127.0.0.1")) is not None
