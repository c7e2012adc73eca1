"""Record data through ``openlqs.client.LogQS`` against the local stack: raw data, previews, 413.

One local stack serves the module. A generated image bag (rgb8, mono8, jpeg and a 10 Hz Twist) and the
real ``example-lz4.bag`` are uploaded with ``lqs.utils.upload_log_object`` and ingested by queueing an
ingestion and waiting for it (``lqs.utils.wait_for``), as a user does; the server's record data is then
compared with the client's own reading of the same bytes and with rosbags.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image
from rosbags.rosbag1 import Reader

from openlqs.client import ClientConfig, LogQS
from openlqs.client.models import Log, Record, Topic
from openlqs.errors import ContentTooLarge
from tests.e2e.conftest import LocalStackProcess
from tests.support import real_files
from tests.support.bags import IMAGE_BAG_START_NS, WrittenBag, write_image_bag

pytestmark = pytest.mark.e2e

INGESTION_TIMEOUT_S = 180
SECOND = 1_000_000_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    local = LocalStackProcess(tmp_path_factory.mktemp("client-record-data") / "openlqs-data")
    local.start()
    yield local
    local.stop()


def _config(stack: LocalStackProcess) -> ClientConfig:
    # Explicit: neither LQS_* variables nor a logqs-config.json of the caller leak in.
    return ClientConfig(
        api_url=stack.api_url,
        datastore_id=stack.datastore_id,
        api_key_id=stack.api_key_id,
        api_key_secret=stack.api_key_secret,
        progress=False,
        retry_delay=0.1,
    )


@pytest.fixture(scope="module")
def lqs(stack: LocalStackProcess) -> Iterator[LogQS]:
    with LogQS(_config(stack)) as client:
        yield client


@pytest.fixture
def counting(stack: LocalStackProcess) -> Iterator[tuple[LogQS, list[httpx.Request]]]:
    """A second client on the same stack that keeps every request it sends."""
    sent: list[httpx.Request] = []
    http = httpx.Client(timeout=60, event_hooks={"request": [sent.append]})
    with LogQS(_config(stack), http_client=http) as client:
        yield client, sent


def _ingested_log(lqs: LogQS, name: str, path: Path) -> Log:
    """A new log with ``path`` uploaded and ingested; fails unless the ingestion completes."""
    group = lqs.resource.Group.fetch_or_create(name="Record Data Group")
    log = lqs.resource.Log.fetch_or_create(group_id=group.id, name=name)
    lqs.utils.upload_log_object(log_id=log.id, file_path=str(path), object_key=path.name)
    ingestion = lqs.create.ingestion(log_id=log.id, object_key=path.name, name=name, state="queued").data
    finished = lqs.utils.wait_for(ingestion, timeout=INGESTION_TIMEOUT_S, poll_interval=0.25)
    assert finished.state == "completed", finished.error_message
    return log


@dataclass(frozen=True)
class IngestedBag:
    log: Log
    topics: dict[str, Topic]


@pytest.fixture(scope="module")
def image_bag(tmp_path_factory: pytest.TempPathFactory) -> WrittenBag:
    return write_image_bag(tmp_path_factory.mktemp("image-bag") / "images.bag")


@pytest.fixture(scope="module")
def images(lqs: LogQS, image_bag: WrittenBag) -> IngestedBag:
    log = _ingested_log(lqs, "Images", image_bag.path)
    return IngestedBag(log, {topic.name: topic for topic in log.list_topics()})


@pytest.fixture(scope="module")
def lz4_bag() -> Path:
    return real_files.require("bags", "example-lz4.bag")


@pytest.fixture(scope="module")
def turtles(lqs: LogQS, lz4_bag: Path) -> IngestedBag:
    log = _ingested_log(lqs, "Turtles lz4", lz4_bag)
    return IngestedBag(log, {topic.name: topic for topic in log.list_topics()})


@pytest.fixture(scope="module")
def poses_by_rosbags(lz4_bag: Path) -> list[tuple[int, bytes]]:
    with Reader(lz4_bag) as reader:
        return [
            (timestamp, bytes(raw))
            for connection, timestamp, raw in reader.messages()
            if connection.topic == "/turtle1/pose"
        ]


# raw_data -------------------------------------------------------------------------------------------


def test_record_data_fetch_record_raw_data_is_what_the_client_reads_itself(
    lqs: LogQS, turtles: IngestedBag, poses_by_rosbags: list[tuple[int, bytes]]
) -> None:
    topic = turtles.topics["/turtle1/pose"]
    records = topic.list_records()
    picked = [records[0], records[len(records) // 2], records[-1]]

    for record in picked:
        fetched = lqs.fetch.record(record.timestamp, topic.id, include_raw_data=True).data

        assert fetched.raw_data is not None
        assert record.raw_data is None  # listed without include_raw_data: read client-side below
        client_side = record.get_raw_data()
        assert base64.b64decode(fetched.raw_data) == client_side
        assert (record.timestamp, client_side) in poses_by_rosbags
        assert fetched.query_data is not None and set(fetched.query_data) >= {"x", "y", "theta"}


def test_record_data_get_raw_data_uses_the_raw_data_sent_without_a_request(
    counting: tuple[LogQS, list[httpx.Request]],
    turtles: IngestedBag,
    poses_by_rosbags: list[tuple[int, bytes]],
) -> None:
    client, sent = counting
    page = client.list.record(turtles.topics["/turtle1/pose"].id, limit=50, include_raw_data=True)
    sent.clear()

    found = [(record.timestamp, record.get_raw_data()) for record in page.data]

    assert found == poses_by_rosbags[:50]
    assert sent == []


def test_record_data_page_over_the_raw_data_cap_is_content_too_large(lqs: LogQS, images: IngestedBag) -> None:
    # Two 1280x720 rgb8 images: 5.5 MB of raw data, over the 4 MiB a page carries
    topic = images.topics["/camera/rgb"]

    with pytest.raises(ContentTooLarge, match="limit"):
        lqs.list.record(topic.id, include_raw_data=True)
    one = lqs.list.record(topic.id, include_raw_data=True, limit=1).data[0]
    assert len(one.get_raw_data()) > 1280 * 720 * 3  # 3.7 MB of base64 over real HTTP


# Previews -------------------------------------------------------------------------------------------


def test_record_data_list_with_auxiliary_data_gives_previews_pillow_opens(
    lqs: LogQS, images: IngestedBag
) -> None:
    page = lqs.list.record(images.topics["/camera/rgb"].id, include_auxiliary_data=True)

    assert len(page.data) == 2
    for record in page.data:
        image = lqs.utils.load_auxiliary_data_image(record)
        assert isinstance(image, Image.Image)
        assert (image.format, image.size) == ("WEBP", (640, 360))
        red, _, blue = image.convert("RGB").getpixel((160, 270))
        assert red > 200 and blue < 60
        same = lqs.utils.load_auxiliary_data_image(record.auxiliary_data)  # the dict form
        assert same is not None and same.size == image.size


def test_record_data_get_auxiliary_data_fetches_the_preview_of_a_listed_record(
    lqs: LogQS, images: IngestedBag
) -> None:
    record = images.topics["/camera/compressed"].list_records(limit=1)[0]
    assert record.auxiliary_data is None

    auxiliary = record.get_auxiliary_data()
    image = record.load_auxiliary_data_image()

    assert isinstance(auxiliary, dict) and auxiliary["format"] == "webp"
    assert image is not None and image.size == (640, 480)


def test_record_data_preview_of_a_non_image_topic_is_none(lqs: LogQS, images: IngestedBag) -> None:
    record = lqs.list.record(images.topics["/cmd_vel"].id, include_auxiliary_data=True, limit=1).data[0]

    assert record.auxiliary_data is None
    assert record.query_data == {
        "linear": {"x": 0.0, "y": 0.0, "z": 0.0},
        "angular": {"x": 0.0, "y": 0.0, "z": 0.0},
    }
    assert lqs.utils.load_auxiliary_data_image(record) is None


def test_record_data_frequency_one_over_the_10_hz_topic(lqs: LogQS, images: IngestedBag) -> None:
    records: list[Record] = lqs.list.record(images.topics["/cmd_vel"].id, frequency=1.0).data

    assert [r.timestamp for r in records] == [IMAGE_BAG_START_NS + i * SECOND for i in range(3)]
