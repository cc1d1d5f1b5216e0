"""The nodes' IAM role: the one given, or ``eksops/<cluster>-<name>-node-role`` that eksops
ensures (trusting ec2.amazonaws.com, with the three policies every EKS node needs)."""

from __future__ import annotations

from typing import Any

from eksops.errors import InvalidInputError, NodegroupConflictError
from eksops.models.join_nodegroup import JoinNodegroupInput
from eksops.ownership import IAM_PATH, creation_tags
from eksops.service_role import (
    RoleSpec,
    ServiceRole,
    bounded_role_name,
    created_by,
    ensure_role,
    given_role,
    trusts_service,
)

EC2_SERVICE = "ec2.amazonaws.com"
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
)
_SUFFIX = "-node-role"


def role_name(cluster_name: str, nodegroup_name: str) -> str:
    """``<cluster>-<name>-node-role``; shortened with a hash of the whole when over IAM's 64."""
    return bounded_role_name(f"{cluster_name}-{nodegroup_name}", _SUFFIX)


def role_spec(request: JoinNodegroupInput) -> RoleSpec:
    assert request.name is not None  # managed node groups have a name (the model checks)
    return RoleSpec(
        name=role_name(request.cluster_name, request.name),
        service=EC2_SERVICE,
        policies=NODE_POLICIES,
        description=f"Node role of {request.cluster_name}/{request.name} (eksops)",
    )


def node_role_arn(request: JoinNodegroupInput, partition: str, account_id: str) -> str:
    """The node role the request will use: the given one, or the one eksops ensures."""
    if request.node_role_arn:
        return request.node_role_arn
    return f"arn:{partition}:iam::{account_id}:role{IAM_PATH}{role_spec(request).name}"


def check_given_node_role(iam: Any, role_arn: str, account_id: str) -> None:
    """nodeRoleArn exists in the cluster's account and EC2 may assume it (InvalidInput)."""
    if role_arn.split(":")[4] != account_id:
        raise InvalidInputError(
            f"nodeRoleArn: {role_arn} is not in the cluster's account {account_id}; instances "
            "can only use roles of their own account"
        )
    role = given_role(iam, role_arn)
    if role is None:
        raise InvalidInputError(f"nodeRoleArn: no IAM role {role_arn} in account {account_id}")
    if not trusts_service(role, EC2_SERVICE):
        raise InvalidInputError(
            f"nodeRoleArn: {role_arn} does not trust {EC2_SERVICE}, so no instance can use it"
        )


def ensure_node_role(
    iam: Any, request: JoinNodegroupInput, execution_id: str, partition: str
) -> ServiceRole:
    """The input's node role, or the eksops one (created if missing); an existing eksops-named
    role that cannot serve is a NodegroupConflict, left unchanged."""
    if request.node_role_arn:
        return ServiceRole(request.node_role_arn, created=False)
    spec = role_spec(request)
    creator = request.creator(execution_id)
    tags = creation_tags(request.cluster_name, creator, request.tags)
    role, problems = ensure_role(iam, spec, request.cluster_name, tags, partition)
    if problems:
        raise NodegroupConflictError(
            f"cannot use the existing role {spec.name} as the node role: {'; '.join(problems)}; "
            "fix it, or pass nodeRoleArn"
        )
    return ServiceRole(role["Arn"], created=created_by(role, creator))
