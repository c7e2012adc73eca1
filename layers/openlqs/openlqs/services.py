"""The composition root: settings → adapters → domain services → pipeline, built once per process.

Every function's entry point gets what it needs from :func:`get_services`; nothing below this module
builds an adapter or a service itself. The record statistics are built first because both the ingestion
service (deleting an ingestion removes its records) and the pipeline use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from openlqs.adapters.apigateway import ApiGatewayAuthorizerCache
from openlqs.adapters.digestions import DynamoDigestionIndexRepository
from openlqs.adapters.objects import (
    DynamoUploadRepository,
    KmsSecretBox,
    S3BlobStore,
    object_store_blobs,
    s3_client,
)
from openlqs.adapters.queries import LambdaQueryRunner, lambda_client
from openlqs.adapters.queues import SqsDeliveryQueue
from openlqs.adapters.records import DynamoRecordRepository
from openlqs.adapters.resources import DynamoResourceRepository
from openlqs.adapters.stepfunctions import StepFunctionsExecutions
from openlqs.adapters.webhooks import HttpHookTransport, SocketHostResolver
from openlqs.digestion.attempts import DigestionAttempts
from openlqs.digestion.pipeline import DigestionPipeline
from openlqs.digestion.reconciler import DigestionReconciler
from openlqs.digestion.selection import RecordSelector
from openlqs.domain.api_keys import ApiKeyService
from openlqs.domain.common import Environment, Limits
from openlqs.domain.digestions import DigestionPartService, DigestionService, DigestionTopicService
from openlqs.domain.ingestions import IngestionPartService, IngestionService
from openlqs.domain.labels import LabelService, TagService
from openlqs.domain.object_stores import ObjectSpaces, ObjectStoreService
from openlqs.domain.objects import ObjectService
from openlqs.domain.queries import QueryRunner, QueryService
from openlqs.domain.record_data import RecordDataService
from openlqs.domain.records import RecordService
from openlqs.domain.resources import GroupService, LogService, TopicService
from openlqs.domain.statistics import RecordStatistics
from openlqs.domain.users import UserService
from openlqs.domain.workflows import (
    AddressPolicy,
    CallbackService,
    HookService,
    ProcessWorkflows,
    UriGuard,
    WorkflowService,
)
from openlqs.hooks.delivery import HookDelivery
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
    labels: LabelService
    tags: TagService
    queries: QueryService
    users: UserService
    workflows: WorkflowService
    hooks: HookService
    callbacks: CallbackService
    hook_delivery: HookDelivery
    digestions: DigestionService
    digestion_topics: DigestionTopicService
    digestion_parts: DigestionPartService
    digestion_pipeline: DigestionPipeline
    digestion_reconciler: DigestionReconciler


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
    tags = TagService(resources, environment)
    queries = QueryService(
        resources,
        environment,
        runner=query_runner(settings, resources, records),
        max_result_bytes=settings.query_max_result_bytes,
    )
    logs = LogService(resources, environment, labels=tags, children=(tags, queries))
    topics = TopicService(resources, environment, records=record_service, default_bucket_width_ns=width)
    executions = StepFunctionsExecutions(settings.ingestion_state_machine_arn)
    process_workflows = ProcessWorkflows(resources)
    ingestion_parts = IngestionPartService(resources, environment, workflows=process_workflows)
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
        workflows=process_workflows,
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
    secret_box = KmsSecretBox(settings.secrets_key_id) if settings.secrets_key_id else None
    address_policy = AddressPolicy.parse(settings.hook_allowed_networks)
    hooks = HookService(resources, secret_box, UriGuard(address_policy, SocketHostResolver()), environment)
    digestion_executions = StepFunctionsExecutions(
        settings.digestion_state_machine_arn, setting="DIGESTION_STATE_MACHINE_ARN"
    )
    digestion_parts = DigestionPartService(
        resources,
        DynamoDigestionIndexRepository(settings.resources_table_name),
        environment,
        workflows=process_workflows,
    )
    digestion_attempts = DigestionAttempts(digestion_parts, object_spaces, digestion_executions)
    digestions = DigestionService(
        resources, digestion_parts, environment, outputs=digestion_attempts, workflows=process_workflows
    )
    digestion_pipeline = DigestionPipeline(
        resources,
        digestions,
        digestion_parts,
        object_spaces,
        digestion_attempts,
        RecordSelector(records, record_service.windows, default_bucket_width_ns=width),
        environment,
        part_max_records=settings.digestion_part_max_records,
        part_max_bytes=settings.digestion_part_max_bytes,
    )
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
        trigger=IngestionTrigger(executions, drop_folder, digestion_executions),
        reconciler=IngestionReconciler(ingestions, attempts, executions, environment),
        record_data=RecordDataService(
            resources,
            object_spaces,
            ChunkCache(settings.record_chunk_cache_bytes),
            max_inline_bytes=settings.query_data_max_inline_bytes,
        ),
        labels=LabelService(resources, environment),
        tags=tags,
        queries=queries,
        users=UserService(resources, environment, ApiGatewayAuthorizerCache()),
        workflows=WorkflowService(resources, environment),
        hooks=hooks,
        callbacks=CallbackService(resources, secret_box, environment),
        hook_delivery=HookDelivery(
            hooks,
            SqsDeliveryQueue(settings.hook_delivery_queue_url),
            HttpHookTransport(address_policy, settings.hook_delivery_timeout_s),
            datastore_id=settings.datastore_id,
            api_url=settings.api_url,
            max_attempts=settings.hook_delivery_max_attempts,
            retry_base_delay_s=settings.hook_retry_base_delay_s,
        ),
        digestions=digestions,
        digestion_topics=DigestionTopicService(resources, digestions, environment),
        digestion_parts=digestion_parts,
        digestion_pipeline=digestion_pipeline,
        digestion_reconciler=DigestionReconciler(
            digestions, digestion_attempts, digestion_executions, environment
        ),
    )


def query_runner(
    settings: Settings, resources: DynamoResourceRepository, records: DynamoRecordRepository
) -> QueryRunner:
    """QueryFunction when the deployment names one (ApiFunction has no DuckDB), else this process."""
    if settings.query_function_name:
        name = settings.query_function_name
        return LambdaQueryRunner(name, lambda: lambda_client(settings.query_invoke_timeout_s))
    return local_query_runner(settings, resources, records)


def local_query_runner(
    settings: Settings, resources: DynamoResourceRepository, records: DynamoRecordRepository
) -> QueryRunner:
    """The runner QueryFunction uses: DuckDB in this process (imported only here, only when needed)."""
    from openlqs.domain.query_runs import LogQueryRunner
    from openlqs.queries.engine import QueryLimits

    limits = QueryLimits(
        max_rows=settings.query_max_rows,
        max_result_bytes=settings.query_max_result_bytes,
        timeout_s=settings.query_timeout_s,
        memory_limit=settings.query_memory_limit_bytes,
        threads=settings.query_threads,
    )
    return LogQueryRunner(
        resources, records, limits, default_bucket_width_ns=settings.default_record_bucket_width_ns
    )


@lru_cache(maxsize=1)
def get_query_runner() -> QueryRunner:
    """QueryFunction's runner (DuckDB here), built once per process."""
    settings = get_settings()
    resources = DynamoResourceRepository(settings.resources_table_name)
    return local_query_runner(settings, resources, DynamoRecordRepository(settings.records_table_name))


@lru_cache(maxsize=1)
def get_services() -> Services:
    """The process's services (clear with ``get_services.cache_clear()`` after changing settings)."""
    return build_services(get_settings())
