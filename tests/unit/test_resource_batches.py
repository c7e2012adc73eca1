"""What batch writes of resources refuse before any request: what only a transaction can keep."""

from __future__ import annotations

from typing import Any

import pytest

from openlqs.adapters.resources import DynamoResourceRepository
from openlqs.domain.ports import Counter
from openlqs.domain.resources import GROUP, INGESTION_PART


def no_table(name: str) -> Any:
    raise AssertionError(f"table {name} used: a refused batch must not make a request")


@pytest.mark.parametrize("method", ["create_many", "delete_many"])
def test_kinds_with_unique_names_are_not_written_in_batches(method: str) -> None:
    repository = DynamoResourceRepository("resources", no_table)

    with pytest.raises(ValueError, match="group names are unique"):
        getattr(repository, method)(GROUP, [])


@pytest.mark.parametrize("method", ["create_many", "delete_many"])
def test_a_limited_counter_is_not_kept_by_batches(method: str) -> None:
    repository = DynamoResourceRepository("resources", no_table)
    limited = Counter("ingestion", INGESTION_PART.name, maximum=10, limit_name="max_parts")

    with pytest.raises(ValueError, match="max_parts is a limit"):
        getattr(repository, method)(INGESTION_PART, [], limited)


def test_an_empty_batch_makes_no_request() -> None:
    repository = DynamoResourceRepository("resources", no_table)

    repository.create_many(INGESTION_PART, [], Counter("ingestion", INGESTION_PART.name))
    repository.delete_many(INGESTION_PART, [], Counter("ingestion", INGESTION_PART.name))
