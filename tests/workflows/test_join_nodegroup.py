"""JoinNodegroupStateMachine on the offline account: the real ASL in moto's interpreter, the real
handlers in Lambda workers, nodes registered by the offline EKS only when their role is
authorized. Clusters are made by CreateClusterStateMachine (its steps' role is the clusters'
creator, so the JoinNodegroup steps may edit aws-auth); each test joins node groups or roles of
its own names, so the tests do not depend on their order."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from eksops.local import eks
from eksops.local.account import ACCOUNT_ID, ApiCall, OfflineAccount
from eksops.local.lambda_runtime import INJECTED_FAULT
from eksops.node_role import NODE_POLICIES
from eksops.nodegroup_spec import AUTOSCALER_CLUSTER_TAG, AUTOSCALER_ENABLED_TAG
from eksops.ownership import CREATED_BY_TAG
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import fleet
from tests.support.lifecycle import Execution, create, eventually, finish, run, start, vpc_subnets

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
MACHINE = "JoinNodegroupStateMachine"
NODE_GROUPS = ["system:bootstrappers", "system:nodes"]
NODE_USERNAME = "system:node:{{EC2PrivateDNSName}}"
# The Lambda Task states of JoinNodegroupStateMachine and the template function each invokes.
TASK_FUNCTIONS = {
    "ValidateInput": "ValidateNodegroupInputFunction",
    "EnsureNodeRole": "EnsureNodeRoleFunction",
    "AuthorizeNodes": "AuthorizeNodesFunction",
    "CreateNodegroups": "CreateNodegroupsFunction",
    "CheckNodegroupStatus": "CheckNodegroupStatusFunction",
    "CheckNodesReady": "CheckNodesReadyFunction",
}
_names = itertools.count()


@pytest.fixture(scope="module")
def account() -> Iterator[OfflineAccount]:
    # clusters and node groups take 1 s to change, nodes 1 s to be Ready; waits run 50x faster
    with OfflineAccount(
        region=REGION, template=ROOT / "template.yaml", time_scale=0.02, eks_delay=1.0
    ) as offline:
        yield offline


@dataclass(frozen=True)
class Network:
    subnets: list[str]  # one VPC, three AZs
    elsewhere: list[str]  # another VPC


@pytest.fixture(scope="module")
def network(account: OfflineAccount) -> Network:
    ec2 = account.client("ec2")

    return Network(vpc_subnets(ec2, 1, "abc", REGION), vpc_subnets(ec2, 2, "ab", REGION))


def make_cluster(account: OfflineAccount, network: Network, name: str, mode: str) -> str:
    request = {
        "clusterName": name,
        "kubernetesVersion": "1.31",
        "vpc": {"subnetIds": network.subnets},
        "authenticationMode": mode,
    }
    created = create(account, f"create-{name}", request)
    assert created.status == "SUCCEEDED", created
    return name


@pytest.fixture(scope="module")
def api_cluster(account: OfflineAccount, network: Network) -> str:
    return make_cluster(account, network, "joins-api", "API_AND_CONFIG_MAP")


@pytest.fixture(scope="module")
def configmap_cluster(account: OfflineAccount, network: Network) -> str:
    return make_cluster(account, network, "joins-configmap", "CONFIG_MAP")


def join(account: OfflineAccount, request: dict[str, Any]) -> Execution:
    return run(account, MACHINE, f"join-{next(_names):03d}", request)


def store(account: OfflineAccount, cluster: str) -> Any:
    """The cluster's Kubernetes objects (what kubectl would read)."""
    return account._cluster_apis.server(ACCOUNT_ID, REGION, cluster).store


def ready_nodes(account: OfflineAccount, cluster: str) -> dict[str, dict[str, Any]]:
    """Ready Nodes by the instance ID of their providerID."""
    found = {}
    for node in store(account, cluster).list("nodes")[0]:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        if ready and ready[0]["status"] == "True":
            found[node["spec"]["providerID"].rsplit("/", 1)[1]] = node
    return found


def map_roles(account: OfflineAccount, cluster: str) -> list[dict[str, Any]]:
    config_map = store(account, cluster).find("configmaps", "kube-system", "aws-auth")
    return yaml.safe_load((config_map or {}).get("data", {}).get("mapRoles") or "[]")


def mutations(calls: list[ApiCall]) -> list[str]:
    """Mutating AWS calls, without the Lambda invocations and executions that run the steps."""
    return [
        call.action
        for call in calls
        if call.mutating and call.service not in ("lambda", "states", "logs")
    ]


def managed(cluster: str, name: str, subnets: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "clusterName": cluster,
        "kind": "managed",
        "name": name,
        "subnetIds": subnets,
        "scaling": {"minSize": 1, "maxSize": 3, "desiredSize": 1},
        **fields,
    }


# -- managed, one node group per AZ ------------------------------------------------------------


def test_managed_per_az_nodes_ready_in_three_zones(account, network, api_cluster) -> None:
    request = managed(
        api_cluster,
        "zonal",
        network.subnets,
        perAz=True,
        autoscaler=True,
        labels={"team": "blue"},
        taints=[{"key": "dedicated", "value": "blue", "effect": "NO_SCHEDULE"}],
    )
    joined = join(account, request)
    assert joined.status == "SUCCEEDED", joined

    zones = [f"{REGION}{z}" for z in "abc"]
    output = joined.output
    assert [g["name"] for g in output["nodegroups"]] == [f"zonal-{zone}" for zone in zones]
    assert output["nodesPerAvailabilityZone"] == dict.fromkeys(zones, 1)
    eks = account.client("eks")
    role_arn = output["nodeRole"]["roleArn"]
    assert role_arn == f"arn:aws:iam::{ACCOUNT_ID}:role/eksops/{api_cluster}-zonal-node-role"
    for zone, subnet in zip(zones, network.subnets, strict=True):
        group = eks.describe_nodegroup(clusterName=api_cluster, nodegroupName=f"zonal-{zone}")
        nodegroup = group["nodegroup"]
        assert nodegroup["status"] == "ACTIVE"
        assert nodegroup["subnets"] == [subnet]
        assert nodegroup["nodeRole"] == role_arn
        assert nodegroup["labels"] == {"team": "blue"}
        assert nodegroup["tags"][AUTOSCALER_ENABLED_TAG] == "true"
        assert nodegroup["tags"][AUTOSCALER_CLUSTER_TAG.format(api_cluster)] == "owned"
        assert nodegroup["tags"][CREATED_BY_TAG] == joined.arn

    nodes = ready_nodes(account, api_cluster)
    ours = [n for n in nodes.values() if n["metadata"]["labels"].get("team") == "blue"]
    assert sorted(n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in ours) == zones
    assert sorted(n["instanceId"] for n in output["nodes"]) == sorted(
        n["spec"]["providerID"].rsplit("/", 1)[1] for n in ours
    )
    entry = eks.describe_access_entry(clusterName=api_cluster, principalArn=role_arn)
    assert entry["accessEntry"]["type"] == "EC2_LINUX"
    iam = account.client("iam")
    attached = iam.list_attached_role_policies(RoleName=role_arn.rsplit("/", 1)[1])
    assert sorted(p["PolicyName"] for p in attached["AttachedPolicies"]) == sorted(NODE_POLICIES)

    # re-running converges: the same node groups adopted, nothing created or changed
    with account.recording() as calls:
        again = join(account, request)
    assert again.status == "SUCCEEDED", again
    assert [g["arn"] for g in again.output["nodegroups"]] == [
        g["arn"] for g in output["nodegroups"]
    ]
    assert not any(g["created"] for g in again.output["nodegroups"])
    assert mutations(calls) == []


def test_a_node_group_that_differs_is_a_conflict_and_nothing_changes(
    account, network, api_cluster
) -> None:
    request = managed(api_cluster, "fixed", network.subnets[:1], waitForNodes=False)
    first = join(account, request)
    assert first.status == "SUCCEEDED", first

    changed = {**request, "scaling": {"minSize": 2, "maxSize": 5, "desiredSize": 2}}
    changed["labels"] = {"tier": "db"}
    with account.recording() as calls:
        conflict = join(account, changed)
    assert conflict.status == "FAILED", conflict
    assert conflict.error == "eksops.NodegroupConflict"
    message = conflict.error_message()
    assert "fixed scalingConfig.minSize" in message
    assert "fixed scalingConfig.maxSize" in message
    assert "fixed labels" in message
    assert mutations(calls) == []


def test_a_node_group_that_fails_to_create_fails_fast_with_its_codes_and_hints(
    account, network, api_cluster
) -> None:
    """EKS's node join check fails the node group's instances (as when their bootstrap cannot
    reach the cluster): CREATE_FAILED with NodeCreationFailure, seen at the first poll."""
    reconciler = account._nodes

    def doomed_never_join(nodes: eks.Nodes) -> list[str]:
        if nodes.nodegroup_name == "doomed":
            return list(nodes.instance_ids)
        return reconciler.join_check(nodes)

    eks.set_node_join_check(doomed_never_join)
    try:
        failed = join(account, managed(api_cluster, "doomed", network.subnets[:1]))
    finally:
        eks.set_node_join_check(reconciler.join_check)
    assert failed.status == "FAILED", failed
    assert failed.error == "eksops.NodegroupFailed"
    message = failed.error_message()
    assert "doomed is CREATE_FAILED: NodeCreationFailure (i-" in message
    assert "Hint: instances started but did not register" in message
    assert "CheckNodesReady" not in failed.states_entered()  # no timeout waited out


# -- self-managed in CONFIG_MAP mode -----------------------------------------------------------


def test_self_managed_nodes_join_only_after_the_mapping(
    account, network, configmap_cluster
) -> None:
    iam, ec2 = account.client("iam"), account.client("ec2")
    role = fleet.node_role(iam, "fleet-nodes")
    group = fleet.auto_scaling_group(
        ec2,
        iam,
        account.client("autoscaling"),
        name="fleet",
        cluster=configmap_cluster,
        profile="fleet-nodes",
        subnets=network.subnets,
    )
    instances = [
        i["InstanceId"]
        for g in account.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[group]
        )["AutoScalingGroups"]
        for i in g["Instances"]
    ]
    assert len(instances) == 2
    # the instances run, but their role is not mapped: the offline EKS refuses them
    eventually(
        lambda: all(
            r["Instances"][0]["State"]["Name"] == "running"
            for r in ec2.describe_instances(InstanceIds=instances)["Reservations"]
        ),
        "instances running",
    )
    account._nodes.reconcile_once()
    assert not set(instances) & set(ready_nodes(account, configmap_cluster))
    assert not store(account, configmap_cluster).list("nodes")[0]

    request = {
        "clusterName": configmap_cluster,
        "kind": "self-managed",
        "nodeRoleArn": role,
        "autoScalingGroupName": group,
    }
    joined = join(account, request)
    assert joined.status == "SUCCEEDED", joined
    assert set(instances) <= set(ready_nodes(account, configmap_cluster))
    path_less = f"arn:aws:iam::{ACCOUNT_ID}:role/fleet-nodes"  # how aws-auth matches roles
    entry = {"rolearn": path_less, "username": NODE_USERNAME, "groups": NODE_GROUPS}
    assert [e for e in map_roles(account, configmap_cluster) if e["rolearn"] == path_less] == [
        entry
    ]
    changes = joined.output["authorization"]["awsAuthChanges"]
    assert changes == [{"section": "mapRoles", "change": "added", **entry}]

    again = join(account, request)
    assert again.status == "SUCCEEDED", again
    assert again.output["authorization"]["awsAuthChanges"] == []


def test_nodes_that_never_join_are_named_with_their_likely_cause(
    account, network, configmap_cluster
) -> None:
    iam = account.client("iam")
    fleet.node_role(iam, "stray-nodes")
    authorized = fleet.node_role(iam, "authorized-nodes")
    group = fleet.auto_scaling_group(
        account.client("ec2"),
        iam,
        account.client("autoscaling"),
        name="stray",
        cluster=configmap_cluster,
        profile="stray-nodes",  # not the role the input authorizes
        subnets=network.subnets[:1],
        size=1,
    )
    request = {
        "clusterName": configmap_cluster,
        "kind": "self-managed",
        "nodeRoleArn": authorized,
        "autoScalingGroupName": group,
        "timeoutSeconds": 60,
    }
    failed = join(account, request)
    assert failed.status == "FAILED", failed
    assert failed.error == "eksops.NodesNotJoined"
    message = failed.error_message()
    (instance,) = account.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[group]
    )["AutoScalingGroups"][0]["Instances"]
    assert instance["InstanceId"] in message
    assert "stray-nodes" in message
    assert "the role authorized for nodes is" in message


def foreign_cluster(account: OfflineAccount, network: Network, name: str, mode: str) -> None:
    """A cluster eksops did not create: its creator is the test's identity, not eksops's."""
    iam, eks_client = account.client("iam"), account.client("eks")
    role = iam.create_role(
        RoleName=f"{name}-cluster", AssumeRolePolicyDocument=json.dumps(fleet.EC2_TRUST)
    )["Role"]["Arn"]
    eks_client.create_cluster(
        name=name,
        version="1.31",
        roleArn=role,
        resourcesVpcConfig={"subnetIds": network.subnets},
        accessConfig={"authenticationMode": mode},
    )
    eventually(
        lambda: eks_client.describe_cluster(name=name)["cluster"]["status"] == "ACTIVE", "ACTIVE"
    )


def test_in_api_mode_eksops_takes_read_access_to_wait_for_nodes(account, network) -> None:
    foreign_cluster(account, network, "foreign-api", "API_AND_CONFIG_MAP")
    joined = join(account, managed("foreign-api", "workers", network.subnets[:1]))
    assert joined.status == "SUCCEEDED", joined
    reader = joined.output["authorization"]["nodeReader"]
    assert reader["created"] is True
    assert reader["policy"] == "AmazonEKSAdminViewPolicy"
    policies = account.client("eks").list_associated_access_policies(
        clusterName="foreign-api", principalArn=reader["principalArn"]
    )["associatedAccessPolicies"]
    assert [p["policyArn"].rsplit("/", 1)[1] for p in policies] == ["AmazonEKSAdminViewPolicy"]
    (node,) = joined.output["nodes"]
    assert node["instanceId"] in ready_nodes(account, "foreign-api")


def test_a_configmap_cluster_that_refuses_eksops_is_a_named_error(account, network) -> None:
    foreign_cluster(account, network, "foreign-cm", "CONFIG_MAP")
    nodes = fleet.node_role(account.client("iam"), "foreign-nodes")
    request = {"clusterName": "foreign-cm", "kind": "self-managed", "nodeRoleArn": nodes}
    refused = join(account, request)
    assert refused.status == "FAILED", refused
    assert refused.error == "eksops.ClusterAccessDenied"
    message = refused.error_message()
    assert "refused arn:aws:sts::123456789012:assumed-role/" in message
    assert "AmazonEKSClusterAdminPolicy" in message


# -- 20 concurrent aws-auth merges ---------------------------------------------------------------


def test_twenty_concurrent_joins_map_every_role_once_and_keep_the_rest(
    account, configmap_cluster
) -> None:
    kube = store(account, configmap_cluster)
    existing_role = {
        "rolearn": f"arn:aws:iam::{ACCOUNT_ID}:role/ops",
        "username": "ops",
        "groups": ["system:masters"],
    }
    existing_user = {
        "userarn": f"arn:aws:iam::{ACCOUNT_ID}:user/alice",
        "username": "alice",
        "groups": ["viewers"],
    }
    with kube.locked():
        current = kube.find("configmaps", "kube-system", "aws-auth")
        assert current is not None, "CreateCluster made it (CONFIG_MAP)"
        data = dict(current.get("data") or {})
        before_roles = yaml.safe_load(data.get("mapRoles") or "[]")
        data["mapRoles"] = yaml.safe_dump([*before_roles, existing_role])
        data["mapUsers"] = yaml.safe_dump([existing_user])
        data["mapAccounts"] = "- '111122223333'\n"
        data["x-team-notes"] = "kept verbatim"
        kube.update("configmaps", {**current, "data": data})

    iam = account.client("iam")
    roles = [fleet.node_role(iam, f"concurrent-{i:02d}", path="/") for i in range(20)]
    arns = [
        start(
            account,
            MACHINE,
            f"concurrent-{i:02d}",
            {
                "clusterName": configmap_cluster,
                "kind": "self-managed",
                "nodeRoleArn": role,
                "waitForNodes": False,
            },
        )
        for i, role in enumerate(roles)
    ]
    executions = [finish(account, arn) for arn in arns]
    assert [e.status for e in executions] == ["SUCCEEDED"] * 20, [
        (e.error, e.cause) for e in executions if e.status != "SUCCEEDED"
    ]

    config_map = kube.find("configmaps", "kube-system", "aws-auth")
    mapped = yaml.safe_load(config_map["data"]["mapRoles"])
    counts = Counter(entry["rolearn"] for entry in mapped)
    assert all(counts[role] == 1 for role in roles), counts
    for role in roles:
        (entry,) = [e for e in mapped if e["rolearn"] == role]
        assert entry == {"rolearn": role, "username": NODE_USERNAME, "groups": NODE_GROUPS}
    for entry in [*before_roles, existing_role]:
        assert mapped.count(entry) == 1, entry
    assert yaml.safe_load(config_map["data"]["mapUsers"]) == [existing_user]
    assert config_map["data"]["mapAccounts"] == "- '111122223333'\n"
    assert config_map["data"]["x-team-notes"] == "kept verbatim"


# -- a crash at every Task state, then a re-run ---------------------------------------------------


def test_every_lambda_task_is_covered() -> None:
    definition = json.loads((ROOT / "statemachines" / "join_nodegroup.asl.json").read_text())
    tasks = {
        name: state["Resource"][2:-1].removesuffix("Arn")
        for name, state in definition["States"].items()
        if state["Type"] == "Task"
    }
    assert tasks == TASK_FUNCTIONS


@pytest.mark.parametrize("state", list(TASK_FUNCTIONS))
def test_crash_after_a_step_then_rerun_converges(account, network, api_cluster, state) -> None:
    name = f"crash-{state.lower()}"[:40]
    request = managed(api_cluster, name, network.subnets[:2])
    account.inject_fault(TASK_FUNCTIONS[state], after=True)
    try:
        crashed = join(account, request)
        assert account.pending_faults() == [], "the step never ran"
    finally:
        account.clear_faults()
    assert crashed.status == "FAILED", crashed
    assert crashed.error == INJECTED_FAULT

    rerun = join(account, request)
    assert rerun.status == "SUCCEEDED", rerun
    eks = account.client("eks")
    nodegroup = eks.describe_nodegroup(clusterName=api_cluster, nodegroupName=name)["nodegroup"]
    assert nodegroup["status"] == "ACTIVE"
    listed = eks.list_nodegroups(clusterName=api_cluster)["nodegroups"]
    assert [n for n in listed if n.startswith(name)] == [name]  # one node group, no duplicate
    (node,) = rerun.output["nodes"]
    assert node["instanceId"] in ready_nodes(account, api_cluster)
    role = rerun.output["nodeRole"]["roleArn"]
    entry = eks.describe_access_entry(clusterName=api_cluster, principalArn=role)
    assert entry["accessEntry"]["type"] == "EC2_LINUX"


# -- invalid inputs: named errors, no change ------------------------------------------------------


def invalid_inputs(cluster: str, network: Network) -> st.SearchStrategy:
    """(what the message must name, an input that is wrong there)."""
    base = managed(cluster, "valid", network.subnets)
    role = f"arn:aws:iam::{ACCOUNT_ID}:role/"
    missing = st.from_regex(r"[A-Za-z0-9_+=,.@-]{1,30}", fullmatch=True).map(lambda n: f"no-{n}")
    cases = [
        st.sampled_from(["kind", "name", "subnetIds", "clusterName"]).map(
            lambda field: (field, {k: v for k, v in base.items() if k != field})
        ),
        st.text(min_size=1, max_size=20)
        .filter(lambda k: k not in ("managed", "self-managed"))
        .map(lambda kind: ("kind", {**base, "kind": kind})),
        st.just(("subnetIds", {**base, "subnetIds": network.elsewhere})),
        st.from_regex(r"subnet-[0-9a-f]{17}", fullmatch=True)
        .filter(lambda s: s not in network.subnets + network.elsewhere)
        .map(lambda s: ("subnetIds", {**base, "subnetIds": [s]})),
        missing.map(lambda n: ("nodeRoleArn", {**base, "nodeRoleArn": role + n})),
        missing.map(lambda n: ("clusterName", {**base, "clusterName": n})),
        st.integers(2, 9).map(
            lambda n: ("scaling", {**base, "scaling": {"minSize": n, "maxSize": n - 1}})
        ),
        st.just(("name", {**base, "perAz": True, "name": "n" * 60})),
        st.just(("subnetIds", {**base, "kind": "self-managed", "nodeRoleArn": role + "x"})),
        st.just(("launchTemplate", {**base, "launchTemplate": {"name": "no-such-template"}})),
        st.just(
            (
                "autoScalingGroupName",
                {
                    "clusterName": cluster,
                    "kind": "self-managed",
                    "nodeRoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/probe-nodes",
                    "autoScalingGroupName": "no-such-group",
                },
            )
        ),
        st.text(min_size=1, max_size=15)
        .filter(lambda k: k.isidentifier() and k not in base)
        .map(lambda k: (k, {**base, k: True})),
        st.sampled_from(["waitForNodes", "perAz", "autoscaler"]).map(
            lambda field: (field, {**base, field: "yes"})
        ),
    ]
    return st.one_of(cases)


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_invalid_input_fails_validation_and_changes_nothing(
    account, network, api_cluster, data
) -> None:
    if "probe-nodes" not in {r["RoleName"] for r in account.client("iam").list_roles()["Roles"]}:
        fleet.node_role(account.client("iam"), "probe-nodes", path="/")
    field, request = data.draw(invalid_inputs(api_cluster, network), label="invalid input")
    with account.recording() as calls:
        execution = join(account, request)
    assert execution.status == "FAILED", execution
    assert execution.error == "eksops.InvalidInput", execution
    assert field in execution.error_message()
    assert execution.states_entered() == ["ValidateInput", "JoinFailed"]
    assert mutations(calls) == []


# -- CreateCluster runs node groups as nested executions ------------------------------------------


def test_create_cluster_joins_its_nodegroups_and_its_rollback_removes_them(
    account, network
) -> None:
    request = {
        "clusterName": "with-nodes",
        "kubernetesVersion": "1.31",
        "vpc": {"subnetIds": network.subnets},
        "nodegroups": [
            {
                "kind": "managed",
                "name": "general",
                "subnetIds": network.subnets[:2],
                "perAz": True,
                "scaling": {"minSize": 1, "maxSize": 2, "desiredSize": 1},
            }
        ],
    }
    created = create(account, "with-nodes-1", request)
    assert created.status == "SUCCEEDED", created
    (child,) = created.output["nodegroups"]
    assert [g["name"] for g in child["nodegroups"]] == [f"general-{REGION}a", f"general-{REGION}b"]
    assert sum(child["nodesPerAvailabilityZone"].values()) == 2
    eks = account.client("eks")
    tags = eks.describe_nodegroup(clusterName="with-nodes", nodegroupName=f"general-{REGION}a")[
        "nodegroup"
    ]["tags"]
    assert tags[CREATED_BY_TAG] == created.arn  # the parent's: its rollback removes them

    # a second cluster whose node group fails to join: the rollback removes the node groups,
    # the node role and the cluster the execution created
    failing = {**request, "clusterName": "rolled-back", "rollbackOnFailure": True}
    account.inject_fault("CheckNodesReadyFunction", after=True)
    try:
        rolled = create(account, "rolled-back-1", failing)
    finally:
        account.clear_faults()
    assert rolled.status == "FAILED", rolled
    # Step Functions reports a failed child as States.TaskFailed, the child's error in the cause
    assert rolled.error == "States.TaskFailed"
    assert INJECTED_FAULT in (rolled.cause or "")
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.describe_cluster(name="rolled-back")
    iam = account.client("iam")
    names = {r["RoleName"] for r in iam.list_roles(PathPrefix="/eksops/")["Roles"]}
    assert "rolled-back-general-node-role" not in names
    assert "rolled-back-cluster-role" not in names
    assert "with-nodes-general-node-role" in names  # the other cluster's stays
