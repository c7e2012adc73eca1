"""What every DynamoDB repository shares: a lazily created table and paged queries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3


def default_table(name: str) -> Any:
    return boto3.resource("dynamodb").Table(name)


class DynamoTable:
    """Base of the repositories. The boto3 table is created on first use (never at import time), from
    ``table_factory`` (tests and the local stack can inject their own)."""

    def __init__(self, table_name: str, table_factory: Callable[[str], Any] = default_table) -> None:
        self._table_name = table_name
        self._table_factory = table_factory
        self._table: Any = None

    @property
    def table(self) -> Any:
        if self._table is None:
            self._table = self._table_factory(self._table_name)
        return self._table

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item a Query matches, following ``LastEvaluatedKey``."""
        while True:
            response = self.table.query(**kwargs)
            yield from response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
