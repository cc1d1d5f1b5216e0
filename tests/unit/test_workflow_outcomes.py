"""RecordWorkflowOutcomeFunction's real handler (metrics as Powertools EMF on stdout, the outcome
event as PutEvents gets it) and the correlation ids of every step's log lines."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from eksops.errors import InvalidInputError
from eksops.lambda_step import step_handler
from eksops.local.handlers import LambdaContext, load_module
from eksops.models.delete_cluster import DeleteClusterInput
from eksops.workflow_outcomes import CAUSE_LIMIT, status_change

ARN = "arn:aws:states:us-west-2:123456789012"
MACHINE = f"{ARN}:stateMachine:CreateClusterStateMachine-AbC123dEf456"
EXECUTION = f"{ARN}:execution:CreateClusterStateMachine-AbC123dEf456:run-1"
START, STOP = 1_714_564_800_123, 1_714_564_861_456


def status_event(status: str, **detail: Any) -> dict[str, Any]:
    """A Step Functions Execution Status Change event as EventBridge delivers it."""
    ended = status != "RUNNING"
    return {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2024-05-01T12:01:01Z",
        "region": "us-west-2",
        "resources": [EXECUTION],
        "detail": {
            "executionArn": EXECUTION,
            "stateMachineArn": MACHINE,
            "name": "run-1",
            "status": status,
            "startDate": START,
            "stopDate": STOP if ended else None,
            "input": json.dumps({"clusterName": "demo", "kubernetesVersion": "1.31"}),
            "output": '{"clusterName":"demo"}' if status == "SUCCEEDED" else None,
            "stateMachineVersionArn": None,
            "stateMachineAliasArn": None,
            "redriveCount": 0,
            "redriveDate": None,
            "redriveStatus": "NOT_REDRIVABLE",
            "redriveStatusReason": f"Execution is {status} and cannot be redriven",
            "inputDetails": {"included": True},
            "outputDetails": {"included": True} if status == "SUCCEEDED" else None,
            "error": None,
            "cause": None,
            **detail,
        },
    }


class FakeEvents:
    def __init__(self, failed: bool = False) -> None:
        self.entries: list[dict[str, Any]] = []
        self.failed = failed

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries += Entries
        if self.failed:
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]}
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}


@pytest.fixture
def record(aws_env, monkeypatch) -> Any:
    """The handler, with EventBridge faked: returns (result, EMF metric documents, events)."""
    module = load_module("record_workflow_outcome")
    workflows = f"CreateCluster={MACHINE},DeleteCluster={ARN}:stateMachine:Other-1"
    monkeypatch.setenv("WORKFLOW_STATE_MACHINES", workflows)

    def invoke(event: dict[str, Any], capsys: Any, failed: bool = False) -> Any:
        events = FakeEvents(failed)
        monkeypatch.setattr(module.boto3, "client", lambda service, **kw: events)
        capsys.readouterr()
        try:
            result = module.lambda_handler(event, LambdaContext("RecordWorkflowOutcomeFunction"))
        finally:
            out = capsys.readouterr().out
        emf = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
        return result, emf, events.entries

    return invoke


def metric_values(documents: list[dict[str, Any]]) -> dict[str, Any]:
    (document,) = documents
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "eksops"
    assert sorted(directive["Dimensions"][0]) == ["Workflow", "service"]
    assert document["Workflow"] == "CreateCluster"
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    return {name: (document[name], units[name]) for name in units}


def test_a_started_execution_is_counted_and_announces_nothing(record, capsys) -> None:
    result, emf, entries = record(status_event("RUNNING"), capsys)
    assert result == {"workflow": "CreateCluster", "status": "RUNNING"}
    assert metric_values(emf) == {"ExecutionsStarted": ([1.0], "Count")}
    assert entries == []


def test_a_succeeded_execution_counts_its_duration_and_announces_its_outcome(
    record, capsys
) -> None:
    result, emf, entries = record(status_event("SUCCEEDED"), capsys)
    assert result["eventId"] == "e-1"
    assert metric_values(emf) == {
        "ExecutionsSucceeded": ([1.0], "Count"),
        "ExecutionDuration": ([float(STOP - START)], "Milliseconds"),
    }
    (entry,) = entries
    assert entry["Source"] == "eksops"
    assert entry["DetailType"] == "Workflow Execution Succeeded"
    assert entry["Resources"] == [EXECUTION]
    assert json.loads(entry["Detail"]) == {
        "workflow": "CreateCluster",
        "executionArn": EXECUTION,
        "executionName": "run-1",
        "stateMachineArn": MACHINE,
        "status": "SUCCEEDED",
        "startDate": START,
        "stopDate": STOP,
        "durationMs": STOP - START,
        "clusterName": "demo",
    }  # no output


@pytest.mark.parametrize(
    ("status", "metric", "detail_type"),
    [
        ("FAILED", "ExecutionsFailed", "Workflow Execution Failed"),
        ("TIMED_OUT", "ExecutionsTimedOut", "Workflow Execution Timed Out"),
        ("ABORTED", "ExecutionsAborted", "Workflow Execution Aborted"),
    ],
)
def test_an_execution_that_did_not_succeed_announces_its_error(
    record, capsys, status, metric, detail_type
) -> None:
    lambda_error = {
        "errorMessage": "invalid CreateClusterInput input: vpc: Field required " + "x" * 400,
        "errorType": "eksops.InvalidInput",
        "stackTrace": ['  File "/var/task/app.py", line 1'],
    }
    event = status_event(status, error="eksops.InvalidInput", cause=json.dumps(lambda_error))
    _, emf, entries = record(event, capsys)
    assert metric_values(emf) == {
        metric: ([1.0], "Count"),
        "ExecutionDuration": ([float(STOP - START)], "Milliseconds"),
    }
    (entry,) = entries
    assert entry["DetailType"] == detail_type
    detail = json.loads(entry["Detail"])
    assert detail["status"] == status
    assert detail["error"] == "eksops.InvalidInput"
    assert detail["cause"].startswith("invalid CreateClusterInput input: vpc: Field required")
    assert len(detail["cause"]) <= CAUSE_LIMIT + 3
    assert "stackTrace" not in entry["Detail"]


def test_a_state_machine_the_stack_does_not_name_is_named_after_itself(record, capsys) -> None:
    other = f"{ARN}:stateMachine:JoinNodegroupStateMachine-XyZ"
    result, _, _ = record(status_event("RUNNING", stateMachineArn=other), capsys)
    assert result["workflow"] == "JoinNodegroup"


def test_a_refused_outcome_event_fails_the_invocation(record, capsys) -> None:
    with pytest.raises(Exception, match="InternalFailure") as raised:
        record(status_event("FAILED"), capsys, failed=True)
    assert type(raised.value).__name__ == "eksops.OutcomeNotPublished"


@pytest.mark.parametrize(
    "event",
    [
        {"detail-type": "Scheduled Event", "detail": {}},
        {**status_event("RUNNING"), "detail": {"status": "RUNNING"}},
        "not an event",
    ],
)
def test_other_events_are_invalid_input(event) -> None:
    with pytest.raises(InvalidInputError):
        status_change(event)


# -- correlation ids of the workflow steps -------------------------------------------------


@pytest.fixture
def step_logs(aws_env, monkeypatch):
    """The lines a step handler logs (Powertools' handler pointed at a buffer)."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    handler = step_handler(DeleteClusterInput, lambda m: {"cluster": m.cluster_name})
    (powertools_handler,) = logging.getLogger("eksops").handlers
    buffer = io.StringIO()
    previous = powertools_handler.setStream(buffer)
    try:
        yield handler, buffer
    finally:
        powertools_handler.setStream(previous)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_step_logs_the_execution_arn_and_cluster_name(step_logs) -> None:
    handler, buffer = step_logs
    # a step whose model has no executionId field gets it off the event (DeleteCluster's)
    event = {"clusterName": "demo", "executionId": EXECUTION}
    assert handler(event, LambdaContext("DeleteClusterFunction")) == {"cluster": "demo"}
    logged = lines(buffer)
    assert len(logged) == 2  # the event, then the result
    for line in logged:
        assert line["correlation_id"] == EXECUTION
        assert line["execution_arn"] == EXECUTION
        assert line["cluster_name"] == "demo"


def test_correlation_ids_do_not_outlive_their_invocation(step_logs) -> None:
    handler, buffer = step_logs
    handler({"clusterName": "first", "executionId": EXECUTION}, LambdaContext("F"))
    buffer.truncate(0)
    buffer.seek(0)
    with pytest.raises(InvalidInputError):
        handler({"clusterName": 1}, LambdaContext("F"))
    (line,) = lines(buffer)
    assert "correlation_id" not in line
    assert "cluster_name" not in line


def test_a_validating_step_reads_the_workflow_input_under_input(aws_env, monkeypatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    handler = step_handler(DeleteClusterInput, lambda m: {"c": m.cluster_name}, input_key="input")
    event = {"input": {"clusterName": "demo"}, "executionId": EXECUTION}
    assert handler(event, LambdaContext("F")) == {"c": "demo"}
    with pytest.raises(InvalidInputError, match="clusterName: Field required"):
        handler({"input": {}, "executionId": EXECUTION}, LambdaContext("F"))
