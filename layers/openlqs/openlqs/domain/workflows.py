"""Workflows, hooks and callbacks: their API rules, and the workflow every process runs under.

``ProcessWorkflows`` is the one place a process's ``workflow_id`` and ``workflow_context`` are decided
and checked, for every kind of process (``ProcessType``): a process created without a workflow runs
under its parent's (a part) or its type's ``default`` workflow; the workflow must exist, be enabled
and be meant for that type; the context must follow the workflow's ``context_schema`` (JSON Schema).

A hook's ``uri`` must be http(s) and, unless the deployment allows it (``HookAllowedNetworks``), must
not resolve to a loopback, link-local (169.254.0.0/16: the cloud metadata endpoint), private or other
non-public address: checked here when a hook is stored, and again by the delivery at each POST.
"""

from __future__ import annotations

import builtins
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit
from uuid import UUID

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from openlqs.domain.common import Context, Environment, updated
from openlqs.domain.ports import Counter, ResourceKind, ResourceRepository, SecretBox, WriteConditions
from openlqs.domain.resources import ResourceService, list_page
from openlqs.domain.secrets import SealedSecrets, without_field
from openlqs.errors import BadRequest, Conflict, NotFound
from openlqs.models.common import ProcessState
from openlqs.models.ingestions import ProcessModel
from openlqs.models.workflows import (
    Callback,
    CallbackCreateRequest,
    CallbackListParams,
    CallbackUpdateRequest,
    Hook,
    HookForWorkflowCreateRequest,
    HookListParams,
    HookUpdateRequest,
    ProcessType,
    Workflow,
    WorkflowCreateRequest,
    WorkflowListParams,
    WorkflowUpdateRequest,
)

WORKFLOW = ResourceKind("workflow", Workflow, unique_field="name")
HOOK = ResourceKind("hook", Hook, parent_field="workflow_id")
CALLBACK = ResourceKind("callback", Callback)

#: The placeholder parent id the official client may send for a hook fetched by id alone.
NIL_ID = UUID(int=0)
#: Process types a ``default`` workflow can be the default of (parts run under their parent's workflow).
DEFAULTABLE_TYPES = frozenset({ProcessType.ingestion, ProcessType.digestion})
#: ``context`` key of a hook that the delivery keeps: how its last delivery went.
LAST_DELIVERY = "last_delivery"
#: ``_internal`` key of the event ids a hook last delivered.
DELIVERED = "delivered_event_ids"
#: How many delivered event ids a hook remembers (a duplicate of one of them is not sent again).
DELIVERED_MEMORY = 64

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _hooks_counter(workflow_id: UUID) -> Counter:
    return Counter(str(workflow_id), HOOK.name)


# -- where a hook may point -------------------------------------------------------------------------


class HostResolver(Protocol):
    """Resolves a host name (or an IP literal) to the addresses a connection would use."""

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of ``host``; ``BadRequest`` naming it when it does not resolve."""
        ...


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a hook may reach: public ones, and those of ``allowed`` networks.

    Every other address is refused: loopback (127.0.0.0/8, ::1; on Lambda, the runtime API listens
    there), link-local (169.254.0.0/16 holds the instance metadata endpoint; fe80::/10), private ranges
    (10/8, 172.16/12, 192.168/16, fc00::/7) and whatever else is not globally routable (0.0.0.0,
    100.64.0.0/10, multicast, reserved). An IPv4-mapped IPv6 address is judged as its IPv4 address.
    """

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> AddressPolicy:
        """From ``HOOK_ALLOWED_NETWORKS``: CIDRs separated by commas or spaces (empty: public only)."""
        networks = []
        for item in (text or "").replace(",", " ").split():
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError as error:
                raise ValueError(f"HOOK_ALLOWED_NETWORKS: {item!r} is not a network ({error})") from None
        return cls(tuple(networks))

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be reached, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address.version == network.version and address in network for network in self.allowed):
            return None
        if address.is_loopback:
            return "a loopback address"
        if address.is_link_local:
            return "a link-local address (169.254.0.0/16 holds the cloud metadata endpoint)"
        if address.is_unspecified:
            return "an unspecified address"
        if address.is_multicast:
            return "a multicast address"
        if address.is_private:
            return "a private address"
        if not address.is_global:
            return "an address that is not public"
        return None

    def check(self, host: str, addresses: Iterable[IPAddress], *, what: str = "uri") -> None:
        """``BadRequest`` unless every address ``host`` resolved to may be reached."""
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                resolved = "" if host.strip("[]") == str(address) else f" resolves to {address}, which"
                raise BadRequest(
                    f"{what}: {host}{resolved} is {reason}; hooks may only reach public addresses "
                    "unless the deployment allows that network (HookAllowedNetworks)."
                )


def host_and_port(uri: str) -> tuple[str, int]:
    """The host (IPv6 without brackets) and port (default of the scheme) of an http(s) URI."""
    parts = urlsplit(uri)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


class UriGuard:
    """Checks where a hook URI leads: its host is resolved and every address judged by the policy."""

    def __init__(self, policy: AddressPolicy, resolver: HostResolver) -> None:
        self.policy = policy
        self.resolver = resolver

    def check(self, uri: str, *, what: str = "uri") -> list[IPAddress]:
        host, port = host_and_port(uri)
        addresses = self.resolver.resolve(host, port)
        if not addresses:
            raise BadRequest(f"{what}: {host} does not resolve to any address.")
        self.policy.check(host, addresses, what=what)
        return addresses


# -- delivering hooks (ports) ----------------------------------------------------------------------


@dataclass(frozen=True)
class HookRequest:
    """One POST to make: the hook's ``uri``, the body exactly as signed, and the headers."""

    uri: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class HookResponse:
    """How a POST went: the status when the receiver answered, else what failed; the address it went to."""

    status: int | None
    error: str | None = None
    duration_ms: int = 0
    address: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class HookTransport(Protocol):
    """Makes POSTs to hooks, all at once, each bounded in time; never raises for one that failed."""

    def post_all(self, requests: list[HookRequest]) -> list[HookResponse]:
        """One response per request, in order. Each host is resolved once, its addresses are judged by
        the deployment's ``AddressPolicy``, and the POST goes to the address that was judged."""
        ...


class DeliveryQueue(Protocol):
    """The queue of deliveries still to make (SQS): one message per delivery."""

    def send(self, bodies: list[str]) -> None:
        """Queue every body; raises when one could not be queued (the caller's event is retried)."""
        ...

    def retry_later(self, receipt: str, delay_s: int) -> None:
        """Let the received message ``receipt`` come back in ``delay_s`` seconds."""
        ...


# -- JSON Schema --------------------------------------------------------------------------------------


def _path(prefix: str, path: Iterable[Any]) -> str:
    return ".".join([prefix, *(str(part) for part in path)])


def check_schema(schema: dict[str, Any], *, what: str = "context_schema") -> None:
    """``BadRequest`` naming the failing place when ``schema`` is not a valid JSON Schema (by its
    ``$schema``; draft 2020-12 when it names none)."""
    validator = validator_for(schema, default=Draft202012Validator)
    try:
        validator.check_schema(schema)
    except SchemaError as error:
        raise BadRequest(f"{_path(what, error.absolute_path)}: {error.message}") from None


def check_against_schema(
    instance: dict[str, Any] | None, schema: dict[str, Any], *, what: str, schema_owner: str
) -> None:
    """``BadRequest`` naming the failing path of ``instance`` (null counts as ``{}``) under ``schema``.

    Only references inside the schema are followed: nothing is fetched from the network.
    """
    validator = validator_for(schema, default=Draft202012Validator)(schema)
    try:
        errors = list(validator.iter_errors({} if instance is None else instance))
    except Unresolvable as error:
        raise BadRequest(
            f"The context_schema of {schema_owner} refers to {error}; only references inside the schema "
            "are followed."
        ) from None
    if not errors:
        return
    first: ValidationError = best_match(errors)
    others = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise BadRequest(
        f"{_path(what, first.absolute_path)}: {first.message}{others}, under the context_schema of "
        f"{schema_owner}."
    )


# -- the workflow of a process ----------------------------------------------------------------------


def _named(workflow: Workflow) -> str:
    return f"workflow {workflow.id} ({workflow.name})"


class ProcessWorkflows:
    """Decides and checks the workflow of processes of every type (the one entry point for them).

    A new process: :meth:`apply` (before it is stored). An update that sets ``workflow_id`` or
    ``workflow_context``: :meth:`check` with the values the process will have.
    """

    def __init__(self, repository: ResourceRepository) -> None:
        self.repository = repository

    def apply(
        self, process_type: ProcessType, process: ProcessModel, *, parent: ProcessModel | None = None
    ) -> Workflow | None:
        """Complete a new process's workflow and check it; returns the workflow (None: it has none).

        Without a ``workflow_id``, a part takes its parent's workflow (the parent's context applies;
        nothing is copied or checked again), and any other process its type's enabled ``default``
        workflow, whose schema then checks the process's context.
        """
        if process.workflow_id is None:
            if parent is not None:
                process.workflow_id = parent.workflow_id
                return None
            default = self.default_for(process_type)
            if default is None:
                return None
            process.workflow_id = default.id
        return self.check(process_type, process.workflow_id, process.workflow_context)

    def check(
        self, process_type: ProcessType, workflow_id: UUID, workflow_context: dict[str, Any] | None
    ) -> Workflow:
        """The workflow, if a ``process_type`` process may run under it with ``workflow_context``:
        ``NotFound`` when it does not exist; ``BadRequest`` when it is disabled, meant for another
        process type, or the context breaks its ``context_schema`` (naming the failing path)."""
        workflow = self.repository.find(WORKFLOW, workflow_id)
        if workflow is None:
            raise NotFound(f"Workflow {workflow_id} not found.")
        if workflow.disabled:
            raise BadRequest(f"workflow_id: {_named(workflow)} is disabled.")
        wanted = workflow.process_type
        if wanted is not None and wanted not in (process_type, process_type.family):
            raise BadRequest(
                f"workflow_id: {_named(workflow)} is for {wanted} processes, not for a {process_type}."
            )
        if workflow.context_schema is not None:
            check_against_schema(
                workflow_context,
                workflow.context_schema,
                what="workflow_context",
                schema_owner=_named(workflow),
            )
        return workflow

    def default_for(self, process_type: ProcessType) -> Workflow | None:
        """The enabled default workflow of ``process_type`` (the oldest, should two have raced)."""
        if process_type not in DEFAULTABLE_TYPES:
            return None
        defaults = [
            workflow
            for workflow in self.repository.list_resources(WORKFLOW)
            if workflow.default and not workflow.disabled and workflow.process_type == process_type
        ]
        return defaults[0] if defaults else None


# -- services ---------------------------------------------------------------------------------------


class WorkflowService(ResourceService[Workflow]):
    """Workflows: unique names, a valid ``context_schema``, one default per process type."""

    kind = WORKFLOW

    def list(self, params: WorkflowListParams) -> tuple[int, list[Workflow]]:
        return list_page(self.repository, WORKFLOW, params)

    def _check(self, workflow: Workflow) -> None:
        if workflow.context_schema is not None:
            check_schema(workflow.context_schema)
        if not workflow.default:
            return
        if workflow.process_type not in DEFAULTABLE_TYPES:
            raise BadRequest(
                "default: a default workflow needs process_type ingestion or digestion (parts run under "
                "their parent's workflow)."
            )
        for other in self.repository.list_resources(WORKFLOW):
            if other.id != workflow.id and other.default and other.process_type == workflow.process_type:
                raise Conflict(
                    f"{_named(other)} is already the default {workflow.process_type} workflow; "
                    "update it to default false first."
                )

    def create(self, request: WorkflowCreateRequest, context: Context) -> Workflow:
        workflow = self._new(context, request.model_dump())
        self._check(workflow)
        self.repository.create(WORKFLOW, workflow)
        return workflow

    def update(self, workflow_id: UUID, request: WorkflowUpdateRequest, context: Context) -> Workflow:
        workflow = self.get(workflow_id)
        new = self._changed(workflow, request, context, non_nullable=("name", "default", "disabled"))
        self._check(new)
        return self.repository.replace(WORKFLOW, workflow, new)

    def delete(self, workflow_id: UUID, context: Context) -> None:
        """Delete a workflow without hooks (409 while it has some). Processes keep its id: none of its
        hooks is left to fire, and a process naming it cannot be edited to name it again."""
        workflow = self.get(workflow_id)
        self.repository.delete(
            WORKFLOW, workflow, WriteConditions(require_empty=(_hooks_counter(workflow_id),))
        )


class HookService(ResourceService[Hook]):
    """Hooks of workflows. Nested routes name the workflow, but a hook is found by its own id."""

    kind = HOOK

    def __init__(
        self,
        repository: ResourceRepository,
        secrets: SecretBox | None,
        guard: UriGuard,
        environment: Environment | None = None,
    ) -> None:
        super().__init__(repository, environment)
        self.secrets = SealedSecrets(secrets, HOOK)
        self.guard = guard

    def get(self, resource_id: UUID, workflow_id: UUID | None = None) -> Hook:
        """The hook; with a workflow id other than the nil placeholder, it must be that workflow's."""
        hook = self.repository.get(HOOK, resource_id)
        if workflow_id is not None and workflow_id not in (NIL_ID, hook.workflow_id):
            raise NotFound(f"Hook {resource_id} not found in workflow {workflow_id}.")
        return hook

    def list(self, params: HookListParams, workflow_id: UUID | None = None) -> tuple[int, list[Hook]]:
        """Hooks of one workflow (the path's, else the ``workflow_id`` filter's) or of all."""
        if workflow_id is not None and workflow_id != NIL_ID:
            self.repository.get(WORKFLOW, workflow_id)
        else:
            workflow_id = params.workflow_id
        return list_page(self.repository, HOOK, params, parent_id=workflow_id)

    def create(self, workflow_id: UUID, request: HookForWorkflowCreateRequest, context: Context) -> Hook:
        self.repository.get(WORKFLOW, workflow_id)
        if request.uri is not None:
            self.guard.check(request.uri)
        hook = self._new(context, {**request.model_dump(exclude={"secret"}), "workflow_id": workflow_id})
        self.secrets.seal(hook, request.secret)
        self.repository.create(
            HOOK,
            hook,
            WriteConditions(increment=(_hooks_counter(workflow_id),), requires=((WORKFLOW, workflow_id),)),
        )
        return hook

    def update(
        self, hook_id: UUID, request: HookUpdateRequest, context: Context, *, workflow_id: UUID | None = None
    ) -> Hook:
        """Edit a hook; ``context.last_delivery`` stays the server's whatever ``context`` is sent."""
        self.get(hook_id, workflow_id)
        if request.uri is not None:
            self.guard.check(request.uri)
        plain = without_field(request, "secret")

        def change(hook: Hook) -> Hook:
            last = (hook.context or {}).get(LAST_DELIVERY)
            new = self._changed(hook, plain, context, non_nullable=("trigger_process", "trigger_state"))
            if "context" in plain.model_fields_set:
                kept = {key: value for key, value in (new.context or {}).items() if key != LAST_DELIVERY}
                if last is not None:
                    kept[LAST_DELIVERY] = last
                new.context = kept or None
            if "secret" in request.model_fields_set:
                self.secrets.seal(new, request.secret)
            return new

        return self.repository.update(HOOK, hook_id, change)

    def delete(self, hook_id: UUID, context: Context, *, workflow_id: UUID | None = None) -> None:
        hook = self.get(hook_id, workflow_id)
        self.repository.delete(HOOK, hook, WriteConditions(decrement=(_hooks_counter(hook.workflow_id),)))

    def secret_of(self, hook: Hook) -> str | None:
        """The hook's secret in clear (for the delivery only)."""
        return self.secrets.open(hook)

    def triggered(
        self, workflow_id: UUID, process_type: ProcessType, state: ProcessState
    ) -> builtins.list[Hook]:
        """The enabled hooks of an enabled workflow that a ``process_type`` entering ``state`` fires."""
        workflow = self.repository.find(WORKFLOW, workflow_id)
        if workflow is None or workflow.disabled:
            return []
        return [
            hook
            for hook in self.repository.list_resources(HOOK, workflow_id)
            if not hook.disabled
            and hook.uri is not None
            and hook.trigger_process == process_type
            and hook.trigger_state == state
        ]

    @staticmethod
    def delivered(hook: Hook, event_id: UUID) -> bool:
        """Whether ``event_id`` is one of the hook's last delivered events (a duplicate to skip)."""
        return str(event_id) in hook._internal.get(DELIVERED, [])

    def record_delivery(
        self, hook_id: UUID, event_id: UUID, report: dict[str, Any], *, delivered: bool
    ) -> None:
        """Keep how a delivery went as the hook's ``context.last_delivery`` (and, when it was delivered,
        its event id among the last ones). A hook deleted meanwhile is left deleted."""

        def change(hook: Hook) -> Hook:
            new = updated(
                hook, {"context": {**(hook.context or {}), LAST_DELIVERY: report}}, Context(), self.env.now()
            )
            new.updated_at, new.updated_by = hook.updated_at, hook.updated_by
            if delivered:
                ids = [*new._internal.get(DELIVERED, []), str(event_id)]
                new._internal[DELIVERED] = ids[-DELIVERED_MEMORY:]
            return new

        try:
            self.repository.update(HOOK, hook_id, change)
        except NotFound:
            return


class CallbackService(ResourceService[Callback]):
    """Callbacks: stored and listed (nothing invokes them); ``secret`` is sealed and never returned."""

    kind = CALLBACK

    def __init__(
        self,
        repository: ResourceRepository,
        secrets: SecretBox | None,
        environment: Environment | None = None,
    ) -> None:
        super().__init__(repository, environment)
        self.secrets = SealedSecrets(secrets, CALLBACK)

    def list(self, params: CallbackListParams) -> tuple[int, list[Callback]]:
        return list_page(self.repository, CALLBACK, params)

    def _check(self, callback: Callback) -> None:
        if callback.parameter_schema is not None:
            check_schema(callback.parameter_schema, what="parameter_schema")

    def create(self, request: CallbackCreateRequest, context: Context) -> Callback:
        callback = self._new(context, request.model_dump(exclude={"secret"}))
        self._check(callback)
        self.secrets.seal(callback, request.secret)
        self.repository.create(CALLBACK, callback)
        return callback

    def update(self, callback_id: UUID, request: CallbackUpdateRequest, context: Context) -> Callback:
        callback = self.get(callback_id)
        new = self._changed(
            callback,
            without_field(request, "secret"),
            context,
            non_nullable=("name", "managed", "default", "disabled"),
        )
        self._check(new)
        if "secret" in request.model_fields_set:
            self.secrets.seal(new, request.secret)
        return self.repository.replace(CALLBACK, callback, new)

    def delete(self, callback_id: UUID, context: Context) -> None:
        self.repository.delete(CALLBACK, self.get(callback_id))
