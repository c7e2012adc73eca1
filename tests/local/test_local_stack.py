"""The local stack: moto + template resources + the API in one process, with state kept across restarts."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from moto.core.config import default_user_config

from openlqs.auth import format_authorization
from openlqs.local import LocalStack
from openlqs.local.runner import RUNNING_MESSAGE
from openlqs.settings import get_settings
from tests.support.local import local_stack, stand_in_project
from tests.support.paths import PROJECT_DIR

DATASTORE_ID = "7d1f4a52-3b9e-4c61-8f0a-5e2d9c1b7a30"
# Generous upper bounds so a slow machine does not hang the suite; nothing is timed.
STARTUP_LIMIT_S = 120


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The real template.yaml and state machine definitions with a stand-in ApiFunction handler."""
    return stand_in_project(tmp_path / "project")


def admin_headers(stack: LocalStack) -> dict[str, str]:
    """The Authorization header of the stack's admin key."""
    assert stack.admin_key is not None
    return {"Authorization": format_authorization(stack.admin_key.key_id, stack.admin_key.secret)}


def _stack(project: Path, data_dir: Path, **kwargs: Any) -> LocalStack:
    # These tests save explicitly (stop or snapshot()), never on the timer.
    return local_stack(project, data_dir, **kwargs)


def _resource_item(key: str) -> dict[str, Any]:
    return {
        "pk": {"S": f"group#{key}"},
        "sk": {"S": "#"},
        "name": {"S": "héllo"},
        "blob": {"B": b"\x00\xff raw"},
        "nested": {"M": {"tags": {"SS": ["a", "b"]}, "n": {"N": "1.5"}, "list": {"L": [{"NULL": True}]}}},
    }


def test_local_stack_restores_items_and_objects_after_restart(project: Path, data_dir: Path) -> None:
    with _stack(project, data_dir) as stack:
        stack.client("dynamodb").put_item(TableName="openlqs-resources", Item=_resource_item("g1"))
        stack.client("s3").put_object(
            Bucket=stack.bucket_name,
            Key="lqs/logs/l1/a.bag",
            Body=b"\x00bag bytes",
            ContentType="application/octet-stream",
            Metadata={"origin": "test"},
        )

    with _stack(project, data_dir) as stack:
        item = stack.client("dynamodb").get_item(
            TableName="openlqs-resources", Key={"pk": {"S": "group#g1"}, "sk": {"S": "#"}}
        )
        obj = stack.client("s3").get_object(Bucket=stack.bucket_name, Key="lqs/logs/l1/a.bag")

        assert item["Item"] == _resource_item("g1")
        assert obj["Body"].read() == b"\x00bag bytes"
        assert obj["ContentType"] == "application/octet-stream"
        assert obj["Metadata"] == {"origin": "test"}


def test_local_stack_kms_key_still_decrypts_after_restart(project: Path, data_dir: Path) -> None:
    context = {"object_store_id": "s1"}
    with _stack(project, data_dir) as stack:
        first_key_id = get_settings().secrets_key_id
        assert first_key_id is not None
        sealed = stack.client("kms").encrypt(
            KeyId=first_key_id, Plaintext=b"s3cret", EncryptionContext=context
        )["CiphertextBlob"]

    with _stack(project, data_dir) as stack:
        second_key_id = get_settings().secrets_key_id
        opened = stack.client("kms").decrypt(CiphertextBlob=sealed, EncryptionContext=context)

    assert second_key_id == first_key_id
    assert (opened["Plaintext"], opened["KeyId"].rsplit("/", 1)[1]) == (b"s3cret", first_key_id)
    assert (data_dir / "kms" / "SecretsKey.json").stat().st_mode & 0o077 == 0  # owner only: key material


def test_local_stack_kms_key_is_new_with_a_new_data_dir(project: Path, tmp_path: Path) -> None:
    with _stack(project, tmp_path / "first") as stack:
        first_key_id = get_settings().secrets_key_id
        sealed = stack.client("kms").encrypt(KeyId=first_key_id, Plaintext=b"s3cret")["CiphertextBlob"]

    with _stack(project, tmp_path / "second") as stack:
        second_key_id = get_settings().secrets_key_id
        kms = stack.client("kms")
        with pytest.raises(kms.exceptions.ClientError):
            kms.decrypt(CiphertextBlob=sealed)

    assert second_key_id not in (None, first_key_id)


def test_local_stack_presigned_urls_are_path_style_and_work_with_plain_http(data_dir: Path) -> None:
    # The real API: a presigned UploadPart URL and a presigned GET, used with no AWS credentials at all.
    body = bytes(range(256)) * 40
    with _stack(PROJECT_DIR, data_dir) as stack:
        base = f"{stack.api_url}/apps/lqs/{stack.datastore_id}/api"
        with httpx.Client(timeout=30, headers=admin_headers(stack)) as http:
            group = http.post(f"{base}/groups", json={"name": "Presigned"}).json()["data"]
            log = http.post(f"{base}/logs", json={"group_id": group["id"], "name": "L"}).json()["data"]
            objects = f"{base}/logs/{log['id']}/objects"
            http.post(objects, json={"key": "a.bag"}).raise_for_status()
            part = http.post(f"{objects}/a.bag/parts", json={"part_number": 1, "size": len(body)}).json()
            upload_url = part["data"]["presigned_url"]
            put = httpx.put(upload_url, content=body, timeout=30)
            http.patch(f"{objects}/a.bag", json={"upload_state": "complete"}).raise_for_status()
            fetched = http.get(f"{objects}/a.bag", params={"redirect": "False"}).json()["data"]
            ranged = httpx.get(fetched["presigned_url"], headers={"Range": "bytes=1000-1099"}, timeout=30)
        path_style_prefix = f"{stack.moto_url}/{stack.bucket_name}/"

    assert put.request.headers.get("Authorization") is None
    assert put.status_code == 200
    assert upload_url.startswith(path_style_prefix)
    assert fetched["presigned_url"].startswith(path_style_prefix)
    assert ranged.status_code == 206
    assert ranged.content == body[1000:1100]


def test_local_stack_starts_empty_with_a_new_data_dir(project: Path, tmp_path: Path) -> None:
    with _stack(project, tmp_path / "first") as stack:
        stack.client("dynamodb").put_item(TableName="openlqs-resources", Item=_resource_item("g1"))

    with _stack(project, tmp_path / "second") as stack:
        items = stack.client("dynamodb").scan(TableName="openlqs-resources")["Items"]

        # Only what a new stack makes for itself: its admin key and the admin user owning it (with the
        # user's name guard and counter).
        kinds = {item["pk"]["S"].split("#")[0] for item in items if item["sk"]["S"] == "#"}
        assert kinds == {"api_key", "user", "unique", "count"}


def test_local_stack_restored_items_are_not_replayed_on_the_stream(project: Path, data_dir: Path) -> None:
    with _stack(project, data_dir) as stack:
        stack.client("dynamodb").put_item(TableName="openlqs-resources", Item=_resource_item("g1"))

    with _stack(project, data_dir) as stack:
        dynamodb, streams = stack.client("dynamodb"), stack.client("dynamodbstreams")
        stream_arn = dynamodb.describe_table(TableName="openlqs-resources")["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

        assert streams.get_records(ShardIterator=iterator)["Records"] == []


def test_local_stack_snapshot_saves_only_what_changed(project: Path, data_dir: Path) -> None:
    with _stack(project, data_dir) as stack:
        unchanged = stack.snapshot()
        stack.client("dynamodb").put_item(TableName="openlqs-records", Item=_resource_item("r1"))
        changed = stack.snapshot()
        again = stack.snapshot()

    assert (unchanged, changed, again) == ([], ["openlqs-records"], [])
    saved = (data_dir / "dynamodb" / "RecordsTable.jsonl").read_text().splitlines()
    assert [json.loads(line)["Item"]["pk"] for line in saved] == [{"S": "group#r1"}]


def test_local_stack_snapshot_drops_deleted_objects(project: Path, data_dir: Path) -> None:
    with _stack(project, data_dir) as stack:
        s3 = stack.client("s3")
        s3.put_object(Bucket=stack.bucket_name, Key="keep", Body=b"1")
        s3.put_object(Bucket=stack.bucket_name, Key="drop", Body=b"2")
        stack.snapshot()
        s3.delete_object(Bucket=stack.bucket_name, Key="drop")

    with _stack(project, data_dir) as stack:
        keys = [
            obj["Key"] for obj in stack.client("s3").list_objects_v2(Bucket=stack.bucket_name)["Contents"]
        ]

    assert keys == ["keep"]
    assert len(list((data_dir / "s3" / "ObjectsBucket" / "blobs").iterdir())) == 1


def test_local_stack_keeps_its_datastore_id_across_restarts(project: Path, data_dir: Path) -> None:
    with _stack(project, data_dir) as stack:
        first = stack.datastore_id

    with _stack(project, data_dir) as stack:
        second = stack.datastore_id

    assert first == second
    assert (data_dir / "datastore_id").read_text().strip() == first


def test_local_stack_datastore_id_can_be_overridden(
    project: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLQS_DATASTORE_ID", DATASTORE_ID)

    with _stack(project, data_dir) as stack:
        assert stack.datastore_id == DATASTORE_ID
        assert get_settings().datastore_id.hex == DATASTORE_ID.replace("-", "")


def test_local_stack_points_the_environment_at_moto_and_restores_it(
    project: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "real-account")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    with _stack(project, data_dir) as stack:
        during = dict(os.environ)
        settings = get_settings()
        moto_url = stack.moto_url

    assert during["AWS_ENDPOINT_URL"] == moto_url
    assert during["MOTO_PORT"] == moto_url.rsplit(":", 1)[1]
    assert (during["AWS_ACCESS_KEY_ID"], during["AWS_DEFAULT_REGION"]) == ("testing", "us-east-1")
    assert during["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"
    assert settings.s3_addressing_style == "path"
    assert settings.secrets_key_id == during["SECRETS_KEY_ID"]
    assert "AWS_PROFILE" not in during
    assert str(settings.datastore_id) == stack.datastore_id
    assert (settings.resources_table_name, settings.records_table_name) == (
        "openlqs-resources",
        "openlqs-records",
    )
    assert settings.objects_bucket_name == "openlqs-objects"
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert "SECRETS_KEY_ID" not in os.environ
    assert os.environ["AWS_PROFILE"] == "real-account"


def test_local_stack_restores_moto_config_on_stop(project: Path, data_dir: Path) -> None:
    before = dict(default_user_config["stepfunctions"])

    with _stack(project, data_dir):
        during = dict(default_user_config["stepfunctions"])

    assert during == {"execute_state_machine": True}
    assert default_user_config["stepfunctions"] == before


def test_local_stack_runs_step_functions_executions(project: Path, data_dir: Path) -> None:
    definition = {
        "StartAt": "Say hello",
        "States": {"Say hello": {"Type": "Pass", "Result": {"x": 1}, "End": True}},
    }

    with _stack(project, data_dir) as stack:
        sfn = stack.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="hello", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn"
        )
        execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])
        description = sfn.describe_execution(executionArn=execution["executionArn"])
        for _ in range(STARTUP_LIMIT_S * 10):
            if description["status"] != "RUNNING":
                break
            time.sleep(0.1)
            description = sfn.describe_execution(executionArn=execution["executionArn"])

    assert description["status"] == "SUCCEEDED"
    assert json.loads(description["output"]) == {"x": 1}


def test_local_stack_keeps_its_admin_key_across_restarts(project: Path, data_dir: Path) -> None:
    with _stack(project, data_dir) as stack:
        first = stack.admin_key
        exported = stack.exports()
    with _stack(project, data_dir) as stack:
        second = stack.admin_key

    assert first is not None
    assert second == first
    assert (exported["LQS_API_KEY_ID"], exported["LQS_API_KEY_SECRET"]) == (str(first.key_id), first.secret)
    assert (data_dir / "admin-key.json").stat().st_mode & 0o777 == 0o600
    assert (
        first.secret not in (data_dir / "dynamodb").read_bytes()
        if (data_dir / "dynamodb").is_file()
        else True
    )


def test_local_stack_makes_a_new_admin_key_when_the_saved_one_is_gone(project: Path, tmp_path: Path) -> None:
    with _stack(project, tmp_path / "first") as stack:
        first = stack.admin_key
    shutil.copy(tmp_path / "first" / "admin-key.json", tmp_path / "admin-key.json")
    (tmp_path / "second").mkdir()
    shutil.copy(tmp_path / "admin-key.json", tmp_path / "second" / "admin-key.json")
    # Another data directory: its datastore never had that key.
    with _stack(project, tmp_path / "second") as stack:
        second = stack.admin_key

    assert first is not None and second is not None
    assert second.key_id != first.key_id


def test_local_stack_listens_on_loopback_only(project: Path, data_dir: Path) -> None:
    # Its S3 checks no signature (docs/security.md): loopback is what keeps other machines out.
    with _stack(project, data_dir) as stack:
        assert stack.api is not None and stack.moto is not None
        addresses = {stack.api.host, stack.moto.get_host_and_port()[0]}

    assert addresses == {"127.0.0.1"}


def test_local_stack_serves_the_api_function(project: Path, data_dir: Path) -> None:
    with _stack(project, data_dir) as stack:
        response = httpx.get(
            f"{stack.api_url}/apps/lqs/{stack.datastore_id}/api/groups?limit=5",
            headers=admin_headers(stack),
            timeout=30,
        )
        anonymous = httpx.get(f"{stack.api_url}/apps/lqs/{stack.datastore_id}/api/groups", timeout=30)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["event"]["queryStringParameters"] == {"limit": "5"}
    # The template's authorizer ran first and vouched for the admin key; without a key, a 401.
    assert response.json()["event"]["requestContext"]["authorizer"]["role"] == "admin"
    assert anonymous.status_code == 401


def test_local_stack_start_fails_cleanly_without_the_api_handler(
    project: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    (project / "functions" / "api" / "app.py").unlink()
    stack = _stack(project, data_dir)

    with pytest.raises(FileNotFoundError, match=r"app\.py"):
        stack.start()

    assert "AWS_ENDPOINT_URL" not in os.environ
    assert stack.moto is None and stack.api is None


# The command line, as `make local` and the e2e tests run it.


def _start_cli(project: Path, data_dir: Path, *args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    environment = {**os.environ, "OPENLQS_PROJECT_DIR": str(project)}
    environment.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openlqs.local",
            "--port",
            "0",
            "--moto-port",
            "0",
            "--data-dir",
            str(data_dir),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=environment,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return process, lines


def _read_until_running(lines: queue.Queue[str]) -> dict[str, str]:
    exports: dict[str, str] = {}
    while True:
        line = lines.get(timeout=STARTUP_LIMIT_S)
        if line == RUNNING_MESSAGE:
            return exports
        if line.startswith("#"):
            continue  # a comment for people (the docs URL)
        name, _, value = line.removeprefix("export ").partition("=")
        exports[name] = value


@pytest.fixture
def cli_process() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_cli_local_prints_exports_serves_and_stops_cleanly(
    project: Path, data_dir: Path, cli_process: list[subprocess.Popen[str]], stop_signal: signal.Signals
) -> None:
    process, lines = _start_cli(project, data_dir)
    cli_process.append(process)

    exports = _read_until_running(lines)
    header = format_authorization(UUID(exports["LQS_API_KEY_ID"]), exports["LQS_API_KEY_SECRET"])
    response = httpx.get(f"{exports['LQS_API_URL']}/groups", headers={"Authorization": header}, timeout=30)
    process.send_signal(stop_signal)
    status = process.wait(timeout=STARTUP_LIMIT_S)

    assert set(exports) == {
        "LQS_API_URL",
        "LQS_DATASTORE_ID",
        "LQS_API_KEY_ID",
        "LQS_API_KEY_SECRET",
        "OPENLQS_S3_ENDPOINT",
        "OPENLQS_BUCKET",
    }
    assert exports["LQS_API_URL"].startswith("http://127.0.0.1:")
    assert exports["OPENLQS_S3_ENDPOINT"].startswith("http://127.0.0.1:")
    assert exports["OPENLQS_BUCKET"] == "openlqs-objects"
    assert exports["LQS_DATASTORE_ID"] == (data_dir / "datastore_id").read_text().strip()
    assert response.json()["event"]["path"] == "/groups"
    assert status == 0


@pytest.mark.parametrize("option", ["--port", "--moto-port"])
def test_cli_local_exits_with_an_error_when_a_port_is_taken(
    project: Path, data_dir: Path, option: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        environment = {**os.environ, "OPENLQS_PROJECT_DIR": str(project)}
        ports = {"--port": "0", "--moto-port": "0", option: port}
        arguments = [part for pair in ports.items() for part in pair]

        result = subprocess.run(
            [sys.executable, "-m", "openlqs.local", *arguments, "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            env=environment,
            timeout=STARTUP_LIMIT_S,
            check=False,
        )

    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert RUNNING_MESSAGE not in result.stdout


def test_cli_main_requires_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    from openlqs.cli import main

    assert main([]) == 2
    assert "Usage: openlqs" in capsys.readouterr().err
