"""aws-sdk Tasks written as for real AWS run offline with AWS's casing and error names."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from eksops.local.clusters import create_cluster, service_trust
from eksops.local.sfn_sdk import (
    botocore_service_name,
    install,
    sdk_service_name,
    service_error_name,
)
from moto import mock_aws

REGION = "us-west-2"
CLUSTER = "demo"
DEADLINE_SECONDS = 30
CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
STATES_TRUST = service_trust("states.amazonaws.com")


@dataclass
class Outcome:
    status: str
    output: Any
    error: str | None
    history: list[dict[str, Any]]


class Account:
    """The moto account with the demo cluster and a role Step Functions may assume."""

    def __init__(self) -> None:
        self.cluster = create_cluster(CLUSTER, REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.role_arn = boto3.client("iam", region_name=REGION).create_role(
            RoleName="state-machine", AssumeRolePolicyDocument=json.dumps(STATES_TRUST)
        )["Role"]["Arn"]

    def create(self, definition: dict[str, Any]) -> str:
        return self.sfn.create_state_machine(
            name=f"sm-{uuid.uuid4().hex[:8]}",
            definition=json.dumps(definition),
            roleArn=self.role_arn,
        )["stateMachineArn"]

    def wait(self, execution_arn: str) -> Outcome:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            execution = self.sfn.describe_execution(executionArn=execution_arn)
            if execution["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                pytest.fail(f"execution still RUNNING after {DEADLINE_SECONDS}s")
            time.sleep(0.05)
        history = self.sfn.get_execution_history(executionArn=execution_arn)["events"]
        output = execution.get("output")
        return Outcome(
            status=execution["status"],
            output=json.loads(output) if output else None,
            error=execution.get("error"),
            history=history,
        )

    def run(self, definition: dict[str, Any], data: dict[str, Any] | None = None) -> Outcome:
        execution_arn = self.sfn.start_execution(
            stateMachineArn=self.create(definition), input=json.dumps(data or {})
        )["executionArn"]
        return self.wait(execution_arn)


@pytest.fixture
def account(aws_env: Path) -> Iterator[Account]:
    with mock_aws(config=CONFIG):
        install()
        yield Account()


def task(resource: str, parameters: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A state machine that starts with this Task (which ends it unless `Next` is given)."""
    state = {"Type": "Task", "Resource": resource, "Parameters": parameters, **fields}
    if "Next" not in state:
        state["End"] = True
    return {"StartAt": "Call", "States": {"Call": state}}


DESCRIBE_CLUSTER = "arn:aws:states:::aws-sdk:eks:describeCluster"


def test_describe_cluster_reads_pascal_case_result(account: Account) -> None:
    definition = task(
        DESCRIBE_CLUSTER,
        {"Name.$": "$.clusterName"},
        ResultSelector={"Status.$": "$.Cluster.Status", "Arn.$": "$.Cluster.Arn"},
    )
    outcome = account.run(definition, {"clusterName": CLUSTER})
    assert outcome.status == "SUCCEEDED", outcome.history
    assert outcome.output == {"Status": "ACTIVE", "Arn": account.cluster["arn"]}


def test_missing_cluster_is_caught_by_its_aws_error_name(account: Account) -> None:
    definition = task(
        DESCRIBE_CLUSTER,
        {"Name.$": "$.clusterName"},
        Catch=[
            {
                "ErrorEquals": ["Eks.ResourceNotFoundException"],
                "ResultPath": "$.error",
                "Next": "ClusterIsMissing",
            }
        ],
        Next="Unreachable",
    )
    definition["States"]["ClusterIsMissing"] = {
        "Type": "Pass",
        "Result": {"cluster": "missing"},
        "End": True,
    }
    definition["States"]["Unreachable"] = {"Type": "Fail", "Error": "Unreachable"}
    outcome = account.run(definition, {"clusterName": "absent"})
    assert outcome.status == "SUCCEEDED", outcome.history
    assert outcome.output == {"cluster": "missing"}
    failed = [e for e in outcome.history if e["type"] == "TaskFailed"]
    assert failed[0]["taskFailedEventDetails"]["error"] == "Eks.ResourceNotFoundException"


def test_missing_cluster_fails_the_execution_with_its_aws_error_name(account: Account) -> None:
    outcome = account.run(task(DESCRIBE_CLUSTER, {"Name.$": "$.clusterName"}), {"clusterName": "x"})
    assert outcome.status == "FAILED"
    assert outcome.error == "Eks.ResourceNotFoundException"


def test_list_result_and_list_of_structures_in_parameters(account: Account) -> None:
    subnet_ids = account.cluster["resourcesVpcConfig"]["subnetIds"]
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc_id = ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"][0]["VpcId"]
    definition = task(
        "arn:aws:states:::aws-sdk:ec2:describeSubnets",
        {"Filters": [{"Name": "vpc-id", "Values.$": "States.Array($.vpcId)"}]},
        ResultSelector={"First.$": "$.Subnets[0].SubnetId", "All.$": "$.Subnets[*].SubnetId"},
    )
    outcome = account.run(definition, {"vpcId": vpc_id})
    assert outcome.status == "SUCCEEDED", outcome.history
    assert outcome.output["First"] in subnet_ids
    assert sorted(outcome.output["All"]) == sorted(subnet_ids)


def test_iam_call_with_nested_structures(account: Account) -> None:
    definition = task(
        "arn:aws:states:::aws-sdk:iam:createRole",
        {
            "RoleName": "worker",
            "AssumeRolePolicyDocument": json.dumps(STATES_TRUST),
            "Tags": [{"Key": "team", "Value": "platform"}],
        },
        ResultSelector={"Arn.$": "$.Role.Arn", "Tags.$": "$.Role.Tags"},
    )
    outcome = account.run(definition)
    assert outcome.status == "SUCCEEDED", outcome.history
    role = boto3.client("iam", region_name=REGION).get_role(RoleName="worker")["Role"]
    assert outcome.output == {"Arn": role["Arn"], "Tags": [{"Key": "team", "Value": "platform"}]}
    assert role["Tags"] == [{"Key": "team", "Value": "platform"}]


def test_nested_camel_case_structures_keep_map_keys(account: Account) -> None:
    """EKS's members are camelCase: nested structures convert, map keys (labels) stay data."""
    subnet_ids = account.cluster["resourcesVpcConfig"]["subnetIds"]
    definition = task(
        "arn:aws:states:::aws-sdk:eks:createNodegroup",
        {
            "ClusterName": CLUSTER,
            "NodegroupName": "workers",
            "NodeRole": account.role_arn,
            "Subnets": subnet_ids,
            "ScalingConfig": {"MinSize": 1, "MaxSize": 3, "DesiredSize": 2},
            "Labels": {"role": "worker", "TeamName": "platform"},
        },
        ResultSelector={
            "Scaling.$": "$.Nodegroup.ScalingConfig",
            "Labels.$": "$.Nodegroup.Labels",
        },
    )
    outcome = account.run(definition)
    assert outcome.status == "SUCCEEDED", outcome.history
    assert outcome.output == {
        "Scaling": {"MinSize": 1, "MaxSize": 3, "DesiredSize": 2},
        "Labels": {"role": "worker", "TeamName": "platform"},
    }
    nodegroup = boto3.client("eks", region_name=REGION).describe_nodegroup(
        clusterName=CLUSTER, nodegroupName="workers"
    )["nodegroup"]
    assert nodegroup["scalingConfig"] == {"minSize": 1, "maxSize": 3, "desiredSize": 2}
    assert nodegroup["labels"] == {"role": "worker", "TeamName": "platform"}


def test_optimised_sqs_integration_keeps_its_own_names(account: Account) -> None:
    queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="q")["QueueUrl"]
    definition = task(
        "arn:aws:states:::sqs:sendMessage",
        {"QueueUrl": queue_url, "MessageBody": {"hello": "world"}},
    )
    outcome = account.run(definition)
    assert outcome.status == "SUCCEEDED", outcome.history
    assert {"MessageId", "MD5OfMessageBody"} <= set(outcome.output)
    message = boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=queue_url)
    assert json.loads(message["Messages"][0]["Body"]) == {"hello": "world"}


def test_optimised_states_integration_starts_a_child_execution(account: Account) -> None:
    child = account.create({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    definition = task(
        "arn:aws:states:::states:startExecution",
        {"StateMachineArn": child, "Input": {"from": "parent"}},
        ResultSelector={"ExecutionArn.$": "$.ExecutionArn"},
    )
    outcome = account.run(definition)
    assert outcome.status == "SUCCEEDED", outcome.history
    child_outcome = account.wait(outcome.output["ExecutionArn"])
    assert child_outcome.status == "SUCCEEDED"
    assert child_outcome.output == {"from": "parent"}


def test_install_is_idempotent(account: Account) -> None:
    install()
    outcome = account.run(
        task(DESCRIBE_CLUSTER, {"Name": CLUSTER}, ResultSelector={"S.$": "$.Cluster.Status"})
    )
    assert outcome.output == {"S": "ACTIVE"}


@pytest.mark.parametrize(
    ("service_id", "name"),
    [
        ("EKS", "Eks"),
        ("DynamoDB", "DynamoDb"),
        ("EC2", "Ec2"),
        ("Secrets Manager", "SecretsManager"),
        ("Elastic Load Balancing v2", "ElasticLoadBalancingV2"),
        ("SFN", "Sfn"),
        ("IAM", "Iam"),
        ("S3", "S3"),
        ("ACM PCA", "AcmPca"),
        ("CloudWatch Logs", "CloudWatchLogs"),
        ("SESv2", "SesV2"),
        ("ApiGatewayV2", "ApiGatewayV2"),
    ],
)
def test_sdk_service_name_from_service_id(service_id: str, name: str) -> None:
    assert sdk_service_name(service_id) == name


@pytest.mark.parametrize(
    ("sfn_service", "botocore_service", "error_service"),
    [
        ("eks", "eks", "Eks"),
        ("sfn", "stepfunctions", "Sfn"),
        ("acmpca", "acm-pca", "AcmPca"),
        ("elasticloadbalancingv2", "elbv2", "ElasticLoadBalancingV2"),
        ("cloudwatchlogs", "logs", "CloudWatchLogs"),
    ],
)
def test_sfn_service_names_resolve_to_botocore(
    sfn_service: str, botocore_service: str, error_service: str
) -> None:
    assert botocore_service_name(sfn_service) == botocore_service
    assert service_error_name(sfn_service) == error_service


def test_definite_paths_answer_values_and_indefinite_paths_lists(account: Account) -> None:
    definition = {
        "StartAt": "Select",
        "States": {
            "Select": {
                "Type": "Pass",
                "Parameters": {
                    "Index.$": "$.items[0].id",
                    "Wildcard.$": "$.items[*].id",
                    "Filter.$": "$.items[?(@.id == 'a')].id",
                },
                "End": True,
            }
        },
    }
    outcome = account.run(definition, {"items": [{"id": "a"}]})
    assert outcome.status == "SUCCEEDED", outcome.history
    assert outcome.output == {"Index": "a", "Wildcard": ["a"], "Filter": ["a"]}
