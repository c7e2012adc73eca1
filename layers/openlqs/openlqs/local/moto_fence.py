"""Every use of moto's private API in openlqs, in one place, for the moto version pyproject.toml pins.

moto's public API is its decorators and its server. The local stack needs a few things only moto's
internals give: the server's WSGI application (to put a change tracker in front of it), its process-wide
config (to make Step Functions executions run their states), the in-process KMS keys (to give a key its
saved id and material back after a restart), the tables' stream shards (to read a stream's records
without serialising them through the server and botocore, and to wake a reader when one is written),
S3's GET handler (to read only the range a ranged GET asks for), the list of its backends (read once,
not at every request) and the Step Functions interpreter's Lambda clients (one per session, not one per
task). Nothing else in openlqs imports from moto.

Importing this module with another moto version fails at once, naming this file: an upgrade of moto has
to check each use below, and the tests of the local stack, before the pin moves.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import IO, Any

#: The moto release every use below was written and checked against (``moto[server]`` in pyproject.toml).
PINNED_MOTO_VERSION = "5.2.5"


class UnsupportedMotoVersion(RuntimeError):
    """The installed moto is not the release the local stack's use of its internals was checked with."""


def check_moto_version(installed: str | None = None) -> None:
    """Refuse a moto other than :data:`PINNED_MOTO_VERSION`."""
    installed = installed or metadata.version("moto")
    if installed != PINNED_MOTO_VERSION:
        raise UnsupportedMotoVersion(
            f"openlqs's local stack uses moto internals checked with moto {PINNED_MOTO_VERSION}, and "
            f"moto {installed} is installed. Install the pinned version (make local reinstalls it), or "
            f"check every use in {__file__} against moto {installed} and move the pin in pyproject.toml."
        )


check_moto_version()

import boto3  # noqa: E402
import moto.backends  # noqa: E402
from moto.core.config import default_user_config  # noqa: E402
from moto.core.models import botocore_stubber  # noqa: E402
from moto.dynamodb.comparisons import get_filter_expression  # noqa: E402
from moto.dynamodb.exceptions import (  # noqa: E402
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends  # noqa: E402
from moto.dynamodb.models.table import StreamShard as MotoStreamShard  # noqa: E402
from moto.dynamodb.models.utilities import dynamo_json_dump  # noqa: E402
from moto.kms.models import kms_backends  # noqa: E402
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.s3.models import FakeKey, s3_backends  # noqa: E402
from moto.s3.responses import S3Response  # noqa: E402
from moto.settings import moto_server_port  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils  # noqa: E402
from moto.stepfunctions.parser.asl.eval.environment import Environment as ExecutionEnvironment  # noqa: E402
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped  # noqa: E402
from moto.utilities.utils import CaseInsensitiveDict  # noqa: E402

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

__all__ = [
    "PINNED_MOTO_VERSION",
    "MotoRequestHandler",
    "ThreadedMotoServer",
    "UnsupportedMotoVersion",
    "check_moto_version",
    "install_backend_lookup",
    "install_ranged_reads",
    "install_stopped_executions",
    "install_stream_signals",
    "install_task_clients",
    "install_transactions",
    "kms_keys",
    "moto_wsgi_app",
    "restore_upload",
    "s3_uploads",
    "set_object_state",
    "step_functions_config",
    "stream_records",
    "stream_shard",
    "stream_writes",
    "wait_for_stream_write",
]

#: The account and region every local resource is in (moto's defaults).
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


def moto_wsgi_app() -> WsgiApp:
    """The WSGI application moto's server serves (every service, dispatched by host and path)."""
    app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    return app


def step_functions_config() -> dict[str, Any]:
    """moto's process-wide Step Functions config, as it is now (a copy)."""
    return dict(default_user_config.get("stepfunctions", {}))


def kms_keys(account_id: str, region: str) -> dict[str, Any]:
    """moto's KMS keys of one account and region, by key id (the objects its server answers from)."""
    keys: dict[str, Any] = kms_backends[account_id][region].keys
    return keys


@dataclass(frozen=True)
class StreamShard:
    """The one shard moto keeps for a table's stream: its id, and how many records it holds."""

    shard_id: str
    length: int


def _moto_shard(table_name: str) -> MotoStreamShard:
    shard: MotoStreamShard | None = dynamodb_backends[ACCOUNT_ID][REGION].get_table(table_name).stream_shard
    if shard is None:
        raise ValueError(f"table {table_name} has no stream")
    return shard


def stream_shard(table_name: str) -> StreamShard:
    """The shard of ``table_name``'s stream; raises ValueError when the table has no stream."""
    shard = _moto_shard(table_name)
    return StreamShard(shard_id=str(shard.id), length=len(shard.items))


def stream_records(table_name: str, start: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` records of ``table_name``'s stream from the ``start``-th, as the Streams API's
    GetRecords sends them (DynamoDB JSON with binary values in base64, ``ApproximateCreationDateTime``
    in epoch seconds), made by moto's own encoder. The caller holds the DynamoDB read lock: moto appends
    to the shard while it writes."""
    records = [record.to_json() for record in _moto_shard(table_name).items[start : start + limit]]
    decoded: list[dict[str, Any]] = json.loads(dynamo_json_dump(records))
    return decoded


# -- Stream writes ------------------------------------------------------------------------------------
#
# A stream reader that found nothing new waits before it reads again. Polling alone made it wait up to
# its longest idle wait (a quarter of a second) after each write before its function saw the record:
# a tenth of a small ingestion. moto appends a table's stream records in ``StreamShard.add``; with the
# signal installed, every append counts a write of the table and wakes the readers waiting for one.

_stream_add = MotoStreamShard.add
_STREAM_WRITTEN = threading.Condition()
_stream_write_counts: dict[str, int] = {}


def _add_and_signal(self: MotoStreamShard, old: Any, new: Any) -> None:
    _stream_add(self, old, new)
    with _STREAM_WRITTEN:
        name = self.table.name
        _stream_write_counts[name] = _stream_write_counts.get(name, 0) + 1
        _STREAM_WRITTEN.notify_all()


def install_stream_signals() -> None:
    """Count the records moto appends to each table's stream, and wake :func:`wait_for_stream_write`'s
    waiters at each (idempotent)."""
    MotoStreamShard.add = _add_and_signal  # type: ignore[method-assign]


def stream_writes(table_name: str) -> int:
    """How many records moto appended to ``table_name``'s stream since the signal was installed: taken
    before a read, it is what :func:`wait_for_stream_write` waits to see change."""
    with _STREAM_WRITTEN:
        return _stream_write_counts.get(table_name, 0)


def wait_for_stream_write(table_name: str, seen: int, timeout_s: float) -> bool:
    """Wait until ``table_name``'s stream has had a write since :func:`stream_writes` said ``seen``, at
    most ``timeout_s`` seconds (the whole wait, without the signal installed); True when it has."""
    with _STREAM_WRITTEN:
        return _STREAM_WRITTEN.wait_for(lambda: _stream_write_counts.get(table_name, 0) != seen, timeout_s)


# -- TransactWriteItems -------------------------------------------------------------------------------
#
# moto 5.2 deep-copies every table a transaction names before it starts, and puts the copies back when
# the transaction is cancelled. That made every transactional write O(table size); it lost the writes
# other threads made meanwhile (the copy replaces them); the copy could fail while another thread wrote
# ("dictionary changed size during iteration"); and a restored copy has a new stream shard, so a reader
# of the table's stream (the local stack's trigger poller) never saw another change. DynamoDB itself
# checks every condition, then writes everything or nothing. This does the same: conditions first, with
# no write at all when one fails; then the writes, and only if one of them fails (a malformed update
# expression) are the items it touched put back as they were.


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        original_item: dict[str, Any] | None = None
        try:
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            unique = (str(table_name), str(dict(sorted(key.items()))))
            if unique in seen:
                raise MultipleTransactionsException()
            seen.add(unique)
            current = self.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                check = get_filter_expression(
                    condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                )
                if not check.expr(current):
                    wants_old = op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                    if wants_old and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            planned.append((op_type, op, key))
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as error:
            errors.append(("ConditionalCheckFailed", str(error.message), original_item))  # type: ignore[arg-type]
        except Exception as error:  # what moto reports per item (a missing table, a bad key...)
            errors.append((type(error).__name__, str(error), original_item))  # type: ignore[arg-type]
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    touched: list[tuple[Any, Any, Any, Any]] = []
    try:
        for op_type, op, key in planned:
            if op_type == "ConditionCheck":
                continue
            table = self.get_table(op["TableName"])
            hash_value, range_value = self.get_keys_value(table, key)
            touched.append(
                (table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value)))
            )
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(
                    op["TableName"],
                    op["Item"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    op["TableName"], key, expression_attribute_names=names, expression_attribute_values=values
                )
            else:
                self.update_item(
                    op["TableName"],
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names or {},
                    expression_attribute_values=values or {},
                )
    except Exception:
        for table, hash_value, range_value, original in reversed(touched):
            _put_back(table, hash_value, range_value, original)
        raise


def _put_back(table: Any, hash_value: Any, range_value: Any, original: Any) -> None:
    """Put an item back as it was before a failed transaction (no stream record: nothing happened)."""
    if range_value is not None:
        if original is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = original
    elif original is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = original


def install_transactions() -> None:
    """Make moto's TransactWriteItems check every condition before writing anything (idempotent)."""
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]


_set_execution_error = ExecutionEnvironment.set_error


#: Set while this thread's GetObject asks for one byte range that lies in the object.
_ranged_get = threading.local()
_key_value: property = FakeKey.value  # type: ignore[assignment]
_get_object = S3Response.get_object
_SIMPLE_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


class _Window:
    """An object's bytes as a ranged GET's handler uses them (its length, then one slice), read from the
    object's buffer only where sliced. moto reads the whole object for every GET and then slices the
    range out: a part reading 1 MiB of a 161 MiB bag copied 161 MiB."""

    def __init__(self, key: Any) -> None:
        self._key, self._size = key, int(key.size)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, span: slice) -> bytes:
        start, stop, step = span.indices(self._size)
        if step != 1:
            raise ValueError("an object's bytes are sliced in order")
        with self._key.lock:
            buffer = self._key._value_buffer
            buffer.seek(start)
            data: bytes = buffer.read(max(0, stop - start))
        return data


def _value_or_window(key: Any) -> Any:
    if getattr(_ranged_get, "active", False):
        return _Window(key)
    return _key_value.__get__(key)


def _get_object_ranged(self: S3Response) -> Any:
    match = _SIMPLE_RANGE.fullmatch(str(self.headers.get("range") or "").strip())
    # Only one range with a start and an end not before it: moto's handler then either slices the window
    # or refuses a start past the end (InvalidRange, from the window's length). Every other request (no
    # range, several, a suffix, partNumber) reads the object as moto does.
    _ranged_get.active = bool(
        match and not self._get_int_param("partNumber") and (not match[2] or int(match[2]) >= int(match[1]))
    )
    try:
        return _get_object(self)
    finally:
        _ranged_get.active = False


def install_ranged_reads() -> None:
    """Make a GET of one byte range read only that range of the object (idempotent)."""
    FakeKey.value = property(_value_or_window, _key_value.fset)  # type: ignore[method-assign,assignment]
    S3Response.get_object = _get_object_ranged  # type: ignore[method-assign]


_list_of_moto_modules = moto.backends.list_of_moto_modules
_MOTO_MODULES: frozenset[str] | None = None


def _moto_modules() -> frozenset[str]:
    global _MOTO_MODULES
    if _MOTO_MODULES is None:
        _MOTO_MODULES = frozenset(_list_of_moto_modules())
    return _MOTO_MODULES


def install_backend_lookup() -> None:
    """List moto's backends once (idempotent). To find the backend of a request, moto's dispatcher lists
    its package's directory and stats each of its ~150 entries, at every request and under a lock that
    every request of the server takes: a tenth of the local stack's time when parts run in parallel."""
    moto.backends.list_of_moto_modules = _moto_modules


_boto_client_for = lambda_eval_utils.boto_client_for
_TASK_CLIENTS: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()
_TASK_CLIENTS_LOCK = threading.Lock()


def _task_client(region: str, service: str, state_credentials: Any = None) -> Any:
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    key = (region, service, repr(state_credentials), moto_server_port(), botocore_stubber.enabled)
    with _TASK_CLIENTS_LOCK:
        clients = _TASK_CLIENTS.setdefault(session, {})
        client = clients.get(key)
        if client is None:
            client = _boto_client_for(region, service, state_credentials)
            # Made from the default session of now: kept only if that is still the one looked at.
            if boto3.DEFAULT_SESSION is session:
                clients[key] = client
        return client


def install_task_clients() -> None:
    """Make the Step Functions interpreter's Lambda tasks share a client per boto3 default session
    (idempotent). moto creates a boto3 client for every task it runs, a few tens of milliseconds of
    the stack's process each: a digestion's 24 parts spent a third of a second on it. A client keeps
    the handlers its session had when it was made (the local Lambda invoke hook), hence one per session."""
    lambda_eval_utils.boto_client_for = _task_client


def _set_error_unless_stopped(self: ExecutionEnvironment, error: Any) -> None:
    if isinstance(self._program_state, ProgramStopped):
        return
    _set_execution_error(self, error)


def install_stopped_executions() -> None:
    """Make a stopped execution end ``ABORTED``, as on AWS (idempotent). moto's interpreter lets the
    task that was running when ``StopExecution`` came end the execution as ``FAILED`` with that task's
    error, overwriting the stop."""
    ExecutionEnvironment.set_error = _set_error_unless_stopped  # type: ignore[method-assign]


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds new readers back (no writer starves)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._writer and not self._writers_waiting)
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                if not self._readers:
                    self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._condition:
            self._writers_waiting += 1
            self._condition.wait_for(lambda: not self._writer and not self._readers)
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._condition:
                self._writer = False
                self._condition.notify_all()


# -- What a write left: for the journal (local/durability.py) and the restore -------------------------


def dynamodb_item(table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
    """The item stored under ``key`` (DynamoDB JSON), or None."""
    backend = dynamodb_backends[ACCOUNT_ID][REGION]
    table = backend.get_table(table_name)
    hash_value, range_value = backend.get_keys_value(table, key)
    item = table.get_item(hash_value, range_value)
    return None if item is None else dict(item.to_json()["Attributes"])


def dynamodb_key(table_name: str, item: dict[str, Any]) -> dict[str, Any]:
    """The key attributes of an item (DynamoDB JSON) of a table."""
    table = dynamodb_backends[ACCOUNT_ID][REGION].get_table(table_name)
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return {name: item[name] for name in names if name in item}


def _bucket(bucket: str) -> Any:
    return s3_backends[ACCOUNT_ID]["global"].get_bucket(bucket)


@dataclass(frozen=True)
class ObjectState:
    """An S3 object (or an upload's part) as moto holds it."""

    etag: str
    size: int
    metadata: dict[str, str]
    _key: Any

    def copy_to(self, stream: IO[bytes]) -> None:
        """Write the bytes to ``stream`` in pieces (an object may be larger than memory allows)."""
        with self._key.lock:
            buffer = self._key._value_buffer
            buffer.seek(0)
            shutil.copyfileobj(buffer, stream, 1024 * 1024)


def _state(key: Any) -> ObjectState:
    return ObjectState(key.etag.strip('"'), int(key.size), {k: str(v) for k, v in key.metadata.items()}, key)


def s3_object(bucket: str, key: str) -> ObjectState | None:
    """The current object at ``key``, or None."""
    found = _bucket(bucket).keys.get(key)
    return None if found is None else _state(found)


@dataclass(frozen=True)
class UploadState:
    """A multipart upload in progress: its key, metadata and parts."""

    upload_id: str
    key: str
    metadata: dict[str, str]
    parts: dict[int, ObjectState]


def s3_upload(bucket: str, upload_id: str) -> UploadState | None:
    """The multipart upload ``upload_id`` while it is in progress, or None."""
    multipart = _bucket(bucket).multiparts.get(upload_id)
    if multipart is None:
        return None
    parts = {int(number): _state(part) for number, part in multipart.parts.items()}
    metadata = {k: str(v) for k, v in (multipart.metadata or {}).items()}
    return UploadState(multipart.id, multipart.key_name, metadata, parts)


def s3_uploads(bucket: str) -> list[UploadState]:
    """Every multipart upload in progress in ``bucket``."""
    ids = list(_bucket(bucket).multiparts)
    return [state for upload_id in ids if (state := s3_upload(bucket, upload_id)) is not None]


def restore_upload(bucket: str, upload: UploadState, part_bytes: dict[int, bytes]) -> None:
    """Make a multipart upload in progress again, with its id (clients resume it by that id)."""
    backend = s3_backends[ACCOUNT_ID]["global"]
    # No ACL, server-side encryption or KMS key: the local bucket's defaults, as for the original.
    no_encryption: Any = None
    multipart = backend.create_multipart_upload(
        bucket,
        upload.key,
        CaseInsensitiveDict(upload.metadata),
        "STANDARD",
        {},
        None,
        no_encryption,
        no_encryption,
    )
    multiparts = _bucket(bucket).multiparts
    multiparts.pop(multipart.id, None)
    multipart.id = upload.upload_id
    multiparts[upload.upload_id] = multipart
    for number, data in sorted(part_bytes.items()):
        multipart.set_part(number, data)


def set_object_state(bucket: str, key: str, etag: str, metadata: dict[str, str] | None) -> None:
    """Give a restored object the ETag it had (a multipart upload's ``…-N`` is not its bytes' MD5) and,
    when given, its metadata (content type and user metadata, as moto keeps them)."""
    found = _bucket(bucket).keys.get(key)
    if found is None:
        return
    found._etag = f'"{etag}"'
    if metadata is not None:
        found.set_metadata(dict(metadata), replace=True)
