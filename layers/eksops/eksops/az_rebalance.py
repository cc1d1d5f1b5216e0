"""The AZ rebalance of a cluster: its per-AZ node group families read from EKS, EC2, Auto
Scaling and Kubernetes, each family's plan (az_skew) kept in the plans table before anything
changes, and the surge and the drains the workflow carries out."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eksops import az_skew, drain_plan, nodegroup_surge, rebalance_plans
from eksops.execution_status import Running
from eksops.models.remediation_steps import DrainTarget
from eksops.node_readiness import instance_id_of

Clock = Callable[[], datetime]
ZONE_LABEL = "topology.kubernetes.io/zone"
NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"


@dataclass(frozen=True)
class PlanSettings:
    """How one run plans: its execution, each drain's budget and the cap on moves."""

    execution_id: str
    drain_seconds: int
    max_moves: int


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
    max_moves: int,
) -> dict[str, Any]:
    """One family's plan with what carries it out: the surge entries (sizes before and after,
    the instances before) and a drain target per node to remove."""
    planned = az_skew.plan(family, facts, max_moves)
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
    settings: PlanSettings,
    running: Running,
    now: Clock,
) -> dict[str, Any]:
    """Every family's plan: a family with a plan not yet ended follows it (a re-run after a
    failure takes it over), or is left to the running execution that carries it out; another
    gets a new plan, kept before anything changes when it moves nodes. All the plans together
    move at most ``settings.max_moves`` nodes."""
    eks, autoscaling = target.client("eks"), target.client("autoscaling")
    nodegroups = nodegroup_surge.cluster_nodegroups(eks, target.client("ec2"), cluster_name)
    by_name = {nodegroup["nodegroupName"]: nodegroup for nodegroup in nodegroups}
    families, excluded = az_skew.group_families(nodegroups)
    facts = node_facts(core_v1) if families else []
    plans, keys, busy, fresh = [], [], [], []
    execution_id = settings.execution_id
    for family in families:  # plans already open first: their moves count against the cap
        key = rebalance_plans.skew_key(cluster_name, family.name)
        found = rebalance_plans.held(table, key, execution_id, running, now)
        if found.holder is not None:
            busy.append({"family": family.name, "carriedOutBy": found.holder})
        elif found.plan is not None:
            plans.append(found.plan)
            keys.append(key)
        else:
            fresh.append((family, key))
    remaining = max(0, settings.max_moves - sum(plan["result"]["moves"] for plan in plans))
    for family, key in fresh:
        plan = family_plan(
            family, facts, by_name, autoscaling, settings.drain_seconds, execution_id, remaining
        )
        if not plan["result"]["moves"]:
            plans.append(plan)
            continue
        found = rebalance_plans.record_plan(table, key, plan, execution_id, running, now)
        if found.plan is None:
            busy.append({"family": family.name, "carriedOutBy": found.holder})
            continue
        plans.append(found.plan)
        keys.append(key)
        remaining = max(0, remaining - found.plan["result"]["moves"])
    return {
        "families": [plan["result"] for plan in plans],
        "excluded": [entry.result() for entry in excluded],
        "inProgress": busy,
        "moves": sum(plan["result"]["moves"] for plan in plans),
        "surge": [entry for plan in plans for entry in plan["surge"]],
        "drain": [target for plan in plans for target in plan["drain"]],
        "keys": keys,
    }
