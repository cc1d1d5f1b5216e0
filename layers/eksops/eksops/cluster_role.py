"""The cluster's IAM role: the one given, or ``<clusterName>-cluster-role`` that eksops ensures
(trusting eks.amazonaws.com, with AmazonEKSClusterPolicy)."""

from __future__ import annotations

from typing import Any

from eksops.errors import ClusterConflictError, InvalidInputError
from eksops.models.create_cluster import CreateClusterInput
from eksops.ownership import creation_tags
from eksops.service_role import (
    RoleSpec,
    ServiceRole,
    created_by,
    ensure_role,
    given_role,
    trusts_service,
)

CLUSTER_POLICY = "AmazonEKSClusterPolicy"
EKS_SERVICE = "eks.amazonaws.com"


def role_spec(request: CreateClusterInput) -> RoleSpec:
    return RoleSpec(
        name=request.cluster_role_name,
        service=EKS_SERVICE,
        policies=(CLUSTER_POLICY,),
        description=f"EKS cluster role of {request.cluster_name} (eksops)",
    )


def check_given_role(iam: Any, role_arn: str) -> None:
    """The roleArn of the input exists and EKS may assume it (InvalidInput otherwise)."""
    role = given_role(iam, role_arn)
    if role is None:
        raise InvalidInputError(f"roleArn: no IAM role {role_arn} in this account")
    if not trusts_service(role, EKS_SERVICE):
        raise InvalidInputError(f"roleArn: {role_arn} does not trust {EKS_SERVICE}")


def ensure_cluster_role(
    iam: Any, request: CreateClusterInput, execution_id: str, partition: str
) -> ServiceRole:
    """The input's role, or the eksops role (created if missing); an existing eksops-named role
    that cannot serve is a ClusterConflict, left unchanged."""
    if request.role_arn:
        return ServiceRole(request.role_arn, created=False)
    spec = role_spec(request)
    tags = creation_tags(request.cluster_name, execution_id, request.tags)
    role, problems = ensure_role(iam, spec, request.cluster_name, tags, partition)
    if problems:
        raise ClusterConflictError(
            f"cannot use the existing role {spec.name} as the cluster role: "
            f"{'; '.join(problems)}; fix it, or pass roleArn"
        )
    return ServiceRole(role["Arn"], created=created_by(role, execution_id))
