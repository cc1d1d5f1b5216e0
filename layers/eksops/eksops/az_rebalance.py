"""The AZ rebalance of a cluster: its per-AZ node group families read from EKS, EC2, Auto
Scaling and Kubernetes, each family's plan (az_skew) kept in the plans table before anything
changes, and the surge and the drains the workflow carries out."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from eksops import az_skew, drain_plan, nodegroup_surge, rebalance_plans
from eksops.models.remediation_steps import DrainTarget
from eksops.node_readiness import instance_id_of

Clock = Callable[[], datetime]
ZONE_LABEL = "topology.kubernetes.io/zone"
NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"


def _items(response: Any) -> list[dict[str, Any]]:
    return json.loads(response.data)["items"]


def node_facts(core_v1: Any) -> list[dict[str, Any]]:
    """Per node of a managed node group, what the planner weighs: readiness, cordon, how many
    pods a drain would evict, and which of them are bound to a zonal volume of its zone."""
    nodes = _items(core_v1.list_node(_preload_content=False))
    pods = _items(core_v1.list_pod_for_all_namespaces(_preload_content=False))
    claims = _items(core_v1.list_persistent_volume_claim_for_all_namespaces(_preload_content=False))
    volumes = _items(core_v1.list_persistent_volume(_preload_content=False))
    zones = {
        node["metadata"]["name"]: node["metadata"].get("labels", {}).get(ZONE_LABEL, "")
        for node in nodes
    }
    unmovable = az_skew.unmovable_pods(pods, claims, volumes, zones)
    pods_of: dict[str, list[dict[str, Any]]] = {name: [] for name in zones}
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name in pods_of:
            pods_of[node_name].append(pod)
    facts = []
    for node in nodes:
        labels, name = node["metadata"].get("labels", {}), node["metadata"]["name"]
        instance_id = instance_id_of((node.get("spec") or {}).get("providerID"))
        if NODEGROUP_LABEL not in labels or instance_id is None:
            continue
        conditions = (node.get("status") or {}).get("conditions") or []
        decisions = drain_plan.classify(pods_of[name])
        facts.append(
            {
                "name": name,
                "instanceId": instance_id,
                "zone": zones[name],
                "nodegroup": labels[NODEGROUP_LABEL],
                "ready": any(c["type"] == "Ready" and c["status"] == "True" for c in conditions),
                "cordoned": bool((node.get("spec") or {}).get("unschedulable")),
                "pods": sum(decision.action == "evict" for decision in decisions),
                "unmovablePods": unmovable.get(name, []),
            }
        )
    return facts


def family_plan(
    family: az_skew.Family,
    facts: list[dict[str, Any]],
    nodegroups: dict[str, dict[str, Any]],
    autoscaling: Any,
    drain_seconds: int,
    execution_id: str,
) -> dict[str, Any]:
    """One family's plan with what carries it out: the surge entries (sizes before and after,
    the instances before) and a drain target per node to remove."""
    planned = az_skew.plan(family, facts)
    zone_of = {member.nodegroup: member.zone for member in family.members}
    return {
        "family": family.name,
        "result": planned.result(),
        "surge": [
            nodegroup_surge.surge_entry(autoscaling, nodegroups[name], desired)
            for name, desired in planned.surge.items()
        ],
        "drain": [
            DrainTarget(
                instance_id=removal.instance_id,
                node_name=removal.node,
                availability_zone=zone_of[removal.nodegroup],
                nodegroup=removal.nodegroup,
                reason=(
                    f"AZ rebalance of {family.name}: moving a node out of "
                    f"{zone_of[removal.nodegroup]} (eksops, {execution_id})"
                ),
                deadline_seconds=drain_seconds,
                terminate=True,
                on_blocked="uncordon",
            ).model_dump(by_alias=True)
            for removal in planned.remove
        ],
    }


def plan_cluster(
    cluster_name: str,
    target: Any,
    core_v1: Any,
    table: Any,
    drain_seconds: int,
    execution_id: str,
    now: Clock,
) -> dict[str, Any]:
    """Every family's plan: a family with a plan not yet done (a re-run after a failure)
    follows it; another gets a new plan, kept before anything changes when it moves nodes."""
    eks, autoscaling = target.client("eks"), target.client("autoscaling")
    nodegroups = nodegroup_surge.cluster_nodegroups(eks, target.client("ec2"), cluster_name)
    by_name = {nodegroup["nodegroupName"]: nodegroup for nodegroup in nodegroups}
    families, excluded = az_skew.group_families(nodegroups)
    facts = node_facts(core_v1) if families else []
    plans, keys = [], []
    for family in families:
        key = rebalance_plans.skew_key(cluster_name, family.name)
        found = rebalance_plans.open_plan(table, key)
        if found is not None and found[1] == rebalance_plans.PLANNED:
            plans.append(found[0])
            keys.append(key)
            continue
        plan = family_plan(family, facts, by_name, autoscaling, drain_seconds, execution_id)
        if plan["result"]["moves"]:
            plans.append(rebalance_plans.record_plan(table, key, plan, execution_id, now))
            keys.append(key)
        else:
            plans.append(plan)
    return {
        "families": [plan["result"] for plan in plans],
        "excluded": [entry.result() for entry in excluded],
        "moves": sum(plan["result"]["moves"] for plan in plans),
        "surge": [entry for plan in plans for entry in plan["surge"]],
        "drain": [target for plan in plans for target in plan["drain"]],
        "keys": keys,
    }
