"""Surging managed node groups before nodes are drained: the node groups of a cluster with the
Availability Zones of their subnets, the one that replaces an instance in its own zone, setting
planned sizes (absolute, so a re-run never surges twice), and waiting for the new nodes."""

from __future__ import annotations

from typing import Any

from eksops import az_skew
from eksops.errors import NotYetConsistentError
from eksops.instance_mapping import InstancePlace
from eksops.node_readiness import LIVE_STATES, node_states
from eksops.nodegroup_creation import describe_nodegroup


def cluster_nodegroups(eks: Any, ec2: Any, cluster_name: str) -> list[dict[str, Any]]:
    """Every managed node group of the cluster as DescribeNodegroup has it, with ``zones``: the
    Availability Zones of its subnets."""
    names: list[str] = []
    for page in eks.get_paginator("list_nodegroups").paginate(clusterName=cluster_name):
        names += page["nodegroups"]
    nodegroups = [found for name in names if (found := describe_nodegroup(eks, cluster_name, name))]
    subnets = sorted({subnet for ng in nodegroups for subnet in ng.get("subnets", [])})
    zone_of = {}
    if subnets:
        described = ec2.describe_subnets(SubnetIds=subnets)["Subnets"]
        zone_of = {subnet["SubnetId"]: subnet["AvailabilityZone"] for subnet in described}
    for nodegroup in nodegroups:
        nodegroup["zones"] = sorted({zone_of[s] for s in nodegroup.get("subnets", [])})
    return nodegroups


def group_instances(autoscaling: Any, nodegroup: dict[str, Any]) -> list[str]:
    """The live instances of the node group's Auto Scaling groups."""
    names = [g["name"] for g in (nodegroup.get("resources") or {}).get("autoScalingGroups", [])]
    if not names:
        return []
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=names)
    return sorted(
        instance["InstanceId"]
        for group in groups["AutoScalingGroups"]
        for instance in group["Instances"]
        if instance["LifecycleState"] in LIVE_STATES
    )


def surge_entry(autoscaling: Any, nodegroup: dict[str, Any], desired: int) -> dict[str, Any]:
    """One node group's part of a surge: its size before and the size to set."""
    scaling = nodegroup["scalingConfig"]
    return {
        "nodegroup": nodegroup["nodegroupName"],
        "zones": nodegroup["zones"],
        "desiredBefore": scaling["desiredSize"],
        "desiredSize": desired,
        "instancesBefore": group_instances(autoscaling, nodegroup),
    }


def replacement_surge(
    autoscaling: Any, nodegroups: list[dict[str, Any]], place: InstancePlace
) -> tuple[dict[str, Any] | None, str]:
    """The surge that puts a new node in the instance's zone before it is drained: its own node
    group when that spans only its zone, else a node group of the same family (its name with
    the zone, same labels) in that zone; None with the reason when there is none or it is at its
    maxSize (the drained instance is then replaced by Auto Scaling after it goes)."""
    own = next((ng for ng in nodegroups if ng["nodegroupName"] == place.nodegroup), None)
    if own is None:
        return None, f"node group {place.nodegroup} is gone"
    candidates = [own] if own["zones"] == [place.zone] else []
    if not candidates:  # a multi-AZ group: a node group of its family in the instance's zone
        candidates = [
            ng
            for ng in nodegroups
            if ng["zones"] == [place.zone]
            and az_skew.family_prefix(ng["nodegroupName"], place.zone) == own["nodegroupName"]
            and az_skew.kind_of(ng) == az_skew.kind_of(own)
        ]
    chosen = candidates[0] if candidates else own
    scaling = chosen["scalingConfig"]
    if scaling["desiredSize"] >= scaling["maxSize"]:
        return None, (
            f"node group {chosen['nodegroupName']} is at its maxSize {scaling['maxSize']}: no "
            "surge; Auto Scaling replaces the instance once it is terminated"
        )
    return surge_entry(autoscaling, chosen, scaling["desiredSize"] + 1), (
        f"node group {chosen['nodegroupName']} ({', '.join(chosen['zones'])}) grows by one first"
    )


def apply_surge(eks: Any, cluster_name: str, entries: list[dict[str, Any]]) -> list[str]:
    """Set each node group to its planned size unless it is there already; the node groups
    changed. A node group busy with another update is eksops.NotYetConsistent (retried)."""
    changed = []
    for entry in entries:
        nodegroup = describe_nodegroup(eks, cluster_name, entry["nodegroup"])
        if nodegroup is None:
            raise NotYetConsistentError(f"node group {entry['nodegroup']} is not there (yet)")
        if nodegroup["scalingConfig"]["desiredSize"] >= entry["desiredSize"]:
            continue
        apply_size(eks, cluster_name, entry["nodegroup"], entry["desiredSize"])
        changed.append(entry["nodegroup"])
    return changed


def give_back(eks: Any, cluster_name: str, entries: list[dict[str, Any]]) -> list[str]:
    """Set each surged node group back to its size before the surge, unless something else
    changed its size since (then that is left alone); the node groups given back."""
    given = []
    for entry in entries:
        nodegroup = describe_nodegroup(eks, cluster_name, entry["nodegroup"])
        if nodegroup is None or nodegroup["scalingConfig"]["desiredSize"] != entry["desiredSize"]:
            continue
        apply_size(eks, cluster_name, entry["nodegroup"], entry["desiredBefore"])
        given.append(entry["nodegroup"])
    return given


def apply_size(eks: Any, cluster_name: str, name: str, desired: int) -> None:
    """Set the node group's desiredSize; one busy with another update is
    eksops.NotYetConsistent (retried)."""
    try:
        eks.update_nodegroup_config(
            clusterName=cluster_name, nodegroupName=name, scalingConfig={"desiredSize": desired}
        )
    except eks.exceptions.ResourceInUseException as exc:
        raise NotYetConsistentError(f"node group {name} is being updated: {exc}") from None


def surge_waiting(
    eks: Any, autoscaling: Any, core_v1: Any, cluster_name: str, entries: list[dict[str, Any]]
) -> list[str]:
    """What the surge still waits for: per node group, new instances (not there before) whose
    Node is Ready in the node group's zone, as many as it grew."""
    nodes = node_states(core_v1)
    waiting = []
    for entry in entries:
        nodegroup = describe_nodegroup(eks, cluster_name, entry["nodegroup"]) or {}
        new = set(group_instances(autoscaling, nodegroup)) - set(entry["instancesBefore"])
        ready = [
            i for i in new if i in nodes and nodes[i].ready and nodes[i].zone in entry["zones"]
        ]
        wanted = entry["desiredSize"] - entry["desiredBefore"]
        if len(ready) < wanted:
            waiting.append(f"{entry['nodegroup']}: {len(ready)} of {wanted} new nodes Ready")
    return waiting
