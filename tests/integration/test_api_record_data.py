"""Record data through the API on ingested bags: ``raw_data``, ``query_data``, previews and errors.

Real bags (shared/fixtures/bags) and a generated image bag are ingested in mock_aws, task by task, then
read back with ``include_raw_data``/``include_auxiliary_data`` (contract §4.3). Expected values are
rosbags' own reading of the same files.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

import boto3
import pytest
from PIL import Image
from rosbags.rosbag1 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from openlqs.domain.record_data import MAX_PAGE_DATA_BYTES
from openlqs.domain.resources import INGESTION, LOG
from openlqs.formats.messages import to_json_value, to_plain
from openlqs.records.blocks import RecordBlock
from openlqs.records.rows import RecordRow, bucket_of
from openlqs.services import get_services
from tests.support.api import ApiClient
from tests.support.bags import (
    IMAGE_BAG_START_NS,
    WrittenBag,
    string_message,
    write_image_bag,
    write_string_bag,
)
from tests.support.ingestion import ingest, log_object_key, put_log_object
from tests.support.paths import DATASTORE_ID
from tests.support.resources import create_group, create_log

SECOND = 1_000_000_000
#: The bags the raw data of every record is checked on: uncompressed and one compressed chunk.
REAL_BAGS = ["example.bag", "example-lz4.bag"]
POSE_FIELDS = ("x", "y", "theta", "linear_velocity", "angular_velocity")


@dataclass(frozen=True)
class RosbagsContents:
    """What rosbags reads from a bag: per topic, the ROS 2 style type, the definition and the messages."""

    types: dict[str, str]
    definitions: dict[str, str]
    messages: dict[str, list[tuple[int, bytes]]]

    def decoded(self, topic: str, raw: bytes) -> Any:
        """rosbags' deserialization of one message of ``topic``, with the bag's own definition."""
        return _typestore(self.types[topic], self.definitions[topic]).deserialize_ros1(raw, self.types[topic])

    def query_data(self, topic: str, raw: bytes) -> Any:
        """The ``query_data`` the API should give for one message (rosbags → plain → JSON values)."""
        return to_json_value(to_plain(self.decoded(topic, raw)))


@cache
def _typestore(msgtype: str, definition: str) -> Any:
    store = get_typestore(Stores.EMPTY)
    store.register(get_types_from_msg(definition, msgtype))
    return store


def _read_with_rosbags(path: Path) -> RosbagsContents:
    types: dict[str, str] = {}
    definitions: dict[str, str] = {}
    messages: dict[str, list[tuple[int, bytes]]] = {}
    with Reader(path) as reader:
        for connection in reader.connections:
            types[connection.topic] = connection.msgtype
            definitions[connection.topic] = connection.msgdef.data
        for connection, timestamp, raw in reader.messages():
            messages.setdefault(connection.topic, []).append((timestamp, bytes(raw)))
    return RosbagsContents(types, definitions, messages)


@dataclass(frozen=True)
class IngestedLog:
    log: dict[str, Any]
    topics: dict[str, dict[str, Any]]


@pytest.fixture
def log(api: ApiClient) -> dict[str, Any]:
    return create_log(api, create_group(api, "Record data")["id"], "Run")


def _ingest(api: ApiClient, aws: dict[str, str], log: dict[str, Any], key: str, data: bytes) -> IngestedLog:
    put_log_object(aws, DATASTORE_ID, log["id"], key, data)
    ingest(api, log["id"], key)
    topics = api.get("/topics", params={"log_id": log["id"], "limit": 100}).json()["data"]
    return IngestedLog(log, {topic["name"]: topic for topic in topics})


@pytest.fixture
def image_bag(tmp_path: Path) -> WrittenBag:
    return write_image_bag(tmp_path / "images.bag")


@pytest.fixture
def images(api: ApiClient, aws: dict[str, str], log: dict[str, Any], image_bag: WrittenBag) -> IngestedLog:
    return _ingest(api, aws, log, "images.bag", image_bag.path.read_bytes())


def _records_path(topic: dict[str, Any]) -> str:
    return f"/topics/{topic['id']}/records"


def _list(api: ApiClient, topic: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = api.get(_records_path(topic), params=params)
    assert response.status == 200, response.body
    return list(response.json()["data"])


def _all_records(api: ApiClient, topic: dict[str, Any], **params: Any) -> Iterator[dict[str, Any]]:
    """Every record of a topic, page by page (1000 a page, well under the raw data cap for these bags)."""
    offset = 0
    while True:
        page = _list(api, topic, limit=1000, offset=offset, **params)
        yield from page
        if len(page) < 1000:
            return
        offset += len(page)


def _raw(record: dict[str, Any]) -> bytes:
    assert record["raw_data"] is not None, record
    return base64.b64decode(record["raw_data"], validate=True)


def _preview(record: dict[str, Any]) -> Image.Image:
    auxiliary = record["auxiliary_data"]
    assert auxiliary is not None, record
    assert (auxiliary["format"], auxiliary["max_size"], auxiliary["quality"]) == ("webp", 640, 80)
    image = Image.open(io.BytesIO(base64.b64decode(auxiliary["image"], validate=True)))
    assert image.format == "WEBP"
    return image.convert("RGB")


def _delete_object(aws: dict[str, str], log: dict[str, Any], key: str) -> None:
    boto3.client("s3").delete_object(
        Bucket=aws["OBJECTS_BUCKET_NAME"], Key=log_object_key(DATASTORE_ID, log["id"], key)
    )


# -- raw_data and query_data of real bags -----------------------------------------------------------


@pytest.mark.parametrize("name", REAL_BAGS)
def test_record_data_raw_data_of_every_record_is_the_message_rosbags_reads(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path, name: str
) -> None:
    expected = _read_with_rosbags(fixture_bags / name)
    ingested = _ingest(api, aws, log, name, (fixture_bags / name).read_bytes())

    for topic_name, topic in ingested.topics.items():
        records = list(_all_records(api, topic, include_raw_data="true"))

        assert [(r["timestamp"], _raw(r)) for r in records] == expected.messages[topic_name], topic_name
        assert {(r["log_id"], r["topic_id"]) for r in records} == {(log["id"], topic["id"])}
        assert all(r["error"] is None for r in records), topic_name


@pytest.mark.parametrize(
    "topic_name", ["/turtle1/pose", "/turtle1/cmd_vel", "/tf"], ids=["Pose", "Twist", "tfMessage"]
)
def test_record_data_query_data_is_rosbags_deserialization(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path, topic_name: str
) -> None:
    expected = _read_with_rosbags(fixture_bags / "example-lz4.bag")
    ingested = _ingest(api, aws, log, "example-lz4.bag", (fixture_bags / "example-lz4.bag").read_bytes())

    records = list(_all_records(api, ingested.topics[topic_name], include_raw_data="true"))

    messages = expected.messages[topic_name]
    assert len(records) == len(messages)
    for record, (_, raw) in zip(records, messages, strict=True):
        assert record["query_data"] == expected.query_data(topic_name, raw)


def test_record_data_query_data_holds_the_message_field_values(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path
) -> None:
    # The same, field by field against rosbags' message objects (not through to_plain/to_json_value).
    expected = _read_with_rosbags(fixture_bags / "example.bag")
    ingested = _ingest(api, aws, log, "example.bag", (fixture_bags / "example.bag").read_bytes())
    topics = ingested.topics

    pose = _list(api, topics["/turtle1/pose"], limit=1, offset=100, include_raw_data="true")[0]
    twist = _list(api, topics["/turtle1/cmd_vel"], limit=1, offset=100, include_raw_data="true")[0]
    tf = _list(api, topics["/tf"], limit=1, offset=100, include_raw_data="true")[0]

    pose_message = expected.decoded("/turtle1/pose", expected.messages["/turtle1/pose"][100][1])
    assert {field: pose["query_data"][field] for field in POSE_FIELDS} == {
        field: float(getattr(pose_message, field)) for field in POSE_FIELDS
    }
    twist_message = expected.decoded("/turtle1/cmd_vel", expected.messages["/turtle1/cmd_vel"][100][1])
    assert twist["query_data"]["linear"] == {
        "x": twist_message.linear.x,
        "y": twist_message.linear.y,
        "z": twist_message.linear.z,
    }
    assert twist["query_data"]["angular"]["z"] == twist_message.angular.z
    tf_message = expected.decoded("/tf", expected.messages["/tf"][100][1])
    (transform,) = tf["query_data"]["transforms"]
    (rosbags_transform,) = tf_message.transforms
    assert transform["child_frame_id"] == rosbags_transform.child_frame_id
    assert transform["header"]["frame_id"] == rosbags_transform.header.frame_id
    assert transform["header"]["stamp"] == {
        "sec": rosbags_transform.header.stamp.sec,
        "nanosec": rosbags_transform.header.stamp.nanosec,
    }
    assert transform["transform"]["rotation"]["w"] == rosbags_transform.transform.rotation.w


@pytest.mark.parametrize("name", REAL_BAGS)
def test_record_data_fetch_one_record_with_raw_data(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path, name: str
) -> None:
    expected = _read_with_rosbags(fixture_bags / name)
    ingested = _ingest(api, aws, log, name, (fixture_bags / name).read_bytes())
    topic = ingested.topics["/turtle2/pose"]
    timestamp, raw = expected.messages["/turtle2/pose"][700]

    response = api.get(
        f"{_records_path(topic)}/{timestamp}",
        params={"include_auxiliary_data": "False", "include_raw_data": "True"},
    )

    assert response.status == 200, response.body
    record = response.data
    assert (record["timestamp"], _raw(record)) == (timestamp, raw)
    assert record["query_data"] == expected.query_data("/turtle2/pose", raw)
    assert (record["log_id"], record["topic_id"], record["auxiliary_data"]) == (log["id"], topic["id"], None)


def test_record_data_is_not_read_without_the_flags(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path
) -> None:
    ingested = _ingest(api, aws, log, "example.bag", (fixture_bags / "example.bag").read_bytes())
    topic = ingested.topics["/turtle1/pose"]

    listed = _list(api, topic, limit=10)
    listed_false = _list(api, topic, limit=10, include_raw_data="False", include_auxiliary_data="False")
    fetched = api.get(f"{_records_path(topic)}/{listed[3]['timestamp']}").data

    for record in [*listed, *listed_false, fetched]:
        assert (record["raw_data"], record["query_data"], record["auxiliary_data"]) == (None, None, None)
        assert record["error"] is None
        assert (record["log_id"], record["topic_id"]) == (log["id"], topic["id"])


def test_record_data_fetch_at_a_timestamp_shared_by_two_records_reads_the_first_in_file_order(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path
) -> None:
    bag = write_string_bag(
        tmp_path / "same.bag", [("/a", 7, "first"), ("/a", 7, "second"), ("/a", 8, "third")]
    )
    ingested = _ingest(api, aws, log, "same.bag", bag.read_bytes())
    topic = ingested.topics["/a"]

    fetched = api.get(f"{_records_path(topic)}/7", params={"include_raw_data": "true"}).data
    listed = _list(api, topic, include_raw_data="true")

    assert (_raw(fetched), fetched["query_data"]) == (string_message("first"), {"data": "first"})
    assert [(r["timestamp"], r["query_data"]["data"]) for r in listed] == [
        (7, "first"),
        (7, "second"),
        (8, "third"),
    ]


def test_record_data_page_resolves_its_ingestion_once_and_reads_no_log(
    api: ApiClient,
    aws: dict[str, str],
    log: dict[str, Any],
    fixture_bags: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before, each record of a page cost two reads of its log (a second or more per 1000 records); the
    # ingestion, read once, names the log whose folder holds the object
    ingested = _ingest(api, aws, log, "example.bag", (fixture_bags / "example.bag").read_bytes())
    resources = get_services().record_data.resources
    assert get_services().object_spaces.resources is resources
    kinds: list[str] = []
    read = resources.get

    def counting_get(kind: Any, resource_id: UUID) -> Any:
        kinds.append(kind.name)
        return read(kind, resource_id)

    monkeypatch.setattr(resources, "get", counting_get)

    records = _list(api, ingested.topics["/tf"], limit=1000, include_raw_data="true")

    assert len(records) == 1000
    assert (kinds.count(INGESTION.name), kinds.count(LOG.name)) == (1, 0)


# -- image previews ---------------------------------------------------------------------------------


def test_record_data_preview_of_an_rgb8_image_is_a_640_px_webp_with_its_colours(
    api: ApiClient, images: IngestedLog
) -> None:
    records = _list(api, images.topics["/camera/rgb"], include_auxiliary_data="true")

    assert len(records) == 2
    for record in records:
        image = _preview(record)
        # 1280x720 scaled to 640 px on its longest side, 16:9 kept
        assert image.size == (640, 360)
        # The test pattern: red left half, blue right half, a green band along the top eighth
        red, _, blue = image.getpixel((160, 270))
        assert red > 200 and blue < 60
        red, _, blue = image.getpixel((480, 270))
        assert blue > 200 and red < 60
        red, green, blue = image.getpixel((320, 20))
        assert green > 200 and red < 60 and blue < 60
        assert record["raw_data"] is None  # only include_raw_data carries the bytes
        assert record["query_data"]["encoding"] == "rgb8"
        assert record["query_data"]["data"]["size"] == 1280 * 720 * 3
        assert record["query_data"]["data"]["truncated"] is True


def test_record_data_preview_of_a_mono8_image_is_grey(api: ApiClient, images: IngestedLog) -> None:
    (record, _) = _list(api, images.topics["/camera/mono"], include_auxiliary_data="true")

    image = _preview(record)

    assert image.size == (640, 480)  # already within 640 px: not scaled
    pixels = [image.getpixel((x, 240)) for x in range(0, 640, 32)]
    assert all(max(pixel) - min(pixel) <= 6 for pixel in pixels), pixels  # grey: R = G = B (± WebP)
    levels = [pixel[0] for pixel in pixels]
    assert levels[0] < 20 and levels[-1] > 220  # the pattern's gradient, dark to bright
    assert levels == sorted(levels)


def test_record_data_preview_of_a_jpeg_compressed_image(api: ApiClient, images: IngestedLog) -> None:
    (record, _) = _list(api, images.topics["/camera/compressed"], include_auxiliary_data="true")

    image = _preview(record)

    assert image.size == (640, 480)  # 800x600 scaled, 4:3 kept
    red, _, blue = image.getpixel((160, 300))
    assert red > 200 and blue < 60
    assert record["query_data"]["format"] == "jpeg"


def test_record_data_fetch_with_auxiliary_data_gives_the_preview(api: ApiClient, images: IngestedLog) -> None:
    topic = images.topics["/camera/rgb"]
    first = _list(api, topic, limit=1)[0]

    fetched = api.get(
        f"{_records_path(topic)}/{first['timestamp']}",
        params={"include_auxiliary_data": "True", "include_raw_data": "False"},
    ).data

    assert _preview(fetched).size == (640, 360)


def test_record_data_auxiliary_data_on_a_non_image_topic_is_null_with_query_data(
    api: ApiClient, images: IngestedLog
) -> None:
    records = _list(api, images.topics["/cmd_vel"], limit=5, include_auxiliary_data="true")

    assert [r["auxiliary_data"] for r in records] == [None] * 5
    assert [r["query_data"]["linear"]["x"] for r in records] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [r["raw_data"] for r in records] == [None] * 5
    assert all(r["error"] is None for r in records)


def test_record_data_frequency_one_over_a_10_hz_topic_gives_one_record_per_second(
    api: ApiClient, images: IngestedLog
) -> None:
    records = _list(api, images.topics["/cmd_vel"], frequency=1, include_raw_data="true")

    assert [r["timestamp"] for r in records] == [IMAGE_BAG_START_NS + i * SECOND for i in range(3)]
    assert [r["query_data"]["linear"]["x"] for r in records] == [0.0, 10.0, 20.0]


# -- limits and errors ------------------------------------------------------------------------------


def test_record_data_raw_page_over_the_cap_is_413(api: ApiClient, images: IngestedLog) -> None:
    # Two 1280x720 rgb8 images are 5.5 MB of raw data, over the 4 MiB a page may carry
    topic = images.topics["/camera/rgb"]

    response = api.get(_records_path(topic), params={"include_raw_data": "true"})
    one = api.get(_records_path(topic), params={"include_raw_data": "true", "limit": 1})

    assert response.status == 413
    assert "[ContentTooLarge]" in response.message
    assert str(MAX_PAGE_DATA_BYTES) in response.message
    assert "limit" in response.message
    assert one.status == 200
    assert len(_raw(one.data[0])) > 1280 * 720 * 3


def test_record_data_page_whose_decoded_data_would_overflow_the_answer_is_413(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path
) -> None:
    # 1000 strings of 4000 characters: 4 MB of raw data (under the raw cap), but as raw_data (base64)
    # plus query_data (the strings again) the answer would be over 9 MB, above a Lambda answer's 6 MB.
    text = "x" * 4000
    bag = write_string_bag(tmp_path / "big.bag", [("/text", SECOND + i, text) for i in range(1000)])
    topic = _ingest(api, aws, log, "big.bag", bag.read_bytes()).topics["/text"]

    response = api.get(_records_path(topic), params={"include_raw_data": "true", "limit": 1000})
    smaller = api.get(_records_path(topic), params={"include_raw_data": "true", "limit": 400})

    assert response.status == 413, len(response.body)
    assert "limit" in response.message
    assert smaller.status == 200
    assert len(smaller.body) < 6 * 1024 * 1024
    assert [r["query_data"]["data"] for r in smaller.json()["data"]] == [text] * 400


def test_record_data_definition_mismatch_sets_the_error_of_each_record(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path
) -> None:
    ingested = _ingest(api, aws, log, "example.bag", (fixture_bags / "example.bag").read_bytes())
    topic = ingested.topics["/turtle1/pose"]
    # A definition twice the size of the real one: 20 bytes of message cannot fill five float64
    wrong = "".join(f"float64 {field}\n" for field in POSE_FIELDS)
    assert api.patch(f"/topics/{topic['id']}", {"type_data": wrong}).status == 200

    response = api.get(_records_path(topic), params={"limit": 5, "include_raw_data": "true"})

    assert response.status == 200, response.body
    records = response.json()["data"]
    assert len(records) == 5
    for record in records:
        assert record["error"]["name"] == "MessageDecodeError"
        assert "turtlesim/Pose" in record["error"]["message"]
        assert record["query_data"] is None
        assert len(_raw(record)) == 20  # the bytes are still there
        assert (record["log_id"], record["topic_id"]) == (log["id"], topic["id"])


def test_record_data_records_past_the_end_of_their_object_get_an_error_the_rest_their_data(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path
) -> None:
    # Given the ingested object replaced by its first half
    data = (fixture_bags / "example.bag").read_bytes()
    expected = _read_with_rosbags(fixture_bags / "example.bag").messages["/turtle1/pose"]
    ingested = _ingest(api, aws, log, "example.bag", data)
    cut = len(data) // 2
    put_log_object(aws, DATASTORE_ID, log["id"], "example.bag", data[:cut])

    records = list(_all_records(api, ingested.topics["/turtle1/pose"], include_raw_data="true"))

    inside = [r for r in records if r["data_offset"] + r["data_length"] <= cut]
    outside = [r for r in records if r["data_offset"] + r["data_length"] > cut]
    assert inside and outside
    assert [(r["timestamp"], _raw(r)) for r in inside] == expected[: len(inside)]
    assert all(r["error"] is None for r in inside)
    for record in outside:
        assert record["error"]["name"] == "RecordDataError", record
        assert (record["raw_data"], record["query_data"]) == (None, None)


def test_record_data_record_whose_object_is_gone_gets_an_error(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], fixture_bags: Path
) -> None:
    ingested = _ingest(api, aws, log, "example.bag", (fixture_bags / "example.bag").read_bytes())
    _delete_object(aws, log, "example.bag")

    response = api.get(
        _records_path(ingested.topics["/turtle1/pose"]), params={"limit": 3, "include_raw_data": "true"}
    )

    assert response.status == 200, response.body
    assert [r["error"]["name"] for r in response.json()["data"]] == ["RecordDataError"] * 3


def test_record_data_record_with_a_source_reads_the_file_next_to_the_ingested_object(
    api: ApiClient, aws: dict[str, str], log: dict[str, Any], tmp_path: Path
) -> None:
    # Given a record of an ingestion of "runs/a.bag" whose source is "b.bag" (a multi-file log):
    # contract §4.3, the key's directory plus the source, as the client resolves it
    bag = write_string_bag(tmp_path / "a.bag", [("/a", SECOND, "in a.bag")])
    ingested = _ingest(api, aws, log, "runs/a.bag", bag.read_bytes())
    topic = ingested.topics["/a"]
    first = _list(api, topic)[0]
    message = string_message("in b.bag")
    put_log_object(aws, DATASTORE_ID, log["id"], "runs/b.bag", b"header" + message)
    services = get_services()
    width = services.records._width(services.records.topic(UUID(topic["id"])))
    row = RecordRow(
        timestamp=2 * SECOND,
        data_offset=6,
        data_length=len(message),
        source="b.bag",
        ingestion_id=first["ingestion_id"],
    )
    services.records.records.put_block(
        RecordBlock(UUID(topic["id"]), bucket_of(2 * SECOND, width), "other", [row], datetime.now(UTC)),
        None,
    )

    fetched = api.get(f"{_records_path(topic)}/{2 * SECOND}", params={"include_raw_data": "true"}).data

    assert fetched["error"] is None, fetched["error"]
    assert (_raw(fetched), fetched["query_data"]) == (message, {"data": "in b.bag"})
