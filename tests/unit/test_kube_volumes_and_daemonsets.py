"""PersistentVolumes, PersistentVolumeClaims and apps/v1 DaemonSets on the offline Kubernetes API
server (defaulting, the status a write gets with no controller running, validation, lists, the
Table kubectl prints, discovery, authorization, the `kubernetes` client), and the pods a node
drain meets: DaemonSet and mirror pods, PodDisruptionBudgets through the Eviction API."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from eksops.local.kube import patch
from eksops.local.kube.authz import authorize
from eksops.local.kube.identity import RequestAttributes, UserInfo
from eksops.local.kube.server import KubeApiServer, Response

from tests.support.kube_api import TABLE, admin_api_client, admin_server, send

PVS = "/api/v1/persistentvolumes"
PVCS = "/api/v1/namespaces/{namespace}/persistentvolumeclaims"
DAEMONSETS = "/apis/apps/v1/namespaces/{namespace}/daemonsets"
PODS = "/api/v1/namespaces/default/pods"
EBS = {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0123456789abcdef0"}
ZONE = "topology.kubernetes.io/zone"


@pytest.fixture
def server() -> KubeApiServer:
    """Not listening: requests go through ``handle`` directly, as the admin."""
    return admin_server()


def _volume(name: str, **spec: object) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "20Gi"},
            "accessModes": ["ReadWriteOnce"],
            "csi": EBS,
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": ZONE, "operator": "In", "values": ["eu-west-1a"]}
                            ]
                        }
                    ]
                }
            },
            **spec,
        },
    }


def _claim(name: str, **spec: object) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "20Gi"}},
            "storageClassName": "gp3",
            **spec,
        },
    }


def _daemonset(name: str, *, labels: dict | None = None, **spec: object) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels or {"app": name}},
                "spec": {"containers": [{"name": name, "image": "agent:1.0"}]},
            },
            **spec,
        },
    }


def _message(response: Response) -> str:
    assert response.code == 422, response.body
    assert response.body["reason"] == "Invalid"
    return response.body["message"]


# --- PersistentVolumes -----------------------------------------------------------------------


def test_volume_defaults_and_is_available_at_once(server):
    sent = _volume("pv-data")
    sent["metadata"]["namespace"] = "default"  # cluster-scoped: dropped
    sent["status"] = {"phase": "Failed"}  # a new object's status is the server's
    created = send(server, "POST", PVS, sent)
    assert created.code == 201, created.body
    body = created.body
    assert "namespace" not in body["metadata"]
    assert body["metadata"]["generation"] == 1
    assert body["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert body["spec"]["volumeMode"] == "Filesystem"
    assert body["status"]["phase"] == "Available"
    assert body["status"]["lastPhaseTransitionTime"].endswith("Z")
    assert server.store.get("persistentvolumes", "", "pv-data") == body
    assert send(server, "GET", f"{PVS}/pv-data").body == body


def test_a_volume_that_names_its_claim_is_bound(server):
    claim_ref = {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "data"}
    body = send(server, "POST", PVS, _volume("pv-data", claimRef=claim_ref)).body
    assert body["status"]["phase"] == "Bound"
    assert body["spec"]["claimRef"] == claim_ref


def test_volume_validation(server):
    assert _message(send(server, "POST", PVS, {"metadata": {"name": "empty"}, "spec": {}})) == (
        'PersistentVolume "empty" is invalid: [spec.accessModes: Required value, '
        "spec.capacity: Required value, "
        'spec.capacity: Unsupported value: core.ResourceList(nil): supported values: "storage", '
        "spec: Required value: must specify a volume type]"
    )
    two_sources = _volume("two", hostPath={"path": "/data"}, accessModes=["ReadWriteOncePod", "X"])
    assert _message(send(server, "POST", PVS, two_sources)) == (
        'PersistentVolume "two" is invalid: [spec.accessModes: Unsupported value: "X": '
        'supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", '
        '"ReadWriteOncePod", spec.accessModes: Forbidden: may not use ReadWriteOncePod with '
        "other access modes, spec.csi: Forbidden: may not specify more than 1 volume type]"
    )
    local = _volume("local", local={"path": "/mnt/disk"}, persistentVolumeReclaimPolicy="Keep")
    del local["spec"]["csi"], local["spec"]["nodeAffinity"]
    assert _message(send(server, "POST", PVS, local)) == (
        'PersistentVolume "local" is invalid: [spec.persistentVolumeReclaimPolicy: Unsupported '
        'value: "Keep": supported values: "Delete", "Recycle", "Retain", '
        "spec.nodeAffinity: Required value: Local volume requires node affinity]"
    )
    assert server.store.list("persistentvolumes")[0] == []


def test_status_subresource_writes_a_volumes_status_and_nothing_else(server):
    send(server, "POST", PVS, _volume("pv-data"))
    patched = send(
        server,
        "PATCH",
        f"{PVS}/pv-data/status",
        {"status": {"phase": "Released"}, "spec": {"capacity": {"storage": "1Gi"}}},
        content_type=patch.MERGE_PATCH,
    )
    assert patched.code == 200, patched.body
    assert patched.body["status"]["phase"] == "Released"
    assert patched.body["spec"]["capacity"] == {"storage": "20Gi"}
    # the main resource cannot change the status
    updated = send(
        server,
        "PATCH",
        f"{PVS}/pv-data",
        {"status": {"phase": "Available"}, "metadata": {"labels": {"team": "a"}}},
        content_type=patch.MERGE_PATCH,
    )
    assert updated.body["status"]["phase"] == "Released"
    assert updated.body["metadata"]["labels"] == {"team": "a"}


# --- PersistentVolumeClaims ------------------------------------------------------------------


def test_claim_without_a_volume_stays_pending(server):
    created = send(server, "POST", PVCS.format(namespace="default"), _claim("data"))
    assert created.code == 201, created.body
    assert created.body["metadata"]["namespace"] == "default"
    assert created.body["spec"]["volumeMode"] == "Filesystem"
    assert created.body["status"] == {"phase": "Pending"}


def test_claim_that_names_its_volume_is_bound(server):
    send(server, "POST", PVS, _volume("pv-data"))
    body = send(
        server, "POST", PVCS.format(namespace="default"), _claim("data", volumeName="pv-data")
    ).body
    assert body["status"] == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "20Gi"},
    }


def test_claim_validation_and_namespace(server):
    bad = _claim("bad", accessModes=[], volumeMode="Raw")
    del bad["spec"]["resources"]
    assert _message(send(server, "POST", PVCS.format(namespace="default"), bad)) == (
        'PersistentVolumeClaim "bad" is invalid: [spec.accessModes: Required value: at least 1 '
        "access mode is required, spec.resources[storage]: Required value, spec.volumeMode: "
        'Unsupported value: "Raw": supported values: "Block", "Filesystem"]'
    )
    missing = send(server, "POST", PVCS.format(namespace="nowhere"), _claim("data"))
    assert missing.code == 404
    assert missing.body["message"] == 'namespaces "nowhere" not found'


# --- DaemonSets ------------------------------------------------------------------------------


def test_daemonset_defaults_and_the_status_a_new_one_has(server):
    created = send(server, "POST", DAEMONSETS.format(namespace="kube-system"), _daemonset("agent"))
    assert created.code == 201, created.body
    body = created.body
    assert body["metadata"]["generation"] == 1
    spec = body["spec"]
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert spec["revisionHistoryLimit"] == 10
    pod_spec = spec["template"]["spec"]
    assert (pod_spec["restartPolicy"], pod_spec["dnsPolicy"]) == ("Always", "ClusterFirst")
    assert pod_spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert body["status"] == {
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    }
    on_delete = _daemonset("ondelete", updateStrategy={"type": "OnDelete"})
    body = send(server, "POST", DAEMONSETS.format(namespace="kube-system"), on_delete).body
    assert body["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_daemonset_status_is_what_its_status_subresource_wrote(server):
    path = DAEMONSETS.format(namespace="default")
    send(server, "POST", path, _daemonset("agent"))
    status = {
        "currentNumberScheduled": 3,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 3,
        "numberReady": 3,
        "numberAvailable": 3,
        "updatedNumberScheduled": 3,
        "observedGeneration": 1,
    }
    written = send(server, "PUT", f"{path}/agent/status", {**_daemonset("agent"), "status": status})
    assert written.code == 200, written.body
    assert written.body["status"] == status
    bumped = send(
        server,
        "PATCH",
        f"{path}/agent",
        {"spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}}},
        content_type=patch.STRATEGIC_MERGE_PATCH,
    )
    assert bumped.body["metadata"]["generation"] == 2
    assert bumped.body["status"] == status  # no controller runs offline


def test_daemonset_validation(server):
    path = DAEMONSETS.format(namespace="default")
    no_selector = _daemonset("agent")
    del no_selector["spec"]["selector"]
    assert _message(send(server, "POST", path, no_selector)) == (
        'DaemonSet.apps "agent" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"agent"}: `selector` does not match template `labels`'
    )
    empty = _daemonset("agent", selector={})
    assert _message(send(server, "POST", path, empty)) == (
        'DaemonSet.apps "agent" is invalid: spec.selector: Invalid value: v1.LabelSelector'
        "{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement"
        "(nil)}: empty selector is invalid for daemonset"
    )
    job_like = _daemonset("agent", minReadySeconds=-1)
    job_like["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    assert _message(send(server, "POST", path, job_like)) == (
        'DaemonSet.apps "agent" is invalid: [spec.template.spec.restartPolicy: Unsupported '
        'value: "OnFailure": supported values: "Always", spec.minReadySeconds: Invalid value: '
        "-1: must be greater than or equal to 0]"
    )
    send(server, "POST", path, _daemonset("agent"))
    moved = send(
        server,
        "PATCH",
        f"{path}/agent",
        {"spec": {"template": {"metadata": {"labels": {"app": "moved"}}}}},
        content_type=patch.MERGE_PATCH,
    )
    assert "`selector` does not match template `labels`" in _message(moved)


# --- reads, Tables, discovery ----------------------------------------------------------------


def test_lists(server):
    send(server, "POST", "/api/v1/namespaces", {"metadata": {"name": "team"}})
    for namespace in ("team", "default"):
        send(server, "POST", PVCS.format(namespace=namespace), _claim("data"))
        send(server, "POST", DAEMONSETS.format(namespace=namespace), _daemonset("agent"))
    send(server, "POST", PVS, _volume("b"))
    send(server, "POST", PVS, _volume("a"))

    def names(path: str, kind: str) -> list[tuple[str, str]]:
        listed = send(server, "GET", path).body
        assert listed["kind"] == kind
        return [
            (o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in listed["items"]
        ]

    assert names(PVS, "PersistentVolumeList") == [("", "a"), ("", "b")]
    assert names(PVCS.format(namespace="team"), "PersistentVolumeClaimList") == [("team", "data")]
    assert names("/api/v1/persistentvolumeclaims", "PersistentVolumeClaimList") == [
        ("default", "data"),
        ("team", "data"),
    ]
    assert names("/apis/apps/v1/daemonsets", "DaemonSetList") == [
        ("default", "agent"),
        ("team", "agent"),
    ]


def _table(server: KubeApiServer, path: str) -> tuple[list[tuple[str, int]], list]:
    table = send(server, "GET", path, accept=TABLE).body
    assert table["kind"] == "Table"
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    return columns, [row["cells"] for row in table["rows"]]


def test_tables_have_kubectls_columns(server):
    claim_ref = {"namespace": "default", "name": "data"}
    send(
        server,
        "POST",
        PVS,
        _volume("pv-data", claimRef=claim_ref, accessModes=["ReadWriteMany", "ReadWriteOnce"]),
    )
    send(server, "POST", PVCS.format(namespace="default"), _claim("data", volumeName="pv-data"))
    send(server, "POST", PVCS.format(namespace="default"), _claim("waiting"))
    agent = _daemonset("agent")
    agent["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/os": "linux", "b": "1"}
    send(server, "POST", DAEMONSETS.format(namespace="default"), agent)

    columns, rows = _table(server, PVS)
    assert columns == [
        ("Name", 0),
        ("Capacity", 0),
        ("Access Modes", 0),
        ("Reclaim Policy", 0),
        ("Status", 0),
        ("Claim", 0),
        ("StorageClass", 0),
        ("VolumeAttributesClass", 0),
        ("Reason", 0),
        ("Age", 0),
        ("VolumeMode", 1),
    ]
    ((name, capacity, modes, policy, phase, claim, klass, vac, reason, _age, mode),) = rows
    assert (name, capacity, modes, policy, phase, claim) == (
        "pv-data",
        "20Gi",
        "RWO,RWX",
        "Retain",
        "Bound",
        "default/data",
    )
    assert (klass, vac, reason, mode) == ("", "<unset>", "", "Filesystem")

    columns, rows = _table(server, PVCS.format(namespace="default"))
    assert [name for name, _ in columns] == [
        "Name",
        "Status",
        "Volume",
        "Capacity",
        "Access Modes",
        "StorageClass",
        "VolumeAttributesClass",
        "Age",
        "VolumeMode",
    ]
    assert [row[:7] for row in rows] == [
        ["data", "Bound", "pv-data", "20Gi", "RWO", "gp3", "<unset>"],
        ["waiting", "Pending", "", "", "", "gp3", "<unset>"],
    ]

    columns, rows = _table(server, DAEMONSETS.format(namespace="default"))
    assert columns == [
        ("Name", 0),
        ("Desired", 0),
        ("Current", 0),
        ("Ready", 0),
        ("Up-to-date", 0),
        ("Available", 0),
        ("Node Selector", 0),
        ("Age", 0),
        ("Containers", 1),
        ("Images", 1),
        ("Selector", 1),
    ]
    ((cells),) = rows
    assert cells[:7] == ["agent", 0, 0, 0, 0, 0, "b=1,kubernetes.io/os=linux"]
    assert cells[8:] == ["agent", "agent:1.0", "app=agent"]


def test_discovery(server):
    core = {r["name"]: r for r in send(server, "GET", "/api/v1").body["resources"]}
    assert core["persistentvolumes"]["namespaced"] is False
    assert core["persistentvolumes"]["shortNames"] == ["pv"]
    assert core["persistentvolumeclaims"]["namespaced"] is True
    assert core["persistentvolumeclaims"]["shortNames"] == ["pvc"]
    assert {"persistentvolumes/status", "persistentvolumeclaims/status"} <= set(core)
    apps = {r["name"]: r for r in send(server, "GET", "/apis/apps/v1").body["resources"]}
    assert apps["daemonsets"]["kind"] == "DaemonSet"
    assert apps["daemonsets"]["shortNames"] == ["ds"]
    assert apps["daemonsets"]["categories"] == ["all"]
    assert "daemonsets/status" in apps


# --- authorization ---------------------------------------------------------------------------

POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKS{}Policy"


@pytest.mark.parametrize(
    ("policy", "reads", "writes", "volumes"),
    [
        ("View", True, False, False),
        ("Edit", True, True, False),
        ("Admin", True, True, False),
        ("AdminView", True, False, True),
        ("ClusterAdmin", True, True, True),
    ],
)
def test_access_policies(policy, reads, writes, volumes):
    """Kubernetes' view/edit/admin roles cover claims and DaemonSets, never the cluster's
    PersistentVolumes; AdminView reads everything, ClusterAdmin does everything."""
    user = UserInfo("dev", access_policies=((POLICY.format(policy), "cluster", ()),))

    def allowed(verb: str, group: str, resource: str, namespace: str = "team") -> bool:
        request = RequestAttributes(verb, group, resource, "", namespace, "x")
        return authorize(user, request, lambda _kind: [])

    for group, resource in (("", "persistentvolumeclaims"), ("apps", "daemonsets")):
        assert (allowed("get", group, resource), allowed("list", group, resource)) == (reads,) * 2
        assert (allowed("create", group, resource), allowed("delete", group, resource)) == (
            writes,
        ) * 2
    assert allowed("get", "", "persistentvolumes", "") == volumes
    assert allowed("create", "", "persistentvolumes", "") == (policy == "ClusterAdmin")


# --- the pods a drain meets ------------------------------------------------------------------


def _pod(name: str, **metadata: object) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}, **metadata},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "web:1"}]},
    }


def test_daemonset_and_mirror_pods_read_as_any_pod(server):
    agent = send(server, "POST", DAEMONSETS.format(namespace="default"), _daemonset("agent")).body
    owner = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "name": "agent",
        "uid": agent["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    send(server, "POST", PODS, _pod("agent-x1", ownerReferences=[owner]))
    mirror = {"kubernetes.io/config.mirror": "0123abcd", "kubernetes.io/config.source": "file"}
    send(server, "POST", PODS, _pod("static-node-1", annotations=mirror))

    read = send(server, "GET", f"{PODS}/agent-x1")
    assert read.code == 200
    assert read.body["metadata"]["ownerReferences"] == [owner]
    assert read.body["status"]["phase"] == "Running"
    assert send(server, "GET", f"{PODS}/static-node-1").body["metadata"]["annotations"] == mirror
    on_node = send(server, "GET", f"{PODS}?fieldSelector=spec.nodeName%3Dnode-1").body["items"]
    assert sorted(p["metadata"]["name"] for p in on_node) == ["agent-x1", "static-node-1"]
    # what kubectl drain checks before it leaves a DaemonSet's pods: the DaemonSet exists
    assert send(server, "GET", f"{DAEMONSETS.format(namespace='default')}/agent").code == 200


def _evict(server: KubeApiServer, name: str) -> Response:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
    return send(server, "POST", f"{PODS}/{name}/eviction", body)


def _budget(server: KubeApiServer, **spec: object) -> None:
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
    }
    created = send(server, "POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb)
    assert created.code == 201, created.body


def test_eviction_answers_429_while_the_budget_blocks_then_201(server):
    for name in ("web-1", "web-2"):
        send(server, "POST", PODS, _pod(name))
    _budget(server, minAvailable=2)
    refused = _evict(server, "web-1")
    assert refused.code == 429
    assert refused.body["reason"] == "TooManyRequests"
    assert refused.body["message"] == (
        "Cannot evict pod as it would violate the pod's disruption budget."
    )
    assert refused.body["details"]["causes"] == [
        {
            "reason": "DisruptionBudget",
            "message": "The disruption budget web needs 2 healthy pods and has 2 currently",
        }
    ]
    assert send(server, "GET", f"{PODS}/web-1").code == 200
    send(server, "POST", PODS, _pod("web-3"))
    allowed = _evict(server, "web-1")
    assert allowed.code == 201
    assert allowed.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": 201,
    }
    assert send(server, "GET", f"{PODS}/web-1").code == 404


def _unready(server: KubeApiServer, name: str) -> None:
    conditions = [{"type": "Ready", "status": "False"}]
    patched = send(
        server,
        "PATCH",
        f"{PODS}/{name}/status",
        {"status": {"conditions": conditions}},
        content_type=patch.MERGE_PATCH,
    )
    assert patched.code == 200, patched.body


@pytest.mark.parametrize(
    ("policy", "code"), [(None, 429), ("IfHealthyBudget", 429), ("AlwaysAllow", 201)]
)
def test_unhealthy_pod_eviction_policy(server, policy, code):
    """An unready pod while the budget is not met: only AlwaysAllow lets it go."""
    for name in ("web-1", "web-2", "broken"):
        send(server, "POST", PODS, _pod(name))
    _unready(server, "broken")
    spec = {"minAvailable": 3}
    if policy is not None:
        spec["unhealthyPodEvictionPolicy"] = policy
    _budget(server, **spec)
    assert _evict(server, "broken").code == code


# --- the kubernetes client -------------------------------------------------------------------


@pytest.fixture
def clients(server: KubeApiServer) -> Iterator[SimpleNamespace]:
    kubernetes = pytest.importorskip("kubernetes")
    with admin_api_client(server) as api:
        yield SimpleNamespace(
            core=kubernetes.client.CoreV1Api(api),
            apps=kubernetes.client.AppsV1Api(api),
            ApiException=kubernetes.client.ApiException,
        )


def test_kubernetes_client_volumes_and_claims(clients):
    claim_ref = {"namespace": "default", "name": "data"}
    created = clients.core.create_persistent_volume(_volume("pv-data", claimRef=claim_ref))
    assert created.status.phase == "Bound"
    assert created.spec.csi.volume_handle == EBS["volumeHandle"]
    read = clients.core.read_persistent_volume("pv-data")
    (term,) = read.spec.node_affinity.required.node_selector_terms
    assert term.match_expressions[0].values == ["eu-west-1a"]

    clients.core.create_namespaced_persistent_volume_claim(
        "default", _claim("data", volumeName="pv-data")
    )
    claim = clients.core.read_namespaced_persistent_volume_claim("data", "default")
    assert (claim.spec.volume_name, claim.status.phase) == ("pv-data", "Bound")
    assert claim.status.capacity == {"storage": "20Gi"}
    listed = clients.core.list_persistent_volume_claim_for_all_namespaces().items
    assert [c.metadata.name for c in listed] == ["data"]
    with pytest.raises(clients.ApiException) as refused:
        clients.core.create_persistent_volume({"metadata": {"name": "bad"}, "spec": {}})
    assert refused.value.status == 422


def test_kubernetes_client_daemonsets(clients):
    created = clients.apps.create_namespaced_daemon_set("kube-system", _daemonset("agent"))
    assert created.status.desired_number_scheduled == 0
    assert created.spec.update_strategy.rolling_update.max_unavailable == 1
    read = clients.apps.read_namespaced_daemon_set("agent", "kube-system")
    assert read.spec.selector.match_labels == {"app": "agent"}
    listed = clients.apps.list_daemon_set_for_all_namespaces().items
    assert [(d.metadata.namespace, d.metadata.name) for d in listed] == [("kube-system", "agent")]
