"""The real kubectl against the offline Kubernetes API server: discovery, tables, create, apply,
cordon, PDB-aware drain, auth can-i, and the 401/403 errors as kubectl prints them.

The kubeconfig carries the server's CA and static tokens; the test's authenticator accepts
"good" (admin, system:masters) and "viewer" (reads only). kubectl runs as a subprocess with a
private HOME, so its discovery cache is the test's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from eksops.local.kube.identity import RequestAttributes, UserInfo
from eksops.local.kube.server import KubeApiServer

from tests.support.kubectl import KUBECTL, ok, run_kubectl

ADMIN = UserInfo("admin", ("system:masters",))
VIEWER = UserInfo("viewer", ("viewers",))
TOKENS = {"good": ADMIN, "viewer": VIEWER}

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: x
data:
  mode: {mode}
  stays: "yes"
"""

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: x
  labels: {{app: web}}
  ownerReferences:
  - apiVersion: apps/v1
    kind: ReplicaSet
    name: web-5d4f
    uid: 0b8c7f0e-6a7e-4a3a-9d8e-2f1f3e4c5d6a
    controller: true
spec:
  nodeName: n1
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
  namespace: x
spec:
  minAvailable: 2
  selector:
    matchLabels: {app: web}
"""


def _authorize(user: UserInfo, attributes: RequestAttributes) -> bool:
    if user == ADMIN:
        return True
    # the viewer reads, and may ask what it may do (system:basic-user grants that to all)
    return attributes.verb in ("get", "list", "watch") or (
        attributes.resource == "selfsubjectaccessreviews"
    )


@pytest.fixture
def api() -> Iterator[KubeApiServer]:
    server = KubeApiServer("e2e", TOKENS.get, _authorize)
    server.start()
    server.store.create(
        "nodes",
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0-eks-0000000"},
            },
        },
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kubectl(api: KubeApiServer, tmp_path: Path):
    """Run kubectl with a context per identity: admin (default), viewer, and anonymous (basic
    auth credentials, which EKS does not accept: the server sees no bearer token)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "e2e",
                "cluster": {"server": api.endpoint, "certificate-authority-data": api.pki.ca_data},
            }
        ],
        "users": [
            {"name": "admin", "user": {"token": "good"}},
            {"name": "viewer", "user": {"token": "viewer"}},
            {"name": "anonymous", "user": {"username": "nobody", "password": "nothing"}},
        ],
        "contexts": [
            {"name": name, "context": {"cluster": "e2e", "user": name}}
            for name in ("admin", "viewer", "anonymous")
        ],
        "current-context": "admin",
    }
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config), encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"}

    def run(*args: str, context: str = "admin", stdin: str = "", timeout: int = 60):
        return run_kubectl(["--context", context, *args], env, stdin, timeout)

    return run


def test_get_namespaces_prints_a_table(kubectl):
    lines = ok(kubectl("get", "namespaces")).splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["default", "Active"],
        ["kube-node-lease", "Active"],
        ["kube-public", "Active"],
        ["kube-system", "Active"],
    ]


def test_create_namespace_and_service_account(kubectl, api):
    assert ok(kubectl("create", "namespace", "x")).strip() == "namespace/x created"
    assert ok(kubectl("create", "serviceaccount", "sa", "-n", "x")).strip() == (
        "serviceaccount/sa created"
    )
    sa = json.loads(ok(kubectl("get", "sa", "sa", "-n", "x", "-o", "json")))
    assert sa["kind"] == "ServiceAccount"
    assert sa["metadata"]["namespace"] == "x"
    assert sa["metadata"]["uid"] == api.store.get("serviceaccounts", "x", "sa")["metadata"]["uid"]
    listed = ok(kubectl("get", "serviceaccounts", "-n", "x")).split()
    assert listed[:4] == ["NAME", "SECRETS", "AGE", "default"]
    assert "sa" in listed


def test_client_side_apply_twice(kubectl, api):
    ok(kubectl("create", "namespace", "x"))
    first = kubectl("apply", "-f", "-", stdin=CONFIGMAP.format(mode="blue"))
    assert ok(first).strip() == "configmap/settings created"
    second = kubectl("apply", "-f", "-", stdin=CONFIGMAP.format(mode="green"))
    assert ok(second).strip() == "configmap/settings configured", second.stderr
    assert second.stderr == ""  # no warnings (e.g. a missing last-applied annotation)
    stored = api.store.get("configmaps", "x", "settings")
    assert stored["data"] == {"mode": "green", "stays": "yes"}
    last = json.loads(
        stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    assert last["data"]["mode"] == "green"
    unchanged = kubectl("apply", "-f", "-", stdin=CONFIGMAP.format(mode="green"))
    assert ok(unchanged).strip() == "configmap/settings unchanged"


def _make_workload(kubectl, api: KubeApiServer) -> None:
    ok(kubectl("create", "namespace", "x"))
    manifests = POD.format(name="web-1") + POD.format(name="web-2") + PDB
    created = ok(kubectl("create", "-f", "-", stdin=manifests)).splitlines()
    assert created == [
        "pod/web-1 created",
        "pod/web-2 created",
        "poddisruptionbudget.policy/web created",
    ]
    # What a kubelet would report: running and ready.
    for name in ("web-1", "web-2"):
        pod = api.store.get("pods", "x", name)
        pod["status"] = {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "web", "ready": True, "restartCount": 0}],
        }
        api.store.update("pods", pod)


def test_cordon_and_pdb_aware_drain(kubectl, api):
    _make_workload(kubectl, api)
    pods = ok(kubectl("get", "pods", "-n", "x", "-o", "wide")).splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert pods[1].split()[:3] == ["web-1", "1/1", "Running"]
    pdb = ok(kubectl("get", "pdb", "web", "-n", "x")).splitlines()
    assert pdb[1].split()[:4] == ["web", "2", "N/A", "0"]

    assert ok(kubectl("cordon", "n1")).strip() == "node/n1 cordoned"
    assert api.store.get("nodes", "", "n1")["spec"]["unschedulable"] is True
    nodes = ok(kubectl("get", "nodes")).splitlines()
    assert nodes[1].split()[:2] == ["n1", "Ready,SchedulingDisabled"]

    drain_args = ("drain", "n1", "--ignore-daemonsets", "--delete-emptydir-data")
    blocked = kubectl(*drain_args, "--timeout=5s")
    assert blocked.returncode != 0
    assert (
        'error when evicting pods/"web-1" -n "x" (will retry after 5s): Cannot evict pod as it '
        "would violate the pod's disruption budget." in blocked.stderr
    )
    assert "global timeout reached: 5s" in blocked.stderr
    assert {p["metadata"]["name"] for p in api.store.list("pods", "x")[0]} == {"web-1", "web-2"}

    ok(
        kubectl(
            "patch", "pdb", "web", "-n", "x", "--type=merge", "-p", '{"spec":{"minAvailable":0}}'
        )
    )
    drained = kubectl(*drain_args, "--timeout=30s")
    assert drained.returncode == 0, drained.stderr
    assert "pod/web-1 evicted" in drained.stdout
    assert "pod/web-2 evicted" in drained.stdout
    assert "node/n1 drained" in drained.stdout
    assert api.store.list("pods", "x")[0] == []
    assert "No resources found in x namespace." in kubectl("get", "pods", "-n", "x").stderr


def test_auth_can_i(kubectl):
    assert ok(kubectl("auth", "can-i", "create", "pods")).strip() == "yes"
    viewer = kubectl("auth", "can-i", "create", "pods", context="viewer")
    assert (viewer.returncode, viewer.stdout.strip()) == (1, "no")
    assert ok(kubectl("auth", "can-i", "list", "pods", context="viewer")).strip() == "yes"


def test_viewer_is_forbidden_to_create_a_namespace(kubectl, api):
    result = kubectl("create", "namespace", "y", context="viewer")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (Forbidden): namespaces is forbidden: User "viewer" cannot create '
        'resource "namespaces" in API group "" at the cluster scope'
    )
    assert api.store.find("namespaces", "", "y") is None
    assert "default" in ok(kubectl("get", "ns", context="viewer"))


def test_without_a_token_kubectl_must_log_in(kubectl):
    # With a cold discovery cache the first 401 comes from discovery, whose decoder does not
    # read Status objects: kubectl prints the generic 401 text, as against EKS.
    cold = kubectl("get", "ns", context="anonymous")
    assert cold.returncode == 1
    assert cold.stderr.splitlines()[-1] == (
        "error: You must be logged in to the server "
        "(the server has asked for the client to provide credentials)"
    )
    ok(kubectl("get", "ns"))  # the admin fills the discovery cache
    warm = kubectl("get", "ns", context="anonymous")
    assert warm.returncode == 1
    assert warm.stderr.strip() == "error: You must be logged in to the server (Unauthorized)"


def test_delete_waits_and_namespace_contents_go(kubectl, api):
    ok(kubectl("create", "namespace", "x"))
    ok(kubectl("create", "configmap", "c", "-n", "x", "--from-literal=k=v"))
    assert ok(kubectl("delete", "namespace", "x")).strip() == 'namespace "x" deleted'
    assert api.store.list("configmaps", "x")[0] == []
