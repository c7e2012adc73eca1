"""The steps of IngestionPipeline that only ROS 2 recordings take (``recordings``).

A recording (an ingestion of its ``metadata.yaml``, or of a lone ``.db3``) is planned file by file: its
files are checked to be there, a plain MCAP file's chunks become parts of that file, and a file records
cannot point into becomes one conversion part. A conversion part copies its file to scratch space,
decompresses and converts it into an MCAP (``formats.rosbag2``), uploads it as the derived object
next to it while it indexes it run of chunks by run of chunks (a run's records are written once the
upload has ended). Records name their file in ``source``.

The generic steps (topics, part runs, blocks, the manifest, the attempt checks) stay the pipeline's:
these call back into it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from openlqs.domain.resources import INGESTION, LOG, TOPIC
from openlqs.errors import BadLogFile, Conflict, LimitExceeded, NotFound, StaleAttempt
from openlqs.formats.base import Channel, LogIndex
from openlqs.formats.mcap import McapFormat
from openlqs.formats.registry import SNIFF_BYTES
from openlqs.formats.rosbag2.convert import convert_db3_to_mcap, decompress_mcap_messages
from openlqs.formats.rosbag2.metadata import Rosbag2Metadata, parse_metadata, storage_files
from openlqs.formats.rosbag2.sqlite import Db3Reader
from openlqs.formats.rosbag2.zstd import decompress_zstd_stream
from openlqs.ingestion.log_sources import BlobByteSource, with_index_context
from openlqs.ingestion.part_blocks import PartBlocks, TopicStats, bucket_width_for
from openlqs.ingestion.payloads import IngestionPlan, PlannedIngestion
from openlqs.ingestion.recordings import (
    MAX_METADATA_BYTES,
    MCAP_CONTENT_TYPE,
    LocalFile,
    PlannedFile,
    is_sqlite,
    lone_db3_file,
    metadata_channels,
    missing_files_error,
    planned_file,
    recorded_channel,
)
from openlqs.models.ingestions import Ingestion, IngestionPart

if TYPE_CHECKING:
    from openlqs.ingestion.pipeline import IngestionPipeline

#: The ``format`` of a recording's plan (its files are MCAP files, or converted into MCAP files).
RECORDING_FORMAT = "rosbag2"
#: Writes of a topic's type a conversion part tries (another part may type it at the same time).
TYPE_WRITE_ATTEMPTS = 5


class RecordingSteps:
    """Plan a recording, read its plain files, and run its conversion parts, for ``pipeline``."""

    def __init__(self, pipeline: IngestionPipeline) -> None:
        self.pipeline = pipeline

    def plan(
        self, ingestion: Ingestion, attempt: int, created: list[UUID], source: BlobByteSource, head: bytes
    ) -> PlannedIngestion:
        """Plan a recording (``recordings``): its files checked to be there, plain MCAP files indexed and
        cut into parts, one conversion part per file to convert, one topic per name across files."""
        ingestion_id = ingestion.id
        object_key = ingestion.object_key or ""
        space = self.pipeline.spaces.for_ingestion(ingestion.log_id, ingestion.object_store_id)
        metadata: Rosbag2Metadata | None = None
        if is_sqlite(head):
            files = [lone_db3_file(object_key, ingestion_id)]
            declared, message_count, duration = self._lone_db3_topics(source)
        else:
            if source.size > MAX_METADATA_BYTES:
                raise BadLogFile(
                    f"metadata.yaml is {source.size} bytes, more than the {MAX_METADATA_BYTES} a "
                    "recording's metadata may have."
                )
            metadata = parse_metadata(source.read(0, source.size))
            files = [planned_file(object_key, ingestion_id, f) for f in storage_files(metadata)]
            declared = metadata_channels(metadata)
            message_count, duration = metadata.message_count, metadata.duration
        sizes: dict[str, int] = {}
        missing: list[str] = []
        for planned in files:
            info = space.blobs.head(space.full_key(planned.key))
            if info is None:
                missing.append(planned.path)
            else:
                sizes[planned.path] = info.size
        if missing:
            raise missing_files_error(missing)
        if any(planned.converted for planned in files) and ingestion.object_store_id is not None:
            raise BadLogFile(
                f"The recording has files to convert ({', '.join(f.path for f in files if f.converted)}) "
                "into objects of the log, and it is in an object store: upload it to the log to ingest it."
            )
        indexes: dict[int, LogIndex] = {}
        mcap = McapFormat()
        for position, planned in enumerate(files):
            if planned.converted:
                continue
            file_source = BlobByteSource(space.blobs, space.full_key(planned.key), sizes[planned.path])
            file_head = file_source.read(0, SNIFF_BYTES)
            if not mcap.sniff(file_head):
                raise BadLogFile(
                    f"{planned.path} is not an MCAP file (storage_identifier mcap): it starts with "
                    f"{file_head!r}.",
                    payload={"file": planned.path},
                )
            try:
                indexes[position] = mcap.read_index(file_source)
            except BadLogFile as error:
                raise BadLogFile(
                    f"{planned.path}: {error.detail}", payload={**error.payload, "file": planned.path}
                ) from error
        # metadata.yaml's count is what rosbag2 wrote; the plain files' indexes may say more.
        message_count = max(
            message_count, sum(span.message_count for index in indexes.values() for span in index.spans)
        )
        log = self.pipeline.resources.get(LOG, ingestion.log_id)
        if log.record_count + message_count > self.pipeline.env.limits.max_records_per_log:
            raise LimitExceeded(
                f"max_records_per_log ({self.pipeline.env.limits.max_records_per_log}) would be exceeded: "
                f"the log holds {log.record_count} records and the recording {message_count}."
            )
        touched = self.pipeline.statistics.clear_ingestion(ingestion)
        if touched:
            self.pipeline.statistics.refresh(ingestion.log_id, touched)
        self.pipeline.spaces.delete_derived(ingestion)  # what an earlier attempt converted
        # One topic per name: a plain file's channels first (they carry the definitions), then the
        # topics metadata.yaml (or a lone .db3's topics table) lists, which cover the files to convert.
        by_name: dict[str, list[Channel]] = {}
        counts: dict[str, int] = defaultdict(int)
        for position in sorted(indexes):
            index = indexes[position]
            for name, channels in index.topics().items():
                by_name.setdefault(name, []).extend(channels)
            names_of = {channel.id: channel.topic for channel in index.channels.values()}
            for span in index.spans:
                for channel_id, count in span.counts.items():
                    counts[names_of.get(channel_id, "")] += count
        for channel in declared:
            by_name.setdefault(channel.topic, []).append(channel)
        if metadata is not None:
            for information in metadata.topics_with_message_count:
                name = information.topic_metadata.name
                counts[name] = max(counts[name], information.message_count)
        names: dict[str, UUID] = {}
        widths: dict[UUID, int] = {}
        for name, channels in by_name.items():
            width = bucket_width_for(counts.get(name, 0), duration)
            topic, is_new = self.pipeline._topic(ingestion.log_id, name, channels[0], width)
            if is_new:
                created.append(topic.id)
            names[name] = topic.id
            widths[topic.id] = int(topic._internal.get("bucket_width_ns") or width)
        for position, index in indexes.items():
            files[position].channels = {
                str(channel.id): names[channel.topic] for channel in index.channels.values()
            }
        previous = ingestion._internal.get("plan")
        if previous and IngestionPlan.model_validate(previous).attempt == attempt:
            created = [*IngestionPlan.model_validate(previous).created_topics, *created]
        plan = IngestionPlan(
            format=RECORDING_FORMAT,
            attempt=attempt,
            topics={},
            names=names,
            files=files,
            widths=widths,
            created_topics=created,
            query_data_topics=self.pipeline._query_data_topics(set(names.values())),
        )
        contexts: list[dict[str, Any]] = []
        for position, planned in enumerate(files):
            if planned.converted:
                contexts.append(
                    {
                        "attempt": attempt,
                        "file": position,
                        "path": planned.path,
                        "conversion": planned.conversion,
                        "size": sizes[planned.path],
                    }
                )
            else:
                contexts += [
                    {**self.pipeline._run_context(attempt, run), "file": position, "path": planned.path}
                    for run in self.pipeline._runs(indexes[position])
                ]
        parts = self.pipeline._create_parts(ingestion, contexts)
        plan.part_count = len(parts)
        manifest = self.pipeline._write_manifest(ingestion_id, attempt, parts)
        facts = recording_facts(metadata, files, indexes)

        def remember(new: Ingestion) -> None:
            new._internal["plan"] = plan.to_internal()
            new.context = with_index_context(new.context, facts, new._internal)

        self.pipeline.resources.update(INGESTION, ingestion_id, remember)
        return PlannedIngestion(
            ingestion_id=ingestion_id, attempt=attempt, manifest=manifest, part_count=len(parts)
        )

    def _lone_db3_topics(self, source: BlobByteSource) -> tuple[list[Channel], int, int]:
        """A lone ``.db3``'s topics (its ``topics`` table), message count and duration: the file is
        copied to scratch space (sqlite reads pages, not ranges)."""
        with tempfile.TemporaryDirectory(dir=self.pipeline.scratch_dir) as scratch:
            local = Path(scratch) / "recording.db3"
            source.blobs.download_file(source.key, local)
            with Db3Reader(local) as reader:
                summary = reader.summary()
                channels = [
                    recorded_channel(
                        position,
                        topic.name,
                        topic.type,
                        topic.serialization_format,
                        qos=topic.offered_qos_profiles,
                    )
                    for position, topic in enumerate(reader.topics)
                ]
        return channels, summary[0], summary[2] - summary[1] if summary[0] else 0

    def file_source(self, ingestion: Ingestion, planned: PlannedFile) -> BlobByteSource:
        """A recording's file, read where it was uploaded."""
        space = self.pipeline.spaces.for_ingestion(ingestion.log_id, ingestion.object_store_id)
        key = space.full_key(planned.key)
        info = space.blobs.head(key)
        if info is None:
            raise BadLogFile(f"{planned.path} of the recording is gone.", payload={"file": planned.path})
        return BlobByteSource(space.blobs, key, info.size)

    def converted_part(
        self,
        ingestion: Ingestion,
        plan: IngestionPlan,
        part: IngestionPart,
        planned: PlannedFile,
        attempt: int,
    ) -> PartBlocks:
        """A file that records cannot point into as it is: copied to scratch space, decompressed and
        converted into an MCAP (``formats.rosbag2``), uploaded as the derived object ``planned.derived_key``
        (a multipart upload) while it is indexed from the local copy, run of chunks by run of chunks (each
        run's blocks written as soon as built and the upload ended: memory holds one run). Returns the
        stats; blocks are written."""
        space = self.pipeline.spaces.for_ingestion(ingestion.log_id, ingestion.object_store_id)
        assert planned.derived_key is not None
        with tempfile.TemporaryDirectory(dir=self.pipeline.scratch_dir) as scratch:
            folder = Path(scratch)
            local = folder / "original"
            try:
                space.blobs.download_file(space.full_key(planned.key), local)
            except NotFound:
                raise BadLogFile(
                    f"{planned.path} of the recording is gone.", payload={"file": planned.path}
                ) from None
            if "zstd_file" in planned.conversion:
                plain = folder / "decompressed"
                with local.open("rb") as src, plain.open("wb") as dst:
                    try:
                        # Bounded by the part's storage (it holds the converted MCAP too, later).
                        room = shutil.disk_usage(folder).free - local.stat().st_size
                        decompress_zstd_stream(src, dst, max_output_bytes=max(room, 0))
                    except BadLogFile as error:
                        raise BadLogFile(
                            f"{planned.path}: {error.detail}", payload={"file": planned.path}
                        ) from error
                local.unlink()
                local = plain
            mcap_path = local
            if "db3_to_mcap" in planned.conversion or "zstd_messages" in planned.conversion:
                mcap_path = folder / "converted.mcap"
                try:
                    with mcap_path.open("wb") as out:
                        if "db3_to_mcap" in planned.conversion:
                            metadata = self._recording_metadata(ingestion)
                            compressed = metadata is not None and metadata.compression_mode == "message"
                            convert_db3_to_mcap(
                                local,
                                out,
                                compression_mode="message" if compressed else "none",
                                metadata=metadata,
                            )
                        else:
                            with local.open("rb") as src:
                                decompress_mcap_messages(src, out)
                except BadLogFile as error:
                    detail = error.detail.replace(local.name, planned.path)
                    raise BadLogFile(f"{planned.path}: {detail}", payload={"file": planned.path}) from error
                local.unlink()
            with mcap_path.open("rb") as converted:
                head = converted.read(SNIFF_BYTES)
            if not McapFormat().sniff(head):
                raise BadLogFile(
                    f"{planned.path} is not an MCAP file once decompressed: it starts with {head!r}.",
                    payload={"file": planned.path},
                )
            self.pipeline._check_running(ingestion.id, attempt)
            derived = space.full_key(planned.derived_key)
            # The upload runs while the first run of chunks is indexed; its records are written once
            # it has ended, so a record never points into an object that is not there yet.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="openlqs-upload") as uploading:
                upload = uploading.submit(space.blobs.upload_file, mcap_path, derived, MCAP_CONTENT_TYPE)
                try:
                    built = self._index_local(
                        ingestion, plan, part, planned, mcap_path, attempt, uploaded=upload.result
                    )
                    upload.result()  # a file without messages wrote no block, and waited for nothing
                    return built
                except (StaleAttempt, NotFound):
                    # The ingestion failed, was cancelled or deleted while this part converted: its
                    # cleanup may have run before the upload ended.
                    wait([upload])
                    space.blobs.delete(derived)
                    raise

    def _index_local(
        self,
        ingestion: Ingestion,
        plan: IngestionPlan,
        part: IngestionPart,
        planned: PlannedFile,
        mcap_path: Path,
        attempt: int,
        *,
        uploaded: Callable[[], object],
    ) -> PartBlocks:
        """Index the converted MCAP ``mcap_path`` run of chunks by run of chunks, writing each run's
        blocks once ``uploaded()`` (which waits for the MCAP's upload, and raises if it failed) returns."""
        local = LocalFile(mcap_path)
        try:
            index = McapFormat().read_index(local)
            channels: dict[str, UUID] = {}
            for name, found in index.topics().items():
                topic_id = plan.names.get(name)
                if topic_id is None:
                    raise BadLogFile(
                        f"{planned.path} has the topic {name!r}, which the recording's metadata.yaml "
                        "does not list.",
                        payload={"file": planned.path},
                    )
                self._type_from_file(topic_id, found[0])
                channels.update({str(channel.id): topic_id for channel in found})
            stats: dict[UUID, TopicStats] = {}
            for batch, run in enumerate(self.pipeline._runs(index)):
                start, end = run[0].start, run[-1].end
                built = self.pipeline._blocks(
                    ingestion,
                    plan,
                    part.sequence,
                    local.read(start, end),
                    start,
                    planned,
                    channels_of_file=channels,
                    batch=batch,
                )
                uploaded()
                self.pipeline._check_running(ingestion.id, attempt)
                self.pipeline.records.put_blocks(built.blocks)
                for topic_id, stat in built.stats.items():
                    seen = stats.get(topic_id)
                    stats[topic_id] = stat if seen is None else seen.merged(stat)
            return PartBlocks([], stats)
        finally:
            local.close()

    def _type_from_file(self, topic_id: UUID, channel: Channel) -> None:
        """Give a topic what a converted file says of its type (parts of several files run at once: a
        write that lost the race reads the topic again, which the winner may have typed already)."""
        for attempt in range(TYPE_WRITE_ATTEMPTS):
            try:
                self.pipeline._typed(self.pipeline.resources.get(TOPIC, topic_id), channel)
                return
            except Conflict:
                if attempt == TYPE_WRITE_ATTEMPTS - 1:
                    raise

    def _recording_metadata(self, ingestion: Ingestion) -> Rosbag2Metadata | None:
        """The recording's ``metadata.yaml`` (None for a lone ``.db3``), read again by a part."""
        source = self.pipeline._source(ingestion)
        if is_sqlite(source.read(0, SNIFF_BYTES)):
            return None
        return parse_metadata(source.read(0, min(source.size, MAX_METADATA_BYTES)))


def recording_facts(
    metadata: Rosbag2Metadata | None, files: list[PlannedFile], indexes: dict[int, LogIndex]
) -> LogIndex:
    """What an ingestion's ``context`` says of a recording (as a ``LogIndex``'s facts): its storage,
    compression and files, and which files were converted into which objects."""
    facts: dict[str, Any] = {
        "rosbag2": {
            "metadata_version": metadata.version if metadata else None,
            "storage_identifier": metadata.storage_identifier if metadata else "sqlite3",
            "compression_mode": metadata.compression_mode if metadata else "none",
            "compression_format": metadata.compression_format if metadata else "",
            "ros_distro": metadata.ros_distro if metadata else "",
            "files": [planned.path for planned in files],
            "converted": [
                {"file": planned.path, "object_key": planned.derived_key, "steps": planned.conversion}
                for planned in files
                if planned.converted
            ],
        }
    }
    salvaged = [files[position].path for position, index in sorted(indexes.items()) if index.salvaged]
    if salvaged:
        facts["salvage"] = {"files": salvaged}
    return LogIndex(format=RECORDING_FORMAT, file_size=0, channels={}, spans=[], context=facts)
