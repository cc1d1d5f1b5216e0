"""`eksops local up`, driven as a person would: the real AWS CLI and the eksops CLI against it."""

from __future__ import annotations

import json

import pytest

from tests.support.local_up import TRUST_STATES, LocalUp


@pytest.fixture(scope="module")
def role_arn(local_up: LocalUp) -> str:
    return local_up.aws(
        "iam",
        "create-role",
        "--role-name",
        "e2e",
        "--assume-role-policy-document",
        json.dumps(TRUST_STATES),
    )["Role"]["Arn"]


@pytest.fixture(scope="module")
def cluster(local_up: LocalUp, role_arn: str) -> dict:
    subnets = local_up.subnets(1)
    return local_up.aws(
        "eks",
        "create-cluster",
        "--name",
        "e2e",
        "--role-arn",
        role_arn,
        "--resources-vpc-config",
        f"subnetIds={','.join(subnets)}",
    )["cluster"]


def test_list_state_machines_lists_the_templates(local_up: LocalUp) -> None:
    resources = local_up.aws("cloudformation", "list-stack-resources", "--stack-name", "eksops")
    in_stack = {
        r["PhysicalResourceId"]
        for r in resources["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::StepFunctions::StateMachine"
    }
    listed = {
        m["stateMachineArn"]
        for m in local_up.aws("stepfunctions", "list-state-machines")["stateMachines"]
    }
    assert listed == in_stack
    functions = local_up.aws("lambda", "list-functions")["Functions"]
    assert any(f["FunctionName"].startswith("eksops-KubeconfigFunction-") for f in functions)


def test_lambda_invoke_returns_a_token_for_a_cli_created_cluster(local_up, cluster) -> None:
    function = local_up.aws(
        "cloudformation",
        "describe-stack-resource",
        "--stack-name",
        "eksops",
        "--logical-resource-id",
        "KubeconfigFunction",
    )["StackResourceDetail"]["PhysicalResourceId"]
    out = local_up.work / "token.json"
    meta = local_up.aws(
        "lambda",
        "invoke",
        "--function-name",
        function,
        "--payload",
        json.dumps({"clusterName": "e2e", "format": "token"}),
        str(out),
    )
    assert meta["StatusCode"] == 200
    assert "FunctionError" not in meta
    result = json.loads(out.read_text())
    assert result["clusterName"] == "e2e"
    assert result["region"] == "eu-west-1"
    assert result["token"].startswith("k8s-aws-v1.")


def test_cli_created_state_machine_with_aws_sdk_integration(local_up, cluster, role_arn) -> None:
    definition = {
        "StartAt": "DescribeCluster",
        "States": {
            "DescribeCluster": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:eks:describeCluster",
                "Parameters": {"Name.$": "$.name"},
                "ResultSelector": {"Name.$": "$.Cluster.Name", "Arn.$": "$.Cluster.Arn"},
                "End": True,
            }
        },
    }
    machine = local_up.aws(
        "stepfunctions",
        "create-state-machine",
        "--name",
        "describe",
        "--role-arn",
        role_arn,
        "--definition",
        json.dumps(definition),
    )["stateMachineArn"]
    execution = local_up.aws(
        "stepfunctions",
        "start-execution",
        "--state-machine-arn",
        machine,
        "--input",
        json.dumps({"name": "e2e"}),
    )["executionArn"]

    def done() -> dict | None:
        described = local_up.aws(
            "stepfunctions", "describe-execution", "--execution-arn", execution
        )
        return described if described["status"] != "RUNNING" else None

    described = local_up.until(done, "the execution ending")
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"Name": "e2e", "Arn": cluster["arn"]}


def test_put_events_starts_the_rules_target(local_up, role_arn) -> None:
    machine = local_up.aws(
        "stepfunctions",
        "create-state-machine",
        "--name",
        "on-event",
        "--role-arn",
        role_arn,
        "--definition",
        json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]
    local_up.aws(
        "events",
        "put-rule",
        "--name",
        "e2e-rule",
        "--event-pattern",
        json.dumps({"source": ["eksops.e2e"]}),
    )
    local_up.aws(
        "events",
        "put-targets",
        "--rule",
        "e2e-rule",
        "--targets",
        json.dumps([{"Id": "sfn", "Arn": machine, "RoleArn": role_arn}]),
    )
    local_up.aws(
        "events",
        "put-events",
        "--entries",
        json.dumps([{"Source": "eksops.e2e", "DetailType": "Probe", "Detail": '{"n": 1}'}]),
    )

    def started() -> list | None:
        found = local_up.aws("stepfunctions", "list-executions", "--state-machine-arn", machine)
        return found["executions"] or None

    (execution,) = local_up.until(started, "an execution started by the event")
    event = json.loads(
        local_up.aws(
            "stepfunctions", "describe-execution", "--execution-arn", execution["executionArn"]
        )["input"]
    )
    assert event["source"] == "eksops.e2e"
    assert event["detail-type"] == "Probe"
    assert event["detail"] == {"n": 1}


def test_eksops_run_and_fire_schedule(local_up, role_arn) -> None:
    template = {
        "Resources": {
            "HelloStateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": role_arn,
                    "DefinitionString": json.dumps(
                        {
                            "StartAt": "Greet",
                            "States": {
                                "Greet": {
                                    "Type": "Pass",
                                    "Parameters": {"greeting.$": "States.Format('hi {}', $.who)"},
                                    "End": True,
                                }
                            },
                        }
                    ),
                },
            }
        }
    }
    local_up.aws(
        "cloudformation",
        "create-stack",
        "--stack-name",
        "hello",
        "--template-body",
        json.dumps(template),
    )
    payload = local_up.work / "input.json"
    payload.write_text(json.dumps({"who": "ops"}))
    run = local_up.eksops("run", "HelloStateMachine", "--stack", "hello", "--input", str(payload))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "enter Greet (Pass)" in run.stdout
    assert '"greeting": "hi ops"' in run.stdout
    as_json = local_up.eksops(
        "run", "HelloStateMachine", "--stack", "hello", "--input", str(payload), "--json"
    )
    assert json.loads(as_json.stdout)["output"] == {"greeting": "hi ops"}

    machine = local_up.aws(
        "cloudformation",
        "describe-stack-resource",
        "--stack-name",
        "hello",
        "--logical-resource-id",
        "HelloStateMachine",
    )["StackResourceDetail"]["PhysicalResourceId"]
    local_up.aws("events", "put-rule", "--name", "nightly", "--schedule-expression", "rate(1 day)")
    local_up.aws(
        "events",
        "put-targets",
        "--rule",
        "nightly",
        "--targets",
        json.dumps([{"Id": "1", "Arn": machine, "RoleArn": role_arn, "Input": '{"who": "cron"}'}]),
    )
    fired = local_up.eksops("local", "fire-schedule", "nightly")
    assert fired.returncode == 0, fired.stderr
    assert "delivered to 1 target(s)" in fired.stdout

    def ran() -> list | None:
        executions = local_up.aws(
            "stepfunctions", "list-executions", "--state-machine-arn", machine
        )
        outputs = [
            local_up.aws(
                "stepfunctions", "describe-execution", "--execution-arn", e["executionArn"]
            )
            for e in executions["executions"]
        ]
        return [o for o in outputs if json.loads(o["input"]) == {"who": "cron"}] or None

    local_up.until(ran, "the scheduled execution")
    missing = local_up.eksops("local", "fire-schedule", "no-such-rule")
    assert missing.returncode == 1
    assert "eksops.RuleNotFound" in missing.stderr
