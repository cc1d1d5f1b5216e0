"""Which cluster, node group and Node an EC2 instance is: from the tags EKS and Auto Scaling put
on instances, then the Node whose ``spec.providerID`` names the instance; and whether eksops
manages that cluster."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eksops.ownership import CLUSTER_TAG

MANAGED_CLUSTER_TAG = "eks:cluster-name"  # EKS, on a managed node group's instances
MANAGED_NODEGROUP_TAG = "eks:nodegroup-name"
AUTO_SCALING_GROUP_TAG = "aws:autoscaling:groupName"
KUBERNETES_CLUSTER_TAG = "kubernetes.io/cluster/"  # self-managed nodes: <prefix><name>=owned
OPT_OUT_TAG = "eksops/rebalance"
OPT_OUT_VALUE = "off"
MANAGED_CLUSTERS_VARIABLE = "REBALANCE_CLUSTER_NAMES"


@dataclass(frozen=True)
class InstancePlace:
    """Where an instance belongs, as its tags say."""

    instance_id: str
    zone: str
    state: str
    private_dns_name: str
    cluster_name: str | None
    nodegroup: str | None  # a managed node group's name
    auto_scaling_group: str | None

    def result(self) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id,
            "availabilityZone": self.zone,
            "instanceState": self.state,
            "clusterName": self.cluster_name,
            "nodegroup": self.nodegroup,
            "autoScalingGroup": self.auto_scaling_group,
        }


def _tags(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags or []}


def cluster_of(tags: Mapping[str, str]) -> str | None:
    """The cluster named by EKS's tag, else by the one kubernetes.io/cluster/<name> tag."""
    if tags.get(MANAGED_CLUSTER_TAG):
        return tags[MANAGED_CLUSTER_TAG]
    named = [
        key[len(KUBERNETES_CLUSTER_TAG) :]
        for key, value in tags.items()
        if key.startswith(KUBERNETES_CLUSTER_TAG) and value in ("owned", "shared")
    ]
    return named[0] if len(named) == 1 else None


def place_of(ec2: Any, instance_id: str) -> InstancePlace | None:
    """The instance's place, or None when EC2 no longer knows it."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ec2.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidInstanceID.NotFound":
            return None
        raise
    instances = [i for r in reservations for i in r["Instances"]]
    if not instances:
        return None
    instance = instances[0]
    tags = _tags(instance.get("Tags"))
    return InstancePlace(
        instance_id=instance_id,
        zone=instance["Placement"]["AvailabilityZone"],
        state=instance["State"]["Name"],
        private_dns_name=instance.get("PrivateDnsName", ""),
        cluster_name=cluster_of(tags),
        nodegroup=tags.get(MANAGED_NODEGROUP_TAG),
        auto_scaling_group=tags.get(AUTO_SCALING_GROUP_TAG),
    )


def unmanaged_reason(
    cluster: Mapping[str, Any] | None, cluster_name: str, environ: Mapping[str, str]
) -> str | None:
    """Why eksops leaves a cluster's nodes alone, or None when it manages the cluster: it
    created it (tag eksops:cluster) or the stack lists it (RebalanceClusterNames), and the
    cluster is not tagged eksops/rebalance=off."""
    if cluster is None:
        return f"cluster {cluster_name} does not exist in this account and region"
    tags = cluster.get("tags") or {}
    if tags.get(OPT_OUT_TAG) == OPT_OUT_VALUE:
        return f"cluster {cluster_name} is tagged {OPT_OUT_TAG}={OPT_OUT_VALUE}"
    listed = {
        name.strip() for name in environ.get(MANAGED_CLUSTERS_VARIABLE, "").split(",") if name
    }
    if tags.get(CLUSTER_TAG) != cluster_name and cluster_name not in listed:
        return (
            f"eksops does not manage cluster {cluster_name}: it did not create it (no "
            f"{CLUSTER_TAG} tag) and the stack's RebalanceClusterNames does not list it"
        )
    return None
