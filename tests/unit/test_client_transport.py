"""The client's HTTP: URLs, credentials, query parameters, error mapping and retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

import httpx
import pytest

from openlqs import errors
from openlqs.client import ApiUnreachable, ClientConfig, LogQS
from openlqs.client.transport import error_from_response, query_params, quote_key
from tests.support.client import API_URL, DATASTORE_ID, ScriptedApi, data, error, group_json, page
from tests.support.client import offline_client as client_over

GROUP_ID = UUID("6a7c0d2e-1b3f-4c5d-8e9f-0a1b2c3d4e5f")
TOPIC_ID = UUID("0c0c0c0c-1111-2222-3333-444444444444")


def _status(code: int) -> httpx.Response:
    return error(code, f"[Whatever] status {code}") if code >= 400 else page()


# URLs and headers -----------------------------------------------------------------------------------


def test_transport_url_includes_the_datastore_id() -> None:
    api = ScriptedApi(data(group_json(GROUP_ID)))

    client_over(api).fetch.group(GROUP_ID)

    assert str(api.requests[0].url) == f"{API_URL}/apps/lqs/{DATASTORE_ID}/api/groups/{GROUP_ID}"


def test_transport_url_without_a_datastore_id() -> None:
    api = ScriptedApi(data(group_json(GROUP_ID)))

    client_over(api, datastore_id=None).fetch.group(GROUP_ID)

    assert str(api.requests[0].url) == f"{API_URL}/apps/lqs/api/groups/{GROUP_ID}"


def test_transport_sends_the_logqs_authorization_header() -> None:
    api = ScriptedApi(page())
    lqs = client_over(api, api_key_id="11111111-2222-3333-4444-555555555555", api_key_secret="s3cret")

    lqs.list.group()

    # base64("11111111-2222-3333-4444-555555555555:s3cret"), as the official client sends it.
    expected = "Bearer MTExMTExMTEtMjIyMi0zMzMzLTQ0NDQtNTU1NTU1NTU1NTU1OnMzY3JldA=="
    assert api.requests[0].headers["Authorization"] == expected


def test_transport_sends_no_authorization_without_a_secret() -> None:
    api = ScriptedApi(page())

    client_over(api, api_key_id="11111111-2222-3333-4444-555555555555").list.group()

    assert "Authorization" not in api.requests[0].headers


def test_transport_sends_json_bodies() -> None:
    api = ScriptedApi(data(group_json(GROUP_ID, note="n")))

    client_over(api).create.group(name="Demo Group", note="n", context={"robot": 7})

    assert api.requests[0].headers["Content-Type"] == "application/json"
    assert json.loads(api.requests[0].content) == {"name": "Demo Group", "note": "n", "context": {"robot": 7}}


# Query parameters -----------------------------------------------------------------------------------


def test_query_params_repeat_the_key_of_a_list() -> None:
    assert query_params({"id": ["a", "b"]}) == [("id", "a"), ("id", "b")]


def test_query_params_spell_booleans_in_lower_case() -> None:
    assert query_params({"include_count": False, "redirect": True}) == [
        ("include_count", "false"),
        ("redirect", "true"),
    ]


def test_query_params_send_dicts_as_json() -> None:
    pairs = query_params({"context_filter": {"robot": "r2", "at": datetime(2024, 5, 1, tzinfo=UTC)}})

    assert len(pairs) == 1 and pairs[0][0] == "context_filter"
    assert json.loads(pairs[0][1]) == {"robot": "r2", "at": "2024-05-01T00:00:00Z"}


def test_query_params_leave_out_none_and_write_uuids_and_datetimes() -> None:
    pairs = query_params(
        {"note": None, "log_id": GROUP_ID, "created_at_gte": datetime(2024, 5, 1, 12, tzinfo=UTC)}
    )

    assert pairs == [("log_id", str(GROUP_ID)), ("created_at_gte", "2024-05-01T12:00:00+00:00")]


def test_list_sends_its_filters_as_query_parameters() -> None:
    api = ScriptedApi(page())

    client_over(api).list.record(TOPIC_ID, timestamp_gte=10, include_count=False, limit=5)

    request = api.requests[0]
    assert request.url.path.endswith(f"/topics/{TOPIC_ID}/records")
    assert request.url.params.multi_items() == [
        ("timestamp_gte", "10"),
        ("include_count", "false"),
        ("limit", "5"),
    ]


def test_quote_key_keeps_slashes_and_encodes_the_rest() -> None:
    assert quote_key("runs/day 1/a#b?.bag") == "runs/day%201/a%23b%3F.bag"


def test_fetch_log_object_puts_a_key_with_spaces_and_slashes_in_the_path() -> None:
    api = ScriptedApi(data({"key": "runs/day 1/a#1.bag", "upload_state": "complete"}))

    client_over(api).fetch.log_object("runs/day 1/a#1.bag", GROUP_ID)

    assert api.requests[0].url.raw_path.decode() == (
        f"/apps/lqs/{DATASTORE_ID}/api/logs/{GROUP_ID}/objects/runs/day%201/a%231.bag"
    )


# Errors ---------------------------------------------------------------------------------------------


def test_error_from_response_picks_the_class_named_in_brackets() -> None:
    raised = error_from_response(error(404, "[NotFound] No group 7."))

    assert type(raised) is errors.NotFound
    assert raised.detail == "No group 7."
    assert raised.status == 404  # type: ignore[attr-defined]


def test_error_from_response_prefers_the_name_to_the_status() -> None:
    raised = error_from_response(error(409, "[InvalidTransition] completed → queued"))

    assert type(raised) is errors.InvalidTransition


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, errors.Unauthorized), (409, errors.Conflict), (423, errors.Locked), (418, errors.BadRequest)],
)
def test_error_from_response_unknown_name_maps_by_status(
    status: int, expected: type[errors.OpenLQSError]
) -> None:
    raised = error_from_response(error(status, "[SomethingNew] detail"))

    assert type(raised) is expected
    assert raised.status == status  # type: ignore[attr-defined]
    assert raised.detail == "detail"


def test_error_from_response_non_json_502_is_an_internal_server_error() -> None:
    response = httpx.Response(502, text="<html>Bad Gateway</html>")

    raised = error_from_response(response)

    assert type(raised) is errors.InternalServerError
    assert raised.status == 502  # type: ignore[attr-defined]
    assert "Bad Gateway" in raised.detail


def test_api_raises_the_mapped_error() -> None:
    api = ScriptedApi(error(404, f"[NotFound] Group {GROUP_ID} not found."))

    with pytest.raises(errors.NotFound) as raised:
        client_over(api).fetch.group(GROUP_ID)

    assert raised.value.status == 404  # type: ignore[attr-defined]
    assert str(GROUP_ID) in raised.value.detail


# Retries --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_transport_retries_throttling_and_unavailable_for_post(status: int) -> None:
    api = ScriptedApi(_status(status), _status(status), data(group_json(GROUP_ID)))

    created = client_over(api, retry_count=2).create.group(name="Demo Group")

    assert created.data.id == GROUP_ID
    assert [r.method for r in api.requests] == ["POST"] * 3


def test_transport_does_not_retry_500_for_post() -> None:
    api = ScriptedApi(_status(500), data(group_json(GROUP_ID)))

    with pytest.raises(errors.InternalServerError):
        client_over(api, retry_count=2).create.group(name="Demo Group")

    assert len(api.requests) == 1  # the group may exist: sending it again could create two


@pytest.mark.parametrize("status", [500, 502, 504])
def test_transport_retries_server_errors_for_get(status: int) -> None:
    api = ScriptedApi(_status(status), _status(status), page())

    client_over(api, retry_count=2).list.group()

    assert len(api.requests) == 3


def test_transport_retry_count_limits_the_attempts() -> None:
    api = ScriptedApi(_status(503), _status(503), page())

    with pytest.raises(errors.InternalServerError) as raised:
        client_over(api, retry_count=1).list.group()

    assert raised.value.status == 503  # type: ignore[attr-defined]
    assert len(api.requests) == 2


def test_transport_retry_count_zero_sends_once() -> None:
    api = ScriptedApi(_status(429), page())

    with pytest.raises(errors.TooManyRequests):
        client_over(api, retry_count=0).list.group()

    assert len(api.requests) == 1


def test_transport_retries_a_connection_error_even_for_post() -> None:
    api = ScriptedApi(httpx.ConnectError("refused"), data(group_json(GROUP_ID)))

    created = client_over(api, retry_count=2).create.group(name="Demo Group")

    assert created.data.id == GROUP_ID
    assert len(api.requests) == 2


def test_transport_does_not_retry_a_read_timeout_for_post() -> None:
    api = ScriptedApi(httpx.ReadTimeout("slow"), data(group_json(GROUP_ID)))

    with pytest.raises(ApiUnreachable, match="no answer within 60 s"):
        client_over(api, retry_count=2).create.group(name="Demo Group")

    assert len(api.requests) == 1  # the server may have created it


def test_transport_retries_a_read_timeout_for_get() -> None:
    api = ScriptedApi(httpx.ReadTimeout("slow"), page())

    client_over(api, retry_count=2).list.group()

    assert len(api.requests) == 2


def test_transport_raises_its_own_error_naming_the_url_after_the_last_retry() -> None:
    api = ScriptedApi(*[httpx.ConnectError("[Errno 111] Connection refused")] * 3)

    with pytest.raises(ApiUnreachable) as raised:
        client_over(api, retry_count=2).list.group()

    assert len(api.requests) == 3
    assert isinstance(raised.value, ConnectionError) and isinstance(raised.value, errors.OpenLQSError)
    assert str(raised.value).startswith(f"Cannot reach the API at {API_URL} (Connection refused).")
    assert "`make local`" in str(raised.value)


def test_connection_error_says_the_default_url_was_tried_when_nothing_configured_it() -> None:
    # Given no argument, no logqs-config.json and no LQS_* variable
    config = ClientConfig.load({"config_path": "/nonexistent/logqs-config.json"}, environ={})
    lqs = LogQS(config, http_client=httpx.Client(transport=httpx.MockTransport(_refuse)))

    # When the client calls the API
    with pytest.raises(ApiUnreachable) as raised:
        lqs.list.group()

    # Then the error names the URL tried, and says where a working one comes from
    message = str(raised.value)
    assert "Cannot reach the API at http://localhost:8000 (Connection refused)" in message
    assert "LQS_API_URL is not set, so the default URL was tried" in message
    assert "paste the export lines that `make local` printed" in message


def test_connection_error_names_lqs_api_url_when_it_came_from_there() -> None:
    config = ClientConfig.load(
        {"config_path": "/nonexistent/logqs-config.json", "retry_count": 0},
        environ={"LQS_API_URL": "http://127.0.0.1:1"},
    )
    lqs = LogQS(config, http_client=httpx.Client(transport=httpx.MockTransport(_refuse)))

    with pytest.raises(ApiUnreachable, match=r"at http://127\.0\.0\.1:1 .*The URL is LQS_API_URL"):
        lqs.list.group()


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def test_transport_backs_off_exponentially_up_to_the_maximum() -> None:
    api = ScriptedApi(*[_status(503)] * 4, page())
    lqs = client_over(api, retry_count=4, retry_delay=1.0, retry_max_delay=3.0)
    sleeps: list[float] = []
    lqs.transport._sleep = lambda seconds: sleeps.append(float(seconds))  # the seam for time.sleep

    lqs.list.group()

    ceilings = [1.0, 2.0, 3.0, 3.0]  # doubling, capped at retry_max_delay
    assert len(sleeps) == 4
    assert all(ceiling / 2 <= slept <= ceiling for slept, ceiling in zip(sleeps, ceilings, strict=True))
