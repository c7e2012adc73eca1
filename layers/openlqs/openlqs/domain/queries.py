"""Queries (contract §4): the statement runs when the query is created or its statement or parameters
change, and its result is stored with it. The domain knows only the ``QueryRunner`` port: on AWS it
invokes QueryFunction (DuckDB lives in that function's layer, not in ApiFunction's), elsewhere it runs
in the same process (``domain.query_runs``).

A query is one ResourcesTable item, so its result is capped to what the item has room for beside the
query's own fields (``MAX_STORED_QUERY_BYTES``), and by ``query_max_result_bytes``; a result over the
cap keeps the rows that fit and says so in ``error``.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from pydantic_core import to_json

from openlqs.domain.common import Context, Environment, check_unlocked
from openlqs.domain.ports import ResourceKind, ResourceRepository, WriteConditions
from openlqs.domain.resources import LOG, ResourceService, list_page
from openlqs.errors import NotFound
from openlqs.models.queries import (
    Query,
    QueryCreateRequest,
    QueryListParams,
    QueryOutcome,
    QueryRun,
    QueryUpdateRequest,
)
from openlqs.models.resources import Log

QUERY = ResourceKind("query", Query, parent_field="log_id")
#: Bytes of a query item (JSON text of its fields) its result may fill up to: DynamoDB's 400 KB item
#: less room for attribute names and bookkeeping.
MAX_STORED_QUERY_BYTES = 360 * 1024
#: A statement that changes what is stored: the result is computed again.
_RUN_FIELDS = frozenset({"statement", "parameters"})


class QueryRunner(Protocol):
    """Runs one statement over one log's views (QueryFunction on AWS)."""

    def run(self, run: QueryRun) -> QueryOutcome: ...


class QueryService(ResourceService[Query]):
    kind = QUERY

    def __init__(
        self,
        repository: ResourceRepository,
        environment: Environment | None = None,
        *,
        runner: QueryRunner,
        max_result_bytes: int = 256 * 1024,
    ) -> None:
        super().__init__(repository, environment)
        self.runner = runner
        self.max_result_bytes = max_result_bytes

    def list(self, params: QueryListParams, *, log_id: UUID | None = None) -> tuple[int, list[Query]]:
        parent = log_id or params.log_id
        if log_id is not None:
            params = params.model_copy(update={"log_id": log_id})
        return list_page(self.repository, QUERY, params, parent_id=parent)

    def get_in(self, query_id: UUID, log_id: UUID | None) -> Query:
        query = self.get(query_id)
        if log_id is not None and query.log_id != log_id:
            raise NotFound(f"Query {query_id} not found in log {log_id}.")
        return query

    def create(self, log_id: UUID, request: QueryCreateRequest, context: Context) -> Query:
        """A new query, run now. A query only reads, so a locked log does not refuse it (the official
        client sends no ``lock_token`` on create)."""
        self.repository.get(LOG, log_id)
        query = self._new(context, {**request.model_dump(), "log_id": log_id})
        self._run(query)
        self.repository.create(QUERY, query, WriteConditions(requires=((LOG, log_id),)))
        return query

    def update(
        self, query_id: UUID, request: QueryUpdateRequest, context: Context, log_id: UUID | None = None
    ) -> Query:
        query = self.get_in(query_id, log_id)
        self._check_log(query, context)
        new = self._changed(query, request, context)
        if request.model_fields_set & _RUN_FIELDS:
            self._run(new)
        return self.repository.replace(QUERY, query, new)

    def delete(self, query_id: UUID, context: Context, log_id: UUID | None = None) -> None:
        query = self.get_in(query_id, log_id)
        self._check_log(query, context)
        self.repository.delete(QUERY, query)

    def delete_log_children(self, log: Log) -> None:
        """Delete every query of a log that is being deleted."""
        for query in self.repository.list_resources(QUERY, log.id):
            self.repository.delete(QUERY, query)

    def _check_log(self, query: Query, context: Context) -> None:
        log = self.repository.find(LOG, query.log_id)
        if log is not None:
            check_unlocked(log, log._internal, context, what=f"log {query.log_id}")

    def _run(self, query: Query) -> None:
        """Run the statement and keep its result in ``query`` (no statement: no result)."""
        query.columns = query.rows = query.error = None
        if query.statement is None:
            return
        own = len(to_json(query.model_dump(mode="json")))
        room = min(self.max_result_bytes, MAX_STORED_QUERY_BYTES - own)
        if room < 2:
            query.error = {
                "name": "QueryTooLarge",
                "message": "the query's own fields leave no room for a result in one stored item; "
                "shorten its note, context, statement or parameters",
            }
            return
        outcome = self.runner.run(
            QueryRun(
                log_id=query.log_id,
                statement=query.statement,
                parameters=query.parameters,
                max_result_bytes=room,
            )
        )
        query.columns, query.rows, query.error = outcome.columns, outcome.rows, outcome.error
        if len(to_json(query.model_dump(mode="json"))) > MAX_STORED_QUERY_BYTES:
            # The rows fit their cap; the column names did not (thousands of long names).
            query.columns, query.rows = [], []
            query.error = {
                "name": "QueryTooLarge",
                "message": "the result's column names take more room than a stored query has; "
                "select fewer or shorter columns",
            }
