"""What the web console needs of the API beyond LogQS: the key making a request (its role), and a
topic's coverage over time from its record blocks."""

from __future__ import annotations

from uuid import UUID

import pytest

from tests.support.api import ApiClient
from tests.support.resources import create_group

S = 1_000_000_000
T0 = 1_700_000_000_123_456_789


def create_topic(api: ApiClient) -> str:
    group = create_group(api)
    log = api.post("/logs", {"group_id": group["id"], "name": "console log"}).data
    topic = api.post("/topics", {"log_id": log["id"], "name": "/imu", "type_name": "sensor_msgs/Imu"}).data
    return str(topic["id"])


# -- GET /apiKeys/me -------------------------------------------------------------------------------


def test_own_key_is_readable_by_every_role(api: ApiClient, aws: dict[str, str]) -> None:
    created = {
        role: api.post("/apiKeys", {"name": f"{role} person", "role": role}).data
        for role in ("read", "write")
    }

    for role, key in created.items():
        me = api.acting_as(role, key_id=UUID(key["id"])).get("/apiKeys/me")
        assert me.status == 200, me.body
        assert (me.data["id"], me.data["name"], me.data["role"]) == (key["id"], f"{role} person", role)
        assert me.data["secret"] is None


def test_own_key_needs_a_key_and_is_read_only(api: ApiClient, aws: dict[str, str]) -> None:
    reader = api.post("/apiKeys", {"name": "reader", "role": "read"}).data
    as_reader = api.acting_as("read", key_id=UUID(reader["id"]))

    assert api.acting_as(None).get("/apiKeys/me").status == 401
    refused = as_reader.patch("/apiKeys/me", {"role": "admin"})
    assert refused.status == 403 and refused.message.startswith("[Forbidden] ")
    # Other keys stay an administrator's business
    assert as_reader.get(f"/apiKeys/{reader['id']}").status == 403
    assert as_reader.get("/apiKeys").status == 403


# -- GET /topics/{topic_id}/coverage ----------------------------------------------------------------


def test_topic_coverage_counts_records_per_bin_with_exact_gaps(api: ApiClient, aws: dict[str, str]) -> None:
    # Given records in seconds 0-1 and 8-9 of a 10 s window, none between
    topic = create_topic(api)
    times = [T0 + k * 100_000_000 for k in range(20)] + [T0 + 8 * S + k * 100_000_000 for k in range(20)]
    for timestamp in times:
        assert api.post(f"/topics/{topic}/records", {"timestamp": timestamp}).status == 200

    answer = api.get(f"/topics/{topic}/coverage?timestamp_gte={T0}&timestamp_lt={T0 + 10 * S}&bins=10")

    assert answer.status == 200, answer.body
    coverage = answer.data
    assert (coverage["start"], coverage["end"], coverage["bin_width"]) == (T0, T0 + 10 * S, S)
    assert coverage["counts"][2:8] == [0.0] * 6
    assert sum(coverage["counts"]) == pytest.approx(40)
    assert coverage["counts"][0] + coverage["counts"][1] == pytest.approx(20)
    assert coverage["block_count"] >= 1


def test_topic_coverage_defaults_to_the_topics_span(api: ApiClient, aws: dict[str, str]) -> None:
    topic = create_topic(api)
    for k in range(5):
        api.post(f"/topics/{topic}/records", {"timestamp": T0 + k * S})

    coverage = api.get(f"/topics/{topic}/coverage?bins=5").data

    assert (coverage["start"], coverage["end"]) == (T0, T0 + 4 * S + 1)
    assert sum(coverage["counts"]) == pytest.approx(5) and len(coverage["counts"]) == 5


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("bins=0", 400, "bins"),
        ("bins=2001", 400, "bins"),
        (f"timestamp_gte={T0}&timestamp_lt={T0}", 400, "must be after"),
        (f"timestamp_gte={2**63}", 400, "timestamp_gte"),
        ("timestamp_lt=soon", 400, "timestamp_lt"),
    ],
)
def test_topic_coverage_refuses_bad_windows_saying_why(
    api: ApiClient, aws: dict[str, str], query: str, status: int, words: str
) -> None:
    topic = create_topic(api)

    answer = api.get(f"/topics/{topic}/coverage?{query}")

    assert answer.status == status
    assert answer.message.startswith("[BadRequest] ") and words in answer.message


def test_topic_coverage_of_an_unknown_topic_is_404(api: ApiClient, aws: dict[str, str]) -> None:
    answer = api.get("/topics/00000000-0000-4000-8000-00000000dead/coverage")

    assert answer.status == 404 and answer.message.startswith("[NotFound] ")


def test_topic_coverage_is_readable_with_the_read_role(api: ApiClient, aws: dict[str, str]) -> None:
    topic = create_topic(api)

    assert api.acting_as("read").get(f"/topics/{topic}/coverage").status == 200
