"""The composition root: settings → adapters → domain services → pipeline, built once per process.

Every function's entry point gets what it needs from :func:`get_services`; nothing below this module
builds an adapter or a service itself. The record statistics are built first because both the ingestion
service (deleting an ingestion removes its records) and the pipeline use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from openlqs.adapters.apigateway import ApiGatewayAuthorizerCache
from openlqs.adapters.objects import (
    DynamoUploadRepository,
    KmsSecretBox,
    S3BlobStore,
    object_store_blobs,
    s3_client,
)
from openlqs.adapters.records import DynamoRecordRepository
from openlqs.adapters.resources import DynamoResourceRepository
from openlqs.adapters.stepfunctions import StepFunctionsExecutions
from openlqs.domain.api_keys import ApiKeyService
from openlqs.domain.common import Environment, Limits
from openlqs.domain.ingestions import IngestionPartService, IngestionService
from openlqs.domain.object_stores import ObjectSpaces, ObjectStoreService
from openlqs.domain.objects import ObjectService
from openlqs.domain.record_data import RecordDataService
from openlqs.domain.records import RecordService
from openlqs.domain.resources import GroupService, LogService, TopicService
from openlqs.domain.statistics import RecordStatistics
from openlqs.ingestion.attempts import AttemptCleaner
from openlqs.ingestion.drop_folder import DropFolder
from openlqs.ingestion.part_sizes import PartSizing
from openlqs.ingestion.pipeline import IngestionPipeline
from openlqs.ingestion.reconciler import IngestionReconciler
from openlqs.ingestion.trigger import IngestionTrigger
from openlqs.records.reading import ChunkCache
from openlqs.settings import Settings, get_settings


@dataclass(frozen=True)
class Services:
    api_keys: ApiKeyService
    groups: GroupService
    logs: LogService
    topics: TopicService
    records: RecordService
    statistics: RecordStatistics
    ingestions: IngestionService
    ingestion_parts: IngestionPartService
    objects: ObjectService
    object_stores: ObjectStoreService
    object_spaces: ObjectSpaces
    pipeline: IngestionPipeline
    trigger: IngestionTrigger
    reconciler: IngestionReconciler
    record_data: RecordDataService


def build_services(settings: Settings) -> Services:
    resources = DynamoResourceRepository(settings.resources_table_name)
    records = DynamoRecordRepository(settings.records_table_name)
    environment = Environment(
        limits=Limits(
            max_logs_per_datastore=settings.max_logs_per_datastore,
            max_topics_per_log=settings.max_topics_per_log,
            max_ingestions_per_log=settings.max_ingestions_per_log,
            max_records_per_log=settings.max_records_per_log,
        )
    )
    width = settings.default_record_bucket_width_ns
    statistics = RecordStatistics(resources, records)
    record_service = RecordService(resources, records, environment, default_bucket_width_ns=width)
    object_stores = ObjectStoreService(
        resources, KmsSecretBox(settings.secrets_key_id) if settings.secrets_key_id else None, environment
    )
    object_spaces = ObjectSpaces(
        resources,
        S3BlobStore(
            settings.objects_bucket_name,
            lambda: s3_client(addressing_style=settings.s3_addressing_style),
            upload_url_ttl_s=settings.upload_url_ttl_s,
            download_url_ttl_s=settings.download_url_ttl_s,
        ),
        object_stores,
        object_store_blobs(
            settings.s3_addressing_style, settings.upload_url_ttl_s, settings.download_url_ttl_s
        ),
        settings.datastore_id,
    )
    groups = GroupService(resources, environment)
    logs = LogService(resources, environment)
    topics = TopicService(resources, environment, records=record_service, default_bucket_width_ns=width)
    executions = StepFunctionsExecutions(settings.ingestion_state_machine_arn)
    ingestion_parts = IngestionPartService(resources, environment)
    attempts = AttemptCleaner(
        resources, records, statistics, topics, ingestion_parts, executions, spaces=object_spaces
    )
    ingestions = IngestionService(
        resources,
        environment,
        datastore_id=settings.datastore_id,
        objects=object_spaces,
        records=statistics,
        cancellation=attempts,
    )
    pipeline = IngestionPipeline(
        resources,
        records,
        ingestions,
        ingestion_parts,
        topics,
        object_spaces,
        statistics,
        attempts,
        environment,
        manifests=object_spaces.managed,
        manifest_bucket=settings.objects_bucket_name,
        sizing=PartSizing.from_settings(settings),
        max_parts=settings.max_parts_per_ingestion,
        stored_query_data_max_bytes=settings.stored_query_data_max_bytes,
    )
    drop_folder = DropFolder(groups, logs, ingestions, object_spaces, settings.objects_bucket_name)
    return Services(
        api_keys=ApiKeyService(resources, environment, ApiGatewayAuthorizerCache()),
        groups=groups,
        logs=logs,
        topics=topics,
        records=record_service,
        statistics=statistics,
        ingestions=ingestions,
        ingestion_parts=ingestion_parts,
        objects=ObjectService(DynamoUploadRepository(settings.resources_table_name), environment),
        object_stores=object_stores,
        object_spaces=object_spaces,
        pipeline=pipeline,
        trigger=IngestionTrigger(executions, drop_folder),
        reconciler=IngestionReconciler(ingestions, attempts, executions, environment),
        record_data=RecordDataService(
            resources,
            object_spaces,
            ChunkCache(settings.record_chunk_cache_bytes),
            max_inline_bytes=settings.query_data_max_inline_bytes,
        ),
    )


@lru_cache(maxsize=1)
def get_services() -> Services:
    """The process's services (clear with ``get_services.cache_clear()`` after changing settings)."""
    return build_services(get_settings())
