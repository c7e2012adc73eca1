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

    part_target_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Chunk bytes per ingestion part (the unit of parallel work)."
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
    record_chunk_cache_bytes: int = Field(
        128 * 1024 * 1024,
        ge=0,
        description="Decompressed chunks a warm ApiFunction keeps for record data (bytes).",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The deployment's settings, read once per process (clear with ``get_settings.cache_clear()``)."""
    return Settings()
