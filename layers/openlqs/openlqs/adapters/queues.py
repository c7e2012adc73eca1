"""SQS queue of hook deliveries (``DeliveryQueue``), with boto3."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

from openlqs.errors import OpenLQSError, ServiceUnavailable

#: SendMessageBatch takes at most ten messages.
_BATCH = 10
#: The longest a message may stay invisible (SQS allows 12 hours; a retry waits 15 minutes at most).
MAX_DELAY_S = 900


class QueueNotConfigured(OpenLQSError):
    """The deployment names no delivery queue (HOOK_DELIVERY_QUEUE_URL is missing)."""


class SqsDeliveryQueue:
    """One queue by URL; the client is made on first use."""

    def __init__(
        self, queue_url: str | None, client_factory: Callable[[], Any] = lambda: boto3.client("sqs")
    ) -> None:
        self.queue_url = queue_url
        self._client_factory = client_factory
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _url(self) -> str:
        if not self.queue_url:
            raise QueueNotConfigured("HOOK_DELIVERY_QUEUE_URL is not set.")
        return self.queue_url

    def send(self, bodies: list[str]) -> None:
        url = self._url()
        for start in range(0, len(bodies), _BATCH):
            entries = [
                {"Id": str(index), "MessageBody": body}
                for index, body in enumerate(bodies[start : start + _BATCH])
            ]
            failed = self.client.send_message_batch(QueueUrl=url, Entries=entries).get("Failed") or []
            if failed:
                reasons = "; ".join(f"{entry.get('Code')}: {entry.get('Message')}" for entry in failed)
                raise ServiceUnavailable(f"SQS did not queue {len(failed)} hook deliveries ({reasons}).")

    def retry_later(self, receipt: str, delay_s: int) -> None:
        self.client.change_message_visibility(
            QueueUrl=self._url(), ReceiptHandle=receipt, VisibilityTimeout=max(0, min(delay_s, MAX_DELAY_S))
        )
