"""EventBridge schedules of the template, run locally: a "Scheduled Event" at start, then every period."""

from __future__ import annotations

from typing import Any

import pytest

from openlqs.local.cloudformation import load_template
from openlqs.local.resources import ScheduleSubscription, schedule_subscriptions
from openlqs.local.triggers import ScheduleSource
from tests.support.paths import PROJECT_DIR


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _template(schedules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    events = {name: {"Type": "Schedule", "Properties": properties} for name, properties in schedules.items()}
    return {"Resources": {"Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Events": events}}}}


def test_schedule_subscriptions_of_the_template_sweep_every_five_minutes() -> None:
    template = load_template(PROJECT_DIR / "template.yaml")

    assert schedule_subscriptions(template) == [
        ScheduleSubscription(
            "ReconcileIngestionsFunction", "Sweep", 300.0, "ReconcileIngestionsFunctionSweep"
        ),
        ScheduleSubscription(
            "ReconcileDigestionsFunction", "Sweep", 300.0, "ReconcileDigestionsFunctionSweep"
        ),
    ]


@pytest.mark.parametrize(
    ("expression", "period"),
    [("rate(1 minute)", 60.0), ("rate(2 hours)", 7200.0), ("rate( 1 day )", 86400.0)],
)
def test_schedule_subscriptions_read_rate_expressions(expression: str, period: float) -> None:
    (subscription,) = schedule_subscriptions(_template({"Tick": {"Schedule": expression}}))

    assert subscription.period_s == period


def test_schedule_subscriptions_leave_cron_and_disabled_schedules_out() -> None:
    template = _template(
        {
            "Nightly": {"Schedule": "cron(0 3 * * ? *)"},
            "Off": {"Schedule": "rate(5 minutes)", "Enabled": False},
        }
    )

    assert schedule_subscriptions(template) == []


def test_schedule_source_ticks_at_once_then_every_period() -> None:
    clock = Clock()
    source = ScheduleSource("FnTick", 15.0, clock=clock)

    first = source.receive()
    clock.now += 14.0
    early = source.receive()
    clock.now += 1.0
    second = source.receive()

    assert [d.event["detail-type"] for d in first + second] == ["Scheduled Event", "Scheduled Event"]
    assert early == []
    assert first[0].event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/FnTick"]
    assert first[0].event["id"] != second[0].event["id"]
    assert source.failed(first[0], retry=True) is True  # never retried: the next tick comes anyway
