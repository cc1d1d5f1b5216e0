"""Nodes of the offline account's EKS clusters: instances of managed node groups and of
self-managed Auto Scaling groups register as Nodes when their role authenticates as a node.

The account's background reconciler is swapped for one driven by the test (`reconcile_once`,
a fake clock for the Ready delay), so every step is deterministic.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml
from eksops.local import eks
from eksops.local.account import ACCOUNT_ID, OfflineAccount
from eksops.local.clusters import EKS_SERVICE_TRUST, service_trust
from eksops.local.nodes import NodeReconciler

REGION = "us-west-2"
DEADLINE_SECONDS = 10
READY_DELAY = 30.0
AMI = "ami-0e5b8f7d1c2a3b4c5"
EC2_TRUST = service_trust("ec2.amazonaws.com")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def account():
    with OfflineAccount(region=REGION, template=None, eks_delay=0) as offline:
        yield offline


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def nodes(account: OfflineAccount, clock: Clock) -> NodeReconciler:
    account._nodes.stop()  # the test drives its own
    reconciler = NodeReconciler(account._cluster_apis, READY_DELAY, clock=clock)
    eks.set_node_join_check(reconciler.join_check)
    return reconciler


@pytest.fixture(scope="module")
def network(account: OfflineAccount) -> dict:
    ec2 = client(account, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    iam = client(account, "iam")
    cluster_role = iam.create_role(
        RoleName="cluster", AssumeRolePolicyDocument=json.dumps(EKS_SERVICE_TRUST)
    )["Role"]["Arn"]
    node_role = iam.create_role(
        RoleName="managed-nodes", Path="/eks/", AssumeRolePolicyDocument=json.dumps(EC2_TRUST)
    )["Role"]["Arn"]
    return {"subnets": subnets, "cluster_role": cluster_role, "node_role": node_role}


def make_cluster(account: OfflineAccount, network: dict, name: str, mode: str) -> None:
    eks_client = client(account, "eks")
    eks_client.create_cluster(
        name=name,
        version="1.31",
        roleArn=network["cluster_role"],
        resourcesVpcConfig={"subnetIds": network["subnets"]},
        accessConfig={"authenticationMode": mode},
    )
    until(lambda: eks_client.describe_cluster(name=name)["cluster"]["status"] == "ACTIVE", "ACTIVE")


_CLIENTS: dict[str, object] = {}


def client(account: OfflineAccount, service: str):
    """boto3 clients are slow to make: one per service for the module."""
    if service not in _CLIENTS:
        _CLIENTS[service] = account.client(service)
    return _CLIENTS[service]


def until(check, what: str):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {DEADLINE_SECONDS}s")


def store(account: OfflineAccount, cluster: str):
    return account._cluster_apis.server(ACCOUNT_ID, REGION, cluster).store


def node_list(account: OfflineAccount, cluster: str) -> dict[str, dict]:
    return {n["metadata"]["name"]: n for n in store(account, cluster).list("nodes")[0]}


def instances(account: OfflineAccount, asg: str) -> list[dict]:
    reservations = client(account, "ec2").describe_instances(
        Filters=[
            {"Name": "tag:aws:autoscaling:groupName", "Values": [asg]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def dns(instance: dict) -> str:
    """EC2's private DNS name in us-west-2."""
    return f"ip-{instance['PrivateIpAddress'].replace('.', '-')}.{REGION}.compute.internal"


def ready(node: dict) -> str:
    (condition,) = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    return condition["status"]


def taint_keys(node: dict) -> list[str]:
    return [t["key"] for t in node["spec"].get("taints") or []]


def nodegroup(account: OfflineAccount, cluster: str, name: str) -> dict:
    return client(account, "eks").describe_nodegroup(clusterName=cluster, nodegroupName=name)[
        "nodegroup"
    ]


def test_managed_nodegroup_instances_register_as_nodes(
    account: OfflineAccount, network: dict, nodes: NodeReconciler, clock: Clock
) -> None:
    make_cluster(account, network, "managed", "CONFIG_MAP")
    created = client(account, "eks").create_nodegroup(
        clusterName="managed",
        nodegroupName="workers",
        subnets=network["subnets"],
        nodeRole=network["node_role"],
        scalingConfig={"minSize": 1, "maxSize": 4, "desiredSize": 2},
        instanceTypes=["m5.large"],
        labels={"team": "blue"},
        taints=[{"key": "dedicated", "value": "blue", "effect": "NO_SCHEDULE"}],
    )["nodegroup"]
    asg = created["resources"]["autoScalingGroups"][0]["name"]
    # EKS maps a managed node group's role in aws-auth (CONFIG_MAP), without the role's path
    ready_group = until(
        lambda: (g := nodegroup(account, "managed", "workers"))["status"] == "ACTIVE" and g,
        "node group ACTIVE",
    )
    assert ready_group["health"] == {"issues": []}
    aws_auth = store(account, "managed").get("configmaps", "kube-system", "aws-auth")
    assert yaml.safe_load(aws_auth["data"]["mapRoles"]) == [
        {
            "groups": ["system:bootstrappers", "system:nodes"],
            "rolearn": f"arn:aws:iam::{ACCOUNT_ID}:role/managed-nodes",
            "username": "system:node:{{EC2PrivateDNSName}}",
        }
    ]

    nodes.reconcile_once()
    running = instances(account, asg)
    assert len(running) == 2
    registered = node_list(account, "managed")
    assert sorted(registered) == sorted(dns(i) for i in running)
    for instance in running:
        node = registered[dns(instance)]
        zone = instance["Placement"]["AvailabilityZone"]
        assert node["spec"]["providerID"] == f"aws:///{zone}/{instance['InstanceId']}"
        labels = node["metadata"]["labels"]
        assert labels["topology.kubernetes.io/zone"] == zone
        assert labels["topology.kubernetes.io/region"] == REGION
        assert labels["eks.amazonaws.com/nodegroup"] == "workers"
        assert labels["eks.amazonaws.com/capacityType"] == "ON_DEMAND"
        assert labels["node.kubernetes.io/instance-type"] == "m5.large"
        assert labels["kubernetes.io/hostname"] == dns(instance)
        assert labels["kubernetes.io/os"] == "linux"
        assert labels["team"] == "blue"
        assert node["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.31.0-eks-")
        assert node["status"]["capacity"]["pods"] == "29"  # m5.large's ENI limit
        assert node["status"]["capacity"]["cpu"] == "2"
        assert {"type": "InternalIP", "address": instance["PrivateIpAddress"]} in node["status"][
            "addresses"
        ]
        assert ready(node) == "False"
        assert taint_keys(node) == ["dedicated", "node.kubernetes.io/not-ready"]
    assert sorted(
        n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in registered.values()
    ) == [f"{REGION}a", f"{REGION}b"]

    clock.now += READY_DELAY / 2
    nodes.reconcile_once()
    assert {ready(n) for n in node_list(account, "managed").values()} == {"False"}
    clock.now += READY_DELAY / 2
    nodes.reconcile_once()
    for node in node_list(account, "managed").values():
        assert ready(node) == "True"
        assert taint_keys(node) == ["dedicated"]

    # scaling out adds a node, NotReady at first
    client(account, "eks").update_nodegroup_config(
        clusterName="managed", nodegroupName="workers", scalingConfig={"desiredSize": 3}
    )
    nodes.reconcile_once()
    registered = node_list(account, "managed")
    assert sorted(registered) == sorted(dns(i) for i in instances(account, asg))
    assert sorted(ready(n) for n in registered.values()) == ["False", "True", "True"]

    # a terminated instance's node goes, and the pods bound to it with it
    victim = instances(account, asg)[0]
    kube = store(account, "managed")
    for name, node_name in (("on-victim", dns(victim)), ("elsewhere", "another-node")):
        kube.create(
            "pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "x"}]},
            },
        )
    client(account, "ec2").terminate_instances(InstanceIds=[victim["InstanceId"]])
    nodes.reconcile_once()
    registered = node_list(account, "managed")
    assert dns(victim) not in registered
    # Auto Scaling replaced the instance: its node registers
    assert sorted(registered) == sorted(dns(i) for i in instances(account, asg))
    assert len(registered) == 3
    assert [p["metadata"]["name"] for p in kube.list("pods", "default")[0]] == ["elsewhere"]

    # scaling in removes nodes
    until(lambda: nodegroup(account, "managed", "workers")["status"] == "ACTIVE", "ACTIVE")
    client(account, "eks").update_nodegroup_config(
        clusterName="managed", nodegroupName="workers", scalingConfig={"desiredSize": 1}
    )
    nodes.reconcile_once()
    assert sorted(node_list(account, "managed")) == [dns(i) for i in instances(account, asg)]
    assert len(node_list(account, "managed")) == 1


def self_managed_group(
    account: OfflineAccount, network: dict, cluster: str, *, launch_configuration: bool = False
) -> tuple[str, str]:
    """A role with a path, its instance profile and an Auto Scaling group of 2 tagged for the
    cluster; returns (group name, role ARN)."""
    iam = client(account, "iam")
    role = iam.create_role(
        RoleName=f"{cluster}-nodes", Path="/team/", AssumeRolePolicyDocument=json.dumps(EC2_TRUST)
    )["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName=f"{cluster}-nodes")["InstanceProfile"]
    iam.add_role_to_instance_profile(
        InstanceProfileName=f"{cluster}-nodes", RoleName=f"{cluster}-nodes"
    )
    autoscaling = client(account, "autoscaling")
    launch: dict = {}
    if launch_configuration:
        autoscaling.create_launch_configuration(
            LaunchConfigurationName=f"{cluster}-lc",
            ImageId=AMI,
            InstanceType="t3.medium",
            IamInstanceProfile=f"{cluster}-nodes",
        )
        launch["LaunchConfigurationName"] = f"{cluster}-lc"
    else:
        template = client(account, "ec2").create_launch_template(
            LaunchTemplateName=f"{cluster}-lt",
            LaunchTemplateData={
                "ImageId": AMI,
                "InstanceType": "t3.medium",
                "IamInstanceProfile": {"Arn": profile["Arn"]},
            },
        )["LaunchTemplate"]
        launch["LaunchTemplate"] = {
            "LaunchTemplateId": template["LaunchTemplateId"],
            "Version": "$Latest",
        }
    name = f"{cluster}-self-managed"
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=2,
        VPCZoneIdentifier=network["subnets"][0],
        Tags=[
            {"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned", "PropagateAtLaunch": True}
        ],
        **launch,
    )
    return name, role


def map_roles(account: OfflineAccount, cluster: str, *entries: dict) -> None:
    kube = store(account, cluster)
    data = {"mapRoles": yaml.safe_dump(list(entries))}
    current = kube.find("configmaps", "kube-system", "aws-auth")
    if current is None:
        kube.create(
            "configmaps",
            {"metadata": {"name": "aws-auth", "namespace": "kube-system"}, "data": data},
        )
    else:
        kube.update("configmaps", {**current, "data": data})


def node_mapping(role_arn: str) -> dict:
    return {
        "rolearn": role_arn,
        "username": "system:node:{{EC2PrivateDNSName}}",
        "groups": ["system:bootstrappers", "system:nodes"],
    }


def test_self_managed_nodes_join_only_once_their_role_is_mapped(
    account: OfflineAccount, network: dict, nodes: NodeReconciler, clock: Clock
) -> None:
    make_cluster(account, network, "selfmanaged", "CONFIG_MAP")
    asg, role = self_managed_group(account, network, "selfmanaged")
    running = instances(account, asg)
    assert len(running) == 2

    nodes.reconcile_once()
    assert node_list(account, "selfmanaged") == {}  # no aws-auth at all: nodes never join

    # the classic mistake: the role's ARN with its path never matches
    map_roles(account, "selfmanaged", node_mapping(role))
    assert "/team/" in role
    nodes.reconcile_once()
    assert node_list(account, "selfmanaged") == {}
    # a mapping to a user that is not a node does not let the kubelet register either
    path_less = f"arn:aws:iam::{ACCOUNT_ID}:role/selfmanaged-nodes"
    map_roles(account, "selfmanaged", {"rolearn": path_less, "username": "ops", "groups": ["ops"]})
    nodes.reconcile_once()
    assert node_list(account, "selfmanaged") == {}

    map_roles(account, "selfmanaged", node_mapping(path_less))
    nodes.reconcile_once()
    registered = node_list(account, "selfmanaged")
    assert sorted(registered) == sorted(dns(i) for i in running)
    for node in registered.values():
        labels = node["metadata"]["labels"]
        assert "eks.amazonaws.com/nodegroup" not in labels
        assert labels["node.kubernetes.io/instance-type"] == "t3.medium"
        assert labels["topology.kubernetes.io/zone"] == f"{REGION}a"
    clock.now += READY_DELAY
    nodes.reconcile_once()
    assert {ready(n) for n in node_list(account, "selfmanaged").values()} == {"True"}

    # the mapping removed: the kubelets' requests are refused, the nodes go Unknown
    map_roles(account, "selfmanaged")
    nodes.reconcile_once()
    for node in node_list(account, "selfmanaged").values():
        assert ready(node) == "Unknown"
        assert taint_keys(node) == ["node.kubernetes.io/unreachable"]
    map_roles(account, "selfmanaged", node_mapping(path_less))
    nodes.reconcile_once()
    assert {ready(n) for n in node_list(account, "selfmanaged").values()} == {"True"}

    # scaling the Auto Scaling group adds and removes nodes
    autoscaling = client(account, "autoscaling")
    autoscaling.set_desired_capacity(AutoScalingGroupName=asg, DesiredCapacity=3)
    nodes.reconcile_once()
    assert sorted(node_list(account, "selfmanaged")) == sorted(
        dns(i) for i in instances(account, asg)
    )
    assert len(node_list(account, "selfmanaged")) == 3
    autoscaling.set_desired_capacity(AutoScalingGroupName=asg, DesiredCapacity=1)
    nodes.reconcile_once()
    assert sorted(node_list(account, "selfmanaged")) == [dns(i) for i in instances(account, asg)]


def test_self_managed_nodes_join_with_an_ec2_linux_access_entry(
    account: OfflineAccount, network: dict, nodes: NodeReconciler
) -> None:
    make_cluster(account, network, "entries", "API")
    asg, role = self_managed_group(account, network, "entries", launch_configuration=True)
    nodes.reconcile_once()
    assert node_list(account, "entries") == {}
    client(account, "eks").create_access_entry(
        clusterName="entries", principalArn=role, type="EC2_LINUX"
    )
    nodes.reconcile_once()
    assert sorted(node_list(account, "entries")) == sorted(dns(i) for i in instances(account, asg))
    # a stopped instance's node stays, Unknown and tainted as shut down
    victim = instances(account, asg)[0]
    client(account, "ec2").stop_instances(InstanceIds=[victim["InstanceId"]])
    nodes.reconcile_once()
    node = node_list(account, "entries")[dns(victim)]
    assert ready(node) == "Unknown"
    assert "node.cloudprovider.kubernetes.io/shutdown" in taint_keys(node)


def test_managed_nodegroup_degrades_when_its_role_cannot_join(
    account: OfflineAccount, network: dict, nodes: NodeReconciler, clock: Clock
) -> None:
    make_cluster(account, network, "apimode", "API")
    eks_client = client(account, "eks")
    eks_client.create_nodegroup(
        clusterName="apimode",
        nodegroupName="workers",
        subnets=network["subnets"],
        nodeRole=network["node_role"],
        scalingConfig={"minSize": 2, "maxSize": 2, "desiredSize": 2},
    )
    until(lambda: nodegroup(account, "apimode", "workers")["status"] == "ACTIVE", "ACTIVE")
    nodes.reconcile_once()
    clock.now += READY_DELAY
    nodes.reconcile_once()
    assert [ready(n) for n in node_list(account, "apimode").values()] == ["True", "True"]
    assert store(account, "apimode").find("configmaps", "kube-system", "aws-auth") is None

    # the EC2_LINUX entry EKS made, deleted: the nodes cannot authenticate any more
    eks_client.delete_access_entry(clusterName="apimode", principalArn=network["node_role"])
    degraded = until(
        lambda: (g := nodegroup(account, "apimode", "workers"))["status"] == "DEGRADED" and g,
        "DEGRADED",
    )
    (issue,) = degraded["health"]["issues"]
    assert issue["code"] == "NodeCreationFailure"
    asg = degraded["resources"]["autoScalingGroups"][0]["name"]
    assert sorted(issue["resourceIds"]) == sorted(i["InstanceId"] for i in instances(account, asg))
    nodes.reconcile_once()
    assert [ready(n) for n in node_list(account, "apimode").values()] == ["Unknown", "Unknown"]

    eks_client.create_access_entry(
        clusterName="apimode", principalArn=network["node_role"], type="EC2_LINUX"
    )
    until(lambda: nodegroup(account, "apimode", "workers")["status"] == "ACTIVE", "ACTIVE again")
    nodes.reconcile_once()
    assert [ready(n) for n in node_list(account, "apimode").values()] == ["True", "True"]


def test_a_managed_nodegroup_whose_nodes_cannot_join_fails(
    account: OfflineAccount, network: dict, nodes: NodeReconciler
) -> None:
    """In CONFIG_MAP mode EKS writes aws-auth; a ConfigMap it cannot parse leaves the role
    unmapped, and the node group fails to create."""
    make_cluster(account, network, "brokenmap", "CONFIG_MAP")
    store(account, "brokenmap").create(
        "configmaps",
        {
            "metadata": {"name": "aws-auth", "namespace": "kube-system"},
            "data": {"mapRoles": "rolearn: not-a-list"},
        },
    )
    eks_client = client(account, "eks")
    eks_client.create_nodegroup(
        clusterName="brokenmap",
        nodegroupName="workers",
        subnets=network["subnets"],
        nodeRole=network["node_role"],
        scalingConfig={"minSize": 1, "maxSize": 1, "desiredSize": 1},
    )
    failed = until(
        lambda: (
            (g := nodegroup(account, "brokenmap", "workers"))["status"] == "CREATE_FAILED" and g
        ),
        "CREATE_FAILED",
    )
    (issue,) = failed["health"]["issues"]
    assert issue["code"] == "NodeCreationFailure"
    assert issue["message"] == "Instances failed to join the kubernetes cluster"
    nodes.reconcile_once()
    assert node_list(account, "brokenmap") == {}
