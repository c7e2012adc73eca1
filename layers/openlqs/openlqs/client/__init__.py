"""The openlqs Python client: ``from openlqs.client import LogQS``.

It needs pydantic and httpx only (tqdm for progress bars, rosbags to decode messages, lz4 for lz4
bags, Pillow to open image previews — each used when installed).
"""

from openlqs.client.client import LogQS, ResourceNamespace, Utils
from openlqs.client.config import ClientConfig
from openlqs.client.errors import ApiUnreachable
from openlqs.client.waiting import IngestionWaitTimeout

__all__ = ["ApiUnreachable", "ClientConfig", "IngestionWaitTimeout", "LogQS", "ResourceNamespace", "Utils"]
