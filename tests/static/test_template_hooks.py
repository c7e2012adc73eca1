"""HookDeliveryFunction as template.yaml declares it: the changes it is fed, the queue that isolates
receivers from one another, where failures end, and what it may touch."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any
from uuid import uuid4

import pytest

from openlqs.adapters import keys
from openlqs.local.cloudformation import get_att_target
from openlqs.local.filters import FilterCriteria
from openlqs.local.resources import dynamodb_event_subscriptions, sqs_event_subscriptions
from openlqs.models.workflows import ProcessType
from openlqs.settings import Settings
from tests.support.policies import function_statements, grants, resolve, stack_references, table_arn

FUNCTION = "HookDeliveryFunction"


def _resource(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = template["Resources"][logical_id]
    return resource


def _filters(template: dict[str, Any]) -> FilterCriteria:
    (subscription,) = [s for s in dynamodb_event_subscriptions(template) if s.function_id == FUNCTION]
    return FilterCriteria.parse(subscription.filter_patterns)


def _record(event: str, kind: str, *, workflow: bool = True, state: str = "queued") -> dict[str, Any]:
    image: dict[str, Any] = {"kind": {"S": kind}, "id": {"S": str(uuid4())}, "state": {"S": state}}
    if workflow:
        image["workflow_id"] = {"S": str(uuid4())}
    images = {"OldImage": image} if event == "REMOVE" else {"NewImage": image}
    return {"eventName": event, "eventSource": "aws:dynamodb", "dynamodb": images}


@pytest.mark.parametrize("kind", [kind.value for kind in ProcessType])
def test_hook_stream_filter_lets_every_process_kind_with_a_workflow_through(
    template: dict[str, Any], kind: str
) -> None:
    filters = _filters(template)

    assert filters.matches(_record("INSERT", kind))
    assert filters.matches(_record("MODIFY", kind))
    assert not filters.matches(_record("MODIFY", kind, workflow=False))
    assert not filters.matches(_record("REMOVE", kind))


@pytest.mark.parametrize("kind", ["topic", "log", "group", "hook", "workflow", "api_key", "ingestions"])
def test_hook_stream_filter_drops_what_is_not_a_process(template: dict[str, Any], kind: str) -> None:
    assert not _filters(template).matches(_record("MODIFY", kind))


def test_hook_stream_filter_names_exactly_the_process_kinds(template: dict[str, Any]) -> None:
    # ProcessType (openlqs/models/workflows.py) is the one list of process kinds.
    pattern = _resource(template, FUNCTION)["Properties"]["Events"]["ProcessStateChanged"]["Properties"]
    text = pattern["FilterCriteria"]["Filters"][0]["Pattern"]

    for kind in ProcessType:
        assert f'"{kind.value}"' in text
    assert text.count('"S": [') == 2  # kind, workflow_id


def test_hook_stream_batches_that_keep_failing_go_to_their_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    (subscription,) = [s for s in dynamodb_event_subscriptions(template) if s.function_id == FUNCTION]

    assert subscription.bisect
    assert subscription.maximum_retry_attempts is not None and subscription.maximum_retry_attempts >= 1
    assert subscription.on_failure_queue_id == "HookEventDeadLetterQueue"
    assert subscription.starting_position == "LATEST"


def test_hook_deliveries_are_queued_and_polled_concurrently_with_partial_failures(
    template: dict[str, Any],
) -> None:
    (subscription,) = sqs_event_subscriptions(template)
    function = _resource(template, FUNCTION)["Properties"]
    queue = _resource(template, "HookDeliveryQueue")["Properties"]
    timeout = template["Parameters"]["HookDeliveryTimeoutSeconds"]

    assert (subscription.function_id, subscription.queue_id) == (FUNCTION, "HookDeliveryQueue")
    assert subscription.report_batch_item_failures
    assert subscription.maximum_concurrency >= 2
    # A batch's deliveries all fit in one invocation, and a message outlives the invocation that has it.
    assert function["Timeout"] > timeout["MaxValue"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert function["Environment"]["Variables"]["HOOK_DELIVERY_QUEUE_URL"] == {"Ref": "HookDeliveryQueue"}


def test_hook_delivery_attempts_are_one_parameter_for_the_queue_and_the_function(
    template: dict[str, Any],
) -> None:
    redrive = _resource(template, "HookDeliveryQueue")["Properties"]["RedrivePolicy"]
    variables = _resource(template, FUNCTION)["Properties"]["Environment"]["Variables"]
    parameter = template["Parameters"]["HookDeliveryMaxAttempts"]
    setting = Settings.model_fields["hook_delivery_max_attempts"]

    assert get_att_target(redrive["deadLetterTargetArn"], "Arn") == "HookDeliveryDeadLetterQueue"
    assert redrive["maxReceiveCount"] == {"Ref": "HookDeliveryMaxAttempts"}
    assert variables["HOOK_DELIVERY_MAX_ATTEMPTS"] == {"Ref": "HookDeliveryMaxAttempts"}
    assert parameter["Default"] == setting.default


@pytest.mark.parametrize("queue", ["HookDeliveryDeadLetterQueue", "HookEventDeadLetterQueue"])
def test_hook_dead_letter_queues_are_watched_by_an_alarm(template: dict[str, Any], queue: str) -> None:
    alarms = [
        resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]

    watching = [
        alarm
        for alarm in alarms
        if [(d["Name"], get_att_target(d["Value"], "QueueName")) for d in alarm["Dimensions"]]
        == [("QueueName", queue)]
    ]
    assert len(watching) == 1
    assert (watching[0]["Threshold"], watching[0]["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert _resource(template, queue)["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_hook_delivery_function_writes_only_hooks_and_reads_only_workflows_and_hooks(
    template: dict[str, Any],
) -> None:
    resources_table = table_arn("openlqs-ResourcesTable-1A2B3C")
    references = stack_references(template, tables={"ResourcesTable": "openlqs-ResourcesTable-1A2B3C"})
    statements = [resolve(statement, references) for statement in function_statements(template, FUNCTION)]
    granted = grants(statements)

    def leading_keys(action: str) -> list[str]:
        condition = granted[(action, resources_table)]
        patterns: list[str] = condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        return patterns

    def allowed(action: str, kind: str) -> bool:
        key = keys.entity_pk(kind, uuid4())
        return any(fnmatchcase(key, pattern) for pattern in leading_keys(action))

    assert [
        kind
        for kind in ("workflow", "hook", "ingestion", "api_key", "object_store")
        if allowed("dynamodb:GetItem", kind)
    ] == [
        "workflow",
        "hook",
    ]
    assert [
        kind for kind in ("workflow", "hook", "ingestion", "topic") if allowed("dynamodb:PutItem", kind)
    ] == ["hook"]
    assert {resource for (action, resource) in granted if action == "dynamodb:Query"} == {
        f"{resources_table}/index/ByParent"
    }


def test_hook_settings_are_parameters_of_the_template(template: dict[str, Any]) -> None:
    variables = _resource(template, FUNCTION)["Properties"]["Environment"]["Variables"]
    api_variables = _resource(template, "ApiFunction")["Properties"]["Environment"]["Variables"]

    assert variables["HOOK_ALLOWED_NETWORKS"] == api_variables["HOOK_ALLOWED_NETWORKS"]
    assert variables["HOOK_ALLOWED_NETWORKS"] == {"Ref": "HookAllowedNetworks"}
    assert (
        template["Parameters"]["HookAllowedNetworks"]["Default"]
        == Settings.model_fields["hook_allowed_networks"].default
    )
    for variable, parameter in (
        ("HOOK_DELIVERY_TIMEOUT_S", "HookDeliveryTimeoutSeconds"),
        ("HOOK_RETRY_BASE_DELAY_S", "HookRetryBaseDelaySeconds"),
    ):
        assert variables[variable] == {"Ref": parameter}
        assert (
            float(template["Parameters"][parameter]["Default"])
            == Settings.model_fields[variable.lower()].default
        )
