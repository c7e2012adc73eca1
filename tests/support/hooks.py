"""What the hook tests share: a receiver on 127.0.0.1, and the events HookDeliveryFunction gets.

``HookReceiver`` is a real HTTP server that records every POST (headers, body, when it came) and
answers each path as a test tells it (a status, or a hang). ``StreamReader`` reads ResourcesTable's
stream in moto and keeps the records HookDeliveryFunction's FilterCriteria in template.yaml let through,
shaped as Lambda gives them (HookDeliveryQueue's batches come from ``openlqs.local.queue_events``, as
the local stack's pollers take them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from botocore.config import Config

from openlqs.local.filters import FilterCriteria
from openlqs.local.resources import dynamodb_event_subscriptions
from openlqs.local.snapshot import to_json_value
from openlqs.local.streams import lambda_dynamodb_record

#: The function and its stream event, as template.yaml names them.
FUNCTION_ID = "HookDeliveryFunction"
STREAM_EVENT_ID = "ProcessStateChanged"


@dataclass(frozen=True)
class ReceivedPost:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float


@dataclass
class Answer:
    """How a path answers: ``statuses`` in turn (the last one again after that), each after ``delay_s``."""

    statuses: list[int] = field(default_factory=lambda: [200])
    delay_s: float = 0.0
    calls: int = 0

    def next_status(self) -> int:
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        return status


class HookReceiver:
    """An HTTP server on 127.0.0.1 (a free port) that records POSTs; use as a context manager."""

    def __init__(self) -> None:
        self.posts: list[ReceivedPost] = []
        self.answers: dict[str, Answer] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.posts.append(
                        ReceivedPost(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()
                        )
                    )
                    answer = receiver.answers.setdefault(self.path, Answer())
                    status = answer.next_status()
                if answer.delay_s:
                    receiver._stop.wait(answer.delay_s)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self._server.server_address[1]}{path}"

    def answer(self, path: str, *statuses: int, delay_s: float = 0.0) -> None:
        self.answers[path] = Answer(list(statuses) or [200], delay_s)

    def posts_to(self, path: str) -> list[ReceivedPost]:
        with self._lock:
            return [post for post in self.posts if post.path == path]

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"the receiver waited {timeout_s} s; it has {self.posts}")
            time.sleep(0.02)

    def __enter__(self) -> HookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # hanging answers end
        self._server.shutdown()
        self._server.server_close()


class StreamReader:
    """ResourcesTable's stream (moto), from its start: each :meth:`read` returns the records written since
    the last one that HookDeliveryFunction's stream event lets through, as Lambda shapes them."""

    def __init__(self, template: dict[str, Any], table_name: str) -> None:
        (subscription,) = [
            s
            for s in dynamodb_event_subscriptions(template)
            if (s.function_id, s.event_id) == (FUNCTION_ID, STREAM_EVENT_ID)
        ]
        self.filters = FilterCriteria.parse(subscription.filter_patterns)
        # Account-based endpoints would send the stream calls where moto does not answer them.
        self.streams = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
        self.stream_arn = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"][
            "LatestStreamArn"
        ]
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def read(self) -> list[dict[str, Any]]:
        response = self.streams.get_records(ShardIterator=self.iterator, Limit=1000)
        self.iterator = response["NextShardIterator"]
        records = [lambda_dynamodb_record(as_sent(record), self.stream_arn) for record in response["Records"]]
        return [record for record in records if self.filters.matches(record)]


def as_sent(record: dict[str, Any]) -> dict[str, Any]:
    """A boto3-parsed stream record as GetRecords sent it: DynamoDB JSON, epoch seconds."""
    change = dict(record.get("dynamodb") or {})
    created = change.get("ApproximateCreationDateTime")
    if created is not None:
        change["ApproximateCreationDateTime"] = created.timestamp()
    for image in ("Keys", "NewImage", "OldImage"):
        if image in change:
            change[image] = {name: to_json_value(value) for name, value in change[image].items()}
    return {**record, "dynamodb": change}
