"""What a client needs to reach a cluster's Kubernetes API, from DescribeCluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eksops.errors import ClusterNotFoundError, ClusterNotReadyError, InvalidInputError


@dataclass(frozen=True)
class ClusterEndpoint:
    name: str
    arn: str
    endpoint: str
    certificate_authority_data: str  # base64 PEM, as EKS returns it


def describe_endpoint(eks_client: Any, cluster_name: str) -> ClusterEndpoint:
    """DescribeCluster, reduced to the API endpoint; named errors when there is none."""
    cluster = describe_cluster(eks_client, cluster_name)
    if cluster is None:
        region = eks_client.meta.region_name
        raise ClusterNotFoundError(f"no EKS cluster named {cluster_name!r} in {region}")
    endpoint = cluster.get("endpoint")
    ca_data = (cluster.get("certificateAuthority") or {}).get("data")
    if not endpoint or not ca_data:
        raise ClusterNotReadyError(
            f"cluster {cluster_name!r} is {cluster.get('status', 'not ready')} and has no API "
            "endpoint yet; try again once it is ACTIVE"
        )
    return ClusterEndpoint(cluster["name"], cluster["arn"], endpoint, ca_data)


def describe_cluster(eks_client: Any, cluster_name: str) -> dict[str, Any] | None:
    """DescribeCluster's cluster, or None when there is none."""
    try:
        return eks_client.describe_cluster(name=cluster_name)["cluster"]
    except eks_client.exceptions.ResourceNotFoundException:
        return None


def active_cluster(eks_client: Any, cluster_name: str, purpose: str) -> dict[str, Any]:
    """The cluster an input names, for a workflow that needs it ACTIVE (or UPDATING): a missing
    one is the input's fault (InvalidInput), one not ready yet is ClusterNotReady."""
    cluster = describe_cluster(eks_client, cluster_name)
    if cluster is None:
        raise InvalidInputError(
            f"clusterName: no EKS cluster {cluster_name} in this account and region"
        )
    if cluster["status"] not in ("ACTIVE", "UPDATING"):
        raise ClusterNotReadyError(
            f"cluster {cluster_name} is {cluster['status']}: {purpose} once it is ACTIVE"
        )
    return cluster


def oidc_issuer(cluster: dict[str, Any] | None) -> str | None:
    """The cluster's service-account issuer URL (None until EKS has set it)."""
    return (((cluster or {}).get("identity") or {}).get("oidc") or {}).get("issuer")


def health_issues(resource: dict[str, Any]) -> str:
    """EKS's health issues of a cluster, node group or add-on, as one line ('' if none)."""
    return "; ".join(
        f"{issue.get('code')}: {issue.get('message')}"
        for issue in (resource.get("health") or {}).get("issues", [])
    )
