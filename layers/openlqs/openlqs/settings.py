"""Typed deployment settings, read lazily from the environment.

Every environment variable the functions read is a field here (the variable is the field name in
upper case). Nothing else in the code base reads ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from uuid import UUID

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The datastore id used when a deployment does not set one.
DEFAULT_DATASTORE_ID = UUID("00000000-0000-4000-8000-000000000001")

#: Part sizing defaults (docs/performance.md, "Part sizes"). Byte rates: the CPU rate ``python -m
#: bench.parts`` measured per chunk compression (none 1,200, lz4 630, bz2 11 MiB/s of file bytes),
#: halved for one Lambda vCPU, with the part's S3 read at 80 MiB/s in series; zstd is lz4's, unmeasured.
#: Message rate: 1.66 M msg/s measured, halved, in series with ~1,000 DynamoDB write units a second
#: (4.3 units per 1,000 records). Messages: ~140 bytes each at a part's peak, so 4 M messages are
#: ~560 MiB next to the part's 64 MiB in a 1,769 MB function.
DEFAULT_PART_BYTE_RATES_MIB_S = {"none": 70.0, "lz4": 64.0, "zstd": 64.0, "bz2": 5.0}
DEFAULT_PART_MESSAGE_RATE = 200_000.0
DEFAULT_PART_MAX_MESSAGES = 4_000_000
DEFAULT_PART_TARGET_SECONDS = 60.0


class Settings(BaseSettings):
    """Settings of one openlqs deployment (one LogQS "datastore")."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    datastore_id: UUID = Field(
        DEFAULT_DATASTORE_ID,
        description="Id of the datastore this deployment serves; requests naming another id get 404.",
    )
    resources_table_name: str = Field("openlqs-resources", description="DynamoDB ResourcesTable name.")
    records_table_name: str = Field("openlqs-records", description="DynamoDB RecordsTable name.")
    objects_bucket_name: str = Field("openlqs-objects", description="S3 ObjectsBucket name.")

    # Limits per datastore, as LogQS configures them per DataStore.
    max_logs_per_datastore: int = Field(100_000, ge=1)
    max_topics_per_log: int = Field(1_000, ge=1)
    max_ingestions_per_log: int = Field(1_000, ge=1)
    max_records_per_log: int = Field(1_000_000_000, ge=1)

    secrets_key_id: str | None = Field(
        None, description="KMS key that encrypts object-store secrets; without one, secrets are refused."
    )
    upload_url_ttl_s: int = Field(3600, ge=60, le=7 * 24 * 3600, description="Presigned UploadPart URL TTL.")
    download_url_ttl_s: int = Field(900, ge=10, le=12 * 3600, description="Presigned GET URL TTL.")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="S3 addressing; the local stack uses path-style URLs on moto's server."
    )

    # How "Plan ingestion" sizes parts (openlqs.ingestion.part_sizes; docs/performance.md, "Part sizes").
    part_target_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Most chunk bytes per ingestion part; a part holds them in memory.",
    )
    part_max_messages: int = Field(
        DEFAULT_PART_MAX_MESSAGES,
        ge=1,
        description="Most messages per ingestion part (memory: columns per message).",
    )
    part_target_seconds: float = Field(
        DEFAULT_PART_TARGET_SECONDS,
        gt=0,
        description="Estimated seconds of one part's work at most (well inside ProcessPartFunction's 900 s).",
    )
    part_byte_rates_mib_s: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_PART_BYTE_RATES_MIB_S),
        description="File MiB one part processes per second, by chunk compression (none, lz4, zstd, bz2).",
    )
    part_message_rate: float = Field(
        DEFAULT_PART_MESSAGE_RATE, gt=0, description="Messages one part indexes and writes per second."
    )
    max_parts_per_ingestion: int = Field(
        50_000,
        ge=1,
        le=80_000,
        description="Most parts of one ingestion (the Map's result, 3 bytes a part, stays under 256 KiB).",
    )
    ingestion_state_machine_arn: str | None = Field(None, description="IngestionStateMachine's ARN.")
    digestion_state_machine_arn: str | None = Field(None, description="DigestionStateMachine's ARN.")
    digestion_part_max_records: int = Field(
        10_000, ge=1, le=100_000, description="Records of one digestion part (its index)."
    )
    digestion_part_max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Message bytes of one digestion part (its blob)."
    )

    default_record_bucket_width_ns: int = Field(
        10_000_000_000,
        ge=1_000,
        description="Record block time bucket width for topics created through the API (10 s).",
    )
    query_data_max_inline_bytes: int = Field(
        4096,
        ge=0,
        description="Byte arrays of decoded messages longer than this are summarised in query_data.",
    )
    stored_query_data_max_bytes: int = Field(
        1024,
        ge=0,
        description="Messages up to this size get query_data stored at ingestion, on topics that opt in.",
    )
    api_url: str | None = Field(
        None,
        description="The API's base URL (LQS_API_URL): the datastore_endpoint hook deliveries name.",
    )
    hook_delivery_queue_url: str | None = Field(
        None, description="HookDeliveryQueue's URL: one message per hook delivery to make."
    )
    hook_allowed_networks: str = Field(
        "",
        description="CIDRs hooks may reach besides public addresses (comma separated; the local stack: "
        "loopback).",
    )
    hook_delivery_timeout_s: float = Field(
        10.0, gt=0, le=60, description="Longest a hook delivery may take, connection and answer included."
    )
    hook_delivery_max_attempts: int = Field(
        8, ge=1, le=1000, description="Attempts of a hook delivery before it goes to the dead-letter queue."
    )
    hook_retry_base_delay_s: int = Field(
        10, ge=0, le=900, description="Wait before a failed delivery's first retry; doubles per attempt."
    )
    record_chunk_cache_bytes: int = Field(
        128 * 1024 * 1024,
        ge=0,
        description="Decompressed chunks a warm ApiFunction keeps for record data (bytes).",
    )

    # Queries (SQL over a log's records, run by QueryFunction with DuckDB).
    query_function_name: str | None = Field(
        None,
        description="QueryFunction, which ApiFunction invokes to run a query; unset: run in this process "
        "(needs the queries extra: duckdb, nanoarrow).",
    )
    query_timeout_s: float = Field(
        20.0, gt=0, description="Time a statement may run, inside QueryFunction's own timeout."
    )
    query_invoke_timeout_s: float = Field(
        27.0,
        gt=0,
        description="How long ApiFunction waits for QueryFunction's answer (below API Gateway's 29 s).",
    )
    query_max_rows: int = Field(10_000, ge=0, description="Rows a stored result keeps at most.")
    query_max_result_bytes: int = Field(
        256 * 1024,
        ge=2,
        description="JSON bytes a stored result keeps at most (the query is one DynamoDB item: < 400 KB).",
    )
    query_memory_limit_bytes: int = Field(
        512 * 1024 * 1024, ge=16 * 1024 * 1024, description="DuckDB's memory limit for one statement."
    )
    query_threads: int = Field(1, ge=1, le=16, description="DuckDB threads for one statement.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The deployment's settings, read once per process (clear with ``get_settings.cache_clear()``)."""
    return Settings()
