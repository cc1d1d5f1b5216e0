"""CreateCluster's checks against the account and its plan, on moto: named errors before any
change, and the plan listing every mutating call in order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from unittest.mock import ANY

import boto3
import pytest
from eksops.cluster_plan import plan
from eksops.cluster_steps import validate_input
from eksops.cluster_validation import validate
from eksops.errors import ClusterConflictError, InvalidInputError
from eksops.local import eks
from eksops.models.base import STARTED_BY_KEY, parse_event
from eksops.models.create_cluster import CreateClusterInput
from eksops.models.setup_irsa import SetupIrsaInput
from moto import mock_aws

REGION = "us-west-2"


@pytest.fixture
def account(aws_env: Any) -> Iterator[dict[str, Any]]:
    with mock_aws():
        eks.install(0)
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=REGION + z)[
                "Subnet"
            ]["SubnetId"]
            for i, z in enumerate("aab")
        ]
        iam = boto3.client("iam")
        iam.create_role(RoleName="admins", AssumeRolePolicyDocument="{}")
        document = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        }
        policy = iam.create_policy(PolicyName="app", PolicyDocument=json.dumps(document))
        yield {"subnets": subnets, "vpc": vpc, "policy": policy["Policy"]["Arn"]}


def clients(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def request(account: dict[str, Any], **changes: Any) -> CreateClusterInput:
    event = {
        "clusterName": "c1",
        "kubernetesVersion": "1.31",
        "vpc": {"subnetIds": [account["subnets"][0], account["subnets"][2]]},
        "admins": [{"principalArn": "arn:aws:iam::123456789012:role/admins"}],
        "addons": [{"name": "vpc-cni"}],
    }
    event.update(changes)
    return parse_event(CreateClusterInput, event)


def test_a_valid_input_passes(account: dict[str, Any]) -> None:
    validate(clients, request(account))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kubernetesVersion": "1.99"}, "kubernetesVersion: EKS does not offer Kubernetes 1.99"),
        (
            {"vpc": {"subnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]}},
            "vpc.subnetIds",
        ),
        ({"roleArn": "arn:aws:iam::123456789012:role/missing"}, "roleArn: no IAM role"),
        (
            {"admins": [{"principalArn": "arn:aws:iam::123456789012:role/nobody"}]},
            "admins: no IAM principal",
        ),
        ({"addons": [{"name": "no-such-addon"}]}, "addons: EKS has no add-on no-such-addon"),
        ({"addons": [{"name": "vpc-cni", "version": "v0.0.1-eksbuild.1"}]}, "is not offered"),
        (
            {
                "nodegroups": [
                    {"kind": "managed", "name": "ng", "subnetIds": ["subnet-0123456789abcdef0"]}
                ]
            },
            "0].subnetIds: The subnet ID",
        ),
        (
            {
                "nodegroups": [
                    {
                        "kind": "self-managed",
                        "nodeRoleArn": "arn:aws:iam::123456789012:role/admins",
                    }
                ]
            },
            "0].nodeRoleArn: arn:aws:iam::123456789012:role/admins does not trust",
        ),
        (
            {
                "authenticationMode": "CONFIG_MAP",
                "admins": [
                    {
                        "principalArn": "arn:aws:iam::123456789012:role/admins",
                        "policy": "AmazonEKSViewPolicy",
                    }
                ],
            },
            "in CONFIG_MAP mode aws-auth can only make administrators",
        ),
    ],
)
def test_bad_input_is_a_named_error(
    account: dict[str, Any], changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message.replace(".", r"\.")):
        validate(clients, request(account, **changes))


def test_nodegroups_are_checked_before_the_cluster_exists(account: dict[str, Any]) -> None:
    subnets = account["subnets"]
    one = {"kind": "managed", "name": "ng-us-west-2a", "subnetIds": subnets[:1]}
    validate(clients, request(account, nodegroups=[one]))
    per_az = {"kind": "managed", "name": "ng", "subnetIds": subnets, "perAz": True}
    with pytest.raises(
        InvalidInputError, match=r"node group ng-us-west-2a is also made by nodegroups\[0\]"
    ):
        validate(clients, request(account, nodegroups=[per_az, one]))
    other = {**one, "clusterName": "another"}
    with pytest.raises(InvalidInputError, match=r"nodegroups\[0\]\.clusterName: 'another'"):
        validate(clients, request(account, nodegroups=[other]))


def irsa_item(account: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "namespace": "apps",
        "serviceAccount": "web",
        "policyArns": [account["policy"]],
        **changes,
    }


def test_irsa_items_are_checked_before_the_cluster_exists(account: dict[str, Any]) -> None:
    web, pod = irsa_item(account), irsa_item(account, serviceAccount="api", mode="pod-identity")
    validate(clients, request(account, irsa=[web, pod]))
    with pytest.raises(
        InvalidInputError, match=r"irsa\[2\]: ServiceAccount apps/web is also bound by irsa\[0\]"
    ):
        validate(
            clients, request(account, irsa=[web, pod, irsa_item(account, mode="pod-identity")])
        )
    shared = irsa_item(account, serviceAccount="other", roleName="shared")
    with pytest.raises(InvalidInputError, match=r"irsa\[2\]\.roleName: shared is also irsa\[1\]'s"):
        validate(clients, request(account, irsa=[web, shared, pod | {"roleName": "shared"}]))
    missing = "arn:aws:iam::123456789012:policy/missing"
    with pytest.raises(InvalidInputError, match=rf"irsa\[1\]\.policyArns: no IAM policy {missing}"):
        validate(
            clients,
            request(
                account,
                irsa=[web, irsa_item(account, serviceAccount="worker", policyArns=[missing])],
            ),
        )
    other = irsa_item(account, clusterName="another")
    with pytest.raises(InvalidInputError, match=r"irsa\[0\]\.clusterName: 'another'"):
        validate(clients, request(account, irsa=[other]))


def test_irsa_bindings_are_setup_irsa_inputs_of_this_cluster(account: dict[str, Any]) -> None:
    same_cluster = irsa_item(account, clusterName="c1", restartWorkloads=True)
    (binding,) = validate_input(request(account, irsa=[same_cluster]))["irsaBindings"]
    assert (binding["clusterName"], binding["region"]) == ("c1", REGION)
    assert "targetRoleArn" not in binding
    # what the SetUpIrsa Map starts: the binding merged with the parent's execution ID
    parent = "arn:aws:states:us-west-2:123456789012:execution:CreateCluster:x"
    child = parse_event(SetupIrsaInput, {**binding, STARTED_BY_KEY: parent})
    assert (child.service_account, child.restart_workloads) == ("web", True)
    assert child.policy_arns == [account["policy"]]
    assert child.creator("arn:aws:states:us-west-2:123456789012:execution:SetupIrsa:y") == parent
    assert validate_input(request(account))["irsaBindings"] == []


def test_subnets_in_one_zone_are_refused(account: dict[str, Any]) -> None:
    one_zone = {"subnetIds": account["subnets"][:2]}
    with pytest.raises(InvalidInputError, match="at least two Availability Zones"):
        validate(clients, request(account, vpc=one_zone))


def test_a_disabled_secrets_key_is_refused(account: dict[str, Any]) -> None:
    kms = clients("kms")
    metadata = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=metadata["KeyId"])
    key = metadata["Arn"]
    with pytest.raises(InvalidInputError, match=r"secretsKmsKeyArn: .* is Disabled"):
        validate(clients, request(account, secretsKmsKeyArn=key))


def test_the_plan_of_a_new_cluster_lists_every_mutating_call_in_order(
    account: dict[str, Any],
) -> None:
    calls = [call["call"] for call in plan(clients, request(account), "aws")]
    assert calls == [
        "iam:CreateRole",
        "iam:AttachRolePolicy",
        "eks:CreateCluster",
        "iam:CreateOpenIDConnectProvider",
        "eks:CreateAddon",
        "eks:CreateAccessEntry",
        "eks:AssociateAccessPolicy",
        "events:PutEvents",
    ]


def test_the_plan_starts_a_nested_execution_per_node_group_then_per_irsa_item(
    account: dict[str, Any],
) -> None:
    nodes = {"kind": "managed", "name": "ng", "subnetIds": account["subnets"][:1]}
    pod = irsa_item(account, serviceAccount="api", mode="pod-identity")
    changes = {"nodegroups": [nodes], "irsa": [irsa_item(account), pod]}
    calls = plan(clients, request(account, **changes), "aws")
    assert [c for c in calls if c["call"] == "states:StartExecution"] == [
        {"call": "states:StartExecution", "target": "JoinNodegroupStateMachine ng", "why": ANY},
        {
            "call": "states:StartExecution",
            "target": "SetupIrsaStateMachine apps/web",
            "why": "irsa role",
        },
        {
            "call": "states:StartExecution",
            "target": "SetupIrsaStateMachine apps/api",
            "why": "pod-identity association",
        },
    ]
    assert calls[-1]["call"] == "events:PutEvents"


def test_an_unusable_role_of_the_eksops_name_is_a_conflict_in_the_plan(
    account: dict[str, Any],
) -> None:
    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]
    }
    clients("iam").create_role(
        RoleName="c1-cluster-role", AssumeRolePolicyDocument=json.dumps(trust)
    )
    with pytest.raises(ClusterConflictError, match=r"does not trust eks\.amazonaws\.com"):
        plan(clients, request(account), "aws")
