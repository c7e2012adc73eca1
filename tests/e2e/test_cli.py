"""The ``openlqs`` command against the local stack: ingest, ls, records, get, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import LocalStackProcess
from tests.support.bags import EXAMPLE_BAG_TOPIC_COUNTS
from tests.support.fixture_logs import FIXTURES
from tests.support.rosbag2 import in_replay_order, mixed_messages, topic_digests, write_split_recording

pytestmark = pytest.mark.e2e

GROUP = "CLI Group"
START = 1_650_000_000_000_000_000
LOG = "CLI Log"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    process = LocalStackProcess(tmp_path_factory.mktemp("cli") / "openlqs-data")
    process.start()
    yield process
    process.stop()


def run_cli(stack: LocalStackProcess, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.exports}
    return subprocess.run(
        [sys.executable, "-m", "openlqs.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def run_json(stack: LocalStackProcess, *args: str) -> Any:
    result = run_cli(stack, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def ingested(stack: LocalStackProcess, fixture_bags: Path) -> list[dict[str, Any]]:
    """example.bag ingested through the command; its printed topics."""
    topics: list[dict[str, Any]] = run_json(
        stack, "ingest", str(fixture_bags / "example.bag"), "--group", GROUP, "--log", LOG, "--no-progress"
    )
    return topics


def test_cli_ingest_prints_the_bags_topics(ingested: list[dict[str, Any]]) -> None:
    assert {topic["name"]: topic["record_count"] for topic in ingested} == EXAMPLE_BAG_TOPIC_COUNTS


def test_cli_ingest_of_an_mcap_file_prints_its_topics(stack: LocalStackProcess, fixture_logs: Path) -> None:
    name = "rosbag2-talker-mcap/talker.mcap"

    topics = run_json(
        stack, "ingest", str(fixture_logs / name), "--group", GROUP, "--log", "MCAP", "--no-progress"
    )

    expected = FIXTURES[name]
    assert {t["name"]: t["record_count"] for t in topics} == {n: e.count for n, e in expected.items()}
    assert {t["name"]: (t["type_name"], t["type_encoding"]) for t in topics} == {
        n: (e.type_name, e.type_encoding) for n, e in expected.items()
    }


def test_cli_ingest_of_a_ros2_recording_folder_makes_one_log_of_its_split_files(
    stack: LocalStackProcess, tmp_path: Path
) -> None:
    parts = [
        mixed_messages(START, 30),
        mixed_messages(START + 10**9, 21),
        mixed_messages(START + 2 * 10**9, 9),
    ]
    recording = write_split_recording(tmp_path / "run", parts, storage="sqlite3", compression="file")

    topics = run_json(
        stack, "ingest", str(recording.path), "--group", GROUP, "--log", "ROS 2", "--no-progress"
    )
    again = run_json(
        stack, "ingest", str(recording.path), "--group", GROUP, "--log", "ROS 2", "--no-progress"
    )

    expected = topic_digests(in_replay_order(recording.all_messages))
    assert {t["name"]: t["record_count"] for t in topics} == {name: d[0] for name, d in expected.items()}
    assert {t["name"]: (t["start_time"], t["end_time"]) for t in topics} == {
        name: (d[1], d[2]) for name, d in expected.items()
    }
    assert {t["id"] for t in again} == {t["id"] for t in topics}
    log_id = topics[0]["log_id"]
    (ingestion,) = run_json(stack, "ls", "ingestions", "--log", log_id)
    assert ingestion["object_key"] == "run/metadata.yaml"
    objects = boto3.client(
        "s3",
        endpoint_url=stack.exports["OPENLQS_S3_ENDPOINT"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).list_objects_v2(
        Bucket=stack.exports["OPENLQS_BUCKET"], Prefix=f"lqs/{stack.datastore_id}/logs/{log_id}/run/"
    )
    names = sorted(item["Key"].split("/run/", 1)[1] for item in objects["Contents"])
    assert names == sorted(
        [
            "metadata.yaml",
            *recording.files,
            *(f"derived/{ingestion['id']}/run_{i}.mcap" for i in range(3)),
        ]
    )


def test_cli_ingest_again_neither_uploads_nor_ingests_twice(
    stack: LocalStackProcess, fixture_bags: Path, ingested: list[dict[str, Any]]
) -> None:
    again = run_json(
        stack, "ingest", str(fixture_bags / "example.bag"), "--group", GROUP, "--log", LOG, "--no-progress"
    )

    assert {topic["id"] for topic in again} == {topic["id"] for topic in ingested}
    log_id = ingested[0]["log_id"]
    assert len(run_json(stack, "ls", "ingestions", "--log", log_id)) == 1


def test_cli_ingest_table_lists_topics_with_counts(stack: LocalStackProcess, fixture_bags: Path) -> None:
    result = run_cli(
        stack,
        "ingest",
        str(fixture_bags / "example.bag"),
        "--group",
        GROUP,
        "--log",
        "Table Log",
        "--no-progress",
    )

    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "TYPE", "RECORDS"]
    assert {row.split()[0]: int(row.split()[2]) for row in rows} == EXAMPLE_BAG_TOPIC_COUNTS


def test_cli_ls_shows_groups_logs_and_topics(
    stack: LocalStackProcess, ingested: list[dict[str, Any]]
) -> None:
    groups = run_cli(stack, "ls", "groups")
    logs = run_json(stack, "ls", "logs", "--group", GROUP, "--name", LOG)
    topics = run_json(stack, "ls", "topics", "--log", LOG, "--group", GROUP)

    assert groups.returncode == 0
    assert groups.stdout.splitlines()[0].split() == ["NAME", "ID", "CREATED"]
    assert GROUP in groups.stdout
    assert [log["name"] for log in logs] == [LOG]
    assert sorted(topic["name"] for topic in topics) == sorted(EXAMPLE_BAG_TOPIC_COUNTS)


def test_cli_tag_marks_a_log_topic_and_range_and_ls_finds_logs_by_label(
    stack: LocalStackProcess, ingested: list[dict[str, Any]]
) -> None:
    pose = next(topic for topic in ingested if topic["name"] == "/turtle1/pose")
    start = pose["start_time"]
    (tagged,) = run_json(
        stack,
        "tag",
        LOG,
        "turtle moves",
        "--group",
        GROUP,
        "--category",
        "events",
        "--topic",
        "/turtle1/pose",
        "--from",
        str(start),
        "--to",
        f"{start // 1_000_000_000 + 1}s",
    )
    (whole,) = run_json(stack, "tag", LOG, "calibrated", "--group", GROUP)
    both = run_json(stack, "ls", "logs", "--label", "turtle moves", "--label", "calibrated")
    none = run_cli(stack, "ls", "logs", "--label", "never made")
    tags = run_json(stack, "ls", "tags", "--log", LOG, "--group", GROUP)
    labels = run_json(stack, "ls", "labels")

    assert (tagged["topic_id"], tagged["start_time"]) == (pose["id"], start)
    assert tagged["end_time"] == (start // 1_000_000_000 + 1) * 1_000_000_000
    assert whole["topic_id"] is None
    assert [log["name"] for log in both] == [LOG]
    assert none.returncode == 1 and "no label 'never made'" in none.stderr
    assert {tag["id"] for tag in tags} == {tagged["id"], whole["id"]}
    assert {(label["category"], label["value"]) for label in labels} >= {
        ("events", "turtle moves"),
        (None, "calibrated"),
    }


def test_cli_records_lists_a_time_window(stack: LocalStackProcess, ingested: list[dict[str, Any]]) -> None:
    pose = next(topic for topic in ingested if topic["name"] == "/turtle1/pose")
    start = pose["start_time"]
    seconds = f"{start // 1_000_000_000}.{start % 1_000_000_000:09d}"

    window = run_json(stack, "records", pose["id"], "--from", seconds, "--to", str(start + 100_000_000))
    limited = run_json(stack, "records", pose["id"], "--limit", "5")

    assert window, "no record in the first 100 ms"
    assert window[0]["timestamp"] == start
    assert all(start <= record["timestamp"] <= start + 100_000_000 for record in window)
    assert [record["timestamp"] for record in limited] == sorted(record["timestamp"] for record in limited)
    assert len(limited) == 5


def test_cli_get_shows_a_resource_and_downloads_an_object(
    stack: LocalStackProcess, ingested: list[dict[str, Any]], fixture_bags: Path, tmp_path: Path
) -> None:
    topic = ingested[0]
    target = tmp_path / "copy.bag"

    shown = run_json(stack, "get", topic["id"])
    metadata = run_json(stack, "get", f"{topic['log_id']}/example.bag")
    download = run_cli(stack, "get", f"{topic['log_id']}/example.bag", "--output", str(target))

    assert shown["name"] == topic["name"]
    assert metadata["size"] == (fixture_bags / "example.bag").stat().st_size
    assert download.returncode == 0, download.stderr
    assert target.read_bytes() == (fixture_bags / "example.bag").read_bytes()


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (("get", "00000000-0000-0000-0000-000000000000"), 1, "[NotFound]"),
        (("get", "not-an-id"), 2, "not an id"),
        (("records", "00000000-0000-0000-0000-000000000000", "--from", "yesterday"), 2, "not a timestamp"),
        (("ls", "gadgets"), 2, "gadgets"),
        (("ingest", "missing.bag", "--group", "G", "--log", "L"), 2, "missing.bag"),
    ],
)
def test_cli_errors_are_one_line_with_a_non_zero_status(
    stack: LocalStackProcess, args: tuple[str, ...], status: int, message: str
) -> None:
    result = run_cli(stack, *args)

    assert result.returncode == status
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("openlqs: error: ")
    assert message in result.stderr


def test_cli_ingest_of_a_file_that_is_not_a_bag_fails_with_the_reason(
    stack: LocalStackProcess, tmp_path: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a bag\n")

    result = run_cli(stack, "ingest", str(text), "--group", GROUP, "--log", "Bad Log", "--no-progress")

    assert result.returncode == 1
    assert "failed" in result.stderr
    assert "ROS 1 bag" in result.stderr


def test_cli_reports_an_unreachable_api_in_one_line(stack: LocalStackProcess) -> None:
    env = {**os.environ, **stack.exports, "LQS_API_URL": "http://127.0.0.1:9", "LQS_RETRY_COUNT": "0"}

    result = subprocess.run(
        [sys.executable, "-m", "openlqs.cli", "ls", "groups"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(
        "openlqs: error: [ApiUnreachable] Cannot reach the API at http://127.0.0.1:9 (Connection refused)."
    )
    assert "The URL is LQS_API_URL" in result.stderr and "`make local`" in result.stderr


# The same file through a second route -----------------------------------------------------------------


def _topic_counts(topics: list[dict[str, Any]]) -> dict[str, int]:
    return {topic["name"]: topic["record_count"] for topic in topics}


def test_the_same_file_through_a_second_route_is_not_ingested_twice(
    stack: LocalStackProcess, fixture_bags: Path
) -> None:
    # Given example.bag ingested with the command
    bag = str(fixture_bags / "example.bag")
    log = "Second Route Log"
    first = run_json(stack, "ingest", bag, "--group", GROUP, "--log", log, "--no-progress")
    log_id = first[0]["log_id"]

    # When the same file is uploaded again under another key
    again = run_cli(
        stack,
        "ingest",
        bag,
        "--group",
        GROUP,
        "--log",
        log,
        "--object-key",
        "copy.bag",
        "--no-progress",
        "--json",
    )
    # And dropped into the drop folder (S3, as the README shows)
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.exports["OPENLQS_S3_ENDPOINT"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.upload_file(bag, stack.exports["OPENLQS_BUCKET"], f"drop/{GROUP}/{log}/example.bag")
    deadline = time.monotonic() + 60
    while s3.list_objects_v2(Bucket=stack.exports["OPENLQS_BUCKET"], Prefix="drop/").get("KeyCount"):
        assert time.monotonic() < deadline, "the drop folder did not take the file"
        time.sleep(0.5)

    # Then the command said why it did not ingest the copy, and the drop folder made no ingestion
    assert again.returncode == 0, again.stderr
    assert "copy.bag is not ingested again" in again.stderr
    assert "already holds the records of this file" in again.stderr
    assert _topic_counts(json.loads(again.stdout)) == EXAMPLE_BAG_TOPIC_COUNTS
    ingestions = run_json(stack, "ls", "ingestions", "--log", log_id)
    assert [(i["object_key"], i["state"]) for i in ingestions] == [("example.bag", "completed")]
    # And the log holds each record once
    topics = run_json(stack, "ls", "topics", "--log", log_id)
    assert _topic_counts(topics) == EXAMPLE_BAG_TOPIC_COUNTS
    # And running the command again still finds the completed ingestion
    assert _topic_counts(run_json(stack, "ingest", bag, "--group", GROUP, "--log", log, "--no-progress")) == (
        EXAMPLE_BAG_TOPIC_COUNTS
    )


def test_cli_ingest_wait_ends_at_its_timeout_saying_what_to_check(
    stack: LocalStackProcess, fixture_bags: Path
) -> None:
    result = run_cli(
        stack,
        "ingest",
        str(fixture_bags / "example-bz2.bag"),
        "--group",
        GROUP,
        "--log",
        "Timeout Log",
        "--timeout",
        "0.01",
    )

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "openlqs: error: Ingestion example-bz2.bag (" in result.stderr
    assert "after waiting 0.01 s" in result.stderr
    assert "`make local`" in result.stderr
