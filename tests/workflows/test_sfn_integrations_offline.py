"""Step Functions integrations as CreateClusterStateMachine uses them, run offline as on AWS:
nested executions (states:startExecution.sync:2) from an inline Map, EventBridge putEvents,
Fail states with ErrorPath/CausePath, Wait with SecondsPath. Small state machines written as for
AWS, executed by the offline account's interpreter.

Lambda error names reach Catch through `arn:aws:states:::lambda:invoke` in
test_offline_account.py::test_lambda_error_names_reach_catch; here through a Task whose Resource
is the function's ARN, the form CreateClusterStateMachine uses."""

from __future__ import annotations

import io
import json
import textwrap
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import pytest
from eksops.local import events
from eksops.local.account import OfflineAccount
from eksops.local.clusters import service_trust

REGION = "us-west-2"
DEADLINE_SECONDS = 60
TIME_SCALE = 0.1
STATES_TRUST = service_trust("states.amazonaws.com", "events.amazonaws.com")
LAMBDA_TRUST = service_trust("lambda.amazonaws.com")
# A handler raising an error named as eksops names its errors (errorType is the class __name__).
CONFLICTING_HANDLER = textwrap.dedent(
    """
    class ClusterConflictError(Exception):
        pass

    ClusterConflictError.__name__ = "eksops.ClusterConflict"

    def handler(event, context):
        if event.get("conflict"):
            raise ClusterConflictError("version differs: 1.31 != 1.32")
        return {"planned": event["name"]}
    """
)
START_CHILD = "arn:aws:states:::states:startExecution.sync:2"


@dataclass
class Outcome:
    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]


class Machines:
    """Creates and runs state machines in the offline account."""

    def __init__(self, account: OfflineAccount) -> None:
        self.sfn = account.client("stepfunctions")
        self.role_arn = account.client("iam").create_role(
            RoleName="integrations", AssumeRolePolicyDocument=json.dumps(STATES_TRUST)
        )["Role"]["Arn"]

    def create(self, definition: dict[str, Any]) -> str:
        return self.sfn.create_state_machine(
            name=f"sm-{uuid.uuid4().hex[:8]}",
            definition=json.dumps(definition),
            roleArn=self.role_arn,
        )["stateMachineArn"]

    def finished(self, execution_arn: str, deadline_seconds: float = DEADLINE_SECONDS) -> Outcome:
        deadline = time.monotonic() + deadline_seconds
        while (execution := self.sfn.describe_execution(executionArn=execution_arn))[
            "status"
        ] == "RUNNING":
            if time.monotonic() > deadline:
                pytest.fail(f"{execution_arn} still RUNNING after {deadline_seconds}s")
            time.sleep(0.1)
        output = execution.get("output")
        return Outcome(
            arn=execution_arn,
            status=execution["status"],
            output=json.loads(output) if output else None,
            error=execution.get("error"),
            cause=execution.get("cause"),
            history=self.sfn.get_execution_history(executionArn=execution_arn)["events"],
        )

    def run(self, definition: dict[str, Any], data: Any, **wait: float) -> Outcome:
        execution_arn = self.sfn.start_execution(
            stateMachineArn=self.create(definition), input=json.dumps(data)
        )["executionArn"]
        return self.finished(execution_arn, **wait)


@pytest.fixture(scope="module")
def account() -> Iterator[OfflineAccount]:
    with OfflineAccount(region=REGION, template=None, time_scale=TIME_SCALE) as offline:
        yield offline


@pytest.fixture(scope="module")
def machines(account: OfflineAccount) -> Machines:
    return Machines(account)


@pytest.fixture(scope="module")
def echo_child(machines: Machines) -> str:
    """A child that answers with what it was given, under `got`."""
    return machines.create(
        {
            "StartAt": "Echo",
            "States": {"Echo": {"Type": "Pass", "ResultPath": "$.got", "End": True}},
        }
    )


@pytest.fixture(scope="module")
def failing_child(machines: Machines) -> str:
    return machines.create(
        {
            "StartAt": "Break",
            "States": {"Break": {"Type": "Fail", "Error": "Child.Broke", "Cause": "on purpose"}},
        }
    )


def children_map(child_arn: str, **fields: Any) -> dict[str, Any]:
    """An inline Map starting one child execution per item, as CreateClusterStateMachine does."""
    return {
        "Type": "Map",
        "ItemsPath": "$.items",
        "MaxConcurrency": 2,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "StartChild",
            "States": {
                "StartChild": {
                    "Type": "Task",
                    "Resource": START_CHILD,
                    "Parameters": {
                        "StateMachineArn": child_arn,
                        "Input": {
                            "item.$": "$",
                            "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
                        },
                        "Name.$": "$.name",
                    },
                    "End": True,
                }
            },
        },
        **fields,
    }


def one_state(state: dict[str, Any], **states: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": "First", "States": {"First": state, **states}}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- states:startExecution.sync:2 in an inline Map ------------------------------------------------


def test_sync2_children_answer_with_their_output_as_json(machines, echo_child) -> None:
    names = [unique("child"), unique("child")]
    items = [{"name": name, "n": n} for n, name in enumerate(names)]
    outcome = machines.run(one_state(children_map(echo_child, End=True)), {"items": items})

    assert outcome.status == "SUCCEEDED", outcome.history
    assert [result["Name"] for result in outcome.output] == names
    for item, result in zip(items, outcome.output, strict=True):
        given = {"item": item, "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": outcome.arn}
        # .sync:2: Input and Output are JSON values, not JSON text (.sync's strings)
        assert result["Input"] == given
        assert result["Output"] == {**given, "got": given}
        assert result["Status"] == "SUCCEEDED"
        assert result["StateMachineArn"] == echo_child
        assert result["ExecutionArn"].endswith(f":{item['name']}")
        # optimized integrations write timestamps as epoch milliseconds
        assert isinstance(result["StartDate"], int)
        assert result["StopDate"] >= result["StartDate"] > 1_000_000_000_000
    child = machines.sfn.describe_execution(executionArn=outcome.output[0]["ExecutionArn"])
    assert child["status"] == "SUCCEEDED"


def test_empty_map_answers_an_empty_list(machines, echo_child) -> None:
    outcome = machines.run(one_state(children_map(echo_child, End=True)), {"items": []})
    assert outcome.status == "SUCCEEDED", outcome.history
    assert outcome.output == []


def child_failure(cause: str | None) -> dict[str, Any]:
    """The failed child's DescribeExecution, which AWS gives as the cause of States.TaskFailed."""
    assert cause is not None
    return json.loads(cause)


def test_failed_child_fails_the_map_with_states_task_failed(machines, failing_child) -> None:
    name = unique("broken")
    outcome = machines.run(
        one_state(children_map(failing_child, End=True)), {"items": [{"name": name}]}
    )

    assert outcome.status == "FAILED"
    assert outcome.error == "States.TaskFailed"
    described = child_failure(outcome.cause)
    assert described["Status"] == "FAILED"
    assert described["ExecutionArn"].endswith(f":{name}")
    assert (described["Error"], described["Cause"]) == ("Child.Broke", "on purpose")
    task_failed = next(e for e in outcome.history if e["type"] == "TaskFailed")
    assert task_failed["taskFailedEventDetails"]["error"] == "States.TaskFailed"
    assert [e["type"] for e in outcome.history if e["type"].startswith("Map")][-2:] == [
        "MapIterationFailed",
        "MapStateFailed",
    ]


def test_failed_child_fails_a_parallel_branch_with_states_task_failed(
    machines, failing_child
) -> None:
    branch = one_state(
        {
            "Type": "Task",
            "Resource": START_CHILD,
            "Parameters": {"StateMachineArn": failing_child, "Input": {}},
            "End": True,
        }
    )
    outcome = machines.run(one_state({"Type": "Parallel", "Branches": [branch], "End": True}), {})
    assert (outcome.status, outcome.error) == ("FAILED", "States.TaskFailed")


# -- Fail states with ErrorPath and CausePath ----------------------------------------------------


def test_fail_state_takes_error_and_cause_from_paths(machines) -> None:
    fail = {"Type": "Fail", "ErrorPath": "$.problem.name", "CausePath": "$.problem.why"}
    outcome = machines.run(
        one_state(fail), {"problem": {"name": "eksops.ClusterConflict", "why": "differs"}}
    )
    assert (outcome.status, outcome.error, outcome.cause) == (
        "FAILED",
        "eksops.ClusterConflict",
        "differs",
    )


def test_caught_child_failure_is_raised_again_through_error_path(machines, failing_child) -> None:
    """Catch into $.error, decide with a Choice, fail with the caught error and cause."""
    definition = one_state(
        children_map(
            failing_child,
            ResultPath="$.children",
            Catch=[
                {"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Failed?"}
            ],
            Next="Done",
        ),
        **{
            "Failed?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.error", "IsPresent": True, "Next": "Fail"}],
                "Default": "Done",
            },
            "Fail": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
            "Done": {"Type": "Succeed"},
        },
    )
    outcome = machines.run(definition, {"items": [{"name": unique("caught")}]})

    assert outcome.status == "FAILED"
    assert outcome.error == "States.TaskFailed"
    assert child_failure(outcome.cause)["Error"] == "Child.Broke"
    assert any(e["type"] == "ChoiceStateEntered" for e in outcome.history)
    assert outcome.history[-1]["type"] == "ExecutionFailed"
    details = outcome.history[-1]["executionFailedEventDetails"]
    assert (details["error"], details["cause"]) == (outcome.error, outcome.cause)


# -- Wait with SecondsPath -----------------------------------------------------------------------


def test_wait_seconds_path_waits_the_scaled_number_of_seconds(machines) -> None:
    seconds = 30  # 3 s at the account's time scale; unscaled it would outlast the deadline below
    started = time.monotonic()
    outcome = machines.run(
        one_state({"Type": "Wait", "SecondsPath": "$.delay", "End": True}),
        {"delay": seconds},
        deadline_seconds=20,
    )
    assert outcome.status == "SUCCEEDED", outcome.history
    assert outcome.output == {"delay": seconds}
    assert time.monotonic() - started >= seconds * TIME_SCALE * 0.9


# -- events:putEvents ----------------------------------------------------------------------------


def test_put_events_with_a_detail_object_reaches_matching_rules(
    account: OfflineAccount, machines: Machines
) -> None:
    cluster = unique("cluster")
    target = machines.create(one_state({"Type": "Pass", "End": True}))
    bus = account.client("events")
    rule = unique("cluster-ready")
    bus.put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {"source": ["eksops"], "detail-type": ["Cluster Ready"], "detail": {"name": [cluster]}}
        ),
    )
    bus.put_targets(
        Rule=rule, Targets=[{"Id": "notify", "Arn": target, "RoleArn": machines.role_arn}]
    )
    put = {
        "Type": "Task",
        "Resource": "arn:aws:states:::events:putEvents",
        "Parameters": {
            "Entries": [
                {
                    "Source": "eksops",
                    "DetailType": "Cluster Ready",
                    "Detail": {"name.$": "$.name", "version": "1.32", "ready": True},
                    "EventBusName": "default",
                }
            ]
        },
        "End": True,
    }
    outcome = machines.run(one_state(put), {"name": cluster})

    assert outcome.status == "SUCCEEDED", outcome.history
    assert outcome.output["FailedEntryCount"] == 0
    (entry,) = outcome.output["Entries"]
    assert set(entry) == {"EventId"}
    events.wait_for_deliveries(DEADLINE_SECONDS)  # EventBridge delivers asynchronously
    (started,) = machines.sfn.list_executions(stateMachineArn=target)["executions"]
    delivered = json.loads(
        machines.sfn.describe_execution(executionArn=started["executionArn"])["input"]
    )
    assert delivered["id"] == entry["EventId"]
    assert (delivered["source"], delivered["detail-type"]) == ("eksops", "Cluster Ready")
    assert delivered["detail"] == {"name": cluster, "version": "1.32", "ready": True}


# -- timestamps in task results ------------------------------------------------------------------


def test_aws_sdk_results_carry_timestamps_as_iso_8601(machines, echo_child) -> None:
    """aws-sdk integrations write timestamps as ISO 8601 text (moto's datetimes made the
    execution's output unreadable: DescribeExecution answered 500)."""
    describe = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:sfn:describeStateMachine",
        "Parameters": {"StateMachineArn": echo_child},
        "End": True,
    }
    outcome = machines.run(one_state(describe), {})
    assert outcome.status == "SUCCEEDED", outcome.history
    created = machines.sfn.describe_state_machine(stateMachineArn=echo_child)["creationDate"]
    assert outcome.output["CreationDate"] == created.astimezone(UTC).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")


# -- Lambda errors by name -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def conflicting_function(account: OfflineAccount) -> str:
    role = account.client("iam").create_role(
        RoleName="planner", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST)
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("planner.py", CONFLICTING_HANDLER)
    # Lambda creates its log group on first use; the offline runtime (lambda_runtime) does not
    # yet, so the function gets one as a template's AWS::Logs::LogGroup would give it.
    account.client("logs").create_log_group(logGroupName="/aws/lambda/planner")
    return account.client("lambda").create_function(
        FunctionName="planner",
        Runtime="python3.13",
        Role=role,
        Handler="planner.handler",
        Code={"ZipFile": code.getvalue()},
        Timeout=30,
    )["FunctionArn"]


@pytest.mark.parametrize("conflict", [False, True], ids=["planned", "conflict"])
def test_lambda_error_type_is_caught_by_its_name(machines, conflicting_function, conflict) -> None:
    plan = {
        "Type": "Task",
        "Resource": conflicting_function,
        "TimeoutSeconds": 60,
        "ResultPath": "$.plan",
        "Catch": [
            {"ErrorEquals": ["eksops.ClusterConflict"], "ResultPath": "$.error", "Next": "Conflict"}
        ],
        "End": True,
    }
    outcome = machines.run(
        one_state(plan, Conflict={"Type": "Pass", "End": True}),
        {"name": "demo", "conflict": conflict},
    )
    assert outcome.status == "SUCCEEDED", outcome.history
    if not conflict:
        assert outcome.output["plan"] == {"planned": "demo"}
        return
    error = outcome.output["error"]
    assert error["Error"] == "eksops.ClusterConflict"
    assert json.loads(error["Cause"])["errorMessage"] == "version differs: 1.31 != 1.32"
