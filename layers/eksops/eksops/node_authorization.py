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
