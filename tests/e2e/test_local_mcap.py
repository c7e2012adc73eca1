"""MCAP files through the local stack over HTTP: uploaded and ingested with ``openlqs.client`` as a user
does, then read back through the API (``raw_data``) and by the client itself (ranged reads of the object,
``zstd_mcap`` chunks decompressed), and compared with the fixtures README and the ``mcap`` package.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcap.reader import make_reader
from rosbags.typesys import Stores, get_typestore

from openlqs.client import ClientConfig, LogQS
from openlqs.client.models import Log, Record, Topic
from openlqs.formats.messages import to_plain
from tests.e2e.conftest import LocalStackProcess
from tests.support.fixture_logs import FIXTURES, sha256_of

pytestmark = pytest.mark.e2e

INGESTION_TIMEOUT_S = 180
ROS2 = get_typestore(Stores.LATEST)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    local = LocalStackProcess(tmp_path_factory.mktemp("mcap") / "openlqs-data")
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="module")
def lqs(stack: LocalStackProcess) -> Iterator[LogQS]:
    config = ClientConfig(
        api_url=stack.api_url,
        datastore_id=stack.datastore_id,
        api_key_id=stack.api_key_id,
        api_key_secret=stack.api_key_secret,
        progress=False,
        retry_delay=0.1,
    )
    with LogQS(config) as client:
        yield client


@pytest.fixture(scope="module")
def ingested(lqs: LogQS, fixture_logs: Path) -> dict[str, Log]:
    """Each fixture file uploaded and ingested into a log of its own."""
    group = lqs.resource.Group.fetch_or_create(name="MCAP Group")
    logs = {}
    for name in sorted(FIXTURES):
        path = fixture_logs / name
        log = lqs.resource.Log.fetch_or_create(group_id=group.id, name=name)
        lqs.utils.upload_log_object(log_id=log.id, file_path=str(path), object_key=path.name)
        ingestion = lqs.create.ingestion(log_id=log.id, object_key=path.name, state="queued").data
        finished = lqs.utils.wait_for(ingestion, timeout=INGESTION_TIMEOUT_S, poll_interval=0.25)
        assert finished.state == "completed", (finished.error_name, finished.error_message)
        logs[name] = log
    return logs


def _topics(log: Log) -> dict[str, Topic]:
    return {topic.name: topic for topic in log.list_topics()}


def _all_records(lqs: LogQS, topic: Topic, **params: Any) -> list[Record]:
    records: list[Record] = []
    while True:
        page = lqs.list.record(topic_id=topic.id, limit=1000, offset=len(records), **params)
        records += page.data
        if len(records) >= page.count:
            return records


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_mcap_over_http_topics_counts_times_and_bytes_are_the_readmes(
    lqs: LogQS, ingested: dict[str, Log], name: str
) -> None:
    topics = _topics(ingested[name])

    assert set(topics) == set(FIXTURES[name])
    for topic_name, want in FIXTURES[name].items():
        topic = topics[topic_name]
        assert (topic.type_name, topic.type_encoding) == (want.type_name, want.type_encoding)
        assert (topic.record_count, topic.start_time, topic.end_time) == (want.count, want.first, want.last)
        # The API's raw_data, and the client's own ranged reads of the object, give the README's bytes
        served = _all_records(lqs, topic, include_raw_data=True)
        assert sha256_of(base64.b64decode(r.raw_data or "") for r in served) == want.sha256
        records = _all_records(lqs, topic)
        read = [data for _, data in lqs.utils.iter_record_data(records)]
        assert sha256_of(read) == want.sha256, topic_name


def _mcap_messages(path: Path) -> dict[str, list[bytes]]:
    """Each topic's messages' bytes in log-time order, as the ``mcap`` package reads them."""
    found: dict[str, list[bytes]] = {}
    with path.open("rb") as stream:
        for _, channel, message in make_reader(stream).iter_messages():
            found.setdefault(channel.topic, []).append(message.data)
    return found


def test_mcap_over_http_client_decodes_cdr_and_json(
    lqs: LogQS, ingested: dict[str, Log], fixture_logs: Path
) -> None:
    talker = _topics(ingested["rosbag2-talker-mcap/talker.mcap"])
    expected = _mcap_messages(fixture_logs / "rosbag2-talker-mcap/talker.mcap")
    for name in ("/topic", "/rosout"):
        records = _all_records(lqs, talker[name])
        decoded = [data for _, data in lqs.utils.iter_record_data(records, deserialize_results=True)]
        type_name = talker[name].type_name or ""
        assert decoded == [to_plain(ROS2.deserialize_cdr(raw, type_name)) for raw in expected[name]]
        assert lqs.utils.get_deserialized_record_data(records[-1]) == decoded[-1]

    mouse = _topics(ingested["json-mouse-events.mcap"])["mouse"]
    events = _mcap_messages(fixture_logs / "json-mouse-events.mcap")["mouse"]
    records = _all_records(lqs, mouse)
    assert [lqs.utils.get_deserialized_record_data(r) for r in records[:5]] == [
        json.loads(raw) for raw in events[:5]
    ]
    assert mouse.type_schema == json.loads(mouse.type_data or "") and mouse.type_schema


def test_mcap_over_http_protobuf_records_are_bytes_only(lqs: LogQS, ingested: dict[str, Log]) -> None:
    scans = _topics(ingested["protobuf-laser-scan.mcap"])["/laser_scan"]
    (record,) = lqs.list.record(topic_id=scans.id, limit=1, include_raw_data=True).data

    assert (record.query_data, record.error) == (None, None)
    assert lqs.utils.fetch_record_bytes(record) == base64.b64decode(record.raw_data or "")
    with pytest.raises(ValueError, match="bytes only"):
        lqs.utils.get_deserialized_record_data(record)
    (ingestion,) = lqs.list.ingestion(log_id=ingested["protobuf-laser-scan.mcap"].id).data
    assert ingestion.context is not None and ingestion.context["mcap"]["library"].startswith("mcap-rs")
