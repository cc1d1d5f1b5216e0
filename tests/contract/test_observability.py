"""Contract: every workflow and every function is watched. Each state machine has its failed and
timed-out alarms, each function a Lambda-errors alarm, all notifying the alarm topic (whose
email subscription exists only when asked for); the dashboard shows every workflow; every
execution's status change reaches RecordWorkflowOutcomeFunction; every step's log lines carry
the execution's ARN."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from eksops.local.template import load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(REPO / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = sorted(k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function")
STATE_MACHINES = sorted(
    k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::StateMachine"
)
ALARMS = {k: v["Properties"] for k, v in RESOURCES.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
TOPIC = "AlarmTopic"
OUTCOME_FUNCTION = "RecordWorkflowOutcomeFunction"
# Functions that are no workflow step log correlation ids of their own.
OWN_CORRELATION = {"KubeconfigFunction", "RouteRebalanceSignalFunction", OUTCOME_FUNCTION}


def _workflow(state_machine: str) -> str:
    return state_machine.removesuffix("StateMachine")


def _notifies_topic(alarm: dict[str, Any]) -> bool:
    return {"Ref": TOPIC} in alarm.get("AlarmActions", [])


def _metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """(Namespace, MetricName, Dimensions) of a single-metric or metric-math alarm."""
    if "MetricName" in alarm:
        return [alarm]
    return [q["MetricStat"]["Metric"] for q in alarm.get("Metrics", []) if "MetricStat" in q]


def _dimension(metric: dict[str, Any], name: str) -> Any:
    return next((d["Value"] for d in metric.get("Dimensions", []) if d["Name"] == name), None)


# -- alarms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["ExecutionsFailed", "ExecutionsTimedOut"])
@pytest.mark.parametrize("state_machine", STATE_MACHINES)
def test_each_state_machine_alarms_on_failed_and_timed_out_executions(
    state_machine: str, metric: str
) -> None:
    found = [
        alarm
        for alarm in ALARMS.values()
        if alarm.get("Namespace") == "AWS/States"
        and alarm.get("MetricName") == metric
        and _dimension(alarm, "StateMachineArn") == {"Ref": state_machine}
    ]
    assert len(found) == 1, f"{state_machine}: {len(found)} {metric} alarms"
    (alarm,) = found
    assert _notifies_topic(alarm), f"{state_machine} {metric}: does not notify {TOPIC}"
    assert alarm["Statistic"] == "Sum"
    assert alarm["Period"] == 300
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"


def test_every_function_is_covered_by_a_lambda_errors_alarm() -> None:
    covered: dict[str, str] = {}
    for name, alarm in ALARMS.items():
        for metric in _metrics(alarm):
            if (metric.get("Namespace"), metric.get("MetricName")) == ("AWS/Lambda", "Errors"):
                function = _dimension(metric, "FunctionName")
                assert isinstance(function, dict), f"{name}: {function}"
                assert "Ref" in function, f"{name}: {function}"
                assert _notifies_topic(alarm), f"{name}: does not notify {TOPIC}"
                covered[function["Ref"]] = name
    missing = sorted(set(FUNCTIONS) - set(covered))
    assert not missing, f"functions without a Lambda errors alarm: {missing}"


def test_metric_math_alarms_sum_at_most_ten_metrics() -> None:
    for name, alarm in ALARMS.items():
        queries = alarm.get("Metrics", [])
        if queries:
            assert len(queries) <= 10, f"{name}: {len(queries)} metrics"
            returned = [q for q in queries if q.get("ReturnData", True)]
            assert len(returned) == 1, name
            assert "Expression" in returned[0], name


def test_the_topic_is_encrypted_and_its_subscription_depends_on_the_parameter() -> None:
    assert RESOURCES[TOPIC]["Type"] == "AWS::SNS::Topic"
    assert RESOURCES[TOPIC]["Properties"].get("KmsMasterKeyId"), "topic not encrypted"
    parameter = TEMPLATE["Parameters"]["AlarmNotificationEmail"]
    assert parameter["Default"] == ""
    subscriptions = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::SNS::Subscription"}
    assert subscriptions, "no subscription to the alarm topic"
    for name, subscription in subscriptions.items():
        assert subscription["Properties"]["TopicArn"] == {"Ref": TOPIC}
        assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmNotificationEmail"}
        condition = subscription.get("Condition")
        assert condition, f"{name} is not conditional"
        assert "AlarmNotificationEmail" in json.dumps(TEMPLATE["Conditions"][condition])
    assert TOPIC in json.dumps(TEMPLATE["Outputs"]["AlarmTopicArn"])


# -- dashboard -------------------------------------------------------------------------------


def _dashboard_body() -> dict[str, Any]:
    (dashboard,) = [v for v in RESOURCES.values() if v["Type"] == "AWS::CloudWatch::Dashboard"]
    body = dashboard["Properties"]["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    assert isinstance(text, str)
    # substitutions resolve to plain text: put a sample in each to parse the JSON
    return json.loads(re.sub(r"\$\{([^}]+)\}", r"sub-\1", text))


def _widget_metrics(body: dict[str, Any]) -> list[list[Any]]:
    return [m for w in body["widgets"] for m in w.get("properties", {}).get("metrics", [])]


def test_the_dashboard_shows_every_workflow() -> None:
    metrics = _widget_metrics(_dashboard_body())
    for state_machine in STATE_MACHINES:
        workflow = _workflow(state_machine)
        shown = {m[1] for m in metrics if m[:1] == ["eksops"] and workflow in m}
        for name in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed"):
            assert name in shown, f"{workflow}: {name} not on the dashboard"
        assert {"ExecutionsTimedOut", "ExecutionDuration"} <= shown, workflow
        assert any(f"sub-{state_machine}" in m for m in metrics), f"{state_machine}: no AWS/States"


def test_the_dashboard_shows_remediation_counts_and_lambda_errors() -> None:
    body = _dashboard_body()
    names = {m[1] for m in _widget_metrics(body) if len(m) > 1 and isinstance(m[1], str)}
    assert {"NodesDrained", "PodsEvicted", "DrainsBlocked", "RulesRevoked"} <= names
    text = json.dumps(body)
    assert 'MetricName=\\"Errors\\"' in text
    assert 'MetricName=\\"Throttles\\"' in text
    for output in ("DashboardName", "DashboardUrl"):
        assert output in TEMPLATE["Outputs"]


# -- outcomes --------------------------------------------------------------------------------


def test_every_status_change_of_every_workflow_reaches_the_outcome_function() -> None:
    properties = RESOURCES[OUTCOME_FUNCTION]["Properties"]
    (event,) = properties["Events"].values()
    assert event["Type"] == "EventBridgeRule"
    pattern = event["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert "status" not in pattern["detail"], "every status: started, succeeded, failed, ..."
    assert sorted(r["Ref"] for r in pattern["detail"]["stateMachineArn"]) == STATE_MACHINES
    workflows = properties["Environment"]["Variables"]["WORKFLOW_STATE_MACHINES"]["Fn::Sub"]
    for state_machine in STATE_MACHINES:
        assert f"{_workflow(state_machine)}=${{{state_machine}}}" in workflows.split(",")


# -- correlation ids -------------------------------------------------------------------------


def _app(logical_id: str) -> str:
    uri = RESOURCES[logical_id]["Properties"]["CodeUri"]
    return (REPO / uri / "app.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_function_logs_correlation_ids(logical_id: str) -> None:
    code = _app(logical_id)
    if logical_id == "KubeconfigFunction":
        return  # its own handler: no workflow step, never logs its event
    if logical_id in OWN_CORRELATION:
        assert "correlation_id" in code, f"{logical_id} sets no correlation id"
    else:
        assert "step_handler(" in code, f"{logical_id} is a step without step_handler"


def _lambda_tasks(states: dict[str, Any], selector: dict[str, Any] | None = None) -> list[Any]:
    """(name, payload) of each Task that invokes a function: its Parameters, else what the
    enclosing Map's ItemSelector hands it."""
    found = []
    for name, state in states.items():
        if state["Type"] == "Task" and state["Resource"].startswith("${"):
            found.append((name, state.get("Parameters", selector)))
        if state["Type"] == "Map":
            processor = state.get("ItemProcessor") or state["Iterator"]
            inner = state.get("ItemSelector") or state.get("Parameters")
            found += _lambda_tasks(processor["States"], inner)
        for branch in state.get("Branches", []):
            found += _lambda_tasks(branch["States"])
    return found


@pytest.mark.parametrize("path", sorted((REPO / "statemachines").glob("*.asl.json")), ids=str)
def test_every_lambda_task_passes_the_execution_id(path: Path) -> None:
    tasks = _lambda_tasks(json.loads(path.read_text(encoding="utf-8"))["States"])
    assert tasks, f"{path.name}: no Lambda task found (the walk is broken)"
    missing = [n for n, p in tasks if (p or {}).get("executionId.$") != "$$.Execution.Id"]
    assert not missing, f"{path.name}: tasks without executionId: {missing}"
