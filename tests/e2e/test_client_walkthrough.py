"""The LogQS documentation walkthrough with ``openlqs.client.LogQS`` against the local stack, step by step.

One local stack serves the whole module. Module-scoped fixtures carry the walkthrough's state from one
step to the next (the group, the log, the uploaded bag, the finished ingestion), so each test states one
step and still runs on its own. Record bytes are checked against what rosbags reads from the same bag.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from rosbags.rosbag1 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from openlqs.client import ClientConfig, LogQS
from openlqs.client.models import Group, Ingestion, Log, Object, ObjectPart, Record
from openlqs.errors import Conflict
from openlqs.models.common import PaginatedResponse
from tests.e2e.conftest import LocalStackProcess
from tests.support import real_files
from tests.support.bags import EXAMPLE_BAG_TOPIC_COUNTS

pytestmark = pytest.mark.e2e

GROUP_NAME = "Demo Group"
INGESTION_TIMEOUT_S = 180
MIB = 1024 * 1024
PART_SIZE = 5 * MIB  # S3's smallest part
#: Every n-th record of the uncompressed bag is read on its own (see test_walkthrough_get_raw_data...).
SINGLE_READ_STRIDE = 16
POSE_FIELDS = ("x", "y", "theta", "linear_velocity", "angular_velocity")


# The stack and the client ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    local = LocalStackProcess(tmp_path_factory.mktemp("client-walkthrough") / "openlqs-data")
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="module")
def lqs(stack: LocalStackProcess) -> Iterator[LogQS]:
    # An explicit config: neither LQS_* variables nor a logqs-config.json of the caller leak in.
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
def bags_dir() -> Path:
    return real_files.require("bags")


def _counting_client(lqs: LogQS) -> tuple[LogQS, list[httpx.Request]]:
    """A second client on the same stack that keeps every request it sends."""
    sent: list[httpx.Request] = []
    http = httpx.Client(timeout=60, event_hooks={"request": [sent.append]})
    return LogQS(lqs.config, http_client=http), sent


def _part_numbers_put(sent: list[httpx.Request]) -> list[int]:
    """Part numbers of the PUTs to presigned URLs (S3 puts ``partNumber`` in the query)."""
    return sorted(int(r.url.params["partNumber"]) for r in sent if r.method == "PUT")


# Groups ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupStep:
    listed_before: PaginatedResponse[Group]
    created: Group


@pytest.fixture(scope="module")
def group_step(lqs: LogQS) -> GroupStep:
    before = lqs.list.group(name=GROUP_NAME)
    return GroupStep(listed_before=before, created=lqs.create.group(name=GROUP_NAME).data)


@pytest.fixture(scope="module")
def group(group_step: GroupStep) -> Group:
    return group_step.created


def test_walkthrough_list_groups_by_name_is_empty_before_the_group_exists(
    lqs: LogQS, group_step: GroupStep
) -> None:
    assert (group_step.listed_before.count, group_step.listed_before.data) == (0, [])

    listed_after = lqs.list.group(name=GROUP_NAME)

    assert listed_after.count == 1
    assert [g.id for g in listed_after.data] == [group_step.created.id]


def test_walkthrough_create_group_returns_the_new_group(lqs: LogQS, group: Group) -> None:
    assert isinstance(group, lqs.resource.Group)
    assert group.name == GROUP_NAME
    assert group.created_at is not None


def test_walkthrough_fetch_group_by_id(lqs: LogQS, group: Group) -> None:
    fetched = lqs.fetch.group(group.id).data

    assert (fetched.id, fetched.name, fetched.created_at) == (group.id, GROUP_NAME, group.created_at)


def test_walkthrough_update_group_note(lqs: LogQS, group: Group) -> None:
    updated = lqs.update.group(group.id, data={"note": "A note from the walkthrough."}).data

    assert updated.note == "A note from the walkthrough."
    assert lqs.fetch.group(group.id).data.note == "A note from the walkthrough."


# Resource models ------------------------------------------------------------------------------------


def test_walkthrough_resource_fetch_by_name_and_by_id(lqs: LogQS, group: Group) -> None:
    by_name = lqs.resource.Group.fetch(GROUP_NAME)
    by_id = lqs.resource.Group.fetch(group.id)

    assert by_name.id == by_id.id == group.id
    assert by_id.name == GROUP_NAME


def test_walkthrough_fetch_or_create_returns_the_existing_group(lqs: LogQS, group: Group) -> None:
    found = lqs.resource.Group.fetch_or_create(name=GROUP_NAME)

    assert found.id == group.id
    assert lqs.list.group(name=GROUP_NAME).count == 1


def test_walkthrough_fetch_or_create_creates_a_missing_group(lqs: LogQS, group: Group) -> None:
    assert lqs.list.group(name="Another Group").count == 0

    created = lqs.resource.Group.fetch_or_create(name="Another Group", note="made on demand")
    again = lqs.resource.Group.fetch_or_create(name="Another Group")

    assert created.id != group.id
    assert (created.name, created.note) == ("Another Group", "made on demand")
    assert again.id == created.id
    assert lqs.list.group(name="Another Group").count == 1


def test_walkthrough_resource_update_changes_the_instance_and_the_server(lqs: LogQS, group: Group) -> None:
    resource = lqs.resource.Group.fetch(group.id)

    resource.update(note="Updated through the resource.")

    assert resource.note == "Updated through the resource."
    assert resource.updated_at is not None
    assert lqs.fetch.group(group.id).data.note == "Updated through the resource."


def test_walkthrough_resource_repr(lqs: LogQS, group: Group) -> None:
    assert repr(lqs.resource.Group.fetch(group.id)) == f"<Group id={group.id}, name={GROUP_NAME}>"


# Logs -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_log(lqs: LogQS, group: Group) -> Log:
    return lqs.resource.Log.fetch_or_create(group_id=group.id, name="Demo Log")


def test_walkthrough_log_fetch_or_create_and_group_list_logs(lqs: LogQS, group: Group, demo_log: Log) -> None:
    resource = lqs.resource.Group.fetch(group.id)

    logs = resource.list_logs()

    assert demo_log.id in [log.id for log in logs]
    assert all(log.group_id == group.id for log in logs)
    assert [log.id for log in resource.list_logs(name="Demo Log")] == [demo_log.id]
    assert lqs.resource.Log.fetch_or_create(group_id=group.id, name="Demo Log").id == demo_log.id


# A real bag: upload, ingestion, topics, records -----------------------------------------------------


@dataclass(frozen=True)
class BagContents:
    """What rosbags reads from a bag: per topic, its ROS 1 type, definition and messages in time order."""

    types: dict[str, str]
    definitions: dict[str, str]
    messages: dict[str, list[tuple[int, bytes]]]


def _read_with_rosbags(path: Path) -> BagContents:
    types: dict[str, str] = {}
    definitions: dict[str, str] = {}
    messages: dict[str, list[tuple[int, bytes]]] = {}
    with Reader(path) as reader:
        for connection in reader.connections:
            types[connection.topic] = connection.msgtype.replace("/msg/", "/")
            definitions[connection.topic] = connection.msgdef.data
        for connection, timestamp, raw in reader.messages():
            messages.setdefault(connection.topic, []).append((timestamp, bytes(raw)))
    for found in messages.values():
        found.sort()
    return BagContents(types, definitions, messages)


@dataclass(frozen=True)
class Bag:
    path: Path
    object_key: str
    log_name: str
    compressed: bool
    contents: BagContents


BAG_CASES = {
    # A bz2-compressed bag into the walkthrough's own log, under its own name.
    "bz2": ("example-bz2.bag", "example-bz2.bag", "Demo Log", True),
    # The uncompressed bag under a key with a space and slashes.
    "uncompressed": ("example.bag", "runs/day 1/example.bag", "Uncompressed Log", False),
}


@pytest.fixture(scope="module", params=list(BAG_CASES), ids=list(BAG_CASES))
def bag(request: pytest.FixtureRequest, bags_dir: Path) -> Bag:
    file_name, object_key, log_name, compressed = BAG_CASES[request.param]
    path = bags_dir / file_name
    return Bag(path, object_key, log_name, compressed, _read_with_rosbags(path))


@pytest.fixture(scope="module")
def bag_log(lqs: LogQS, group: Group, bag: Bag) -> Log:
    return lqs.resource.Log.fetch_or_create(group_id=group.id, name=bag.log_name)


@pytest.fixture(scope="module")
def uploaded(lqs: LogQS, bag: Bag, bag_log: Log) -> tuple[Object, list[ObjectPart]]:
    return lqs.utils.upload_log_object(
        log_id=bag_log.id, file_path=str(bag.path), object_key=bag.object_key, part_size=PART_SIZE
    )


def test_walkthrough_upload_log_object_of_a_bag(uploaded: tuple[Object, list[ObjectPart]], bag: Bag) -> None:
    obj, parts = uploaded
    size = bag.path.stat().st_size

    assert obj.upload_state == "complete"
    assert obj.size == size
    assert obj.key.endswith(bag.object_key)  # LogQS returns the full storage key
    assert [(part.part_number, part.size) for part in parts] == [(1, size)]


def test_walkthrough_fetch_log_object_metadata(
    lqs: LogQS, uploaded: tuple[Object, list[ObjectPart]], bag: Bag, bag_log: Log
) -> None:
    fetched = lqs.fetch.log_object(object_key=bag.object_key, log_id=bag_log.id)

    assert not isinstance(fetched, bytes)
    assert fetched.data.upload_state == "complete"
    assert fetched.data.size == bag.path.stat().st_size
    assert fetched.data.presigned_url is not None
    assert httpx.get(fetched.data.presigned_url, headers={"Range": "bytes=0-3"}).content == b"#ROS"


def test_walkthrough_fetch_log_object_bytes_through_the_redirect(
    lqs: LogQS, uploaded: tuple[Object, list[ObjectPart]], bag: Bag, bag_log: Log
) -> None:
    content = bag.path.read_bytes()

    def read(**window: int) -> Any:
        return lqs.fetch.log_object(object_key=bag.object_key, log_id=bag_log.id, redirect=True, **window)

    assert read(offset=0, length=12) == b"#ROSBAG V2.0"
    assert read(offset=4096, length=100) == content[4096:4196]
    assert read(offset=-10) == content[-10:]
    assert read() == content


@dataclass(frozen=True)
class IngestionStep:
    created_state: str
    queued_state: str
    finished: Ingestion


@pytest.fixture(scope="module")
def ingestion_step(
    lqs: LogQS, bag: Bag, bag_log: Log, uploaded: tuple[Object, list[ObjectPart]]
) -> IngestionStep:
    ingestion = lqs.resource.Ingestion.fetch_or_create(
        log_id=bag_log.id, object_key=bag.object_key, name=f"Demo Ingestion of {bag.path.name}"
    )
    created_state = ingestion.state
    ingestion.update(state="queued")
    queued_state = ingestion.state
    finished = lqs.utils.wait_for(ingestion, timeout=INGESTION_TIMEOUT_S, poll_interval=0.25)
    return IngestionStep(str(created_state), str(queued_state), finished)


def test_walkthrough_ingestion_is_queued_and_waited_for_until_completed(
    ingestion_step: IngestionStep,
) -> None:
    finished = ingestion_step.finished

    assert (ingestion_step.created_state, ingestion_step.queued_state) == ("ready", "queued")
    assert finished.state == "completed", finished.error_message
    assert finished.progress == 1.0
    assert finished.error_name is None


def test_walkthrough_ingestion_fetch_or_create_finds_the_finished_ingestion(
    lqs: LogQS, ingestion_step: IngestionStep, bag: Bag, bag_log: Log
) -> None:
    again = lqs.resource.Ingestion.fetch_or_create(
        log_id=bag_log.id, object_key=bag.object_key, name=f"Demo Ingestion of {bag.path.name}"
    )

    assert again.id == ingestion_step.finished.id
    assert again.state == "completed"
    assert [i.id for i in bag_log.list_ingestions()] == [again.id]
    assert len(again.list_ingestion_parts()) >= 1


def test_walkthrough_log_list_topics_matches_the_bag(
    ingestion_step: IngestionStep, bag: Bag, bag_log: Log
) -> None:
    topics = bag_log.list_topics()

    assert {t.name: t.record_count for t in topics} == EXAMPLE_BAG_TOPIC_COUNTS
    assert {t.name: t.type_name for t in topics} == bag.contents.types
    assert all(t.type_encoding == "ros1" for t in topics)
    assert bag_log.refresh().record_count == sum(EXAMPLE_BAG_TOPIC_COUNTS.values())


def test_walkthrough_log_list_topics_by_type_name(ingestion_step: IngestionStep, bag_log: Log) -> None:
    poses = bag_log.list_topics(type_name="turtlesim/Pose")

    assert sorted(t.name for t in poses) == ["/turtle1/pose", "/turtle2/pose"]
    assert bag_log.list_topics(type_name="no_such/Type") == []


@pytest.fixture(scope="module")
def records_by_topic(ingestion_step: IngestionStep, bag_log: Log) -> dict[str, list[Record]]:
    return {topic.name: topic.list_records() for topic in bag_log.list_topics()}


def test_walkthrough_topic_list_records_returns_every_record_in_time_order(
    records_by_topic: dict[str, list[Record]], bag: Bag
) -> None:
    for name, records in records_by_topic.items():
        expected = [timestamp for timestamp, _ in bag.contents.messages[name]]
        assert [r.timestamp for r in records] == expected, name
        assert {r.topic_id for r in records} == {records[0].topic_id}


def test_walkthrough_iter_record_data_gives_rosbags_bytes_for_every_record(
    lqs: LogQS, records_by_topic: dict[str, list[Record]], bag: Bag
) -> None:
    for name, records in records_by_topic.items():
        found = [(record.timestamp, raw) for record, raw in lqs.utils.iter_record_data(records)]
        assert found == bag.contents.messages[name], name


def test_walkthrough_get_raw_data_gives_rosbags_bytes(
    records_by_topic: dict[str, list[Record]], bag: Bag
) -> None:
    # Every record of a compressed bag (its chunk is read once); every SINGLE_READ_STRIDE-th record, and
    # the first and last of each topic, of the uncompressed bag, where each record is two HTTP requests.
    for name, records in records_by_topic.items():
        expected = bag.contents.messages[name]
        stride = SINGLE_READ_STRIDE if not bag.compressed else 1
        picked = sorted({0, len(records) - 1, *range(0, len(records), stride)})
        found = [(records[i].timestamp, records[i].get_raw_data()) for i in picked]
        assert found == [expected[i] for i in picked], name


def _rosbags_poses(bag: Bag) -> list[dict[str, Any]]:
    """rosbags' decoding of /turtle1/pose, with the bag's own definition, as field → value."""
    store = get_typestore(Stores.EMPTY)
    store.register(get_types_from_msg(bag.contents.definitions["/turtle1/pose"], "turtlesim/msg/Pose"))
    messages = [
        store.deserialize_ros1(raw, "turtlesim/msg/Pose") for _, raw in bag.contents.messages["/turtle1/pose"]
    ]
    return [{field: getattr(message, field) for field in POSE_FIELDS} for message in messages]


def test_walkthrough_get_deserialized_record_data_of_a_pose(
    lqs: LogQS, records_by_topic: dict[str, list[Record]], bag: Bag
) -> None:
    records = records_by_topic["/turtle1/pose"]
    expected = _rosbags_poses(bag)

    one_by_one = [lqs.utils.get_deserialized_record_data(records[i]) for i in (0, len(records) // 2, -1)]
    every = [message for _, message in lqs.utils.iter_record_data(records, deserialize_results=True)]

    assert one_by_one == [expected[0], expected[len(records) // 2], expected[-1]]
    assert every == expected
    assert expected[0] != expected[-1]  # the turtle moved: the comparison is not of zeros


# Uploads: parts, resuming, skipping, conflicts ------------------------------------------------------


@pytest.fixture(scope="module")
def upload_log(lqs: LogQS, group: Group) -> Log:
    return lqs.resource.Log.fetch_or_create(group_id=group.id, name="Upload Log")


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 12 MiB: two full 5 MiB parts and a short last one."""
    path = tmp_path_factory.mktemp("uploads") / "big file.bin"
    path.write_bytes(os.urandom(12 * MIB + 4321))
    return path


@dataclass(frozen=True)
class CompletedUpload:
    key: str
    obj: Object
    parts: list[ObjectPart]
    parts_put: list[int]


@pytest.fixture(scope="module")
def completed_upload(lqs: LogQS, upload_log: Log, big_file: Path) -> CompletedUpload:
    key = "uploads/big file.bin"
    counting, sent = _counting_client(lqs)
    with counting:
        obj, parts = counting.utils.upload_log_object(
            log_id=upload_log.id, file_path=str(big_file), object_key=key, part_size=PART_SIZE
        )
    return CompletedUpload(key, obj, parts, _part_numbers_put(sent))


def _start_upload(lqs: LogQS, log: Log, key: str, content: bytes, part_numbers: list[int]) -> None:
    """An upload interrupted after ``part_numbers``, as a crashed client leaves it."""
    lqs.create.log_object(key=key, log_id=log.id)
    for number in part_numbers:
        body = content[(number - 1) * PART_SIZE : number * PART_SIZE]
        part = lqs.create.log_object_part(object_key=key, size=len(body), log_id=log.id, part_number=number)
        assert part.data.presigned_url is not None
        assert httpx.put(part.data.presigned_url, content=body, timeout=60).status_code == 200


def _object_bytes(lqs: LogQS, log: Log, key: str) -> bytes:
    data = lqs.fetch.log_object(object_key=key, log_id=log.id, redirect=True)
    assert isinstance(data, bytes)
    return data


def test_upload_log_object_sends_a_file_in_parts(
    lqs: LogQS, completed_upload: CompletedUpload, upload_log: Log, big_file: Path
) -> None:
    content = big_file.read_bytes()
    last = len(content) - 2 * PART_SIZE

    assert completed_upload.parts_put == [1, 2, 3]
    assert [(p.part_number, p.size) for p in completed_upload.parts] == [
        (1, PART_SIZE),
        (2, PART_SIZE),
        (3, last),
    ]
    assert (completed_upload.obj.upload_state, completed_upload.obj.size) == ("complete", len(content))
    assert _object_bytes(lqs, upload_log, completed_upload.key) == content
    assert any(o.key.endswith("/uploads/big file.bin") for o in upload_log.list_objects())


def test_upload_log_object_skip_if_exists_sends_nothing(
    lqs: LogQS, completed_upload: CompletedUpload, upload_log: Log, big_file: Path
) -> None:
    counting, sent = _counting_client(lqs)
    with counting:
        obj, _ = counting.utils.upload_log_object(
            log_id=upload_log.id,
            file_path=str(big_file),
            object_key=completed_upload.key,
            part_size=PART_SIZE,
            skip_if_exists=True,
        )

    assert (obj.upload_state, obj.size) == ("complete", big_file.stat().st_size)
    assert {r.method for r in sent} == {"GET"}


def test_upload_log_object_over_a_complete_object_is_a_conflict(
    lqs: LogQS, completed_upload: CompletedUpload, upload_log: Log, big_file: Path
) -> None:
    with pytest.raises(Conflict, match="already exists"):
        lqs.utils.upload_log_object(
            log_id=upload_log.id,
            file_path=str(big_file),
            object_key=completed_upload.key,
            part_size=PART_SIZE,
        )

    assert _object_bytes(lqs, upload_log, completed_upload.key) == big_file.read_bytes()


def test_upload_log_object_refuses_an_interrupted_upload_without_continue_upload(
    lqs: LogQS, upload_log: Log, big_file: Path
) -> None:
    key = "interrupted/refused.bin"
    _start_upload(lqs, upload_log, key, big_file.read_bytes(), [1])

    with pytest.raises(Conflict, match="continue_upload"):
        lqs.utils.upload_log_object(
            log_id=upload_log.id, file_path=str(big_file), object_key=key, part_size=PART_SIZE
        )

    fetched = lqs.fetch.log_object(object_key=key, log_id=upload_log.id)
    assert not isinstance(fetched, bytes)
    assert fetched.data.upload_state == "processing"


def test_upload_log_object_continue_upload_sends_only_the_missing_parts(
    lqs: LogQS, upload_log: Log, big_file: Path
) -> None:
    key = "interrupted/resumed big file.bin"
    content = big_file.read_bytes()
    _start_upload(lqs, upload_log, key, content, [1])

    counting, sent = _counting_client(lqs)
    with counting:
        obj, parts = counting.utils.upload_log_object(
            log_id=upload_log.id,
            file_path=str(big_file),
            object_key=key,
            part_size=PART_SIZE,
            continue_upload=True,
        )

    assert _part_numbers_put(sent) == [2, 3]
    assert [p.part_number for p in parts] == [1, 2, 3]
    assert (obj.upload_state, obj.size) == ("complete", len(content))
    assert _object_bytes(lqs, upload_log, key) == content
