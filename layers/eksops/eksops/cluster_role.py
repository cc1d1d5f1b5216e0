"""The cluster's IAM role: the one given, or ``<clusterName>-cluster-role`` that eksops ensures
(trusting eks.amazonaws.com, with AmazonEKSClusterPolicy)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from eksops.errors import ClusterConflictError, InvalidInputError
from eksops.models.create_cluster import CreateClusterInput
from eksops.ownership import CLUSTER_TAG, CREATED_BY_TAG, IAM_PATH, creation_tags, iam_tags, tag_map

CLUSTER_POLICY = "AmazonEKSClusterPolicy"
EKS_SERVICE = "eks.amazonaws.com"


@dataclass(frozen=True)
class ClusterRole:
    arn: str
    created: bool

    def result(self) -> dict[str, Any]:
        return {"roleArn": self.arn, "created": self.created}


def trust_policy(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }


def managed_policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{name}"


def partition_of(arn: str) -> str:
    return arn.split(":", 2)[1]


def _document(value: Any) -> dict[str, Any]:
    # IAM returns policy documents URL-encoded; boto3 decodes some of them into dicts
    return value if isinstance(value, dict) else json.loads(unquote(value))


def trusts_service(role: dict[str, Any], service: str) -> bool:
    for statement in _document(role["AssumeRolePolicyDocument"]).get("Statement", []):
        principals = (statement.get("Principal") or {}).get("Service", [])
        principals = [principals] if isinstance(principals, str) else principals
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if (
            statement.get("Effect") == "Allow"
            and service in principals
            and "sts:AssumeRole" in actions
        ):
            return True
    return False


def get_role(iam: Any, name: str) -> dict[str, Any] | None:
    try:
        return iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return None


def attached_policies(iam: Any, name: str) -> set[str]:
    pages = iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
    return {policy["PolicyArn"] for page in pages for policy in page["AttachedPolicies"]}


def check_given_role(iam: Any, role_arn: str) -> None:
    """The roleArn of the input exists and EKS may assume it (InvalidInput otherwise)."""
    role = get_role(iam, role_arn.rsplit("/", 1)[1])
    if role is None or role["Arn"] != role_arn:
        raise InvalidInputError(f"roleArn: no IAM role {role_arn} in this account")
    if not trusts_service(role, EKS_SERVICE):
        raise InvalidInputError(f"roleArn: {role_arn} does not trust {EKS_SERVICE}")


def role_conflicts(role: dict[str, Any], policies: set[str], partition: str) -> list[str]:
    """Why an existing role of the eksops name cannot serve as the cluster role."""
    problems = []
    if not trusts_service(role, EKS_SERVICE):
        problems.append(f"role {role['Arn']} does not trust {EKS_SERVICE}")
    if managed_policy_arn(partition, CLUSTER_POLICY) not in policies:
        problems.append(f"role {role['Arn']} lacks {CLUSTER_POLICY}")
    return problems


def ensure_cluster_role(
    iam: Any, request: CreateClusterInput, execution_id: str, partition: str
) -> ClusterRole:
    """The input's role, or the eksops role (created if missing); an existing eksops-named role
    that cannot serve is a ClusterConflict, left unchanged."""
    if request.role_arn:
        return ClusterRole(request.role_arn, created=False)
    name = request.cluster_role_name
    role = get_role(iam, name)
    if role is None:
        try:
            role = iam.create_role(
                RoleName=name,
                Path=IAM_PATH,
                AssumeRolePolicyDocument=json.dumps(trust_policy(EKS_SERVICE)),
                Description=f"EKS cluster role of {request.cluster_name} (eksops)",
                Tags=iam_tags(creation_tags(request.cluster_name, execution_id, request.tags)),
            )["Role"]
        except iam.exceptions.EntityAlreadyExistsException:  # a concurrent run made it
            return ensure_cluster_role(iam, request, execution_id, partition)
    tags = tag_map(role.get("Tags", []))
    policies = attached_policies(iam, name)
    policy_arn = managed_policy_arn(partition, CLUSTER_POLICY)
    if policy_arn not in policies and tags.get(CLUSTER_TAG) == request.cluster_name:
        # eksops made it and an earlier attempt stopped before attaching: finish the job
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        policies.add(policy_arn)
    problems = role_conflicts(role, policies, partition)
    if problems:
        raise ClusterConflictError(
            f"cannot use the existing role {name} as the cluster role: {'; '.join(problems)}; "
            "fix it, or pass roleArn"
        )
    return ClusterRole(role["Arn"], created=tags.get(CREATED_BY_TAG) == execution_id)
