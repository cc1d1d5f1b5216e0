"""ReportOutcome: the run's status from its nodes' outcomes, and how its plan ends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from eksops import rebalance_plans
from eksops.models.remediation_steps import RebalanceStep
from eksops.rebalance_steps import FAILURE_LIMIT, report_outcome
from moto import mock_aws

KEY = "skew#prod#workers"
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:rebalance:run"
ENV = {"REBALANCE_TABLE": "plans", "AWS_DEFAULT_REGION": "eu-west-1"}


def now() -> datetime:
    return datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "eksops")  # as the template sets it
    with mock_aws():
        created = boto3.resource("dynamodb").create_table(
            TableName="plans",
            KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        rebalance_plans.record_plan(created, KEY, {"drain": []}, EXECUTION, lambda _: True, now)
        yield created


def drained(instance: str, evicted: int = 1) -> dict[str, Any]:
    return {"instanceId": instance, "outcome": "drained", "counts": {"evicted": evicted}}


def blocked(instance: str) -> dict[str, Any]:
    return {
        "instanceId": instance,
        "outcome": "blocked",
        "counts": {"evicted": 0, "blocked": 1},
        "cause": f"node {instance}: 1 pods not evicted within 600 s: shop/db-0 (db)",
    }


def failed(instance: str, failure: dict[str, str]) -> dict[str, Any]:
    return {"instanceId": instance, "nodeName": None, "outcome": "failed", "failure": failure}


def report(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    step = RebalanceStep.model_validate(
        {
            "request": {"clusterName": "prod", "action": "rebalance-az"},
            "executionId": EXECUTION,
            "signal": {"kind": "direct"},
            "plan": {"keys": [KEY]},
            "drained": nodes,
        }
    )
    return report_outcome(step, ENV, now)


def status(table: Any) -> str:
    return table.get_item(Key={"key": KEY})["Item"]["status"]


def test_all_drained_ends_the_plan_done(table) -> None:
    outcome = report([drained("i-1", 3), drained("i-2", 2)])
    assert outcome == {
        "status": "done",
        "nodesDrained": 2,
        "nodesBlocked": 0,
        "nodesFailed": 0,
        "podsEvicted": 5,
    }
    assert status(table) == rebalance_plans.DONE


def test_a_blocked_node_ends_the_plan_blocked_with_the_cause(table) -> None:
    outcome = report([drained("i-1"), blocked("i-2")])
    assert (outcome["status"], outcome["nodesBlocked"]) == ("blocked", 1)
    assert "shop/db-0 (db)" in outcome["cause"]
    assert status(table) == rebalance_plans.BLOCKED


def test_a_failed_node_leaves_the_plan_open_and_names_its_error(table) -> None:
    lambda_error = {
        "Error": "eksops.KubernetesUnavailable",
        "Cause": json.dumps(
            {"errorMessage": "the API kept failing", "stackTrace": ["  File x" * 500]}
        ),
    }
    timeout = {"Error": "States.Timeout"}  # a timeout's Catch may carry no cause
    outcome = report([drained("i-1"), failed("i-2", lambda_error), failed("i-3", timeout)])
    assert (outcome["status"], outcome["nodesFailed"], outcome["nodesDrained"]) == ("failed", 2, 1)
    assert "i-2: eksops.KubernetesUnavailable: the API kept failing" in outcome["cause"]
    assert "File x" not in outcome["cause"]  # the stack trace stays in the history
    assert "i-3: States.Timeout: " in outcome["cause"]
    assert status(table) == rebalance_plans.PLANNED  # a re-run takes it over


def test_a_long_error_is_cut(table) -> None:
    huge = {"Error": "eksops.X", "Cause": "y" * 50_000}
    outcome = report([failed("i-1", huge)])
    assert len(outcome["cause"]) < FAILURE_LIMIT + 100
