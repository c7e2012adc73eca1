"""Hook rules without I/O: where a hook may point, signatures, event ids, back-off, which changes fire,
and JSON Schema checks of workflow contexts."""

from __future__ import annotations

import base64
import ipaddress
from typing import Any
from uuid import UUID, uuid4

import pytest

from openlqs.auth import hook_authorization, hook_signature, verify_hook_signature
from openlqs.domain.workflows import AddressPolicy, check_against_schema, check_schema
from openlqs.errors import BadRequest, Unauthorized
from openlqs.hooks.delivery import ProcessChange, Transition, event_id, event_source, retry_delay_s
from openlqs.models.common import ProcessState
from openlqs.models.workflows import ProcessType, check_hook_uri


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not public"),
        ("192.0.2.10", "private"),
    ],
)
def test_address_policy_refuses_what_is_not_public(address: str, reason: str) -> None:
    refusal = AddressPolicy().refusal(ipaddress.ip_address(address))

    assert refusal is not None and reason in refusal


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "8.8.8.8"])
def test_address_policy_accepts_public_addresses(address: str) -> None:
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None


def test_address_policy_allows_the_networks_it_is_given() -> None:
    policy = AddressPolicy.parse("127.0.0.0/8, 10.1.0.0/16 ::1/128")

    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("::1")) is None
    assert policy.refusal(ipaddress.ip_address("10.1.200.3")) is None
    assert policy.refusal(ipaddress.ip_address("10.2.0.1")) is not None
    assert policy.refusal(ipaddress.ip_address("169.254.169.254")) is not None


def test_address_policy_check_names_the_host_and_what_it_resolved_to() -> None:
    with pytest.raises(
        BadRequest, match=r"uri: metadata.internal resolves to 169.254.169.254, which is a link"
    ):
        AddressPolicy().check(
            "metadata.internal",
            [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("169.254.169.254")],
        )


def test_address_policy_refuses_a_setting_that_is_not_networks() -> None:
    with pytest.raises(ValueError, match="HOOK_ALLOWED_NETWORKS: 'localhost'"):
        AddressPolicy.parse("localhost")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://hooks.example.com/events?x=1", None),
        ("http://[2001:db8::1]:8080/", None),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://example.com/", "http:// or https://"),
        ("https://bob:pw@example.com/", "credentials"),
        ("https://example.com:0/", "port 0"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://exa mple.com/", "spaces"),
        ("https:///path", "host"),
    ],
)
def test_hook_uri_shape(uri: str, message: str | None) -> None:
    if message is None:
        assert check_hook_uri(uri) == uri
    else:
        with pytest.raises(ValueError, match=message):
            check_hook_uri(uri)


def test_hook_authorization_is_the_secret_alone_in_base64() -> None:
    # lqs/client/server.py decodes the token and compares it with the expected secret
    header = hook_authorization("s3cr3t:with colon")

    assert header.startswith("Bearer ")
    assert base64.b64decode(header.split(" ")[1]).decode() == "s3cr3t:with colon"


def test_hook_signature_is_stripe_style_hmac_of_timestamp_and_body() -> None:
    import hashlib
    import hmac

    body = b'{"current_state":"completed"}'
    header = hook_signature("key", 1_700_000_000, body)
    expected = hmac.new(b"key", b"1700000000." + body, hashlib.sha256).hexdigest()

    assert header == f"t=1700000000,v1={expected}"
    assert verify_hook_signature("key", header, body, now=1_700_000_100) == 1_700_000_000
    assert verify_hook_signature("key", f"t=1700000000,v1=00,v1={expected}", body, now=1_700_000_000)


@pytest.mark.parametrize(
    ("header", "now", "message"),
    [
        (None, 1_700_000_000, "missing"),
        ("v1=abc", 1_700_000_000, "missing"),
        ("t=soon,v1=abc", 1_700_000_000, "missing"),
        ("t=1700000000,v1=abc", 1_700_000_000, "does not match"),
        ("GOOD", 1_700_000_301, "ago"),
        ("GOOD", 1_699_999_699, "ago"),
    ],
)
def test_hook_signature_verification_refuses(header: str | None, now: int, message: str) -> None:
    body = b"{}"
    if header == "GOOD":
        header = hook_signature("key", 1_700_000_000, body)

    with pytest.raises(Unauthorized, match=message):
        verify_hook_signature("key", header, body, now=now)


def _transition(**changes: Any) -> Transition:
    fields: dict[str, Any] = {
        "process_type": ProcessType.ingestion,
        "resource_id": UUID(int=1),
        "workflow_id": UUID(int=2),
        "previous_state": ProcessState.finalizing,
        "current_state": ProcessState.completed,
        "moment": "2026-01-01T00:00:00+00:00",
    }
    return Transition(**{**fields, **changes})


def test_event_id_is_the_same_for_a_transition_and_hook_and_differs_otherwise() -> None:
    hook = uuid4()

    assert event_id(_transition(), hook) == event_id(_transition(), hook)
    assert event_id(_transition(), hook).version == 5
    assert (
        len(
            {
                event_id(_transition(), hook),
                event_id(_transition(), uuid4()),
                event_id(_transition(moment="2026-01-01T00:00:01+00:00"), hook),
                event_id(_transition(current_state=ProcessState.failed), hook),
                event_id(_transition(resource_id=UUID(int=3)), hook),
            }
        )
        == 5
    )


def test_retry_delay_doubles_with_a_fifth_of_jitter_and_a_ceiling() -> None:
    assert [retry_delay_s(attempt, 10, jitter=lambda: 0.0) for attempt in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert retry_delay_s(1, 10, jitter=lambda: 1.0) == 12
    assert retry_delay_s(30, 10, jitter=lambda: 0.5) == 900
    assert retry_delay_s(3, 0) == 0


def _change(new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> ProcessChange:
    record: dict[str, Any] = {
        "Keys": {"pk": {"S": "x"}},
        "SequenceNumber": "1",
        "SizeBytes": 1,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    for name, values in (("NewImage", new), ("OldImage", old)):
        if values is not None:
            record[name] = {key: {"S": str(value)} for key, value in values.items()}
    return ProcessChange.model_validate(record)


def test_process_change_is_a_transition_when_the_state_differs_or_the_process_is_new() -> None:
    workflow, process = uuid4(), uuid4()
    base = {"kind": "ingestion_part", "id": process, "workflow_id": workflow, "transitioned_at": "T1"}

    created = _change({**base, "state": "queued"}).transition("e1")
    moved = _change(
        {**base, "state": "completed", "transitioned_at": "T2"}, {**base, "state": "processing"}
    ).transition("e2")
    progress = _change({**base, "state": "processing"}, {**base, "state": "processing"}).transition("e3")

    assert created == Transition(
        ProcessType.ingestion_part, process, workflow, None, ProcessState.queued, "T1"
    )
    assert moved is not None and (moved.previous_state, moved.current_state, moved.moment) == (
        ProcessState.processing,
        ProcessState.completed,
        "T2",
    )
    assert progress is None


@pytest.mark.parametrize(
    "new",
    [
        {"kind": "topic", "state": "queued"},
        {"kind": "ingestion", "state": "queued", "workflow_id": None},
        {"kind": "ingestion", "state": "bogus"},
    ],
)
def test_process_change_of_something_else_is_no_transition(new: dict[str, Any]) -> None:
    image = {"id": uuid4(), "workflow_id": uuid4(), **new}
    image = {key: value for key, value in image.items() if value is not None}

    assert _change(image).transition("e") is None


def test_event_source_is_one_of_the_two_subscriptions() -> None:
    assert event_source({"Records": [{"eventSource": "aws:sqs"}]}) == "aws:sqs"
    assert event_source({"Records": [{"eventSource": "aws:dynamodb"}]}) == "aws:dynamodb"
    with pytest.raises(ValueError, match="does not handle"):
        event_source({"Records": [{"eventSource": "aws:sqs"}, {"eventSource": "aws:dynamodb"}]})


def test_schema_errors_name_the_failing_path() -> None:
    schema = {
        "type": "object",
        "properties": {
            "run": {"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "integer"}}}}
        },
    }

    with pytest.raises(
        BadRequest,
        match=r"^workflow_context\.run\.ids\.1: 'x' is not of type 'integer', under the context_schema of W",
    ):
        check_against_schema({"run": {"ids": [1, "x"]}}, schema, what="workflow_context", schema_owner="W")
    check_against_schema({"run": {"ids": [1, 2]}}, schema, what="workflow_context", schema_owner="W")


def test_schema_itself_is_checked_by_its_draft() -> None:
    check_schema({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"})
    with pytest.raises(BadRequest, match=r"^context_schema\.required: "):
        check_schema({"type": "object", "required": "robot"})
