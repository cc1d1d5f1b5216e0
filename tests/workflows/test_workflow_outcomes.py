"""Every workflow's outcome offline, as in AWS: the engine puts Step Functions' status change
events on the default bus, RecordWorkflowOutcomeFunction turns them into EMF metrics (in its
CloudWatch Logs group) and a Workflow Execution <Status> event (source eksops); the steps' log
lines carry the execution's ARN and the cluster's name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eksops.local.account import ApiCall, OfflineAccount

from tests.support.lifecycle import Execution, eventually, finish, start

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
OUTCOME_FUNCTION = "RecordWorkflowOutcomeFunction"
STATUS_CHANGE_KEYS = {
    "executionArn",
    "stateMachineArn",
    "name",
    "status",
    "startDate",
    "stopDate",
    "input",
    "output",
    "inputDetails",
    "outputDetails",
    "error",
    "cause",
}


def queue_for(account: OfflineAccount, name: str, pattern: dict[str, Any]) -> str:
    """An SQS queue an EventBridge rule (default bus) feeds with the events ``pattern`` matches."""
    sqs = account.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events = account.client("events")
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn["QueueArn"]}])
    return url


class Received:
    """Everything a queue got, kept across polls."""

    def __init__(self, account: OfflineAccount, url: str) -> None:
        self.sqs, self.url, self.events = account.client("sqs"), url, []

    def matching(self, **detail: Any) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10)
        self.events += [json.loads(m["Body"]) for m in answer.get("Messages", [])]
        return [e for e in self.events if detail.items() <= e["detail"].items()]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[OfflineAccount, dict[str, Any]]]:
    """An invalid SetupIrsa (fails in its first step, no cluster needed) and a dry-run prune of
    a group without stale rules (succeeds), run at once; what EventBridge delivered; the calls
    made."""
    with OfflineAccount(
        region=REGION, template=ROOT / "template.yaml", time_scale=0.02, eks_delay=0
    ) as account:
        prefix = {"prefix": "Workflow Execution "}
        outcomes = queue_for(account, "outcomes", {"source": ["eksops"], "detail-type": [prefix]})
        changes = queue_for(account, "status-changes", {"source": ["aws.states"]})
        ec2 = account.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        group = ec2.create_security_group(
            GroupName="quiet", Description="no stale rules", VpcId=vpc
        )
        prune_input = {"groupIds": [group["GroupId"]], "mode": "dry-run"}
        with account.recording() as calls:
            failing = start(account, "SetupIrsaStateMachine", "bad-input", {"clusterName": "c1"})
            passing = start(account, "PruneSecurityGroupRulesStateMachine", "ok", prune_input)
            failed, succeeded = finish(account, failing), finish(account, passing)
            received = Received(account, outcomes)
            for arn in (failing, passing):
                eventually(lambda a=arn: received.matching(executionArn=a), f"outcome of {arn}")
        yield (
            account,
            {
                "failed": failed,
                "succeeded": succeeded,
                "outcomes": received,
                "changes": Received(account, changes),
                "calls": calls,
            },
        )


def test_a_failed_workflow_announces_its_outcome(runs) -> None:
    _, found = runs
    failed: Execution = found["failed"]
    assert failed.status == "FAILED", failed
    assert failed.error == "eksops.InvalidInput"
    (event,) = found["outcomes"].matching(executionArn=failed.arn)
    assert event["source"] == "eksops"
    assert event["detail-type"] == "Workflow Execution Failed"
    assert event["resources"] == [failed.arn]
    detail = event["detail"]
    assert detail["workflow"] == "SetupIrsa"
    assert detail["status"] == "FAILED"
    assert detail["clusterName"] == "c1"
    assert detail["error"] == "eksops.InvalidInput"
    assert detail["cause"].startswith("invalid SetupIrsaInput input: ")
    assert detail["durationMs"] == detail["stopDate"] - detail["startDate"] >= 0


def test_a_succeeded_workflow_announces_its_outcome(runs) -> None:
    _, found = runs
    succeeded: Execution = found["succeeded"]
    assert succeeded.status == "SUCCEEDED", succeeded
    (event,) = found["outcomes"].matching(executionArn=succeeded.arn)
    assert event["detail-type"] == "Workflow Execution Succeeded"
    assert event["detail"]["workflow"] == "PruneSecurityGroupRules"
    assert "output" not in event["detail"]


def test_the_engine_puts_each_status_change_in_aws_shape(runs) -> None:
    _, found = runs
    failed: Execution = found["failed"]
    changes = eventually(
        lambda: (
            len(found["changes"].matching(executionArn=failed.arn)) == 2
            and found["changes"].matching(executionArn=failed.arn)
        ),
        "RUNNING and FAILED",
    )
    assert [c["detail"]["status"] for c in changes] == ["RUNNING", "FAILED"]
    running, stopped = (c["detail"] for c in changes)
    for change in changes:
        assert change["detail-type"] == "Step Functions Execution Status Change"
        assert change["resources"] == [failed.arn]
        assert change["detail"].keys() >= STATUS_CHANGE_KEYS
        assert json.loads(change["detail"]["input"]) == {"clusterName": "c1"}
    assert running["stopDate"] is None
    assert isinstance(running["startDate"], int)
    assert stopped["stopDate"] >= stopped["startDate"] == running["startDate"]
    assert stopped["error"] == "eksops.InvalidInput"
    assert stopped["output"] is None


def _log_lines(account: OfflineAccount, function: str) -> list[dict[str, Any]]:
    group = f"/aws/lambda/{account.resource(function)}"
    events = account.client("logs").filter_log_events(logGroupName=group)["events"]
    return [json.loads(e["message"]) for e in events if e["message"].startswith("{")]


def test_the_outcome_function_writes_emf_metrics_per_workflow(runs) -> None:
    account, found = runs
    failed = found["failed"]

    def setup_irsa_metrics() -> dict[str, Any]:
        lines = [line for line in _log_lines(account, OUTCOME_FUNCTION) if "_aws" in line]
        return {
            k: v for line in lines if line.get("Workflow") == "SetupIrsa" for k, v in line.items()
        }

    metrics = eventually(
        lambda: "ExecutionsFailed" in (m := setup_irsa_metrics()) and m, "SetupIrsa's metrics"
    )
    assert metrics["ExecutionsStarted"] == [1.0]
    assert metrics["ExecutionsFailed"] == [1.0]
    (duration,) = metrics["ExecutionDuration"]
    assert duration > 0
    (directive,) = metrics["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "eksops"
    logged = [line for line in _log_lines(account, OUTCOME_FUNCTION) if "message" in line]
    assert any(line.get("correlation_id") == failed.arn for line in logged)


def test_a_steps_log_lines_carry_the_execution_arn_and_cluster_name(runs) -> None:
    account, found = runs
    arn = found["failed"].arn
    lines = [
        line
        for line in _log_lines(account, "ValidateIrsaInputFunction")
        if line.get("correlation_id") == arn
    ]
    assert lines, "no log line of ValidateInput carries the execution's ARN"
    for line in lines:
        assert line["execution_arn"] == arn
        assert line["cluster_name"] == "c1"


def test_reporting_is_no_mutation_of_the_account(runs) -> None:
    account, found = runs
    calls: list[ApiCall] = found["calls"]
    function = account.resource(OUTCOME_FUNCTION)
    reported = [c for c in calls if c.caller == function]
    assert reported, "the outcome events were not put through the endpoint"
    assert {c.action for c in reported} == {"events:PutEvents"}
    assert all(c.reporting and not c.mutating for c in reported)
    # the workflows' own calls still count: the prune's Security Group Rules Pruned event
    emitted = [c for c in calls if c.action == "events:PutEvents" and c.caller != function]
    assert emitted
    assert all(c.mutating for c in emitted)
