"""RebalanceNodegroupsStateMachine on the offline account: the real ASL, handlers, plans table and
EventBridge rules of template.yaml, a cluster made by CreateCluster and per-AZ managed node
groups made by JoinNodegroup, whose nodes the offline EKS registers. Pods are written straight
into the cluster's store, bound to nodes as a scheduler would; each test uses pods, namespaces
and node groups of its own, so the tests do not depend on their order."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eksops.local.account import ACCOUNT_ID, OfflineAccount
from eksops.local.lambda_runtime import INJECTED_FAULT
from eksops.node_cordon import CORDONED_BY, REASON

from tests.support.lifecycle import Execution, create, eventually, finish, run, vpc_subnets

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
CLUSTER = "rebalance"
MACHINE = "RebalanceNodegroupsStateMachine"
ZONES = "abc"
TASK_FUNCTIONS = {
    "StartRebalance": "StartRebalanceFunction",
    "SurgeForReplacement": "SurgeNodegroupFunction",
    "CheckReplacement": "CheckSurgeFunction",
    "PlanAzRebalance": "PlanAzRebalanceFunction",
    "SurgeShortGroups": "SurgeNodegroupFunction",
    "CheckSurge": "CheckSurgeFunction",
    "CordonNode": "CordonNodeFunction",
    "EvictPods": "EvictPodsFunction",
    "FinishNode": "FinishNodeFunction",
    "ReportOutcome": "ReportOutcomeFunction",
}
DRAIN_STEPS = {"CordonNode", "EvictPods", "FinishNode"}  # inside the Map: caught per node
_names = itertools.count()


@pytest.fixture(scope="module")
def account() -> Iterator[OfflineAccount]:
    # clusters and node groups take 1 s to change, nodes 1 s to be Ready; waits run 50x faster
    with OfflineAccount(
        region=REGION, template=ROOT / "template.yaml", time_scale=0.02, eks_delay=1.0
    ) as offline:
        subnets = vpc_subnets(offline.client("ec2"), 1, ZONES, REGION)
        request = {
            "clusterName": CLUSTER,
            "kubernetesVersion": "1.31",
            "vpc": {"subnetIds": subnets},
        }
        created = create(offline, f"create-{CLUSTER}", request)
        assert created.status == "SUCCEEDED", created
        join(offline, "base", size=2, per_az=False)  # where other pods run
        yield offline


def join(account: OfflineAccount, name: str, size: int = 1, per_az: bool = True) -> list[str]:
    """Per-AZ managed node groups <name>-<az> of ``size`` Ready nodes each; their names."""
    cluster = account.client("eks").describe_cluster(name=CLUSTER)["cluster"]
    request = {
        "clusterName": CLUSTER,
        "kind": "managed",
        "name": name,
        "subnetIds": cluster["resourcesVpcConfig"]["subnetIds"],
        "perAz": per_az,
        "scaling": {"minSize": 0, "maxSize": 6, "desiredSize": size},
    }
    joined = run(account, "JoinNodegroupStateMachine", f"join-{name}", request)
    assert joined.status == "SUCCEEDED", joined
    return [nodegroup["name"] for nodegroup in joined.output["nodegroups"]]


def store(account: OfflineAccount) -> Any:
    """The cluster's Kubernetes objects (what kubectl would read)."""
    return account._cluster_apis.server(ACCOUNT_ID, REGION, CLUSTER).store


def nodes_of(account: OfflineAccount, nodegroup: str) -> dict[str, dict[str, Any]]:
    """The node group's Nodes by instance ID."""
    found = {}
    for node in store(account).list("nodes")[0]:
        if node["metadata"]["labels"].get("eks.amazonaws.com/nodegroup") == nodegroup:
            found[node["spec"]["providerID"].rsplit("/", 1)[1]] = node
    return found


def ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def other_node(account: OfflineAccount, name: str) -> str:
    """A Ready node of the cluster other than ``name``."""
    return next(
        n["metadata"]["name"]
        for n in store(account).list("nodes")[0]
        if n["metadata"]["name"] != name and ready(n)
    )


def namespace(account: OfflineAccount) -> str:
    name = f"ns-{next(_names):03d}"
    store(account).create("namespaces", {"metadata": {"name": name}})
    return name


def pod(
    account: OfflineAccount,
    ns: str,
    name: str,
    node: str,
    *,
    owner: str | None = "ReplicaSet",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> None:
    """A running, Ready pod bound to ``node`` (as the scheduler and kubelet leave it)."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "labels": labels or {"app": name},
        "annotations": annotations or {},
    }
    if owner:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner,
                "name": f"{name}-owner",
                "uid": str(uuid.uuid4()),
                "controller": True,
            }
        ]
    store(account).create(
        "pods",
        {
            "metadata": metadata,
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "nginx"}]},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
    )


def budget(account: OfflineAccount, ns: str, name: str, app: str, min_available: int) -> None:
    store(account).create(
        "poddisruptionbudgets.policy",
        {
            "metadata": {"name": name, "namespace": ns},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": app}}},
        },
    )


def pods_in(account: OfflineAccount, ns: str) -> dict[str, str]:
    """Pod name -> node name."""
    return {
        p["metadata"]["name"]: p["spec"]["nodeName"]
        for p in store(account).list("pods")[0]
        if p["metadata"]["namespace"] == ns
    }


def drain(account: OfflineAccount, instance_id: str, **fields: Any) -> Execution:
    request = {"clusterName": CLUSTER, "instanceId": instance_id, "action": "drain", **fields}
    return run(account, MACHINE, f"drain-{next(_names):03d}", request)


def put_signal(account: OfflineAccount, source: str, detail_type: str, detail: dict) -> None:
    entry = {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail),
        "Resources": [],
    }
    answered = account.client("events").put_events(Entries=[entry])
    assert answered["FailedEntryCount"] == 0, answered


def executions_named(account: OfflineAccount, prefix: str) -> list[dict[str, Any]]:
    sfn = account.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=account.resource(MACHINE))["executions"]
    return [e for e in listed if e["name"].startswith(prefix)]


# -- drains ---------------------------------------------------------------------------------------


def test_drain_evicts_the_node_s_pods_and_leaves_daemonset_and_mirror_pods(account) -> None:
    (group, *_) = join(account, "plain", per_az=False)
    ((instance_id, node),) = nodes_of(account, group).items()
    name = node["metadata"]["name"]
    other = other_node(account, name)
    ns = namespace(account)
    pod(account, ns, "web-1", name)
    pod(account, ns, "web-2", name, owner=None)  # bare: evicted, with a warning
    pod(account, ns, "logs", name, owner="DaemonSet")
    pod(account, ns, "static", name, annotations={"kubernetes.io/config.mirror": "x"})
    pod(account, ns, "elsewhere", other)

    done = drain(account, instance_id)

    assert done.status == "SUCCEEDED", done
    assert done.output["outcome"]["status"] == "done"
    (node_outcome,) = done.output["drained"]
    outcomes = {p["pod"]: p["outcome"] for p in node_outcome["pods"]}
    assert outcomes == {
        f"{ns}/web-1": "evicted",
        f"{ns}/web-2": "evicted",
        f"{ns}/logs": "skipped:daemonset",
        f"{ns}/static": "skipped:mirror",
    }
    assert pods_in(account, ns) == {"logs": name, "static": name, "elsewhere": other}
    cordoned = store(account).get("nodes", "", name)
    assert cordoned["spec"]["unschedulable"] is True
    assert cordoned["metadata"]["annotations"][CORDONED_BY] == done.arn
    assert "drained by eksops" in cordoned["metadata"]["annotations"][REASON]


def test_a_budget_that_blocks_then_frees_is_waited_for(account) -> None:
    (group, *_) = join(account, "budget", per_az=False)
    ((instance_id, node),) = nodes_of(account, group).items()
    name = node["metadata"]["name"]
    ns = namespace(account)
    pod(account, ns, "db-0", name, labels={"app": "db"})
    budget(account, ns, "db", "db", min_available=1)  # the only replica: no disruption allowed

    arn = account.client("stepfunctions").start_execution(
        stateMachineArn=account.resource(MACHINE),
        name=f"blocked-{next(_names):03d}",
        input=json.dumps({"clusterName": CLUSTER, "instanceId": instance_id, "action": "drain"}),
    )["executionArn"]

    def blocked_once() -> bool:
        history = account.client("stepfunctions").get_execution_history(executionArn=arn)
        return any(
            e["type"] == "LambdaFunctionSucceeded"
            and '"outcome": "blocked"' in e["lambdaFunctionSucceededEventDetails"]["output"]
            for e in history["events"]
        )

    eventually(blocked_once, "an eviction pass the budget refused", 120)
    assert "db-0" in pods_in(account, ns)
    other = other_node(account, name)
    pod(account, ns, "db-1", other, labels={"app": "db"})  # a second replica: one may go
    done = finish(account, arn)
    assert done.status == "SUCCEEDED", done
    assert pods_in(account, ns) == {"db-1": other}


def test_a_budget_that_never_frees_ends_the_drain_with_the_blocking_pods_named(account) -> None:
    (group, *_) = join(account, "stuck", per_az=False)
    ((instance_id, node),) = nodes_of(account, group).items()
    name = node["metadata"]["name"]
    ns = namespace(account)
    pod(account, ns, "db-0", name, labels={"app": "db"})
    pod(account, ns, "web", name)
    budget(account, ns, "db-budget", "db", min_available=1)

    done = drain(account, instance_id, drainTimeoutSeconds=30)

    assert done.status == "FAILED", done
    assert done.error == "eksops.DrainBlocked"
    assert f"{ns}/db-0 (db-budget)" in (done.cause or "")
    assert pods_in(account, ns) == {"db-0": name}  # the other pod went
    kept = store(account).get("nodes", "", name)
    assert kept["spec"]["unschedulable"] is True
    assert "drain blocked" in kept["metadata"]["annotations"][REASON]


def test_an_instance_of_another_cluster_is_ignored_with_the_reason(account) -> None:
    ec2 = account.client("ec2")
    subnet = account.client("eks").describe_cluster(name=CLUSTER)["cluster"]["resourcesVpcConfig"][
        "subnetIds"
    ][0]
    (instance,) = ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "kubernetes.io/cluster/someone-else", "Value": "owned"}],
            }
        ],
    )["Instances"]
    instance_id = instance["InstanceId"]
    put_signal(
        account,
        "aws.ec2",
        "EC2 Spot Instance Interruption Warning",
        {"instance-id": instance_id, "instance-action": "terminate"},
    )
    (started,) = eventually(
        lambda: executions_named(account, f"spot-interruption-{instance_id}"), "the execution"
    )
    done = finish(account, started["executionArn"])
    assert done.status == "SUCCEEDED", done
    assert "someone-else" in done.output["ignored"]


def test_a_spot_warning_delivered_twice_drains_once(account) -> None:
    (group, *_) = join(account, "spot", per_az=False)
    ((instance_id, node),) = nodes_of(account, group).items()
    ns = namespace(account)
    pod(account, ns, "worker", node["metadata"]["name"])
    detail = {"instance-id": instance_id, "instance-action": "terminate"}
    for _ in range(2):
        put_signal(account, "aws.ec2", "EC2 Spot Instance Interruption Warning", detail)
    name = f"spot-interruption-{instance_id}"
    (started,) = eventually(lambda: executions_named(account, name), "the execution")
    done = finish(account, started["executionArn"])
    assert done.status == "SUCCEEDED", done
    time.sleep(1)  # the second delivery has been routed by now
    assert len(executions_named(account, name)) == 1
    assert pods_in(account, ns) == {}


def test_a_rebalance_recommendation_replaces_the_node_in_its_zone_first(account) -> None:
    groups = join(account, "replace", size=1)
    group = groups[0]
    ((instance_id, node),) = nodes_of(account, group).items()
    zone = node["metadata"]["labels"]["topology.kubernetes.io/zone"]
    ns = namespace(account)
    pod(account, ns, "api-0", node["metadata"]["name"], labels={"app": "api"})
    other_group_node = next(iter(nodes_of(account, groups[1]).values()))["metadata"]["name"]
    pod(account, ns, "api-1", other_group_node, labels={"app": "api"})
    budget(account, ns, "api", "api", min_available=1)  # one of the two may go
    detail = {"instance-id": instance_id}
    for _ in range(2):
        put_signal(account, "aws.ec2", "EC2 Instance Rebalance Recommendation", detail)
    name = f"rebalance-recommendation-{instance_id}"
    (started,) = eventually(lambda: executions_named(account, name), "the execution")
    done = finish(account, started["executionArn"])

    assert done.status == "SUCCEEDED", done
    assert len(executions_named(account, name)) == 1
    assert pods_in(account, ns) == {"api-1": other_group_node}  # the other pod untouched
    eks = account.client("eks")
    scaling = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=group)["nodegroup"][
        "scalingConfig"
    ]
    assert scaling["desiredSize"] == 1  # surged to 2, then the old instance went (decremented)
    now = eventually(
        lambda: (n := nodes_of(account, group)) and instance_id not in n and n,
        "the replaced node gone",
    )
    ((new_id, new_node),) = now.items()
    assert new_id != instance_id
    assert ready(new_node)
    assert new_node["metadata"]["labels"]["topology.kubernetes.io/zone"] == zone


def crash_after(account: OfflineAccount, state: str, request: dict[str, Any]) -> None:
    """An execution of ``request`` whose ``state`` crashes after its step ran."""
    account.inject_fault(TASK_FUNCTIONS[state], after=True)
    try:
        crashed = run(account, MACHINE, f"crash-{next(_names):03d}", request)
        assert account.pending_faults() == [], "the step never ran"
    finally:
        account.clear_faults()
    assert crashed.status == "FAILED", crashed
    if state in DRAIN_STEPS:  # the other nodes' drains went on; the run fails at its end
        assert crashed.error == "eksops.DrainFailed"
        assert INJECTED_FAULT in (crashed.cause or "")
    else:
        assert crashed.error == INJECTED_FAULT


# -- crash at every Task state, then a re-run -----------------------------------------------------


def test_every_lambda_task_is_covered() -> None:
    definition = json.loads((ROOT / "statemachines" / "rebalance_nodegroups.asl.json").read_text())
    states = dict(definition["States"])
    states.update(definition["States"]["DrainNodes"]["ItemProcessor"]["States"])
    tasks = {
        name: state["Resource"][2:-1].removesuffix("Arn")
        for name, state in states.items()
        if state["Type"] == "Task" and state["Resource"].startswith("${")
    }
    assert tasks == TASK_FUNCTIONS


@pytest.mark.parametrize(
    "state",
    [
        "StartRebalance",
        "SurgeForReplacement",
        "CheckReplacement",
        "CordonNode",
        "EvictPods",
        "FinishNode",
        "ReportOutcome",
    ],
)
def test_crash_after_a_replacement_step_then_rerun_converges(account, state) -> None:
    group = f"crash-{state.lower()}"[:30]
    (nodegroup,) = join(account, group, per_az=False)
    ((instance_id, node),) = nodes_of(account, nodegroup).items()
    ns = namespace(account)
    pod(account, ns, "app", node["metadata"]["name"])
    request = {
        "clusterName": CLUSTER,
        "instanceId": instance_id,
        "action": "drain",
        "replace": True,
    }
    crash_after(account, state, request)

    rerun = run(account, MACHINE, f"rerun-{next(_names):03d}", request)
    assert rerun.status == "SUCCEEDED", rerun
    scaling = account.client("eks").describe_nodegroup(
        clusterName=CLUSTER, nodegroupName=nodegroup
    )["nodegroup"]["scalingConfig"]
    assert scaling["desiredSize"] == 1  # one surge, one decrement: never two
    assert pods_in(account, ns) == {}
    now = eventually(
        lambda: (n := nodes_of(account, nodegroup)) and instance_id not in n and n,
        "the replaced node gone",
    )
    assert len(now) == 1


def test_an_instance_already_leaving_its_group_is_not_replaced_again(account) -> None:
    """EC2 still says "running" while a terminate lifecycle hook holds an instance (EKS's own
    does after every replacement): a late signal or a re-run must not surge a second time."""
    (nodegroup,) = join(account, "leaving", per_az=False)
    ((instance_id, _node),) = nodes_of(account, nodegroup).items()
    eks, autoscaling = account.client("eks"), account.client("autoscaling")
    described = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=nodegroup)["nodegroup"]
    group = described["resources"]["autoScalingGroups"][0]["name"]
    autoscaling.put_lifecycle_hook(
        LifecycleHookName="hold",
        AutoScalingGroupName=group,
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=7200,
        DefaultResult="CONTINUE",
    )
    autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=instance_id, ShouldDecrementDesiredCapacity=True
    )
    eventually(
        lambda: autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])[
            "AutoScalingInstances"
        ][0]["LifecycleState"].startswith("Terminating"),
        "the instance held by the hook",
    )
    desired = described["scalingConfig"]["desiredSize"]
    try:
        done = drain(account, instance_id, replace=True)
    finally:
        autoscaling.complete_lifecycle_action(
            LifecycleHookName="hold",
            AutoScalingGroupName=group,
            InstanceId=instance_id,
            LifecycleActionResult="CONTINUE",
        )
    assert done.status == "SUCCEEDED", done
    assert f"instance {instance_id} is leaving Auto Scaling group" in json.dumps(
        done.history, default=str
    )
    scaling = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=nodegroup)["nodegroup"][
        "scalingConfig"
    ]
    assert scaling["desiredSize"] <= desired  # no surge


def test_a_replacement_that_never_gets_ready_still_drains_the_node_and_keeps_it(account) -> None:
    (group,) = join(account, "late", per_az=False)
    ((instance_id, node),) = nodes_of(account, group).items()
    ns = namespace(account)
    pod(account, ns, "api", node["metadata"]["name"])
    reconciler = account._nodes
    ready_delay, reconciler.ready_delay = reconciler.ready_delay, 10**6  # new nodes stay NotReady
    try:
        done = drain(account, instance_id, replace=True)
    finally:
        reconciler.ready_delay = ready_delay

    assert done.status == "SUCCEEDED", done
    assert "ReplacementLate" in done.states_entered()
    (drained,) = done.output["drained"]
    assert drained["outcome"] == "drained"
    assert "instance" not in drained  # not terminated: no replacement took its place
    assert pods_in(account, ns) == {}
    kept = nodes_of(account, group)[instance_id]
    assert kept["spec"]["unschedulable"] is True
    assert "replacement late, kept: no new node Ready" in kept["metadata"]["annotations"][REASON]
    scaling = account.client("eks").describe_nodegroup(clusterName=CLUSTER, nodegroupName=group)[
        "nodegroup"
    ]["scalingConfig"]
    assert scaling["desiredSize"] == 2  # the surge stays: the late node may still come


# -- AZ skew --------------------------------------------------------------------------------------


def zonal_volume(account: OfflineAccount, ns: str, claim: str, zone: str) -> None:
    """A claim bound to an EBS volume pinned to ``zone`` (as the EBS CSI driver makes them)."""
    volume = f"pv-{claim}-{ns}"
    store(account).create(
        "persistentvolumes",
        {
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "csi": {
                    "driver": "ebs.csi.aws.com",
                    "volumeHandle": f"vol-{uuid.uuid4().hex[:17]}",
                },
                "claimRef": {"namespace": ns, "name": claim},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "topology.ebs.csi.aws.com/zone",
                                        "operator": "In",
                                        "values": [zone],
                                    }
                                ]
                            }
                        ]
                    }
                },
            },
        },
    )
    store(account).create(
        "persistentvolumeclaims",
        {
            "metadata": {"name": claim, "namespace": ns},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
                "volumeName": volume,
            },
        },
    )


def scale_to(account: OfflineAccount, sizes: dict[str, int]) -> None:
    eks = account.client("eks")
    for nodegroup, size in sizes.items():
        eks.update_nodegroup_config(
            clusterName=CLUSTER, nodegroupName=nodegroup, scalingConfig={"desiredSize": size}
        )
    eventually(
        lambda: (
            all(
                len([n for n in nodes_of(account, g).values() if ready(n)]) == size
                for g, size in sizes.items()
            )
            and all(
                eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=g)["nodegroup"]["status"]
                == "ACTIVE"
                for g in sizes
            )
        ),
        f"node groups at {sizes}",
        120,
    )


def rebalance_az(account: OfflineAccount, family: str) -> tuple[Execution, dict[str, Any]]:
    """A rebalance-az run, and its plan for ``family``."""
    done = run(
        account,
        MACHINE,
        f"skew-{next(_names):03d}",
        {"clusterName": CLUSTER, "action": "rebalance-az"},
    )
    plans = [f for f in (done.output or {}).get("plan", {}).get("families", [])]
    return done, next((f for f in plans if f["family"] == family), {})


def test_skew_5_1_0_is_evened_out_with_the_fewest_moves(account) -> None:
    groups = join(account, "skew", size=1)  # skew-<region>a, -b, -c
    long, short, empty = groups
    scale_to(account, {long: 5, short: 1, empty: 0})
    long_nodes = nodes_of(account, long)
    zone = next(iter(long_nodes.values()))["metadata"]["labels"]["topology.kubernetes.io/zone"]
    ns = namespace(account)
    pinned_node, *others = sorted(n["metadata"]["name"] for n in long_nodes.values())
    zonal_volume(account, ns, "data", zone)
    store(account).create(
        "pods",
        {
            "metadata": {
                "name": "db-0",
                "namespace": ns,
                "labels": {"app": "db"},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "StatefulSet",
                        "name": "db",
                        "uid": str(uuid.uuid4()),
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "nodeName": pinned_node,
                "containers": [{"name": "db", "image": "postgres"}],
                "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
            },
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        },
    )
    for index, node in enumerate(others):
        pod(account, ns, f"web-{index}", node)

    done, family = rebalance_az(account, "skew")

    assert done.status == "SUCCEEDED", done
    assert family["moves"] == 3
    assert sorted(family["after"].values()) == [2, 2, 2]
    removed = {r["node"] for r in family["remove"]}
    assert len(removed) == 3
    assert pinned_node not in removed  # its pod can only run in its volume's zone
    sizes = {
        g: account.client("eks").describe_nodegroup(clusterName=CLUSTER, nodegroupName=g)[
            "nodegroup"
        ]["scalingConfig"]["desiredSize"]
        for g in groups
    }
    assert sizes == {long: 2, short: 2, empty: 2}
    eventually(
        lambda: all(
            len([n for n in nodes_of(account, g).values() if ready(n)]) == 2 for g in groups
        ),
        "two Ready nodes per zone",
        120,
    )
    assert pods_in(account, ns)["db-0"] == pinned_node
    assert not {name for name, node in pods_in(account, ns).items() if node in removed}

    again, family = rebalance_az(account, "skew")
    assert again.status == "SUCCEEDED", again
    assert family["moves"] == 0


@pytest.mark.parametrize(
    "state", ["PlanAzRebalance", "SurgeShortGroups", "CheckSurge", "FinishNode"]
)
def test_crash_in_an_az_rebalance_then_rerun_converges(account, state) -> None:
    groups = join(account, f"sk{next(_names):03d}", size=1)
    scale_to(account, dict(zip(groups, (3, 1, 1), strict=True)))
    request = {"clusterName": CLUSTER, "action": "rebalance-az"}
    crash_after(account, state, request)

    rerun = run(account, MACHINE, f"rerun-{next(_names):03d}", request)
    assert rerun.status == "SUCCEEDED", rerun
    eks = account.client("eks")
    sizes = [
        eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=g)["nodegroup"]["scalingConfig"][
            "desiredSize"
        ]
        for g in groups
    ]
    assert sizes[0] == 2  # 3/1/1: one node moved out of the long zone, never two
    assert sorted(sizes) == [1, 2, 2]


def test_a_node_that_fails_does_not_stop_the_others_and_a_rerun_takes_the_plan_over(
    account,
) -> None:
    prefix = f"sk{next(_names):03d}"
    groups = join(account, prefix, size=1)
    scale_to(account, dict(zip(groups, (4, 1, 1), strict=True)))
    request = {"clusterName": CLUSTER, "action": "rebalance-az"}
    account.inject_fault(TASK_FUNCTIONS["FinishNode"], after=False)
    try:
        failed = run(account, MACHINE, f"fails-{next(_names):03d}", request)
    finally:
        account.clear_faults()
    assert failed.status == "FAILED", failed
    assert failed.error == "eksops.DrainFailed"
    assert INJECTED_FAULT in (failed.cause or "")
    eks_client = account.client("eks")

    def sizes() -> list[int]:
        return [
            eks_client.describe_nodegroup(clusterName=CLUSTER, nodegroupName=g)["nodegroup"][
                "scalingConfig"
            ]["desiredSize"]
            for g in groups
        ]

    assert sizes() == [3, 2, 2]  # the other node's drain went on: it is gone

    rerun = run(account, MACHINE, f"rerun-{next(_names):03d}", request)
    assert rerun.status == "SUCCEEDED", rerun
    (family,) = [f for f in rerun.output["plan"]["families"] if f["family"] == prefix]
    assert family["moves"] == 2  # the same plan, taken over
    assert sizes() == [2, 2, 2]


# -- more signals ---------------------------------------------------------------------------------


def test_a_terminate_lifecycle_action_waits_for_the_drain_then_continues(account) -> None:
    (group,) = join(account, "hooked", per_az=False)
    ((instance_id, node),) = nodes_of(account, group).items()
    ns = namespace(account)
    pod(account, ns, "job", node["metadata"]["name"])
    eks, autoscaling = account.client("eks"), account.client("autoscaling")
    (asg,) = eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=group)["nodegroup"][
        "resources"
    ]["autoScalingGroups"]
    autoscaling.put_lifecycle_hook(
        LifecycleHookName="eksops-drain",
        AutoScalingGroupName=asg["name"],
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=300,
        DefaultResult="ABANDON",
    )
    autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=instance_id, ShouldDecrementDesiredCapacity=True
    )
    name = f"terminate-lifecycle-action-{instance_id}-eksops-drain"
    (started,) = eventually(lambda: executions_named(account, name), "the execution", 60)
    done = finish(account, started["executionArn"])

    assert done.status == "SUCCEEDED", done
    assert "drained" in done.output, done.output
    (outcome,) = done.output["drained"]
    assert outcome["lifecycleAction"] == "CONTINUE"
    assert [p["outcome"] for p in outcome["pods"]] == ["evicted"]
    eventually(
        lambda: (
            account.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0][
                "Instances"
            ][0]["State"]["Name"]
            in ("shutting-down", "terminated")
        ),
        "the instance terminated once the action went on",
    )


def test_an_instance_stopping_is_drained(account) -> None:
    (group,) = join(account, "stopping", per_az=False)
    ((instance_id, node),) = nodes_of(account, group).items()
    ns = namespace(account)
    pod(account, ns, "web", node["metadata"]["name"])
    detail = {"instance-id": instance_id, "state": "stopping"}
    put_signal(account, "aws.ec2", "EC2 Instance State-change Notification", detail)
    name = f"state-change-{instance_id}"
    (started,) = eventually(lambda: executions_named(account, name), "the execution")
    done = finish(account, started["executionArn"])
    assert done.status == "SUCCEEDED", done
    assert pods_in(account, ns) == {}


def test_the_schedule_checks_every_managed_cluster_for_skew(account) -> None:
    from eksops.local.control import call

    sent = call(
        account.endpoint_url, "fire-schedule", {"rule": "RouteRebalanceSignalFunctionAzSkewCheck"}
    )
    assert sent, sent
    (started,) = eventually(
        lambda: executions_named(account, f"az-skew-{CLUSTER}-"), "the scheduled check", 60
    )
    done = finish(account, started["executionArn"])
    assert done.status == "SUCCEEDED", done
    described = account.client("stepfunctions").describe_execution(
        executionArn=started["executionArn"]
    )
    assert json.loads(described["input"]) == {"clusterName": CLUSTER, "action": "rebalance-az"}
    assert "PlanAzRebalance" in done.states_entered()
