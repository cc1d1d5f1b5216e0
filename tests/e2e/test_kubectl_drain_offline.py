"""Draining a node of an offline EKS cluster with the real kubectl.

An in-process offline account (its node reconciler running in the background) with a managed
node group; `eksops kubeconfig` writes the kubeconfig; kubectl authenticates through `eksops
token` with the account's own credentials (the cluster creator). Pods bound to a node and a
PodDisruptionBudget that allows no disruption: the drain is refused as Kubernetes refuses it,
then succeeds once the budget is relaxed, leaving the node cordoned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eksops.cli import main
from eksops.local.account import OfflineAccount
from eksops.local.clusters import EKS_SERVICE_TRUST, service_trust

from tests.support.kubectl import KUBECTL, ok, run_kubectl

SCRIPTS = Path(sysconfig.get_path("scripts"))  # .venv/bin, where the `eksops` script lives
REGION = "us-west-2"
CLUSTER = "drain"
DEADLINE_SECONDS = 30
EC2_TRUST = service_trust("ec2.amazonaws.com")

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: shop
  labels: {{app: web}}
  ownerReferences:
  - apiVersion: apps/v1
    kind: ReplicaSet
    name: web-7c9d
    uid: 4a1e7b52-9a0c-4c55-8f0e-0c3c1e2b7d11
    controller: true
spec:
  nodeName: {node}
  containers:
  - name: web
    image: nginx:1.27
---
"""

PDB = """\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
  namespace: shop
spec:
  minAvailable: 2
  selector:
    matchLabels: {app: web}
"""

RUNNING = {
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "web", "ready": True, "restartCount": 0}],
    }
}


def until(check, what: str):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {DEADLINE_SECONDS}s")


@pytest.fixture(scope="module")
def account() -> Iterator[OfflineAccount]:
    with OfflineAccount(region=REGION, template=None, eks_delay=0.5) as offline:
        yield offline


@pytest.fixture(scope="module")
def cluster(account: OfflineAccount) -> str:
    """An ACTIVE cluster with an ACTIVE managed node group of 2 over 2 Availability Zones."""
    ec2, iam, eks = account.client("ec2"), account.client("iam"), account.client("eks")
    vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.3.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    cluster_role = iam.create_role(
        RoleName="drain-cluster", AssumeRolePolicyDocument=json.dumps(EKS_SERVICE_TRUST)
    )["Role"]["Arn"]
    node_role = iam.create_role(
        RoleName="drain-nodes", AssumeRolePolicyDocument=json.dumps(EC2_TRUST)
    )["Role"]["Arn"]
    eks.create_cluster(
        name=CLUSTER,
        version="1.32",
        roleArn=cluster_role,
        resourcesVpcConfig={"subnetIds": subnets},
    )
    until(lambda: eks.describe_cluster(name=CLUSTER)["cluster"]["status"] == "ACTIVE", "ACTIVE")
    eks.create_nodegroup(
        clusterName=CLUSTER,
        nodegroupName="workers",
        subnets=subnets,
        nodeRole=node_role,
        scalingConfig={"minSize": 2, "maxSize": 2, "desiredSize": 2},
        instanceTypes=["m5.large"],
    )
    until(
        lambda: (
            eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName="workers")["nodegroup"][
                "status"
            ]
            == "ACTIVE"
        ),
        "node group ACTIVE",
    )
    return CLUSTER


@pytest.fixture(scope="module")
def kubectl(account: OfflineAccount, cluster: str, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("drain")
    kubeconfig = work / "kubeconfig"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in account.environment.items():
            patch.setenv(name, value)
        assert main(["kubeconfig", "--cluster-name", cluster, "--kubeconfig", str(kubeconfig)]) == 0
    home = work / "home"
    home.mkdir()
    env = {
        "PATH": os.pathsep.join([str(SCRIPTS), "/usr/bin", "/bin"]),
        "HOME": str(home),
        "KUBECONFIG": str(kubeconfig),
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "EKSOPS_CACHE_DIR": str(work / "token-cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
        **account.environment,  # the offline account's own keys: the cluster creator
    }

    def run(*args: str, stdin: str = "", timeout: int = 60) -> subprocess.CompletedProcess[str]:
        return run_kubectl(list(args), env, stdin, timeout)

    return run


def _nodes(kubectl) -> list[dict]:
    return json.loads(ok(kubectl("get", "nodes", "-o", "json")))["items"]


def _ready(node: dict) -> bool:
    conditions = node["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_nodes_register_and_become_ready(kubectl) -> None:
    nodes = until(
        lambda: (
            (found := _nodes(kubectl)) and len(found) == 2 and all(map(_ready, found)) and found
        ),
        "2 Ready nodes",
    )
    zones = sorted(n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes)
    assert zones == [f"{REGION}a", f"{REGION}b"]
    for node in nodes:
        assert node["metadata"]["name"].endswith(f".{REGION}.compute.internal")
        assert node["spec"]["providerID"].startswith(f"aws:///{REGION}")
        assert node["metadata"]["labels"]["eks.amazonaws.com/nodegroup"] == "workers"
    table = ok(kubectl("get", "nodes")).splitlines()
    assert table[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [line.split()[1] for line in table[1:]] == ["Ready", "Ready"]
    assert all(line.split()[4].startswith("v1.32.0-eks-") for line in table[1:])


def test_drain_respects_the_pod_disruption_budget(kubectl, account: OfflineAccount) -> None:
    node = until(
        lambda: (ready := [n for n in _nodes(kubectl) if _ready(n)]) and ready[0],
        "a Ready node",
    )["metadata"]["name"]
    ok(kubectl("create", "namespace", "shop"))
    manifests = POD.format(name="web-1", node=node) + POD.format(name="web-2", node=node) + PDB
    ok(kubectl("create", "-f", "-", stdin=manifests))
    for name in ("web-1", "web-2"):  # what the kubelet reports: running and ready
        patched = kubectl(
            "patch", "pod", name, "-n", "shop", "--subresource=status", "--type=merge",
            "-p", json.dumps(RUNNING),
        )  # fmt: skip
        ok(patched)
    pdb = ok(kubectl("get", "pdb", "web", "-n", "shop")).splitlines()
    assert pdb[1].split()[:4] == ["web", "2", "N/A", "0"]

    drain = ("drain", node, "--ignore-daemonsets", "--delete-emptydir-data")
    blocked = kubectl(*drain, "--timeout=8s")
    assert blocked.returncode != 0
    assert (
        'error when evicting pods/"web-1" -n "shop" (will retry after 5s): Cannot evict pod as '
        "it would violate the pod's disruption budget." in blocked.stderr
    )
    assert "global timeout reached: 8s" in blocked.stderr
    assert f"node/{node} cordoned" in blocked.stdout
    pods = ok(kubectl("get", "pods", "-n", "shop", "-o", "name")).split()
    assert pods == ["pod/web-1", "pod/web-2"]

    ok(
        kubectl(
            "patch", "pdb", "web", "-n", "shop", "--type=merge", "-p", '{"spec":{"minAvailable":0}}'
        )
    )
    drained = kubectl(*drain, "--timeout=30s")
    assert drained.returncode == 0, drained.stderr
    assert "pod/web-1 evicted" in drained.stdout
    assert "pod/web-2 evicted" in drained.stdout
    assert f"node/{node} drained" in drained.stdout
    assert "No resources found in shop namespace." in kubectl("get", "pods", "-n", "shop").stderr

    # cordoned, and it stays so while the node controller keeps the node's state: Ready, with
    # the unschedulable taint
    def cordoned() -> dict | None:
        found = json.loads(ok(kubectl("get", "node", node, "-o", "json")))
        keys = [t["key"] for t in found["spec"].get("taints") or []]
        return found if "node.kubernetes.io/unschedulable" in keys else None

    cordoned_node = until(cordoned, "the unschedulable taint")
    assert cordoned_node["spec"]["unschedulable"] is True
    assert _ready(cordoned_node)
    table = ok(kubectl("get", "node", node)).splitlines()
    assert table[1].split()[1] == "Ready,SchedulingDisabled"

    assert ok(kubectl("uncordon", node)).strip() == f"node/{node} uncordoned"
    until(lambda: cordoned() is None, "the unschedulable taint removed")
