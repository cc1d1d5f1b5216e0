"""Lets a node role's instances join, the way the cluster's authenticationMode allows: an access
entry of type EC2_LINUX or EC2_WINDOWS (API, API_AND_CONFIG_MAP), or an aws-auth mapRoles entry
merged in (CONFIG_MAP), as EKS itself maps managed node groups' roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eksops import aws_auth
from eksops.admin_access import access_entry, without_path
from eksops.errors import NodegroupConflictError
from eksops.ownership import CREATED_BY_TAG

NODE_USERNAME = "system:node:{{EC2PrivateDNSName}}"
NODE_GROUPS = ("system:bootstrappers", "system:nodes")
WINDOWS_GROUP = "eks:kube-proxy-windows"  # kube-proxy on Windows nodes runs as the node
ADMIN_VIEW_POLICY = "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"


def authentication_mode(cluster: dict[str, Any]) -> str:
    return (cluster.get("accessConfig") or {}).get("authenticationMode", "CONFIG_MAP")


def node_mapping(role_arn: str, windows: bool) -> aws_auth.Mapping:
    groups = (*NODE_GROUPS, WINDOWS_GROUP) if windows else NODE_GROUPS
    return aws_auth.Mapping(without_path(role_arn), NODE_USERNAME, groups)


def _ensure_entry(
    eks: Any, cluster_name: str, role_arn: str, entry_type: str, tags: dict[str, str]
) -> dict[str, Any]:
    entry = access_entry(eks, cluster_name, role_arn)
    if entry is None:
        try:
            entry = eks.create_access_entry(
                clusterName=cluster_name, principalArn=role_arn, type=entry_type, tags=tags
            )["accessEntry"]
        except eks.exceptions.ResourceInUseException:  # made meanwhile (EKS, or another run)
            entry = access_entry(eks, cluster_name, role_arn)
            assert entry is not None
    if entry.get("type") != entry_type:
        raise NodegroupConflictError(
            f"{role_arn} already has a {entry.get('type')} access entry on {cluster_name}, so "
            f"its instances cannot join as {entry_type} nodes; use another node role, or delete "
            "that access entry"
        )
    return entry


def authorize_nodes(
    eks: Any,
    core_v1: Callable[[], Any],
    cluster: dict[str, Any],
    role_arn: str,
    windows: bool,
    tags: dict[str, str],
) -> dict[str, Any]:
    """Instances with ``role_arn`` may register as nodes; what was done, for the output. The
    aws-auth merge never rewrites or removes other entries (``core_v1`` is only called in
    CONFIG_MAP mode)."""
    mode = authentication_mode(cluster)
    if mode == "CONFIG_MAP":
        changes = aws_auth.merge_mappings(core_v1(), [node_mapping(role_arn, windows)])
        return {
            "authenticationMode": mode,
            "method": "aws-auth",
            "roleArn": role_arn,
            "awsAuthChanges": [change.result() for change in changes],
        }
    entry_type = "EC2_WINDOWS" if windows else "EC2_LINUX"
    entry = _ensure_entry(eks, cluster["name"], role_arn, entry_type, tags)
    return {
        "authenticationMode": mode,
        "method": "access entry",
        "roleArn": role_arn,
        "accessEntryType": entry_type,
        "created": (entry.get("tags") or {}).get(CREATED_BY_TAG) == tags.get(CREATED_BY_TAG),
    }


def caller_principal(sts: Any, iam: Any) -> str:
    """The IAM principal (role or user ARN, path included) the caller acts as."""
    arn = sts.get_caller_identity()["Arn"]
    if ":assumed-role/" not in arn:
        return arn
    role_name = arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
    return iam.get_role(RoleName=role_name)["Role"]["Arn"]


def ensure_node_reader(
    eks: Any, cluster: dict[str, Any], principal: str, tags: dict[str, str]
) -> dict[str, Any] | None:
    """In API modes, let eksops's own identity read the nodes it waits for: a cluster eksops
    did not create gives it no access, and eksops may make access entries anyway, so it takes
    the read-only AmazonEKSAdminViewPolicy rather than fail. An identity that already has an
    access entry is left as it is. None in CONFIG_MAP mode (aws-auth needs Kubernetes access
    to edit: that is for the cluster's admins to grant)."""
    if authentication_mode(cluster) == "CONFIG_MAP":
        return None
    name = cluster["name"]
    if access_entry(eks, name, principal) is not None:
        return {"principalArn": principal, "created": False}
    try:
        eks.create_access_entry(clusterName=name, principalArn=principal, tags=tags)
    except eks.exceptions.ResourceInUseException:  # made meanwhile (a concurrent join)
        return {"principalArn": principal, "created": False}
    eks.associate_access_policy(
        clusterName=name,
        principalArn=principal,
        policyArn=ADMIN_VIEW_POLICY.format(partition=cluster["arn"].split(":")[1]),
        accessScope={"type": "cluster"},
    )
    return {"principalArn": principal, "policy": "AmazonEKSAdminViewPolicy", "created": True}


def is_authorized(
    eks: Any, aws_auth_data: dict[str, str] | None, cluster: dict[str, Any], role_arn: str
) -> bool:
    """Whether instances of ``role_arn`` can authenticate as nodes now (for diagnoses)."""
    mode = authentication_mode(cluster)
    if mode != "CONFIG_MAP":
        entry = access_entry(eks, cluster["name"], role_arn)
        if entry is not None and entry.get("type") in ("EC2_LINUX", "EC2_WINDOWS"):
            return True
        if mode == "API":
            return False
    wanted = without_path(role_arn)
    roles = aws_auth.role_entries(aws_auth_data or {})
    return any(
        entry.get("rolearn") == wanted and "system:nodes" in (entry.get("groups") or [])
        for entry in roles
    )
