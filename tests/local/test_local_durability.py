"""What the local API acknowledged is stored: it survives the stack dying without a snapshot.

Every write moto serves is journaled before it is answered (local/journal.py); a restart loads the last
snapshot and replays the journal. Here the stack is torn down without saving, as a ``kill -9`` would
leave it (tests/e2e kills the real process).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from openlqs.local import LocalStack
from tests.support.paths import PROJECT_DIR
from tests.support.stack_api import StackApi


def _crash(stack: LocalStack) -> None:
    """Stop everything without the snapshot a clean stop takes."""
    stack._shutdown(save=False)


def test_local_acknowledged_writes_survive_a_crash(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    body = bytes(range(256)) * 4096
    stack = LocalStack(port=0, moto_port=0, data_dir=data_dir, project_dir=PROJECT_DIR).start()
    api = StackApi(stack)
    try:
        group, log = api.group_and_log("Field Tests", "Run 7")
        api.upload(log["id"], "run.bag", body)
        stored = api.data("GET", f"/logs/{log['id']}/objects/run.bag")
        # An upload in progress: one part of two sent
        api.data("POST", f"/logs/{log['id']}/objects", json={"key": "big.bag"})
        part = api.data(
            "POST", f"/logs/{log['id']}/objects/big.bag/parts", json={"part_number": 1, "size": 5 << 20}
        )
        assert httpx.put(part["presigned_url"], content=b"a" * (5 << 20), timeout=60).status_code == 200
        renamed = api.data("PATCH", f"/groups/{group['id']}", json={"note": "written just before the crash"})
    finally:
        api.close()
        _crash(stack)

    with LocalStack(port=0, moto_port=0, data_dir=data_dir, project_dir=PROJECT_DIR) as restarted:
        api = StackApi(restarted)
        try:
            assert api.data("GET", f"/groups/{group['id']}")["note"] == renamed["note"]
            again = api.data("GET", f"/logs/{log['id']}/objects/run.bag")
            assert (again["etag"], again["size"]) == (stored["etag"], stored["size"])
            url = api.data("GET", f"/logs/{log['id']}/objects/run.bag")["presigned_url"]
            assert (
                hashlib.sha256(httpx.get(url, timeout=60).content).digest() == hashlib.sha256(body).digest()
            )
            # The upload goes on where it was: its part is there, the second is sent, it completes
            parts = api.items(f"/logs/{log['id']}/objects/big.bag/parts")
            assert [(p["part_number"], p["size"]) for p in parts] == [(1, 5 << 20)]
            second = api.data(
                "POST", f"/logs/{log['id']}/objects/big.bag/parts", json={"part_number": 2, "size": 3}
            )
            assert httpx.put(second["presigned_url"], content=b"end", timeout=60).status_code == 200
            done = api.data("PATCH", f"/logs/{log['id']}/objects/big.bag", json={"upload_state": "complete"})
            assert done["size"] == (5 << 20) + 3
        finally:
            api.close()


def test_local_journal_is_folded_into_the_snapshot_on_a_clean_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with LocalStack(port=0, moto_port=0, data_dir=data_dir, project_dir=PROJECT_DIR) as stack:
        api = StackApi(stack)
        group, _ = api.group_and_log("G", "L")
        api.close()
    # A clean stop saves a snapshot and keeps only the journal written after it (empty)
    segments = sorted((data_dir / "journal").glob("*.jsonl"))
    assert all(segment.stat().st_size == 0 for segment in segments)

    with LocalStack(port=0, moto_port=0, data_dir=data_dir, project_dir=PROJECT_DIR) as restarted:
        api = StackApi(restarted)
        assert api.data("GET", f"/groups/{group['id']}")["name"] == "G"
        api.close()
