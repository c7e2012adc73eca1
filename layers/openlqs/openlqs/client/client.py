"""``LogQS``: the openlqs Python client, with the official LogQS client's interface."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

import httpx

from openlqs.client import models
from openlqs.client.config import ClientConfig
from openlqs.client.digestions import DigestionReader, DigestionWaiter
from openlqs.client.interface import Create, Delete, Fetch, List, Update
from openlqs.client.records import RecordReader
from openlqs.client.transport import Transport
from openlqs.client.uploads import DEFAULT_PART_SIZE, upload_log_object, upload_log_recording
from openlqs.client.waiting import (
    DEFAULT_REPORT_INTERVAL_S,
    DEFAULT_WAIT_TIMEOUT_S,
    IngestionWaiter,
)
from openlqs.models.digestions import DigestionPartIndexEntry

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

#: What ``wait_for`` waits for: an ingestion or a digestion.
P = TypeVar("P", "models.Ingestion", "models.Digestion")


class ResourceNamespace:
    """``lqs.resource.Group`` & co.: the resource models bound to one client."""

    Group: type[models.Group]
    Log: type[models.Log]
    Topic: type[models.Topic]
    Record: type[models.Record]
    Ingestion: type[models.Ingestion]
    IngestionPart: type[models.IngestionPart]
    ObjectStore: type[models.ObjectStore]
    APIKey: type[models.APIKey]
    Label: type[models.Label]
    Tag: type[models.Tag]
    Query: type[models.Query]
    User: type[models.User]
    Workflow: type[models.Workflow]
    Hook: type[models.Hook]
    Callback: type[models.Callback]
    Digestion: type[models.Digestion]
    DigestionTopic: type[models.DigestionTopic]
    DigestionPart: type[models.DigestionPart]

    def __init__(self, client: LogQS) -> None:
        for cls in models.RESOURCE_CLASSES:
            namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
            bound = cast(type[models.Resource], type(cls.__name__, (cls,), namespace))
            bound._client = client
            setattr(self, cls.__name__, bound)


class Utils:
    """``lqs.utils``: uploads, record data and waiting for ingestions."""

    def __init__(self, client: LogQS) -> None:
        self._client = client
        self._reader = RecordReader(client)
        self._digestions = DigestionReader(client)

    def upload_log_object(
        self,
        log_id: UUID | str,
        file_path: str,
        object_key: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        max_workers: int = 4,
        skip_if_exists: bool = False,
        continue_upload: bool = False,
        show_progress: bool | None = None,
    ) -> tuple[models.Object, list[models.ObjectPart]]:
        """Upload a file as a log object → ``(object, parts)``; see ``openlqs.client.uploads``."""
        return upload_log_object(
            self._client,
            log_id=log_id,
            file_path=file_path,
            object_key=object_key,
            part_size=part_size,
            max_workers=max_workers,
            skip_if_exists=skip_if_exists,
            continue_upload=continue_upload,
            show_progress=show_progress,
        )

    def upload_log_recording(
        self,
        log_id: UUID | str,
        folder: str,
        key_prefix: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        max_workers: int = 4,
        show_progress: bool | None = None,
    ) -> tuple[str, list[models.Object]]:
        """Upload a ROS 2 recording folder (metadata.yaml and its files) → ``(metadata key, objects)``;
        ingest the metadata key. See ``openlqs.client.uploads.upload_log_recording``."""
        return upload_log_recording(
            self._client,
            log_id=log_id,
            folder=folder,
            key_prefix=key_prefix,
            part_size=part_size,
            max_workers=max_workers,
            show_progress=show_progress,
        )

    def list_all_log_objects(self, log_id: UUID | str, prefix: str | None = None) -> list[models.Object]:
        """Every object of a log, following continuation tokens."""
        found: list[models.Object] = []
        token: str | None = None
        while True:
            page = self._client.list.log_object(log_id, prefix=prefix, continuation_token=token)
            found.extend(page.data)
            if not page.is_truncated or not page.next_continuation_token:
                return found
            token = page.next_continuation_token

    def fetch_record_bytes(self, record: models.Record, ingestion: models.Ingestion | None = None) -> bytes:
        """The message bytes a record points to (a ranged read, decompressed when in a compressed chunk)."""
        return self._reader.record_bytes(record, ingestion)

    def iter_record_data(
        self, records: Iterable[models.Record], deserialize_results: bool = False
    ) -> Iterator[tuple[models.Record, bytes | dict[str, Any]]]:
        """``(record, bytes)`` for each record, or ``(record, message dict)`` with ``deserialize_results``.

        Records next to each other in the file share one read; each compressed chunk is read once.
        """
        for record, data in self._reader.iter_bytes(records):
            yield record, (self._reader.deserialize(record, data) if deserialize_results else data)

    def get_deserialized_record_data(
        self,
        record: models.Record,
        topic: models.Topic | None = None,
        ingestion: models.Ingestion | None = None,
    ) -> dict[str, Any]:
        """The record's message decoded with its topic's definition (needs rosbags installed)."""
        return self._reader.deserialize(record, self._reader.record_bytes(record, ingestion), topic)

    def load_auxiliary_data_image(self, source: models.Record | dict[str, Any] | None) -> PILImage | None:
        """The image preview in a record's ``auxiliary_data`` as a PIL image; None when there is none.

        ``source`` is a record, whose auxiliary data is fetched when not loaded
        (``Record.get_auxiliary_data``), or auxiliary data itself (``{"image": <base64 WebP>, ...}``), as
        with the official client; a record as a dict (with an ``auxiliary_data`` key) works too.
        Pillow is imported here, so only callers of this method need it.
        """
        if isinstance(source, models.Record):
            auxiliary: Any = source.get_auxiliary_data()
        elif isinstance(source, dict) and "image" not in source and "auxiliary_data" in source:
            auxiliary = source["auxiliary_data"]
        else:
            auxiliary = source
        if not isinstance(auxiliary, dict) or not auxiliary.get("image"):
            return None
        try:
            from PIL import Image
        except ImportError as error:
            raise ImportError("load_auxiliary_data_image needs Pillow (pip install pillow)") from error
        return Image.open(io.BytesIO(base64.b64decode(auxiliary["image"])))

    def iter_digestion_records(
        self, digestion: models.Digestion | UUID | str
    ) -> Iterator[tuple[UUID, DigestionPartIndexEntry, bytes]]:
        """``(part id, index entry, message bytes)`` for every record of a completed digestion, read from
        its parts' blobs (one request per part), as the official client's ``iter_digestion_records``."""
        return self._digestions.records(digestion)

    def iter_digestion_data(
        self, digestion: models.Digestion | UUID | str, deserialize_results: bool = False
    ) -> Iterator[tuple[models.Record, bytes | dict[str, Any]]]:
        """``(record, bytes)`` (or the decoded message) for every record of a completed digestion, read
        from the logs its records point into (each compressed chunk once)."""
        return self.iter_record_data(self._digestions.record_models(digestion), deserialize_results)

    def download_digestion_export(
        self,
        digestion: models.Digestion | UUID | str,
        path: str | Path | None = None,
        show_progress: bool | None = None,
    ) -> Path:
        """Download the playable file (MCAP or bag) a completed digestion with ``context.export`` wrote;
        returns where it was written (default: ``{name or id}.{mcap|bag}`` here)."""
        return self._digestions.download_export(digestion, path, show_progress)

    def wait_for(
        self,
        ingestion: P,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT_S,
        poll_interval: float = 1.0,
        show_progress: bool | None = None,
        report_interval: float | None = DEFAULT_REPORT_INTERVAL_S,
    ) -> P:
        """Refresh ``ingestion`` (or a digestion) until it is completed or failed (or cancelled, archived).

        Returns the refreshed ingestion whatever its final state: check ``state`` and ``error_message``.
        Waits at most ``timeout`` seconds (default one hour; None: no limit), then raises
        ``IngestionWaitTimeout`` (a ``TimeoutError``) naming the ingestion, its state and what to check.
        Every ``report_interval`` seconds it says on standard error what the ingestion is doing
        (``queued for 30 s: no execution has started``, ``processing 3/12 parts``); None: silent.
        """
        waiter = DigestionWaiter if isinstance(ingestion, models.Digestion) else IngestionWaiter
        return waiter(self._client).wait(
            ingestion,
            timeout=timeout,
            poll_interval=poll_interval,
            show_progress=show_progress,
            report_interval=report_interval,
        )


class LogQS:
    """A client for one openlqs (or LogQS) datastore.

    Configuration comes from the arguments, then ``logqs-config.json``, then ``LQS_API_URL``,
    ``LQS_API_KEY_ID``, ``LQS_API_KEY_SECRET`` and ``LQS_DATASTORE_ID``. ``config`` may be a dict
    or a ``ClientConfig``, as with the official client::

        lqs = LogQS()  # from the environment printed by `make local`
        group = lqs.resource.Group.fetch_or_create(name="Demo Group")
    """

    def __init__(
        self,
        config: ClientConfig | dict[str, Any] | None = None,
        *,
        api_url: str | None = None,
        api_key_id: UUID | str | None = None,
        api_key_secret: str | None = None,
        datastore_id: UUID | str | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        if isinstance(config, ClientConfig):
            self.config = config
        else:
            arguments = {
                "api_url": api_url,
                "api_key_id": api_key_id,
                "api_key_secret": api_key_secret,
                "datastore_id": datastore_id,
            }
            # An argument left out must not hide the same key given in ``config``.
            given = {**(config or {}), **{k: v for k, v in arguments.items() if v is not None}}
            self.config = ClientConfig.load(given)
        self.transport = Transport(self.config, http_client)
        self.resource = ResourceNamespace(self)
        self.list = List(self)
        self.fetch = Fetch(self)
        self.create = Create(self)
        self.update = Update(self)
        self.delete = Delete(self)
        self.utils = Utils(self)

    def __repr__(self) -> str:
        return f"<LogQS {self.transport.base_url}>"

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> LogQS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
