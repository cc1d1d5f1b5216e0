"""Administrators of a cluster, the way its authentication mode allows: EKS access entries
(API, API_AND_CONFIG_MAP) or aws-auth mappings merged in (CONFIG_MAP)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eksops import aws_auth
from eksops.errors import ClusterConflictError
from eksops.models.create_cluster import Admin, CreateClusterInput
from eksops.ownership import CREATED_BY_TAG, creation_tags

MASTERS_GROUP = "system:masters"  # what AmazonEKSClusterAdminPolicy grants, in aws-auth terms
CoreV1Factory = Callable[[], Any]


def access_entry(eks: Any, cluster: str, principal: str) -> dict[str, Any] | None:
    try:
        return eks.describe_access_entry(clusterName=cluster, principalArn=principal)["accessEntry"]
    except eks.exceptions.ResourceNotFoundException:
        return None


def policy_associated(eks: Any, cluster: str, admin: Admin) -> bool:
    pages = eks.get_paginator("list_associated_access_policies").paginate(
        clusterName=cluster, principalArn=admin.principal_arn
    )
    return any(
        policy["policyArn"] == admin.policy_arn and policy["accessScope"]["type"] == "cluster"
        for page in pages
        for policy in page["associatedAccessPolicies"]
    )


def grant_access_entry(
    eks: Any, request: CreateClusterInput, admin: Admin, execution_id: str
) -> dict[str, Any]:
    cluster = request.cluster_name
    entry = access_entry(eks, cluster, admin.principal_arn)
    if entry is None:
        try:
            entry = eks.create_access_entry(
                clusterName=cluster,
                principalArn=admin.principal_arn,
                type="STANDARD",
                tags=creation_tags(cluster, execution_id, request.tags),
            )["accessEntry"]
        except eks.exceptions.ResourceInUseException:  # made meanwhile
            entry = access_entry(eks, cluster, admin.principal_arn)
            assert entry is not None
    if entry.get("type", "STANDARD") != "STANDARD":
        raise ClusterConflictError(
            f"{admin.principal_arn} already has a {entry['type']} access entry on {cluster}; "
            "an administrator needs a STANDARD one"
        )
    if not policy_associated(eks, cluster, admin):
        eks.associate_access_policy(
            clusterName=cluster,
            principalArn=admin.principal_arn,
            policyArn=admin.policy_arn,
            accessScope={"type": "cluster"},
        )
    return {
        "principalArn": admin.principal_arn,
        "policyArn": admin.policy_arn,
        "accessEntry": True,
        "created": (entry.get("tags") or {}).get(CREATED_BY_TAG) == execution_id,
    }


def without_path(principal_arn: str) -> str:
    """aws-auth matches role ARNs as the authenticator writes them: without the IAM path."""
    prefix, _, name = principal_arn.partition(":role/" if ":role/" in principal_arn else ":user/")
    kind = "role" if ":role/" in principal_arn else "user"
    return f"{prefix}:{kind}/{name.rsplit('/', 1)[-1]}"


def aws_auth_username(principal_arn: str) -> str:
    """A readable username for audit logs: the role's or user's name."""
    return "eksops-admin:" + principal_arn.rsplit("/", 1)[1]


def grant_admins(
    eks: Any, core_v1: CoreV1Factory, request: CreateClusterInput, execution_id: str
) -> list[dict[str, Any]]:
    """Every admin of the input has access; ``core_v1`` is only called in CONFIG_MAP mode."""
    if not request.admins:
        return []
    if request.authentication_mode != "CONFIG_MAP":
        return [grant_access_entry(eks, request, admin, execution_id) for admin in request.admins]
    mappings = [
        aws_auth.Mapping(
            without_path(admin.principal_arn),
            aws_auth_username(admin.principal_arn),
            (MASTERS_GROUP,),
        )
        for admin in request.admins
    ]
    aws_auth.merge_mappings(core_v1(), mappings)
    return [
        {
            "principalArn": admin.principal_arn,
            "awsAuthGroups": [MASTERS_GROUP],
            "accessEntry": False,
        }
        for admin in request.admins
    ]
