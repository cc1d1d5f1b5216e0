"""EKS clusters whose creation fails end FAILED with health issues, as in AWS: an unusable KMS
key in encryptionConfig, or what a test's cluster failure check says. In-process moto (mock_aws)
with the offline EKS adaptations; every call goes through boto3, so botocore parses the answers
against the EKS model (ClusterHealth: issues of {code, message, resourceIds})."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from eksops.local import eks
from eksops.local.clusters import EKS_SERVICE_TRUST
from moto import mock_aws

REGION = "us-west-2"


@pytest.fixture
def eks_client(aws_env: Path) -> Iterator[Any]:
    """A fresh moto account; clusters leave CREATING at the first request after CreateCluster."""
    eks.install(create_delay=0)
    try:
        with mock_aws():
            yield boto3.client("eks", region_name=REGION)
    finally:
        eks.install(create_delay=0)  # no failure check left behind for other tests


@pytest.fixture
def create(eks_client: Any) -> Callable[..., dict[str, Any]]:
    """CreateCluster with a role and subnets in two AZs; keyword arguments go to CreateCluster."""
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="cluster", AssumeRolePolicyDocument=json.dumps(EKS_SERVICE_TRUST)
    )["Role"]["Arn"]
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate("ab")
    ]

    def create_cluster(name: str, **kwargs: Any) -> dict[str, Any]:
        return eks_client.create_cluster(
            name=name, roleArn=role, resourcesVpcConfig={"subnetIds": subnets}, **kwargs
        )["cluster"]

    return create_cluster


def encrypted_with(key_arn: str) -> dict[str, Any]:
    return {"encryptionConfig": [{"resources": ["secrets"], "provider": {"keyArn": key_arn}}]}


def issue_codes() -> set[str]:
    """The API's ClusterIssueCode values."""
    model = botocore.session.get_session().get_service_model("eks")
    return set(model.shape_for("ClusterIssueCode").enum)


def test_failure_check_fails_the_cluster_with_its_issues(eks_client, create) -> None:
    issue = {
        "code": "IamRoleNotFound",
        "message": "The cluster role cannot be assumed.",
        "resourceIds": ["arn:aws:iam::123456789012:role/cluster"],
    }
    seen: list[str] = []

    def check(cluster: Any) -> list[dict[str, Any]] | None:
        seen.append(cluster.name)
        return [issue] if cluster.name == "doomed" else None

    eks.set_cluster_failure(check)
    assert create("doomed")["status"] == "CREATING"
    assert create("fine")["status"] == "CREATING"

    doomed = eks_client.describe_cluster(name="doomed")["cluster"]
    assert doomed["status"] == "FAILED"
    assert doomed["health"] == {"issues": [issue]}
    assert issue["code"] in issue_codes()
    fine = eks_client.describe_cluster(name="fine")["cluster"]
    assert fine["status"] == "ACTIVE"
    assert fine["health"] == {"issues": []}
    assert sorted(seen) == ["doomed", "fine"]  # asked once per cluster, when creation ends


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        (lambda kms, key_id: kms.disable_key(KeyId=key_id), "KmsKeyDisabled"),
        (
            lambda kms, key_id: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7),
            "KmsKeyMarkedForDeletion",
        ),
    ],
    ids=["disabled", "pending-deletion"],
)
def test_unusable_kms_key_fails_the_cluster(eks_client, create, spoil, code: str) -> None:
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key()["KeyMetadata"]
    spoil(kms, key["KeyId"])
    create("secrets", **encrypted_with(key["Arn"]))

    cluster = eks_client.describe_cluster(name="secrets")["cluster"]
    assert cluster["status"] == "FAILED"
    (issue,) = cluster["health"]["issues"]
    assert issue["code"] == code
    assert issue["code"] in issue_codes()
    assert issue["resourceIds"] == [key["Arn"]]
    assert issue["message"]


def test_missing_kms_key_fails_the_cluster(eks_client, create) -> None:
    missing = f"arn:aws:kms:{REGION}:123456789012:key/00000000-0000-0000-0000-000000000000"
    create("secrets", **encrypted_with(missing))

    cluster = eks_client.describe_cluster(name="secrets")["cluster"]
    assert cluster["status"] == "FAILED"
    assert [(i["code"], i["resourceIds"]) for i in cluster["health"]["issues"]] == [
        ("KmsKeyNotFound", [missing])
    ]


def test_usable_kms_key_makes_an_active_cluster(eks_client, create) -> None:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]
    create("secrets", **encrypted_with(key["Arn"]))
    assert eks_client.describe_cluster(name="secrets")["cluster"]["status"] == "ACTIVE"


def test_failed_cluster_can_be_deleted(eks_client, create) -> None:
    now = [0.0]  # a clock the test moves: no real waiting, no timing assumptions
    eks.install(
        create_delay=0,
        delete_delay=60,
        cluster_failure_check=lambda cluster: [{"code": "InternalFailure", "message": "boom"}],
        clock=lambda: now[0],
    )
    create("doomed")
    assert eks_client.describe_cluster(name="doomed")["cluster"]["status"] == "FAILED"

    assert eks_client.delete_cluster(name="doomed")["cluster"]["status"] == "DELETING"
    assert eks_client.describe_cluster(name="doomed")["cluster"]["status"] == "DELETING"
    now[0] = 60.0
    with pytest.raises(ClientError) as gone:
        eks_client.describe_cluster(name="doomed")
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert eks_client.list_clusters()["clusters"] == []


def test_install_removes_the_failure_check(eks_client, create) -> None:
    eks.set_cluster_failure(lambda cluster: [{"code": "InternalFailure", "message": "boom"}])
    eks.install(create_delay=0)  # what OfflineAccount.stop() calls
    create("after-reset")
    assert eks_client.describe_cluster(name="after-reset")["cluster"]["status"] == "ACTIVE"
