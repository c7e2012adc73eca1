"""The ``openlqs`` command line: the local stack, and a client for any openlqs (or LogQS) datastore.

Every client command reads its configuration as ``openlqs.client.LogQS`` does (``LQS_API_URL``,
``LQS_API_KEY_ID``, ``LQS_API_KEY_SECRET``, ``LQS_DATASTORE_ID``, or ``logqs-config.json``), prints
a table for people or ``--json`` for scripts, and exits non-zero with a one-line error on failure.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

try:
    import click
except ImportError:  # the base install is the client's; the command needs the [cli] extra
    sys.exit("openlqs: the command needs its extra: pip install 'openlqs[cli]'")

F = TypeVar("F", bound=Callable[..., Any])

#: Ingestion states that a re-run of ``openlqs ingest`` queues again.
REQUEUE_STATES = frozenset({"ready", "failed", "cancelled"})


class _Command(click.Group):
    """Turns the errors a user can cause (or meet) into ``openlqs: error: ...`` and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from openlqs.errors import OpenLQSError

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except OpenLQSError as error:
            raise click.ClickException(error.message) from None
        except BrokenPipeError:
            raise
        except (OSError, ValueError, TimeoutError) as error:
            raise click.ClickException(str(error) or type(error).__name__) from None
        except Exception as error:
            import httpx

            if isinstance(error, httpx.HTTPError):
                raise click.ClickException(f"cannot reach the API: {error}") from None
            raise


@click.group(cls=_Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api-url", default=None, help="API URL (default: $LQS_API_URL or logqs-config.json)")
@click.option("--datastore-id", default=None, help="datastore id (default: $LQS_DATASTORE_ID)")
@click.pass_context
def cli(ctx: click.Context, api_url: str | None, datastore_id: str | None) -> None:
    """Open, serverless log query service: run it locally, ingest bags and query them."""
    ctx.obj = {"api_url": api_url, "datastore_id": datastore_id}


def _client(ctx: click.Context) -> Any:
    from openlqs.client import LogQS

    return LogQS(api_url=ctx.obj["api_url"], datastore_id=ctx.obj["datastore_id"])


def _json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")(function)


# The local stack -----------------------------------------------------------------------------------


@cli.command()
@click.option("--port", type=int, default=None, help="API port (default: $OPENLQS_PORT or 8000; 0 picks one)")
@click.option("--moto-port", type=int, default=None, help="port of the local AWS services (default: free)")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where state is kept (default: $OPENLQS_DATA_DIR or ~/.openlqs)",
)
@click.option(
    "--parameter-overrides",
    default=None,
    metavar="NAME=VALUE ...",
    help="template parameters, as sam deploy takes them (default: $OPENLQS_PARAMETER_OVERRIDES)",
)
def local(
    port: int | None, moto_port: int | None, data_dir: Path | None, parameter_overrides: str | None
) -> None:
    """Run openlqs on this machine (moto + the API in one process) until Ctrl-C."""
    # Imported here: moto and the server dependencies are only needed by this command.
    from openlqs.local.cloudformation import parse_parameter_overrides
    from openlqs.local.runner import run_foreground

    try:
        overrides = None if parameter_overrides is None else parse_parameter_overrides(parameter_overrides)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--parameter-overrides") from None
    sys.exit(run_foreground(port=port, moto_port=moto_port, data_dir=data_dir, parameter_overrides=overrides))


# Ingesting a file ----------------------------------------------------------------------------------


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--group", "group_name", required=True, help="group name (created if missing)")
@click.option("--log", "log_name", required=True, help="log name (created if missing)")
@click.option("--object-key", default=None, help="object key in the log (default: the file name)")
@click.option("--wait/--no-wait", default=True, show_default=True, help="wait until the ingestion ends")
@click.option(
    "--timeout",
    type=click.FloatRange(0),
    default=None,
    help="seconds to wait at most (default: 3600; 0: no limit)",
)
@click.option(
    "--part-size", type=click.IntRange(5), default=100, show_default=True, help="upload part size, MiB"
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bars on a terminal")
@_json_option
@click.pass_context
def ingest(
    ctx: click.Context,
    file: Path,
    group_name: str,
    log_name: str,
    object_key: str | None,
    wait: bool,
    timeout: float | None,
    part_size: int,
    progress: bool,
    as_json: bool,
) -> None:
    """Upload FILE into a log and ingest it, then print its topics.

    FILE may be a ROS 2 recording's folder (``ros2 bag record``'s output: metadata.yaml and its storage
    files): every file it lists is uploaded under the folder's name (or --object-key), metadata.yaml
    last, and one ingestion of its metadata.yaml makes the recording one log.

    Running it again is safe: a finished upload is not repeated, an interrupted one is resumed, and a
    completed ingestion is not queued again. A file whose content the log already holds (uploaded under
    another key, or dropped into the drop folder) is not ingested twice: the command says so and prints
    the topics. Waits at most --timeout seconds, saying every 15 s what the ingestion is doing.
    """
    from openlqs.errors import Conflict

    lqs = _client(ctx)
    group = lqs.resource.Group.fetch_or_create(name=group_name)
    log = lqs.resource.Log.fetch_or_create(group_id=group.id, name=log_name)
    if file.is_dir():
        try:
            key, _ = lqs.utils.upload_log_recording(
                log_id=log.id,
                folder=str(file),
                key_prefix=object_key,
                part_size=part_size * 1024 * 1024,
                show_progress=None if progress else False,
            )
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="FILE") from None
        _ingest_and_wait(lqs, log, key, wait, timeout, progress, as_json)
        return
    key = object_key or file.name
    stored, _ = lqs.utils.upload_log_object(
        log_id=log.id,
        file_path=str(file),
        object_key=key,
        part_size=part_size * 1024 * 1024,
        skip_if_exists=True,
        continue_upload=True,
        show_progress=None if progress else False,
    )
    if stored.size != file.stat().st_size:
        raise Conflict(
            f"Log {log_name} already holds a different {key} ({stored.size} bytes); use --object-key."
        )
    _ingest_and_wait(lqs, log, key, wait, timeout, progress, as_json)


def _ingest_and_wait(
    lqs: Any, log: Any, key: str, wait: bool, timeout: float | None, progress: bool, as_json: bool
) -> None:
    """Queue the ingestion of ``key`` (once), wait for it, print the log's topics."""
    from openlqs.client.waiting import DEFAULT_WAIT_TIMEOUT_S
    from openlqs.errors import DuplicateIngestion

    ingestion = _ingestion_of(log, key)
    try:
        if ingestion is None:
            ingestion = lqs.resource.Ingestion.create(log_id=log.id, object_key=key, name=key, state="queued")
        elif ingestion.state in REQUEUE_STATES:
            ingestion.update(state="queued")
    except DuplicateIngestion as duplicate:
        # The log holds this file's records already (through another key or route): not twice.
        click.echo(f"openlqs: {key} is not ingested again: {duplicate.detail}", err=True)
        _emit(log.list_topics(), as_json, TOPIC_COLUMNS)
        return
    if not wait:
        _emit([ingestion], as_json, INGESTION_COLUMNS)
        return
    ingestion = lqs.utils.wait_for(
        ingestion,
        timeout=DEFAULT_WAIT_TIMEOUT_S if timeout is None else (timeout or None),
        show_progress=None if progress else False,
    )
    if ingestion.state != "completed":
        raise click.ClickException(
            f"ingestion {ingestion.id} {ingestion.state}: {ingestion.error_message or 'no error message'}"
        )
    _emit(log.list_topics(), as_json, TOPIC_COLUMNS)


def _ingestion_of(log: Any, key: str) -> Any:
    """The ingestion of ``key`` to wait for: one that holds its records (completed) or is making them,
    else the newest named after the key; None when there is none."""
    found = log.list_ingestions(object_key=key)
    for states in (("completed",), ("queued", "processing", "finalizing")):
        holding = [ingestion for ingestion in found if ingestion.state in states]
        if holding:
            return holding[-1]
    named = [ingestion for ingestion in found if ingestion.name == key]
    return named[-1] if named else None


# Listing -------------------------------------------------------------------------------------------

Column = tuple[str, Callable[[Any], Any]]

GROUP_COLUMNS: list[Column] = [
    ("NAME", lambda g: g.name),
    ("ID", lambda g: g.id),
    ("CREATED", lambda g: g.created_at),
]
LOG_COLUMNS: list[Column] = [
    ("NAME", lambda log: log.name),
    ("ID", lambda log: log.id),
    ("RECORDS", lambda log: log.record_count),
    ("START", lambda log: _time(log.start_time)),
    ("END", lambda log: _time(log.end_time)),
]
TOPIC_COLUMNS: list[Column] = [
    ("NAME", lambda t: t.name),
    ("TYPE", lambda t: t.type_name),
    ("RECORDS", lambda t: t.record_count),
    ("START", lambda t: _time(t.start_time)),
    ("END", lambda t: _time(t.end_time)),
    ("ID", lambda t: t.id),
]
INGESTION_COLUMNS: list[Column] = [
    ("NAME", lambda i: i.name),
    ("STATE", lambda i: i.state),
    ("OBJECT", lambda i: i.object_key),
    ("ID", lambda i: i.id),
    ("ERROR", lambda i: i.error_message),
]
RECORD_COLUMNS: list[Column] = [
    ("TIMESTAMP", lambda r: r.timestamp),
    ("TIME", lambda r: _time(r.timestamp)),
    ("OFFSET", lambda r: r.data_offset),
    ("LENGTH", lambda r: r.data_length),
    ("COMPRESSION", lambda r: r.chunk_compression),
]


LABEL_COLUMNS: list[Column] = [
    ("CATEGORY", lambda label: label.category),
    ("VALUE", lambda label: label.value),
    ("ID", lambda label: label.id),
]
TAG_COLUMNS: list[Column] = [
    ("LABEL", lambda t: t.label_id),
    ("TOPIC", lambda t: t.topic_id),
    ("START", lambda t: _time(t.start_time)),
    ("END", lambda t: _time(t.end_time)),
    ("ID", lambda t: t.id),
]


@cli.command(name="ls")
@click.argument("kind", type=click.Choice(["groups", "logs", "topics", "ingestions", "labels", "tags"]))
@click.option("--group", "group_ref", default=None, help="only in this group (name or id)")
@click.option("--log", "log_ref", default=None, help="only in this log (id, or name with --group)")
@click.option("--name", default=None, help="only resources with this name")
@click.option(
    "--label",
    "label_refs",
    multiple=True,
    help="logs carrying this label (value or id; repeat: every one), or tags of it",
)
@click.option("--limit", type=click.IntRange(1), default=None, help="at most this many")
@_json_option
@click.pass_context
def list_command(
    ctx: click.Context,
    kind: str,
    group_ref: str | None,
    log_ref: str | None,
    name: str | None,
    label_refs: tuple[str, ...],
    limit: int | None,
    as_json: bool,
) -> None:
    """List groups, logs, topics, ingestions, labels or tags (all pages, oldest first)."""
    lqs = _client(ctx)
    filters: dict[str, Any] = {}
    group = lqs.resource.Group.fetch(group_ref) if group_ref else None
    if group is not None and kind in ("logs", "topics", "ingestions"):
        filters["group_id"] = group.id
    if log_ref is not None:
        if kind not in ("topics", "ingestions", "tags"):
            raise click.UsageError("--log filters topics, ingestions and tags")
        log_filters = {"group_id": group.id} if group is not None else {}
        filters["log_id"] = lqs.resource.Log.fetch(log_ref, **log_filters).id
    if label_refs:
        if kind not in ("logs", "tags"):
            raise click.UsageError("--label filters logs and tags")
        label_ids = [_label(lqs, ref).id for ref in label_refs]
        if kind == "logs":
            filters["tag_label_ids_includes"] = label_ids
        elif len(label_ids) > 1:
            raise click.UsageError("tags have one label: give --label once")
        else:
            filters["label_id"] = label_ids[0]
    if name is not None:
        filters["value" if kind == "labels" else "name"] = name
    resource, columns = {
        "groups": (lqs.resource.Group, GROUP_COLUMNS),
        "logs": (lqs.resource.Log, LOG_COLUMNS),
        "topics": (lqs.resource.Topic, TOPIC_COLUMNS),
        "ingestions": (lqs.resource.Ingestion, INGESTION_COLUMNS),
        "labels": (lqs.resource.Label, LABEL_COLUMNS),
        "tags": (lqs.resource.Tag, TAG_COLUMNS),
    }[kind]
    if kind == "groups":
        filters.pop("group_id", None)
    _emit(list(resource.iterate(limit=limit, **filters)), as_json, columns)


def _label(lqs: Any, ref: str, category: str | None = None, *, create: bool = False) -> Any:
    """A label by id, or by value (and category when given); with ``create``, made when missing."""
    if _is_uuid(ref):
        return lqs.resource.Label.fetch(ref)
    filters = {"value": ref, **({"category": category} if category is not None else {})}
    found = lqs.resource.Label.list(**filters)
    if len(found) > 1:
        categories = ", ".join(sorted(str(label.category) for label in found))
        raise click.UsageError(
            f"several labels are {ref!r} (categories {categories}): give --category or the id"
        )
    if found:
        return found[0]
    if not create:
        raise click.ClickException(f"no label {ref!r}")
    return lqs.resource.Label.create(value=ref, category=category)


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


@cli.command()
@click.argument("log_ref", metavar="LOG")
@click.argument("label_ref", metavar="LABEL")
@click.option("--group", "group_ref", default=None, help="the log's group, to name the log by name")
@click.option("--category", default=None, help="the label's category (a new label is made in it)")
@click.option("--topic", "topic_ref", default=None, help="only this topic of the log (name or id)")
@click.option("--from", "start", default=None, help="start of the range: ns, seconds (1.5 or 1s) or ISO 8601")
@click.option("--to", "end", default=None, help="end of the range (inclusive), same forms")
@click.option("--note", default=None, help="a note on the tag")
@_json_option
@click.pass_context
def tag(
    ctx: click.Context,
    log_ref: str,
    label_ref: str,
    group_ref: str | None,
    category: str | None,
    topic_ref: str | None,
    start: str | None,
    end: str | None,
    note: str | None,
    as_json: bool,
) -> None:
    """Tag LOG (id, or name with --group) with LABEL (value, made if missing, or id), or a topic of it
    or a time range of either."""
    lqs = _client(ctx)
    group = lqs.resource.Group.fetch(group_ref) if group_ref else None
    log = lqs.resource.Log.fetch(log_ref, **({"group_id": group.id} if group is not None else {}))
    label = _label(lqs, label_ref, category, create=True)
    topic_id = None
    if topic_ref is not None:
        topic_id = (
            lqs.resource.Topic.fetch(topic_ref, log_id=log.id).id if not _is_uuid(topic_ref) else topic_ref
        )
    made = lqs.create.tag(
        label_id=label.id,
        log_id=log.id,
        topic_id=topic_id,
        note=note,
        start_time=parse_timestamp(start) if start is not None else None,
        end_time=parse_timestamp(end) if end is not None else None,
    ).data
    _emit([made], as_json, TAG_COLUMNS)


@cli.command()
@click.argument("topic_id", type=click.UUID)
@click.option("--from", "start", default=None, help="first timestamp: ns, seconds (1.5 or 1s) or ISO 8601")
@click.option("--to", "end", default=None, help="last timestamp (inclusive), same forms")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True, help="at most this many")
@_json_option
@click.pass_context
def records(
    ctx: click.Context, topic_id: UUID, start: str | None, end: str | None, limit: int, as_json: bool
) -> None:
    """List a topic's records in a time window."""
    from openlqs.client.models import iterate_pages

    lqs = _client(ctx)
    filters: dict[str, Any] = {}
    if start is not None:
        filters["timestamp_gte"] = parse_timestamp(start)
    if end is not None:
        filters["timestamp_lte"] = parse_timestamp(end)
    found = list(iterate_pages(lqs.list.record, limit=limit, topic_id=topic_id, **filters))
    _emit(found, as_json, RECORD_COLUMNS)


# Exporting a clip -----------------------------------------------------------------------------------

#: What ``openlqs export`` writes, by the output file's suffix.
EXPORT_FORMATS = {".mcap": "mcap", ".bag": "bag"}


@cli.command(name="export")
@click.argument("log_ref", metavar="LOG")
@click.option("--group", "group_ref", default=None, help="the log's group (name or id), when LOG is a name")
@click.option("--topic", "topic_names", multiple=True, required=True, help="a topic name (repeat for more)")
@click.option("--from", "start", default=None, help="first timestamp: ns, seconds (1.5 or 1s) or ISO 8601")
@click.option("--to", "end", default=None, help="last timestamp (inclusive), same forms")
@click.option(
    "--frequency", type=click.FloatRange(min=0, min_open=True), default=None, help="records per second"
)
@click.option("--latched", is_flag=True, help="also each topic's last record before --from (tf_static, maps)")
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["mcap", "bag"]),
    default=None,
    help="file format (default: from --output's suffix, else mcap; bag needs ROS 1 topics)",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="file to write"
)
@click.option(
    "--timeout",
    type=click.FloatRange(0),
    default=None,
    help="seconds to wait at most (default: 3600; 0: no limit)",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bars on a terminal")
@click.pass_context
def export(
    ctx: click.Context,
    log_ref: str,
    group_ref: str | None,
    topic_names: tuple[str, ...],
    start: str | None,
    end: str | None,
    frequency: float | None,
    latched: bool,
    export_format: str | None,
    output: Path | None,
    timeout: float | None,
    progress: bool,
) -> None:
    """Write some topics of LOG (an id, or a name with --group) in a time window as one playable file.

    The server digests the log (a digestion with an export: its records are read from the log once)
    and the file is downloaded to --output (default: the log's name with .mcap or .bag).
    """
    from openlqs.client.waiting import DEFAULT_WAIT_TIMEOUT_S

    lqs = _client(ctx)
    group_filters = {"group_id": lqs.resource.Group.fetch(group_ref).id} if group_ref else {}
    log = lqs.resource.Log.fetch(log_ref, **group_filters)
    if export_format is None:
        export_format = EXPORT_FORMATS.get(output.suffix.lower(), "mcap") if output is not None else "mcap"
    if output is None:
        output = Path(f"{log.name}.{export_format}")
    topics = {topic.name: topic for topic in log.list_topics()}
    missing = [name for name in topic_names if name not in topics]
    if missing:
        raise click.UsageError(
            f"log {log.name} has no topic {', '.join(missing)}; see: openlqs ls topics --log {log.id}"
        )
    window: dict[str, Any] = {
        "start_time": None if start is None else parse_timestamp(start),
        "end_time": None if end is None else parse_timestamp(end),
        "frequency": frequency,
    }
    digestion = lqs.resource.Digestion.create(
        log_id=log.id,
        name=output.stem,
        context={"export": {"format": export_format, "latched": latched}},
    )
    try:
        for name in dict.fromkeys(topic_names):
            lqs.create.digestion_topic(digestion.id, topics[name].id, **window)
        digestion.update(state="queued")
    except Exception:
        # Refused (a bag of ROS 2 topics, a bad window): the digestion never ran, so it is not kept.
        lqs.delete.digestion(digestion.id)
        raise
    digestion = lqs.utils.wait_for(
        digestion,
        timeout=DEFAULT_WAIT_TIMEOUT_S if timeout is None else (timeout or None),
        show_progress=None if progress else False,
    )
    if digestion.state != "completed":
        raise click.ClickException(
            f"digestion {digestion.id} {digestion.state}: {digestion.error_message or 'no error message'}"
        )
    written = lqs.utils.download_digestion_export(
        digestion, output, show_progress=None if progress else False
    )
    exported = (digestion.context or {}).get("export") or {}
    click.echo(
        f"{written}: {exported.get('message_count')} messages, {exported.get('size')} bytes ({export_format})"
    )


@cli.command()
@click.argument("ref", metavar="OBJECT")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default=None,
    help="for LOG_ID/KEY: write the object's bytes to this file (- for standard output)",
)
@_json_option
@click.pass_context
def get(ctx: click.Context, ref: str, output: str | None, as_json: bool) -> None:
    """Show one thing: a resource by id (group, log, topic, ingestion, object store) or LOG_ID/KEY.

    LOG_ID/KEY names a log object: its metadata is shown, or with --output its bytes are written.
    """
    from openlqs.errors import NotFound

    lqs = _client(ctx)
    log_part, slash, key = ref.partition("/")
    if slash:
        log_id = _uuid(log_part, "LOG_ID")
        if output is not None:
            data = lqs.fetch.log_object(object_key=key, log_id=log_id, redirect=True)
            with click.open_file(output, "wb") as sink:
                sink.write(data)
            return
        _emit_one(lqs.fetch.log_object(object_key=key, log_id=log_id).data, as_json)
        return
    if output is not None:
        raise click.UsageError("--output needs a LOG_ID/KEY object")
    resource_id = _uuid(ref, "OBJECT")
    for fetch in (
        lqs.fetch.topic,
        lqs.fetch.log,
        lqs.fetch.group,
        lqs.fetch.ingestion,
        lqs.fetch.object_store,
    ):
        try:
            _emit_one(fetch(resource_id).data, as_json)
            return
        except NotFound:
            continue
    raise NotFound(f"Nothing has the id {resource_id}.")


# API keys ------------------------------------------------------------------------------------------


@cli.group()
def keys() -> None:
    """API keys: the first admin key of a deployment (later ones can also be made through the API)."""


@keys.command(name="create")
@click.option("--name", required=True, help="what the key is for")
@click.option(
    "--role",
    type=click.Choice(["read", "write", "admin"]),
    default="read",
    show_default=True,
    help="its role",
)
@click.option(
    "--user",
    default="admin",
    show_default=True,
    help="the user it belongs to (made when missing; an admin user for an admin key)",
)
@click.option("--local", "use_local", is_flag=True, help="the local stack running on --data-dir")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="OPENLQS_DATA_DIR",
    default="~/.openlqs",
    show_default=True,
    help="the local stack's data directory ($OPENLQS_DATA_DIR)",
)
@click.option("--stack-name", default=None, help="an AWS deployment, by its CloudFormation stack")
@click.option("--table", "table_name", default=None, help="an AWS deployment, by its ResourcesTable name")
@click.option("--region", default=None, help="AWS region (default: your AWS configuration)")
@click.option("--profile", default=None, help="AWS profile (default: your AWS configuration)")
@_json_option
def create_key(
    name: str,
    role: str,
    user: str,
    use_local: bool,
    data_dir: Path,
    stack_name: str | None,
    table_name: str | None,
    region: str | None,
    profile: str | None,
    as_json: bool,
) -> None:
    """Create a key straight in the deployment's table (your AWS credentials) and print it once."""
    from openlqs import bootstrap
    from openlqs.local.keys import read_stack_file
    from openlqs.models.api_keys import Role

    if use_local:
        deployment = bootstrap.local_deployment(read_stack_file(data_dir.expanduser()))
    else:
        deployment = bootstrap.aws_deployment(
            stack_name=stack_name, table_name=table_name, region=region, profile=profile
        )
    key = bootstrap.create_key(deployment, name, Role(role), user)
    if as_json:
        click.echo(json.dumps(key.model_dump(mode="json"), indent=2))
        return
    click.echo(f"# {role} key {name!r}: the secret is shown this once", err=True)
    click.echo(f"export LQS_API_KEY_ID={key.id}")
    click.echo(f"export LQS_API_KEY_SECRET={key.secret}")


# Output --------------------------------------------------------------------------------------------


def _emit(items: Sequence[Any], as_json: bool, columns: Sequence[Column]) -> None:
    if as_json:
        click.echo(json.dumps([item.model_dump(mode="json") for item in items], indent=2))
        return
    rows = [[_cell(get_value(item)) for _, get_value in columns] for item in items]
    click.echo(format_table([name for name, _ in columns], rows))


def _emit_one(item: Any, as_json: bool) -> None:
    fields = item.model_dump(mode="json")
    if as_json:
        click.echo(json.dumps(fields, indent=2))
        return
    width = max(map(len, fields))
    for name, value in fields.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else _cell(value)
        click.echo(f"{name.ljust(width)}  {shown}")


def format_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns padded to their widest cell, as ``docker ps`` and ``kubectl get`` print them."""
    table = [list(header), *map(list, rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def _time(timestamp: int | None) -> str | None:
    """A nanosecond timestamp as UTC ISO 8601 with nanoseconds."""
    if timestamp is None:
        return None
    seconds, nanoseconds = divmod(timestamp, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}.{nanoseconds:09d}Z"


def parse_timestamp(text: str) -> int:
    """Nanoseconds from ``1396293888056045055`` (ns, as the API), ``1396293888.5`` or ``1396293888s``
    (seconds), or an ISO 8601 time (UTC when it has no zone)."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    seconds = value.removesuffix("s")
    if seconds != value or "." in value:
        try:
            return int(Decimal(seconds) * 1_000_000_000)
        except InvalidOperation:
            pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a timestamp (ns, seconds or ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    whole = int(moment.replace(microsecond=0).timestamp())
    return whole * 1_000_000_000 + moment.microsecond * 1_000


def _uuid(text: str, what: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an id", param_hint=what) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``openlqs`` command; returns the exit status."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="openlqs", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.exceptions.NoArgsIsHelpError as error:
        click.echo(error.format_message(), err=True)
        return error.exit_code
    except click.ClickException as error:
        # One line, whatever went wrong; `openlqs COMMAND --help` has the usage.
        click.echo(f"openlqs: error: {' '.join(error.format_message().split())}", err=True)
        return error.exit_code
    except BrokenPipeError:
        # The reader went away (`openlqs ls ... | head`): stop quietly, as other commands do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (click.Abort, KeyboardInterrupt):
        click.echo("openlqs: interrupted", err=True)
        return 130
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
