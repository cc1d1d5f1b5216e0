"""EKS access entries and access policies (moto has none).

AWS behaviour reproduced:
- Access entries exist only while the cluster's authentication mode includes the API
  (`API` or `API_AND_CONFIG_MAP`); otherwise every access entry call is an
  InvalidRequestException.
- A principal is an existing IAM role or user ARN (a path is allowed; STS session ARNs are not);
  node types (EC2_LINUX, EC2_WINDOWS, FARGATE_LINUX, HYBRID_LINUX) take roles of the cluster's
  own account only and no Kubernetes groups.
- Default usernames: an IAM user's ARN; for a role, its STS assumed-role ARN without the path
  and with `{{SessionName}}`; `system:node:{{EC2PrivateDNSName}}` for EC2 nodes and
  `system:node:{{SessionName}}` for Fargate and hybrid nodes, which are put in `system:nodes`.
  Custom usernames may not start with `system:`, `eks:`, `aws:`, `amazon:` or `iam:`.
- The cluster creator gets a STANDARD entry with AmazonEKSClusterAdminPolicy (cluster scope)
  when `bootstrapClusterCreatorAdminPermissions` is true and the mode includes the API; a managed
  node group's role gets an EC2_LINUX (EC2_WINDOWS for Windows AMIs) entry under the same mode.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.utilities.utils import get_partition

from eksops.local.eks._state import (
    LOCK,
    access_config,
    error,
    extras,
    get_cluster,
    paginate,
)

API_MODES = ("API", "API_AND_CONFIG_MAP")
ACCESS_POLICIES = (
    "AmazonEKSAdminPolicy",
    "AmazonEKSAdminViewPolicy",
    "AmazonEKSAutoNodePolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSClusterAdminPolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSEditPolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingPolicy",
    "AmazonEKSViewPolicy",
)
CLUSTER_ADMIN = "AmazonEKSClusterAdminPolicy"
NODE_TYPES = ("EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX", "HYPERPOD_LINUX")
ENTRY_TYPES = ("STANDARD", "EC2", *NODE_TYPES)
RESERVED_USERNAME_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")
_PRINCIPAL = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):"
    r"(?:(?P<kind>role|user)/(?P<path>.+)|(?P<root>root))$"
)
_STS = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):(?P<kind>assumed-role|user)/(?P<rest>.+)$"
)


def policy_arn(partition: str, name: str) -> str:
    return f"arn:{partition}:eks::aws:cluster-access-policy/{name}"


def principal_for_caller(caller_arn: str, account_id: str) -> str:
    """The IAM principal (as an access entry names it) behind a caller identity ARN: an
    assumed role's role ARN (with its path when the role is known), an IAM user's ARN, the
    account root's ARN. moto's own caller for unknown keys, `arn:aws:sts::<account>:user/moto`
    (the offline account answers the account root instead), becomes `...:iam::...:user/moto`.
    """
    match = _STS.match(caller_arn)
    if match is None:
        return caller_arn
    partition, account = match["partition"], match["account"]
    if match["kind"] == "user":
        return f"arn:{partition}:iam::{account}:user/{match['rest']}"
    role_name = match["rest"].split("/")[0]
    role = _iam_role(account, partition, role_name=role_name)
    return role.arn if role is not None else f"arn:{partition}:iam::{account}:role/{role_name}"


def _iam_backend(account_id: str, partition: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id][partition]


def _iam_role(account_id: str, partition: str, *, role_name: str = "", arn: str = "") -> Any:
    backend = _iam_backend(account_id, partition)
    try:
        return backend.get_role_by_arn(arn) if arn else backend.get_role(role_name)
    except Exception:  # moto's IAMNotFoundException and friends
        return None


def _principal_exists(match: re.Match[str], arn: str) -> bool:
    if match["root"]:
        return True
    if match["kind"] == "role":
        return _iam_role(match["account"], match["partition"], arn=arn) is not None
    try:
        _iam_backend(match["account"], match["partition"]).get_user(match["path"].split("/")[-1])
    except Exception:
        return False
    return True


def default_username(principal_arn: str, entry_type: str) -> str:
    if entry_type in ("EC2_LINUX", "EC2_WINDOWS"):
        return "system:node:{{EC2PrivateDNSName}}"
    if entry_type != "STANDARD":
        return "system:node:{{SessionName}}"
    match = _PRINCIPAL.match(principal_arn)
    assert match is not None  # validated before
    if match["kind"] != "role":  # users and the account root: the ARN itself
        return principal_arn
    role_name = match["path"].split("/")[-1]  # EKS drops the role's path
    sts = f"arn:{match['partition']}:sts::{match['account']}"
    return f"{sts}:assumed-role/{role_name}/{{{{SessionName}}}}"


def _require_api_mode(cluster: Any) -> None:
    mode = access_config(cluster)["authenticationMode"]
    if mode not in API_MODES:
        raise error(
            "InvalidRequestException",
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] "
            "to perform this operation.",
            clusterName=cluster.name,
        )


def _validate_principal(
    cluster: Any, principal_arn: str, entry_type: str, verify: bool
) -> re.Match[str]:
    match = _PRINCIPAL.match(principal_arn or "")
    if match is None or (verify and not _principal_exists(match, principal_arn)):
        raise error(
            "InvalidParameterException",
            f"The specified principalArn is invalid: invalid principal {principal_arn}",
            clusterName=cluster.name,
        )
    account_id = cluster.arn.split(":")[4]
    if entry_type != "STANDARD" and (match["kind"] != "role" or match["account"] != account_id):
        raise error(
            "InvalidParameterException",
            f"The principalArn of a {entry_type} access entry must be an IAM role of the "
            "cluster's account",
            clusterName=cluster.name,
        )
    return match


def _validate_username(cluster: Any, username: str | None) -> None:
    if username is not None and username.startswith(RESERVED_USERNAME_PREFIXES):
        raise error(
            "InvalidParameterException",
            f"username cannot start with any of {list(RESERVED_USERNAME_PREFIXES)}",
            clusterName=cluster.name,
        )


def add_entry(
    cluster: Any,
    principal_arn: str,
    entry_type: str = "STANDARD",
    kubernetes_groups: list[str] | None = None,
    username: str | None = None,
    tags: dict[str, str] | None = None,
    verify: bool = True,
) -> dict[str, Any]:
    """Validate and record an access entry (CreateAccessEntry's rules); `verify=False` skips
    the check that the principal exists in IAM (for principals EKS itself already knows)."""
    if entry_type not in ENTRY_TYPES:
        raise error(
            "InvalidParameterException",
            f"The type {entry_type} is not valid; valid types are {list(ENTRY_TYPES)}",
            clusterName=cluster.name,
        )
    match = _validate_principal(cluster, principal_arn, entry_type, verify)
    if entry_type != "STANDARD" and kubernetes_groups:
        raise error(
            "InvalidParameterException",
            f"kubernetesGroups cannot be specified for an access entry of type {entry_type}",
            clusterName=cluster.name,
        )
    _validate_username(cluster, username)
    state = extras(cluster)
    if principal_arn in state.access_entries:
        raise error(
            "ResourceInUseException",
            "The specified access entry resource is already in use on this cluster.",
            clusterName=cluster.name,
        )
    if entry_type in NODE_TYPES:
        kubernetes_groups = ["system:nodes"]
    now = utcnow()
    kind, name = (
        (match["kind"], match["path"].split("/")[-1]) if match["path"] else ("root", "root")
    )
    account_id, region = cluster.arn.split(":")[4], cluster.arn.split(":")[3]
    entry = {
        "clusterName": cluster.name,
        "principalArn": principal_arn,
        "kubernetesGroups": list(kubernetes_groups or []),
        "accessEntryArn": (
            f"arn:{match['partition']}:eks:{region}:{account_id}:access-entry/{cluster.name}/"
            f"{kind}/{match['account']}/{name}/{uuid.uuid4()}"
        ),
        "createdAt": now,
        "modifiedAt": now,
        "tags": dict(tags or {}),
        "username": username or default_username(principal_arn, entry_type),
        "type": entry_type,
    }
    state.access_entries[principal_arn] = entry
    state.access_policies[principal_arn] = {}
    return entry


def associate(
    cluster: Any, principal_arn: str, policy: str, access_scope: dict[str, Any]
) -> dict[str, Any]:
    state = extras(cluster)
    entry = _entry(cluster, principal_arn)
    partition = get_partition(cluster.arn.split(":")[3])
    if policy not in {policy_arn(partition, name) for name in ACCESS_POLICIES}:
        raise error(
            "ResourceNotFoundException",
            f"The specified policy {policy} was not found.",
            clusterName=cluster.name,
        )
    if entry["type"] in NODE_TYPES:
        raise error(
            "InvalidRequestException",
            f"Access policies cannot be associated with an access entry of type {entry['type']}",
            clusterName=cluster.name,
        )
    scope_type = (access_scope or {}).get("type")
    namespaces = list((access_scope or {}).get("namespaces") or [])
    if scope_type not in ("cluster", "namespace"):
        raise error(
            "InvalidParameterException",
            "accessScope.type must be one of [cluster, namespace]",
            clusterName=cluster.name,
        )
    if (scope_type == "namespace") != bool(namespaces):
        raise error(
            "InvalidParameterException",
            "namespaces must be given for a namespace access scope, and only for it",
            clusterName=cluster.name,
        )
    now = utcnow()
    policies = state.access_policies[principal_arn]
    associated = policies.get(policy) or {"policyArn": policy, "associatedAt": now}
    associated.update(accessScope={"type": scope_type, "namespaces": namespaces}, modifiedAt=now)
    policies[policy] = associated
    return associated


def bootstrap_creator(cluster: Any) -> None:
    """The cluster creator's admin entry (bootstrapClusterCreatorAdminPermissions)."""
    creator = extras(cluster).creator_arn
    if not _PRINCIPAL.match(creator):
        return
    # The creator was authenticated by the CreateCluster call itself, whatever IAM knows: the
    # offline account's own credentials (its root) administer the clusters they create.
    add_entry(cluster, creator, verify=False)
    partition = get_partition(cluster.arn.split(":")[3])
    associate(cluster, creator, policy_arn(partition, CLUSTER_ADMIN), {"type": "cluster"})


def ensure_node_entry(cluster: Any, node_role: str, ami_type: str) -> None:
    """What EKS does for a managed node group's role when the mode includes the API."""
    if access_config(cluster)["authenticationMode"] not in API_MODES:
        return
    if node_role in extras(cluster).access_entries:
        return
    entry_type = "EC2_WINDOWS" if ami_type.startswith("WINDOWS") else "EC2_LINUX"
    add_entry(cluster, node_role, entry_type, verify=False)


def entries_of(cluster: Any) -> list[dict[str, Any]]:
    state = extras(cluster)
    return [
        {
            "principalArn": arn,
            "kubernetesGroups": list(entry["kubernetesGroups"]),
            "username": entry["username"],
            "type": entry["type"],
            "associatedAccessPolicies": [
                {
                    "policyArn": policy["policyArn"],
                    "accessScope": {
                        "type": policy["accessScope"]["type"],
                        "namespaces": list(policy["accessScope"]["namespaces"]),
                    },
                }
                for policy in state.access_policies.get(arn, {}).values()
            ],
        }
        for arn, entry in state.access_entries.items()
    ]


def _entry(cluster: Any, principal_arn: str) -> dict[str, Any]:
    _require_api_mode(cluster)
    entry = extras(cluster).access_entries.get(principal_arn)
    if entry is None:
        raise error(
            "ResourceNotFoundException",
            f"The specified principalArn could not be found: {principal_arn}",
            clusterName=cluster.name,
        )
    return entry


# Response methods, bound to moto's EKSResponse by install().


def create_access_entry(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        _require_api_mode(cluster)
        entry = add_entry(
            cluster,
            self._get_param("principalArn"),
            self._get_param("type") or "STANDARD",
            self._get_param("kubernetesGroups"),
            self._get_param("username"),
            self._get_param("tags"),
        )
        return ActionResult({"accessEntry": entry})


def describe_access_entry(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        return ActionResult({"accessEntry": _entry(cluster, self._get_param("principalArn"))})


def update_access_entry(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        entry = _entry(cluster, self._get_param("principalArn"))
        groups = self._get_param("kubernetesGroups")
        username = self._get_param("username")
        if groups is not None:
            if entry["type"] in NODE_TYPES:
                raise error(
                    "InvalidParameterException",
                    f"kubernetesGroups cannot be specified for an access entry of type "
                    f"{entry['type']}",
                    clusterName=cluster.name,
                )
            entry["kubernetesGroups"] = list(groups)
        if username is not None:
            _validate_username(cluster, username)
            entry["username"] = username
        entry["modifiedAt"] = utcnow()
        return ActionResult({"accessEntry": entry})


def delete_access_entry(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        principal_arn = self._get_param("principalArn")
        _entry(cluster, principal_arn)
        state = extras(cluster)
        del state.access_entries[principal_arn]
        state.access_policies.pop(principal_arn, None)
        return EmptyResult()


def list_access_entries(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        _require_api_mode(cluster)
        state = extras(cluster)
        policy = self._get_param("associatedPolicyArn")
        arns = [
            arn
            for arn in state.access_entries
            if policy is None or policy in state.access_policies.get(arn, {})
        ]
        page, token = paginate(arns, self._get_param("maxResults"), self._get_param("nextToken"))
        return ActionResult({"accessEntries": page, "nextToken": token})


def associate_access_policy(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        principal_arn = self._get_param("principalArn")
        associated = associate(
            cluster, principal_arn, self._get_param("policyArn"), self._get_param("accessScope")
        )
        return ActionResult(
            {
                "clusterName": cluster.name,
                "principalArn": principal_arn,
                "associatedAccessPolicy": associated,
            }
        )


def disassociate_access_policy(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        principal_arn = self._get_param("principalArn")
        _entry(cluster, principal_arn)
        policies = extras(cluster).access_policies[principal_arn]
        policy = self._get_param("policyArn")
        if policy not in policies:
            raise error(
                "ResourceNotFoundException",
                f"The specified policy {policy} is not associated with {principal_arn}.",
                clusterName=cluster.name,
            )
        del policies[policy]
        return EmptyResult()


def list_associated_access_policies(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        principal_arn = self._get_param("principalArn")
        _entry(cluster, principal_arn)
        policies = list(extras(cluster).access_policies[principal_arn].values())
        page, token = paginate(
            policies, self._get_param("maxResults"), self._get_param("nextToken")
        )
        return ActionResult(
            {
                "clusterName": cluster.name,
                "principalArn": principal_arn,
                "associatedAccessPolicies": page,
                "nextToken": token,
            }
        )


def list_access_policies(self: Any) -> ActionResult:
    partition = get_partition(self.region)
    policies = [{"name": name, "arn": policy_arn(partition, name)} for name in ACCESS_POLICIES]
    page, token = paginate(policies, self._get_param("maxResults"), self._get_param("nextToken"))
    return ActionResult({"accessPolicies": page, "nextToken": token})


RESPONSES = {
    "create_access_entry": create_access_entry,
    "describe_access_entry": describe_access_entry,
    "update_access_entry": update_access_entry,
    "delete_access_entry": delete_access_entry,
    "list_access_entries": list_access_entries,
    "associate_access_policy": associate_access_policy,
    "disassociate_access_policy": disassociate_access_policy,
    "list_associated_access_policies": list_associated_access_policies,
    "list_access_policies": list_access_policies,
}

URL_PATHS = {
    "{0}/access-policies$",
    "{0}/clusters/(?P<name>[^/]+)/access-entries$",
    # principal and policy ARNs arrive URL-decoded in moto's server: their slashes are literal
    "{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<principalArn>.+)$",
}
