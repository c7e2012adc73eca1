"""Digestions on the local stack over HTTP: the stream trigger starts DigestionStateMachine (the real ASL
in moto's interpreter), our client reads the parts and downloads the export, ``openlqs export`` writes a
clip; every byte is compared with what rosbags or the ``mcap`` package reads from the source file."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcap.reader import make_reader
from rosbags.rosbag1 import Reader

from openlqs.client import ClientConfig, LogQS
from openlqs.client.models import Log
from tests.e2e.conftest import LocalStackProcess
from tests.e2e.test_cli import run_cli, run_json

pytestmark = pytest.mark.e2e

GROUP = "Digestions"
START = 1396293890_000_000_000
END = 1396293900_000_000_000
WAIT_S = 180


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    process = LocalStackProcess(tmp_path_factory.mktemp("digestions") / "openlqs-data")
    process.start()
    yield process
    process.stop()


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


def _ingest(stack: LocalStackProcess, lqs: LogQS, path: Path, log_name: str) -> Log:
    run_json(stack, "ingest", str(path), "--group", GROUP, "--log", log_name, "--no-progress")
    group = lqs.resource.Group.fetch(GROUP)
    return lqs.resource.Log.fetch(log_name, group_id=group.id)


@pytest.fixture(scope="module")
def turtles(stack: LocalStackProcess, lqs: LogQS, fixture_bags: Path) -> Log:
    return _ingest(stack, lqs, fixture_bags / "example-lz4.bag", "turtles")


@pytest.fixture(scope="module")
def talker(stack: LocalStackProcess, lqs: LogQS, fixture_logs: Path) -> Log:
    return _ingest(stack, lqs, fixture_logs / "rosbag2-talker-mcap" / "talker.mcap", "talker")


def _bag_messages(path: Path, topics: set[str], low: int, high: int) -> list[tuple[str, int, bytes]]:
    with Reader(path) as reader:
        return [
            (c.topic, t, bytes(d)) for c, t, d in reader.messages() if c.topic in topics and low <= t <= high
        ]


def _thinned(messages: list[tuple[str, int, bytes]], frequency: float) -> list[tuple[str, int, bytes]]:
    """The first message of each 1/frequency period (aligned to the epoch), as record lists thin."""
    period = int(1e9 / frequency)
    kept: list[tuple[str, int, bytes]] = []
    for message in sorted(messages, key=lambda m: m[1]):
        if not kept or kept[-1][1] // period != message[1] // period:
            kept.append(message)
    return kept


def test_local_stack_digests_with_the_clients_readers_and_export(
    lqs: LogQS, turtles: Log, fixture_bags: Path, tmp_path: Path
) -> None:
    topics = {t.name: t for t in turtles.list_topics()}
    digestion = lqs.create.digestion(
        log_id=turtles.id, name="pose and tf", context={"export": {"format": "mcap"}}
    ).data
    lqs.create.digestion_topic(digestion.id, topics["/turtle1/pose"].id, start_time=START, end_time=END)
    lqs.create.digestion_topic(digestion.id, topics["/tf"].id, start_time=START, end_time=END, frequency=4.0)
    lqs.update.digestion(digestion.id, data={"state": "queued"})

    done = lqs.utils.wait_for(digestion, timeout=WAIT_S, poll_interval=0.25, report_interval=None)

    assert done.state == "completed", (done.error_name, done.error_message)
    bag = fixture_bags / "example-lz4.bag"
    expected = sorted(
        _bag_messages(bag, {"/turtle1/pose"}, START, END)
        + _thinned(_bag_messages(bag, {"/tf"}, START, END), 4.0),
        key=lambda m: m[1],
    )
    names = {str(t.id): name for name, t in topics.items()}
    from_blobs = [
        (names[e.topic_id], e.timestamp, data) for _, e, data in lqs.utils.iter_digestion_records(done)
    ]
    assert sorted(from_blobs) == sorted(expected)
    from_logs = [
        (names[str(r.topic_id)], r.timestamp, data) for r, data in lqs.utils.iter_digestion_data(done)
    ]
    assert sorted(from_logs) == sorted(expected)
    written = lqs.utils.download_digestion_export(done, tmp_path / "clip.mcap")
    reader = make_reader(io.BytesIO(written.read_bytes()))
    exported = [(c.topic, m.log_time, m.data) for _, c, m in reader.iter_messages(log_time_order=True)]
    assert exported == expected
    assert written.stat().st_size == done.context["export"]["size"]
    parts = done.list_digestion_parts()
    assert parts and {str(p.state) for p in parts} == {"completed"}


def _run_export(stack: LocalStackProcess, *args: str) -> Any:
    result = run_cli(stack, "export", *args, "--no-progress")
    assert result.returncode == 0, result.stderr
    return result


def test_cli_export_writes_a_latched_bag_rosbags_plays(
    stack: LocalStackProcess, turtles: Log, fixture_bags: Path, tmp_path: Path
) -> None:
    out = tmp_path / "clip.bag"

    result = _run_export(
        stack,
        str(turtles.id),
        "--topic", "/tf_static",
        "--topic", "/turtle2/pose",
        "--from", str(START),
        "--to", str(END),
        "--latched",
        "-o", str(out),
    )  # fmt: skip

    bag = fixture_bags / "example-lz4.bag"
    window = _bag_messages(bag, {"/turtle2/pose"}, START, END)
    (tf_static,) = _bag_messages(bag, {"/tf_static"}, 0, START)
    last_pose = _bag_messages(bag, {"/turtle2/pose"}, 0, START - 1)[-1]
    with Reader(out) as reader:
        got = [(c.topic, t, bytes(d)) for c, t, d in reader.messages()]
        latching = {c.topic: c.ext.latching for c in reader.connections}
    assert got == sorted([tf_static, last_pose, *window], key=lambda m: m[1])
    assert latching == {"/tf_static": 1, "/turtle2/pose": 1}
    assert f"{out}: {len(window) + 2} messages" in result.stdout


def test_cli_export_of_a_ros2_mcap_file(
    stack: LocalStackProcess, lqs: LogQS, talker: Log, fixture_logs: Path, tmp_path: Path
) -> None:
    source = fixture_logs / "rosbag2-talker-mcap" / "talker.mcap"
    out = tmp_path / "talker-clip.mcap"

    _run_export(stack, "talker", "--group", GROUP, "--topic", "/topic", "--frequency", "1", "-o", str(out))

    reader = make_reader(source.open("rb"))
    messages = [(c.topic, m.log_time, m.data) for _, c, m in reader.iter_messages(log_time_order=True)]
    expected = _thinned([m for m in messages if m[0] == "/topic"], 1.0)
    exported = make_reader(io.BytesIO(out.read_bytes()))
    assert [(c.topic, m.log_time, m.data) for _, c, m in exported.iter_messages()] == expected
    summary = exported.get_summary()
    assert summary is not None
    (channel,) = summary.channels.values()
    assert (channel.message_encoding, summary.schemas[channel.schema_id].name) == (
        "cdr",
        "std_msgs/msg/String",
    )
    assert lqs.list.digestion(log_id=talker.id, state="completed").count >= 1


def test_cli_export_refuses_a_bag_of_ros2_topics(
    stack: LocalStackProcess, lqs: LogQS, talker: Log, tmp_path: Path
) -> None:
    out = tmp_path / "talker.bag"

    result = run_cli(
        stack, "export", "talker", "--group", GROUP, "--topic", "/topic", "-o", str(out), "--no-progress"
    )

    assert result.returncode != 0 and not out.exists()
    assert "context.export.format" in result.stderr and "/topic" in result.stderr
    # The digestion it made is not left behind.
    assert lqs.list.digestion(log_id=talker.id, name="talker").count == 0


def test_cli_export_of_a_topic_the_log_lacks_is_a_usage_error(
    stack: LocalStackProcess, lqs: LogQS, turtles: Log, tmp_path: Path
) -> None:
    before = lqs.list.digestion(log_id=turtles.id).count

    result = run_cli(stack, "export", str(turtles.id), "--topic", "/nope", "-o", str(tmp_path / "x.mcap"))

    assert result.returncode == 2 and "has no topic /nope" in result.stderr
    assert lqs.list.digestion(log_id=turtles.id).count == before
