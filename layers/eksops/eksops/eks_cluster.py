"""What a client needs to reach a cluster's Kubernetes API, from DescribeCluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eksops.errors import ClusterNotFoundError, ClusterNotReadyError


@dataclass(frozen=True)
class ClusterEndpoint:
    name: str
    arn: str
    endpoint: str
    certificate_authority_data: str  # base64 PEM, as EKS returns it


def describe_endpoint(eks_client: Any, cluster_name: str) -> ClusterEndpoint:
    """DescribeCluster, reduced to the API endpoint; named errors when there is none."""
    try:
        cluster = eks_client.describe_cluster(name=cluster_name)["cluster"]
    except eks_client.exceptions.ResourceNotFoundException as exc:
        region = eks_client.meta.region_name
        raise ClusterNotFoundError(f"no EKS cluster named {cluster_name!r} in {region}") from exc
    endpoint = cluster.get("endpoint")
    ca_data = (cluster.get("certificateAuthority") or {}).get("data")
    if not endpoint or not ca_data:
        raise ClusterNotReadyError(
            f"cluster {cluster_name!r} is {cluster.get('status', 'not ready')} and has no API "
            "endpoint yet; try again once it is ACTIVE"
        )
    return ClusterEndpoint(cluster["name"], cluster["arn"], endpoint, ca_data)
