"""Amazon EKS in the offline account, beyond what moto implements.

`install()` adds to moto's EKS, in this process, for moto's server and for `mock_aws` alike:

- the control plane's lifecycle (CREATING -> ACTIVE, or FAILED with health issues when its KMS
  key is unusable or a test's cluster failure check says so; DELETING -> gone, UPDATING during
  updates), accessConfig and its updates, UpdateClusterVersion, DescribeUpdate and ListUpdates
  (`control_plane`);
- access entries and access policies (`access`);
- add-ons and DescribeAddonVersions (`addons`);
- Pod Identity associations (`pod_identity`);
- managed node groups with their Auto Scaling group and EC2 instances (`nodegroups`).

Transitions happen when the delay has passed and the next request (or helper call) looks:
nothing runs in the background. Each module names the AWS behaviour it reproduces; moto's files
are not touched: operations are methods added to moto's `EKSResponse`, routes are added to
`moto.eks.urls.url_paths` (which moto's server turns into its URL rules when it first serves EKS,
and which `mock_aws` matches on every request).

The creator of a cluster is the principal behind the CreateCluster request's access key, found
as moto's STS GetCallerIdentity finds it (keys of assumed roles, then IAM users' keys, else moto's
default `arn:aws:sts::<account>:user/moto`), expressed as an IAM principal ARN
(`access.principal_for_caller`: assumed-role -> the role's ARN, sts `user/X` -> `iam::...:user/X`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from eksops.local.eks._state import (
    LOCK,
    SETTINGS,
    ClusterFailureCheck,
    NodeJoinCheck,
    Nodes,
    access_config,
    all_nodes_join,
    extras,
    no_cluster_failure,
)

__all__ = [
    "ClusterFailureCheck",
    "NodeJoinCheck",
    "Nodes",
    "access_entries",
    "advance",
    "authentication_mode",
    "cluster_model",
    "creator_arn",
    "install",
    "set_cluster_failure",
    "set_node_join_check",
]

_MARK = "_eksops_eks_installed"


class _IssuerPerCluster:
    """Each cluster's own OIDC issuer (32 hex digits), as EKS gives it; moto draws one ID per
    process for its ``ISSUER_TEMPLATE``, so every cluster shared one issuer and one IAM OIDC
    provider, which DeleteCluster of one removed from all."""

    def format(self, region: str) -> str:
        return f"https://oidc.eks.{region}.amazonaws.com/id/{secrets.token_hex(16).upper()}"


def install(
    create_delay: float = 3.0,
    *,
    delete_delay: float | None = None,
    update_delay: float | None = None,
    node_join_check: NodeJoinCheck | None = None,
    cluster_failure_check: ClusterFailureCheck | None = None,
    clock: Callable[[], float] | None = None,
) -> None:
    """Add the missing EKS behaviour to moto in this process. Patches are made once; every call
    sets the delays (in seconds; delete and update delays default to the create delay; 0 makes a
    resource move on at the next request), the node join check, the cluster failure check (both
    back to their defaults when not given) and the clock."""
    SETTINGS.create_delay = create_delay
    SETTINGS.delete_delay = create_delay if delete_delay is None else delete_delay
    SETTINGS.update_delay = create_delay if update_delay is None else update_delay
    SETTINGS.node_join_check = node_join_check or all_nodes_join
    SETTINGS.cluster_failure_check = cluster_failure_check or no_cluster_failure
    SETTINGS.clock = clock or time.monotonic

    from moto.eks import models, urls
    from moto.eks.responses import EKSResponse

    from eksops.local.eks import access, addons, control_plane, nodegroups, pod_identity, versions

    if getattr(EKSResponse, _MARK, False):
        return
    for module in (control_plane, access, addons, pod_identity, nodegroups, versions):
        for path in sorted(module.URL_PATHS):
            urls.url_paths.setdefault(path, urls.response.dispatch)
        for name, method in module.RESPONSES.items():
            setattr(EKSResponse, name, method)
    backend_of = EKSResponse.eks_backend.fget

    def eks_backend(self: Any) -> Any:
        """Every EKS request first moves resources along their lifecycle."""
        backend = backend_of(self)
        advance(backend)
        return backend

    EKSResponse.eks_backend = property(eks_backend)  # type: ignore[method-assign,assignment]
    models.ISSUER_TEMPLATE = _IssuerPerCluster()
    nodegroups.install_az_balance()
    setattr(EKSResponse, _MARK, True)


def set_node_join_check(check: NodeJoinCheck | None) -> None:
    """Decide which node group instances cannot join their cluster (None: all join). The check
    runs under the EKS state lock and must not call the EKS API."""
    SETTINGS.node_join_check = check or all_nodes_join


def set_cluster_failure(check: ClusterFailureCheck | None) -> None:
    """Decide which clusters fail to create, beside EKS's own reasons (an unusable KMS key): the
    check gets moto's Cluster when its create delay has passed and answers its health issues
    ([{code, message, resourceIds}]; None or empty: it does not fail). None removes the check.
    It runs under the EKS state lock and must not call the EKS API."""
    SETTINGS.cluster_failure_check = check or no_cluster_failure


def advance(backend: Any) -> None:
    """Move every resource of one account and region whose delay has passed."""
    from eksops.local.eks import addons, control_plane, nodegroups

    with LOCK:
        for cluster in list(backend.clusters.values()):
            if control_plane.advance(backend, cluster):
                addons.advance(cluster)
                nodegroups.advance(cluster)


def cluster_model(account_id: str, region: str, name: str) -> Any | None:
    """moto's Cluster record, brought up to date; None when there is no such cluster."""
    from eksops.local.eks.control_plane import eks_backend

    backend = eks_backend(account_id, region)
    with LOCK:
        advance(backend)
        return backend.clusters.get(name)


def _existing(account_id: str, region: str, name: str) -> Any:
    cluster = cluster_model(account_id, region, name)
    if cluster is None:
        raise LookupError(f"no EKS cluster {name} in {account_id} {region}")
    return cluster


def creator_arn(account_id: str, region: str, name: str) -> str:
    """The IAM principal ARN that created the cluster."""
    return extras(_existing(account_id, region, name)).creator_arn


def authentication_mode(account_id: str, region: str, name: str) -> str:
    """CONFIG_MAP, API_AND_CONFIG_MAP or API."""
    return access_config(_existing(account_id, region, name))["authenticationMode"]


def access_entries(account_id: str, region: str, name: str) -> list[dict[str, Any]]:
    """The cluster's access entries: principalArn, kubernetesGroups, username, type and
    associatedAccessPolicies ([{policyArn, accessScope: {type, namespaces}}], named as
    ListAssociatedAccessPolicies names them)."""
    from eksops.local.eks.access import entries_of

    cluster = _existing(account_id, region, name)
    with LOCK:
        return entries_of(cluster)
