"""The one-process local stack behind ``make local`` / ``openlqs local``.

moto's server (S3, DynamoDB, Step Functions, SQS, KMS...) on 127.0.0.1, the tables, bucket, KMS keys and
state machines created from ``template.yaml``, the API handler run in-process behind a local API
Gateway, every other function run in-process when a state machine invokes it (``lambda.Invoke`` answered
on boto3's default session), the template's S3 and DynamoDB stream events delivered to their in-process
functions by pollers, and the state kept in a data directory across restarts.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config

from openlqs.adapters.resources import DynamoResourceRepository
from openlqs.auth import Credentials
from openlqs.domain.api_keys import ApiKeyService
from openlqs.domain.users import UserService
from openlqs.local.api_auth import ApiRoute, api_auth_spec, api_routes
from openlqs.local.apigateway import ApiGatewayServer, RequestAuthorizer
from openlqs.local.cloudformation import (
    BUCKET_TYPE,
    LOCAL_REGION,
    TABLE_TYPE,
    find_project_root,
    load_template,
    override_parameters,
    parse_parameter_overrides,
    queue_arn,
    resource_references,
    resources_of_type,
    template_lookup,
)
from openlqs.local.durability import DurableWrites
from openlqs.local.environment import ProcessEnvironment
from openlqs.local.event_sources import (
    s3_event_pollers,
    schedule_pollers,
    sqs_event_pollers,
    stream_event_pollers,
)
from openlqs.local.functions import InProcessFunction
from openlqs.local.invoke import LambdaInvokeHook
from openlqs.local.journal import Journal
from openlqs.local.keys import ensure_admin_key, remove_stack_file, write_stack_file
from openlqs.local.kms import create_keys
from openlqs.local.moto_server import ChangeTracker, TrackedMotoServer
from openlqs.local.ports import start_moto_server
from openlqs.local.recovery import resume_interrupted
from openlqs.local.resources import (
    API_FUNCTION_ID,
    create_buckets,
    create_queues,
    create_tables,
    enable_streams,
    function_environment,
    function_specs,
    local_resource_names,
    settings_environment,
)
from openlqs.local.snapshot import Snapshotter, load_or_create_datastore_id
from openlqs.local.statemachines import (
    StateMachineSpec,
    create_state_machines,
    state_machine_specs,
    stop_running_executions,
    task_functions,
)
from openlqs.local.triggers import (
    DEFAULT_RETRY_DELAY_S,
    TriggerPoller,
)
from openlqs.local.workers import (
    ProcessFunction,
    close_all,
    default_processes,
    start_fork_server,
    worker_context,
)
from openlqs.services import get_services

PORT_ENV = "OPENLQS_PORT"
MOTO_PORT_ENV = "OPENLQS_MOTO_PORT"
DATA_DIR_ENV = "OPENLQS_DATA_DIR"
DATASTORE_ID_ENV = "OPENLQS_DATASTORE_ID"
#: Template parameter values for this stack, ``Name=Value Name2=Value2`` (``sam deploy``'s form).
PARAMETER_OVERRIDES_ENV = "OPENLQS_PARAMETER_OVERRIDES"
#: How many worker processes each state machine task function may have; 0 runs them in-process.
LAMBDA_PROCESSES_ENV = "OPENLQS_LAMBDA_PROCESSES"
DEFAULT_PORT = 8000
DEFAULT_DATA_DIR = "~/.openlqs"
#: How often a snapshot compacts the journal (every answered write is journaled at once anyway).
DEFAULT_SNAPSHOT_INTERVAL_S = 10.0
#: How long a stop waits for Lambda invocations in progress (a stopped execution's last task) to end.
DEFAULT_DRAIN_TIMEOUT_S = 30.0
OBJECTS_BUCKET_ID = "ObjectsBucket"
RESOURCES_TABLE_ID = "ResourcesTable"
INGESTION_STATE_MACHINE_ID = "IngestionStateMachine"
HOST = "127.0.0.1"
#: Template parameters the local stack sets unless told otherwise: hooks may POST to receivers on this
#: machine (on AWS loopback is refused: the Lambda runtime API listens there).
LOCAL_PARAMETER_DEFAULTS = {"HookAllowedNetworks": "127.0.0.0/8,::1/128"}
FAKE_CREDENTIALS = "testing"
_LOCAL_DEFAULTS_TRUE = ("POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_TRACE_DISABLED")
# Credentials that would take precedence over (or be mixed with) the fake ones.
_CLEARED_ENVIRONMENT = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


_CLIENT_SESSION_LOCK = threading.Lock()


def _optional_int(text: str | None) -> int | None:
    return int(text) if text else None


@lru_cache(maxsize=1)
def _client_session() -> boto3.session.Session:
    """One session for the stack's own clients: botocore loads a service's model once per session (a new
    session per client took ~0.1 s each)."""
    return boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS, aws_secret_access_key=FAKE_CREDENTIALS, region_name=LOCAL_REGION
    )


class LocalStack:
    """openlqs on one machine, in this process: moto, the tables and bucket, the API.

    ``port``, ``moto_port``, ``data_dir`` and ``datastore_id`` default to ``$OPENLQS_PORT`` (else 8000),
    ``$OPENLQS_MOTO_PORT`` (else the port moto had last time, else the API's port + 1, else a free one:
    ``openlqs.local.ports``), ``$OPENLQS_DATA_DIR`` (else ``~/.openlqs``) and
    ``$OPENLQS_DATASTORE_ID`` (else an id generated once and kept in the data directory); port 0
    picks a free port. While started, this process's environment points boto3 and the settings at
    the local resources; :meth:`stop` saves the state and puts the environment back.

    ``function_overrides`` runs other functions in place of the template's, by logical id (tests);
    ``parameter_overrides`` sets template parameters, as ``sam deploy --parameter-overrides`` does (default:
    ``$OPENLQS_PARAMETER_OVERRIDES``, e.g. ``PartTargetBytes=1048576``);
    ``trigger_retry_delay_s`` is how long a failed S3 event or stream batch waits, per attempt, before it
    is retried; ``drain_timeout_s`` is how long :meth:`stop` waits for Lambda invocations in progress.

    The functions the state machines' tasks invoke run in up to ``lambda_processes`` worker processes
    each (``openlqs.local.workers``; default ``$OPENLQS_LAMBDA_PROCESSES``, else the machine's cores), so
    that a Map's parts use every core; 0 runs them in this process, as the other functions always are.
    The workers import the program's main module, as multiprocessing's fork server does: a script that
    starts a stack keeps its work under ``if __name__ == "__main__":``.

    While started, the template's state machines exist in moto (:attr:`state_machine_arns`) and run
    their Lambda tasks locally: :attr:`invoke_hook` answers ``lambda.Invoke`` on boto3's default
    session for every function of :attr:`functions` (by name or ARN, e.g.
    ``stack.functions["PlanIngestionFunction"].arn``).

    Use it as a context manager::

        with LocalStack(port=0, moto_port=0, data_dir=tmp_path) as stack:
            httpx.get(f"{stack.api_url}/apps/lqs/{stack.datastore_id}/api/groups")
    """

    def __init__(
        self,
        port: int | None = None,
        moto_port: int | None = None,
        data_dir: Path | str | None = None,
        *,
        datastore_id: str | None = None,
        project_dir: Path | None = None,
        snapshot_interval: float = DEFAULT_SNAPSHOT_INTERVAL_S,
        access_log: bool = False,
        function_overrides: Mapping[str, InProcessFunction] | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        trigger_retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
        drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S,
        lambda_processes: int | None = None,
    ) -> None:
        self.port = port if port is not None else int(os.environ.get(PORT_ENV) or DEFAULT_PORT)
        #: None: the port of the last start on this data directory, or the API's + 1 (``local/ports.py``).
        self.moto_port = moto_port if moto_port is not None else _optional_int(os.environ.get(MOTO_PORT_ENV))
        self.data_dir = Path(data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()
        self._datastore_id = datastore_id or os.environ.get(DATASTORE_ID_ENV) or None
        self.project_dir = project_dir
        self.snapshot_interval = snapshot_interval
        self.access_log = access_log
        self.function_overrides = dict(function_overrides or {})
        if parameter_overrides is None:
            parameter_overrides = parse_parameter_overrides(os.environ.get(PARAMETER_OVERRIDES_ENV) or "")
        self.parameter_overrides = dict(parameter_overrides)
        self.trigger_retry_delay_s = trigger_retry_delay_s
        self.drain_timeout_s = drain_timeout_s
        if lambda_processes is None:
            lambda_processes = _optional_int(os.environ.get(LAMBDA_PROCESSES_ENV))
        self.lambda_processes = default_processes() if lambda_processes is None else max(0, lambda_processes)

        self.template: dict[str, Any] = {}
        self.names: dict[str, str] = {}
        #: KMS key ids by logical id.
        self.key_ids: dict[str, str] = {}
        self.functions: dict[str, InProcessFunction] = {}
        self.state_machines: dict[str, StateMachineSpec] = {}
        #: ARNs of the state machines created in moto, by logical id.
        self.state_machine_arns: dict[str, str] = {}
        #: URLs of the template's SQS queues, by logical id.
        self.queue_urls: dict[str, str] = {}
        #: ``LatestStreamArn`` of each table with a stream, by logical id.
        self.stream_arns: dict[str, str] = {}
        self.invoke_hook: LambdaInvokeHook | None = None
        self.pollers: list[TriggerPoller] = []
        self.tracker = ChangeTracker()
        self.moto: TrackedMotoServer | None = None
        self.api: ApiGatewayServer | None = None
        #: The administrator key of this data directory (``LQS_API_KEY_*``).
        self.admin_key: Credentials | None = None
        self.snapshotter: Snapshotter | None = None
        #: What every write left since the last snapshot (``local/journal.py``).
        self.journal: Journal | None = None
        self._saved_generations: dict[str, int] = {}
        self._snapshot_lock = threading.Lock()
        self._stop_snapshots = threading.Event()
        self._snapshot_thread: threading.Thread | None = None
        #: This process's environment, pointed at the local resources while the stack runs.
        self.environment = ProcessEnvironment()

    # Public state

    @property
    def datastore_id(self) -> str:
        """The id of the local datastore (clients put it in their URLs)."""
        if self._datastore_id is None:
            raise RuntimeError("the local stack is not started")
        return self._datastore_id

    @property
    def api_url(self) -> str:
        """Base URL of the local API, e.g. ``http://127.0.0.1:8000`` (``LQS_API_URL``)."""
        if self.api is None:
            raise RuntimeError("the local stack is not started")
        return self.api.url

    @property
    def moto_url(self) -> str:
        """The endpoint of every local AWS service (``AWS_ENDPOINT_URL``)."""
        if self.moto is None:
            raise RuntimeError("the local stack is not started")
        return self.moto.url

    @property
    def bucket_name(self) -> str:
        """Name of the local ObjectsBucket."""
        return self.names[OBJECTS_BUCKET_ID]

    def exports(self) -> dict[str, str]:
        """What a client needs, as environment variables."""
        keys = {}
        if self.admin_key is not None:
            keys = {"LQS_API_KEY_ID": str(self.admin_key.key_id), "LQS_API_KEY_SECRET": self.admin_key.secret}
        return {
            "LQS_API_URL": self.api_url,
            "LQS_DATASTORE_ID": self.datastore_id,
            **keys,
            "OPENLQS_S3_ENDPOINT": self.moto_url,
            "OPENLQS_BUCKET": self.bucket_name,
        }

    def client(self, service: str) -> Any:
        """A boto3 client for one local service (fake credentials, path-style S3)."""
        with _CLIENT_SESSION_LOCK:
            return _client_session().client(
                service,
                endpoint_url=self.moto_url,
                config=Config(
                    s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}
                ),
            )

    # Lifecycle

    def start(self) -> LocalStack:
        """Start moto, create and restore the resources, and serve the API; returns ``self``."""
        try:
            self._start()
        except BaseException:
            self._shutdown(save=False)
            raise
        return self

    def _start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._datastore_id is None:
            self._datastore_id = load_or_create_datastore_id(self.data_dir)
        project_dir = self.project_dir or find_project_root()
        template = load_template(project_dir / "template.yaml")
        declared = template.get("Parameters") or {}
        local_defaults = {name: value for name, value in LOCAL_PARAMETER_DEFAULTS.items() if name in declared}
        self.template = override_parameters(template, {**local_defaults, **self.parameter_overrides})
        self.names = local_resource_names(self.template)
        if OBJECTS_BUCKET_ID not in self.names:
            raise ValueError(f"{project_dir / 'template.yaml'} declares no {OBJECTS_BUCKET_ID}")
        self.state_machines = state_machine_specs(self.template, project_dir)
        in_workers = set()
        if self.lambda_processes and worker_context() is not None:
            in_workers = task_functions(self.state_machines.values())
        self.functions = {
            logical_id: (
                ProcessFunction(spec, processes=self.lambda_processes)
                if logical_id in in_workers
                else InProcessFunction(spec)
            )
            for logical_id, spec in function_specs(self.template, project_dir).items()
        }
        self.functions.update(self.function_overrides)

        self.moto = moto = start_moto_server(
            self.tracker, HOST, self.data_dir, requested=self.moto_port, api_port=self.port
        )
        # moto's backends live in this process: start empty even if another stack ran here before.
        self.moto.reset()
        self.moto.enable_step_functions_interpreter()
        # Twice: the KMS client needs the AWS environment, and the functions' environment the key ids.
        self._set_environment()
        self.key_ids = create_keys(self.client("kms"), self.template, self.data_dir)
        self._set_environment()

        tables = {lid: self.names[lid] for lid in resources_of_type(self.template, TABLE_TYPE)}
        buckets = {lid: self.names[lid] for lid in resources_of_type(self.template, BUCKET_TYPE)}
        dynamodb = self.client("dynamodb")
        # Streams are turned on after the restore so that restored items are not replayed as changes.
        create_tables(dynamodb, self.template, self.names, streams=False)
        create_buckets(self.client("s3"), self.template, self.names)
        self.queue_urls = create_queues(self.client("sqs"), self.template)
        self._set_environment()  # the functions' environment names the queues
        self.pollers += sqs_event_pollers(
            self.template, self.functions, self.queue_urls, self.client("sqs"), self._invoker
        )
        # Subscribed before the restore: a file restored into the drop folder was never handled (the
        # trigger moves it out), so its notification delivers it now.
        self._subscribe_triggers()
        self.journal = Journal(self.data_dir)
        self.snapshotter = Snapshotter(
            self.data_dir,
            dynamodb,
            self.client("s3"),
            tables,
            buckets,
            journal=self.journal,
            s3_reading=moto.gate.locks["s3"].reading,
        )
        self.snapshotter.restore()
        # From now on every write is journaled before it is answered (the restore itself was not).
        moto.gate.durable = DurableWrites(
            self.journal,
            {name: logical_id for logical_id, name in tables.items()},
            {name: logical_id for logical_id, name in buckets.items()},
            self.snapshotter.blob_dir,
        )
        enable_streams(dynamodb, self.template, self.names)
        self.stream_arns = {}
        for logical_id, table_name in tables.items():
            stream_arn = dynamodb.describe_table(TableName=table_name)["Table"].get("LatestStreamArn")
            if stream_arn:
                self.stream_arns[logical_id] = stream_arn
        # Right after the streams are turned on, so that every change after the restore is delivered.
        self._subscribe_stream_triggers()
        self._saved_generations = {name: self.tracker.generation(name) for name in self.names.values()}

        # The environment is final here: the hook goes on the default session that boto3 keeps from now.
        self.invoke_hook = LambdaInvokeHook(self._function_by_name).install()
        if any(isinstance(function, ProcessFunction) for function in self.functions.values()):
            # In the background (the fork server imports for a second or two), with the environment
            # final (its imports read the AWS configuration); the first task waits for it if need be.
            threading.Thread(target=start_fork_server, name="openlqs-fork-server", daemon=True).start()
        self.state_machine_arns = create_state_machines(
            self.client("stepfunctions"),
            self.state_machines.values(),
            template_lookup(self.template, self._references()),
        )

        authorizer = self._authorizer()
        if authorizer is not None:
            # The API checks keys: this data directory's admin key (kept in ResourcesTable).
            repository = DynamoResourceRepository(self.names[RESOURCES_TABLE_ID])
            self.admin_key = ensure_admin_key(
                self.data_dir, ApiKeyService(repository), UserService(repository)
            )
            self.snapshot()  # a new key is on disk before anyone is told of it
        api_function = self.functions[API_FUNCTION_ID]
        api_function.load()
        self.api = ApiGatewayServer(
            api_function,
            host=HOST,
            port=self.port,
            access_log=self.access_log,
            authorizer=authorizer,
            routes=self._other_routes(),
        )
        self.api.start()
        # What hook deliveries name as datastore_endpoint: the URL clients use (LQS_API_URL).
        self.environment.apply({"API_URL": self.api.url}, keep_session=True)
        if self.admin_key is not None:
            write_stack_file(
                self.data_dir,
                {
                    "api_url": self.api.url,
                    "datastore_id": self.datastore_id,
                    "aws_endpoint_url": self.moto_url,
                    "region": LOCAL_REGION,
                    "resources_table_name": self.names[RESOURCES_TABLE_ID],
                },
            )
        for poller in self.pollers:
            poller.start()
        self._resume_interrupted()
        # Schedules (the reconciler's sweep) start once interrupted ingestions are queued again.
        scheduled = schedule_pollers(self.template, self.functions, self._invoker)
        for poller in scheduled:
            poller.start()
        self.pollers += scheduled
        self._stop_snapshots.clear()
        self._snapshot_thread = threading.Thread(
            target=self._snapshot_periodically, name="openlqs-snapshots", daemon=True
        )
        self._snapshot_thread.start()

    def _resume_interrupted(self) -> None:
        """Run again what the previous run left queued or running (``local/recovery.py``)."""
        if RESOURCES_TABLE_ID not in self.names or INGESTION_STATE_MACHINE_ID not in self.state_machines:
            return
        try:
            resumed = resume_interrupted(get_services())
        except Exception:
            print("openlqs local: cannot resume the ingestions the last run left", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)
            return
        if resumed:
            print(
                f"openlqs local: resuming {len(resumed)} ingestion(s) the last run left unfinished",
                file=sys.stderr,
            )

    def _other_routes(self) -> list[tuple[ApiRoute, InProcessFunction]]:
        """The API's routes to functions other than ApiFunction (the console's files). Their handlers
        are imported on first use, as Lambda would: a project without them still serves its API."""
        routes = []
        for route in api_routes(self.template):
            function = self.functions.get(route.function_id)
            if route.function_id != API_FUNCTION_ID and function is not None:
                routes.append((route, function))
        return routes

    def _authorizer(self) -> RequestAuthorizer | None:
        """The template's default authorizer, run in-process as API Gateway would run it."""
        spec = api_auth_spec(self.template)
        if spec.authorizer_function_id is None:
            return None
        function = self.functions[spec.authorizer_function_id]
        function.load()
        return RequestAuthorizer(function, spec)

    def stop(self) -> None:
        """Stop serving, save what changed, stop moto and restore the environment (idempotent)."""
        self._shutdown(save=True)

    def _shutdown(self, *, save: bool) -> None:
        if self.api is not None:
            self.api.stop()
            self.api = None
            remove_stack_file(self.data_dir)
        for poller in self.pollers:
            poller.request_stop()
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        self._stop_executions()
        self._stop_snapshots.set()
        if self._snapshot_thread is not None:
            self._snapshot_thread.join()
            self._snapshot_thread = None
        try:
            if save and self.snapshotter is not None:
                self.snapshot()
        finally:
            if self.moto is not None:
                try:
                    self.moto.restore_config()
                    self.moto.reset()
                finally:
                    self.moto.stop()
                    self.moto = None
            self.snapshotter = None
            if self.journal is not None:
                self.journal.close()
                self.journal = None
            self.environment.restore()

    # Triggers

    def _subscribe_triggers(self) -> None:
        """Route the template's S3 events through queues to pollers that invoke their functions."""
        self.pollers += s3_event_pollers(
            self.template,
            self.names,
            self.functions,
            self.client("s3"),
            self.client("sqs"),
            self._invoker,
            retry_delay_s=self.trigger_retry_delay_s,
        )

    def _subscribe_stream_triggers(self) -> None:
        """Feed the template's DynamoDB stream events to their functions, from the stream's end."""
        assert self.moto is not None
        self.pollers += stream_event_pollers(
            self.template,
            self.functions,
            self.stream_arns,
            self._invoker,
            reading=self.moto.gate.locks["dynamodb"].reading,
            retry_delay_s=self.trigger_retry_delay_s,
            sqs_client=self.client("sqs"),
            queue_urls=self.queue_urls,
        )

    def _function_by_name(self, function_name: str) -> InProcessFunction | None:
        """The function Lambda would run for a function name (looked up at each invocation)."""
        return next((f for f in self.functions.values() if f.function_name == function_name), None)

    def _stop_executions(self) -> None:
        """Stop running executions, let invocations in progress end, then stop answering Lambda calls."""
        hook, self.invoke_hook = self.invoke_hook, None
        arns, self.state_machine_arns = self.state_machine_arns, {}
        if self.moto is not None and arns:
            try:
                stopped = stop_running_executions(self.client("stepfunctions"), arns.values())
            except Exception:
                print("openlqs local: cannot stop the running executions", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
            else:
                if stopped:
                    print(f"openlqs local: stopped {len(stopped)} running execution(s)", file=sys.stderr)
        if hook is not None:
            if not hook.wait_idle(self.drain_timeout_s):
                print(
                    f"openlqs local: {hook.in_flight} Lambda invocation(s) still running after "
                    f"{self.drain_timeout_s} s; they will fail once moto stops",
                    file=sys.stderr,
                )
            hook.uninstall()
        close_all(self.functions.values())

    def _invoker(self, function_id: str) -> Callable[[dict[str, Any]], Any]:
        """Invoke a function by logical id, looked up at each call as Lambda looks up a name."""

        def invoke(event: dict[str, Any]) -> Any:
            return self.functions[function_id].invoke(event)

        return invoke

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # Snapshots

    def snapshot(self, *, force: bool = False) -> list[str]:
        """Save the tables and buckets written since the last save (all of them with ``force``).

        Returns the names saved. Cheap when nothing changed: the change tracker is consulted, nothing
        is scanned.
        """
        if self.snapshotter is None:
            return []
        with self._snapshot_lock:
            if not force and not self._changed_since_saved():
                return []
            # The journal first: a write whose entry went to an older segment is counted below.
            checkpoint = self.snapshotter.begin_checkpoint()
            generations = {name: self.tracker.generation(name) for name in self.names.values()}
            changed = {
                name for name, gen in generations.items() if force or gen != self._saved_generations.get(name)
            }
            saved = self.snapshotter.save(lambda name: name in changed)
            self._saved_generations.update({name: generations[name] for name in saved})
            self.snapshotter.finish_checkpoint(checkpoint)
            return saved

    def _changed_since_saved(self) -> bool:
        return any(
            self.tracker.generation(name) != self._saved_generations.get(name) for name in self.names.values()
        )

    def _snapshot_periodically(self) -> None:
        wait = self.snapshot_interval
        while not self._stop_snapshots.wait(wait):
            started = time.monotonic()
            try:
                saved = self.snapshot()
            except Exception:
                print("openlqs local: snapshot failed, will retry", file=sys.stderr)
                traceback.print_exc(file=sys.stderr)
                saved = []
            # A big table takes a while to save: keep saving it at most ~10% of the time.
            wait = (
                max(self.snapshot_interval, 10 * (time.monotonic() - started))
                if saved
                else self.snapshot_interval
            )

    # Environment

    def _set_environment(self) -> None:
        moto_url = self.moto_url
        assert self.moto is not None
        refs = self._references()
        # No X-Ray daemon or CloudWatch here: spare every request a trace attempt and an EMF line,
        # unless the caller's environment asks for them.
        quiet_defaults = {name: "true" for name in _LOCAL_DEFAULTS_TRUE if name not in os.environ}
        self.environment.apply(
            {
                **quiet_defaults,
                **function_environment(self.template, refs),
                "AWS_ENDPOINT_URL": moto_url,
                "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS,
                "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS,
                "AWS_DEFAULT_REGION": LOCAL_REGION,
                "AWS_REGION": LOCAL_REGION,
                # Step Functions service integrations call moto on MOTO_PORT (default 5000).
                "MOTO_PORT": str(self.moto.get_host_and_port()[1]),
                # Without it botocore may build account-based DynamoDB endpoints, which moto does not answer.
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                "DATASTORE_ID": self.datastore_id,
                # Presigned URLs name moto's server, which has no per-bucket host names.
                "S3_ADDRESSING_STYLE": "path",
                **settings_environment(self.names),
            },
            cleared=_CLEARED_ENVIRONMENT,
        )

    def _references(self) -> dict[str, str]:
        """What ``!Ref``/``!GetAtt`` of the template's resources are locally (see resource_references)."""
        references = resource_references(
            self.template,
            names=self.names,
            key_ids=self.key_ids,
            function_arns={logical_id: function.arn for logical_id, function in self.functions.items()},
            state_machine_names={logical_id: spec.name for logical_id, spec in self.state_machines.items()},
        )
        references.update({f"{logical_id}.StreamArn": arn for logical_id, arn in self.stream_arns.items()})
        for logical_id, url in self.queue_urls.items():
            name = url.rsplit("/", 1)[-1]
            references.update(
                {logical_id: url, f"{logical_id}.QueueName": name, f"{logical_id}.Arn": queue_arn(name)}
            )
        references["DatastoreId"] = self.datastore_id
        return references
