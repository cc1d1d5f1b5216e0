"""EventBridge rules deliver to Step Functions and Lambda targets in the offline account as in AWS:
asynchronously, with Input / InputPath / InputTransformer applied, and scheduled rules fired on
demand with the Scheduled Event."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from eksops.local.clusters import service_trust
from eksops.local.events import RuleNotFoundError, fire_schedule, install, wait_for_deliveries
from moto import mock_aws
from moto.awslambda.models import LambdaBackend

ACCOUNT = "123456789012"
REGION = "us-west-2"
EVENT_TIME = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
DETAIL = {"clusterName": "demo", "nodegroups": [{"name": "ng-1"}, {"name": "ng-2"}]}
PATTERN = {"source": ["eksops.test"], "detail-type": ["Cluster Requested"]}
PASS_ONLY = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
TRUST_EVENTS = service_trust("events.amazonaws.com")
EVENT_KEYS = [
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
]


@pytest.fixture
def aws(aws_env: Any) -> Iterator[dict[str, Any]]:
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):  # type: ignore[arg-type]
        install()
        clients = {name: boto3.client(name) for name in ("events", "stepfunctions", "iam")}
        role = clients["iam"].create_role(
            RoleName="events-invoke", AssumeRolePolicyDocument=json.dumps(TRUST_EVENTS)
        )
        clients["role_arn"] = role["Role"]["Arn"]
        yield clients
        wait_for_deliveries(10)  # nothing may run on after moto's backends are reset


def state_machine(aws: dict[str, Any], name: str) -> str:
    return aws["stepfunctions"].create_state_machine(
        name=name, definition=json.dumps(PASS_ONLY), roleArn=aws["role_arn"]
    )["stateMachineArn"]


def rule_to(aws: dict[str, Any], name: str, *targets: dict[str, Any], **rule: Any) -> str:
    arn = aws["events"].put_rule(Name=name, **rule)["RuleArn"]
    if targets:
        entries = [{"Id": f"t{i}", **target} for i, target in enumerate(targets)]
        assert aws["events"].put_targets(Rule=name, Targets=entries)["FailedEntryCount"] == 0
    return arn


def put(aws: dict[str, Any], detail_type: str = "Cluster Requested") -> str:
    response = aws["events"].put_events(
        Entries=[
            {
                "Source": "eksops.test",
                "DetailType": detail_type,
                "Detail": json.dumps(DETAIL),
                "Time": EVENT_TIME,
            }
        ]
    )
    assert response["FailedEntryCount"] == 0
    return response["Entries"][0]["EventId"]


def aws_event(event_id: str) -> dict[str, Any]:
    """The event as EventBridge hands it to a target."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Cluster Requested",
        "source": "eksops.test",
        "account": ACCOUNT,
        "time": "2024-05-06T07:08:09Z",
        "region": REGION,
        "resources": [],
        "detail": DETAIL,
    }


def executions(aws: dict[str, Any], machine_arn: str, count: int) -> list[dict[str, Any]]:
    """The machine's executions once ``count`` have finished (bounded wait), oldest first."""
    sfn = aws["stepfunctions"]
    deadline = time.monotonic() + 10
    while True:
        listed = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
        if len(listed) >= count and all(e["status"] != "RUNNING" for e in listed):
            break
        if time.monotonic() > deadline:
            pytest.fail(f"expected {count} finished executions, have {listed}")
        time.sleep(0.02)
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in reversed(listed)]


def test_matching_event_starts_one_execution_with_the_event_as_input(aws: dict[str, Any]) -> None:
    machine = state_machine(aws, "on-request")
    rule_to(
        aws,
        "cluster-requested",
        {"Arn": machine, "RoleArn": aws["role_arn"]},
        EventPattern=json.dumps(PATTERN),
    )
    rule_to(  # AWS: a disabled rule matches nothing
        aws,
        "cluster-requested-disabled",
        {"Arn": machine, "RoleArn": aws["role_arn"]},
        EventPattern=json.dumps(PATTERN),
        State="DISABLED",
    )

    put(aws, detail_type="Something Else")
    event_id = put(aws)
    wait_for_deliveries(10)

    [execution] = executions(aws, machine, 1)
    assert execution["status"] == "SUCCEEDED"
    received = json.loads(execution["input"])
    assert list(received) == EVENT_KEYS
    assert received == aws_event(event_id)
    assert json.loads(execution["output"]) == received  # the real ASL ran on it
    assert len(aws["stepfunctions"].list_executions(stateMachineArn=machine)["executions"]) == 1


@pytest.mark.parametrize(
    ("shaping", "expected"),
    [
        pytest.param(
            {"Input": json.dumps({"constant": [1, True]})}, {"constant": [1, True]}, id="Input"
        ),
        pytest.param({"InputPath": "$.detail"}, DETAIL, id="InputPath"),
        pytest.param({"InputPath": "$.detail.nodegroups[1].name"}, "ng-2", id="InputPath-index"),
        pytest.param(
            {
                "InputTransformer": {
                    "InputPathsMap": {
                        "cluster": "$.detail.clusterName",
                        "source": "$.source",
                        "groups": "$.detail.nodegroups[*].name",
                    },
                    "InputTemplate": '{"cluster": <cluster>, "groups": <groups>,'
                    ' "message": "cluster <cluster> requested by <source>",'
                    ' "rule": <aws.events.rule-name>, "at": "<aws.events.event.ingestion-time>"}',
                }
            },
            {
                "cluster": "demo",
                "groups": ["ng-1", "ng-2"],
                "message": "cluster demo requested by eksops.test",
                "rule": "shaped",
                "at": "<ISO>",
            },
            id="InputTransformer",
        ),
    ],
)
def test_target_input_is_shaped_as_aws_does(
    aws: dict[str, Any], shaping: dict[str, Any], expected: Any
) -> None:
    machine = state_machine(aws, "shaped-input")
    rule_to(
        aws,
        "shaped",
        {"Arn": machine, "RoleArn": aws["role_arn"], **shaping},
        EventPattern=json.dumps(PATTERN),
    )

    put(aws)
    wait_for_deliveries(10)

    [execution] = executions(aws, machine, 1)
    received = json.loads(execution["input"])
    if isinstance(expected, dict) and expected.get("at") == "<ISO>":
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", received.pop("at"))
        expected = {k: v for k, v in expected.items() if k != "at"}
    assert received == expected


def test_failing_target_does_not_stop_the_others(aws: dict[str, Any]) -> None:
    machine = state_machine(aws, "still-runs")
    missing = machine.replace(":still-runs", ":no-such-machine")
    rule_to(
        aws,
        "two-targets",
        {"Arn": missing, "RoleArn": aws["role_arn"]},
        {"Arn": machine},  # no RoleArn: AWS cannot start it either
        {"Arn": machine, "RoleArn": aws["role_arn"]},
        EventPattern=json.dumps(PATTERN),
    )

    event_id = put(aws)
    wait_for_deliveries(10)

    [execution] = executions(aws, machine, 1)
    assert json.loads(execution["input"]) == aws_event(event_id)


def test_lambda_target_is_invoked_asynchronously_with_the_event(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def record(
        self: LambdaBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        calls.append({"name": function_name, "qualifier": qualifier, "body": body, **headers})
        return b""

    monkeypatch.setattr(LambdaBackend, "invoke", record)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as code:
        code.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
    function = boto3.client("lambda").create_function(
        FunctionName="on-request",
        Runtime="python3.12",
        Role=aws["role_arn"],
        Handler="app.lambda_handler",
        Code={"ZipFile": archive.getvalue()},
    )
    rule_to(
        aws,
        "to-lambda",
        {"Arn": function["FunctionArn"]},
        {"Arn": function["FunctionArn"] + ":live", "InputPath": "$.detail"},
        EventPattern=json.dumps(PATTERN),
    )

    put(aws, detail_type="Something Else")
    event_id = put(aws)
    wait_for_deliveries(10)

    assert [(c["name"], c["qualifier"], c["x-amz-invocation-type"]) for c in calls] == [
        ("on-request", None, "Event"),
        ("on-request", "live", "Event"),
    ]
    assert json.loads(calls[0]["body"]) == aws_event(event_id)
    assert json.loads(calls[1]["body"]) == DETAIL


def test_fire_schedule_delivers_the_scheduled_event(aws: dict[str, Any]) -> None:
    machine = state_machine(aws, "every-five-minutes")
    rule_arn = rule_to(
        aws,
        "every-five",
        {"Arn": machine, "RoleArn": aws["role_arn"]},
        ScheduleExpression="rate(5 minutes)",
    )

    put(aws)  # a schedule-only rule matches no PutEvents entry
    wait_for_deliveries(10)
    assert aws["stepfunctions"].list_executions(stateMachineArn=machine)["executions"] == []

    assert fire_schedule("every-five") == 1
    wait_for_deliveries(10)

    [execution] = executions(aws, machine, 1)
    received = json.loads(execution["input"])
    assert list(received) == EVENT_KEYS
    assert re.fullmatch(r"[0-9a-f-]{36}", received.pop("id"))
    fired_at = datetime.strptime(received.pop("time"), "%Y-%m-%dT%H:%M:%S%z")
    assert abs((datetime.now(tz=UTC) - fired_at).total_seconds()) < 60
    assert received == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    }


def test_fire_schedule_needs_a_scheduled_rule(aws: dict[str, Any]) -> None:
    rule_to(aws, "pattern-only", EventPattern=json.dumps(PATTERN))

    with pytest.raises(RuleNotFoundError, match=r"no-such-rule.*does not exist"):
        fire_schedule("no-such-rule")
    with pytest.raises(RuleNotFoundError, match=r"pattern-only.*not a scheduled rule"):
        fire_schedule("pattern-only")
    assert RuleNotFoundError.__name__ == "eksops.RuleNotFound"
