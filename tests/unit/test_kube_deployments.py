"""apps/v1 Deployments on the offline Kubernetes API server: defaulting, the rolled-out status
it reports (no controller runs offline), validation, generation, patches, lists, the Table
kubectl prints, authorization, and the `kubernetes` client calls SetupIrsa makes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eksops.local.kube import patch
from eksops.local.kube.authz import authorize
from eksops.local.kube.identity import RequestAttributes, UserInfo
from eksops.local.kube.server import KubeApiServer, Response

from tests.support.kube_api import TABLE, admin_api_client, admin_server, send

DEPLOYMENTS = "/apis/apps/v1/namespaces/{namespace}/deployments"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@pytest.fixture
def server() -> KubeApiServer:
    """Not listening: requests go through ``handle`` directly, as the admin."""
    return admin_server()


def _deployment(name: str, *, labels: dict | None = None, **spec: object) -> dict:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
            },
            **spec,
        },
    }


def _create(server: KubeApiServer, deployment: dict, namespace: str = "default") -> Response:
    return send(server, "POST", DEPLOYMENTS.format(namespace=namespace), deployment)


def _patch(server: KubeApiServer, name: str, body: dict, content_type: str) -> Response:
    path = DEPLOYMENTS.format(namespace="default") + f"/{name}"
    return send(server, "PATCH", path, body, content_type=content_type)


# --- create ----------------------------------------------------------------------------------


def test_create_defaults_and_reports_the_rollout_done(server):
    created = _create(server, _deployment("web"))
    assert created.code == 201, created.body
    body = created.body
    assert body["metadata"]["generation"] == 1
    spec = body["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always"
    assert pod_spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert "serviceAccountName" not in pod_spec  # admission names "default" for pods only
    status = body["status"]
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 1,
        "replicas": 1,
        "updatedReplicas": 1,
        "readyReplicas": 1,
        "availableReplicas": 1,
    }
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("Available", "True", "MinimumReplicasAvailable"),
        ("Progressing", "True", "NewReplicaSetAvailable"),
    ]
    assert server.store.get("deployments.apps", "default", "web") == body


def test_zero_replicas_stay_zero_and_the_deprecated_service_account_is_mirrored(server):
    deployment = _deployment("idle", replicas=0)
    deployment["spec"]["template"]["spec"]["serviceAccount"] = "api"
    body = _create(server, deployment).body
    assert body["spec"]["replicas"] == 0
    assert "replicas" not in body["status"]  # Kubernetes leaves zero counts out
    pod_spec = body["spec"]["template"]["spec"]
    assert (pod_spec["serviceAccountName"], pod_spec["serviceAccount"]) == ("api", "api")


# kubectl 1.32's body for `kubectl create deployment idle --image=nginx:1.27 --replicas=0
# --port=80 -n default -- sleep 1000`: protobuf, which kubectl's typed create sends
KUBECTL_CREATE_IDLE = bytes.fromhex(
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412d5010a280a0469646c6512001a076465"
    "6661756c7422002a003200380042005a0b0a03617070120469646c65129a010800120d0a0b0a036170701204"
    "69646c651a7f0a1d0a0012001a0022002a003200380042005a0b0a03617070120469646c65125e12400a056e"
    "67696e78120a6e67696e783a312e32371a05736c6565701a04313030302a00320a0a001000185022002a0042"
    "006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c201"
    "0022020a00280038001a0c0800100018002000280038001a002200"
)


def test_protobuf_body_of_kubectl_create_deployment(server):
    created = send(
        server,
        "POST",
        DEPLOYMENTS.format(namespace="default"),
        KUBECTL_CREATE_IDLE,
        content_type="application/vnd.kubernetes.protobuf",
    )
    assert created.code == 201, created.body
    spec = created.body["spec"]
    assert spec["replicas"] == 0  # a pointer in Go: sent as 0, kept as 0
    assert spec["selector"] == {"matchLabels": {"app": "idle"}}
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["template"]["metadata"] == {"labels": {"app": "idle"}}
    (container,) = spec["template"]["spec"]["containers"]
    assert {k: container[k] for k in ("name", "image", "command", "ports")} == {
        "name": "nginx",
        "image": "nginx:1.27",
        "command": ["sleep", "1000"],
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
    }


# --- validation ------------------------------------------------------------------------------


def test_selector_must_match_the_template_labels(server):
    refused = _create(server, _deployment("web", labels={"app": "other", "tier": "a"}))
    assert refused.code == 422
    assert refused.body["reason"] == "Invalid"
    assert refused.body["message"] == (
        'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"other", "tier":"a"}: `selector` does not match template '
        "`labels`"
    )
    assert refused.body["details"]["group"] == "apps"
    assert refused.body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: map[string]string{"app":"other", "tier":"a"}: '
            "`selector` does not match template `labels`",
            "field": "spec.template.metadata.labels",
        }
    ]
    assert server.store.find("deployments.apps", "default", "web") is None


def test_selector_is_required(server):
    deployment = _deployment("web")
    del deployment["spec"]["selector"]
    refused = _create(server, deployment)
    assert refused.code == 422
    assert refused.body["message"] == (
        'Deployment.apps "web" is invalid: [spec.selector: Required value, '
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
        "`selector` does not match template `labels`]"
    )


def test_a_patch_that_breaks_the_selector_is_refused(server):
    _create(server, _deployment("web"))
    before = server.store.get("deployments.apps", "default", "web")
    refused = _patch(
        server,
        "web",
        {"spec": {"template": {"metadata": {"labels": {"app": "moved"}}}}},
        patch.MERGE_PATCH,
    )
    assert refused.code == 422
    assert "`selector` does not match template `labels`" in refused.body["message"]
    assert server.store.get("deployments.apps", "default", "web") == before


# --- generation and patches ------------------------------------------------------------------


def test_generation_counts_spec_changes_not_annotations(server):
    _create(server, _deployment("web"))
    scaled = _patch(server, "web", {"spec": {"replicas": 3}}, patch.MERGE_PATCH).body
    assert scaled["metadata"]["generation"] == 2
    assert scaled["status"]["observedGeneration"] == 2
    assert scaled["status"]["availableReplicas"] == 3

    annotated = _patch(
        server, "web", {"metadata": {"annotations": {"team": "blue"}}}, patch.MERGE_PATCH
    ).body
    assert annotated["metadata"]["annotations"] == {"team": "blue"}
    assert annotated["metadata"]["generation"] == 2
    assert annotated["status"]["observedGeneration"] == 2
    assert int(annotated["metadata"]["resourceVersion"]) > int(
        scaled["metadata"]["resourceVersion"]
    )


def test_restart_patch_keeps_the_template_annotations_it_does_not_name(server):
    deployment = _deployment("web")
    deployment["spec"]["template"]["metadata"]["annotations"] = {"prometheus.io/scrape": "true"}
    _create(server, deployment)
    restart = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "now"}}}}}
    restarted = _patch(server, "web", restart, patch.STRATEGIC_MERGE_PATCH).body
    template = restarted["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        RESTARTED_AT: "now",
    }
    assert template["metadata"]["labels"] == {"app": "web"}
    assert [c["name"] for c in template["spec"]["containers"]] == ["web"]
    assert restarted["metadata"]["generation"] == 2
    assert restarted["status"]["observedGeneration"] == 2


def test_status_subresource_cannot_unsay_the_rollout(server):
    _create(server, _deployment("web"))
    path = DEPLOYMENTS.format(namespace="default") + "/web/status"
    patched = send(
        server,
        "PATCH",
        path,
        {"status": {"readyReplicas": 0}},
        content_type=patch.MERGE_PATCH,
    )
    assert patched.code == 200
    assert patched.body["status"]["readyReplicas"] == 1


# --- reads -----------------------------------------------------------------------------------


def test_lists_by_namespace_and_across_namespaces(server):
    send(server, "POST", "/api/v1/namespaces", {"metadata": {"name": "team"}})
    _create(server, _deployment("api"), "team")
    _create(server, _deployment("web"))
    _create(server, _deployment("db"))

    def names(path: str) -> list[tuple[str, str]]:
        listed = send(server, "GET", path).body
        assert listed["kind"] == "DeploymentList"
        return [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in listed["items"]]

    assert names(DEPLOYMENTS.format(namespace="team")) == [("team", "api")]
    assert names(DEPLOYMENTS.format(namespace="default")) == [
        ("default", "db"),
        ("default", "web"),
    ]
    assert names("/apis/apps/v1/deployments") == [
        ("default", "db"),
        ("default", "web"),
        ("team", "api"),
    ]


def test_table_has_kubectls_deployment_columns(server):
    deployment = _deployment("web", replicas=2)
    deployment["spec"]["selector"]["matchExpressions"] = [
        {"key": "tier", "operator": "In", "values": ["b", "a"]}
    ]
    deployment["spec"]["template"]["metadata"]["labels"]["tier"] = "a"
    deployment["spec"]["template"]["spec"]["containers"].append(
        {"name": "proxy", "image": "envoy:1"}
    )
    _create(server, deployment)
    table = send(server, "GET", DEPLOYMENTS.format(namespace="default"), accept=TABLE).body
    assert table["kind"] == "Table"
    assert [(c["name"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Name", 0),
        ("Ready", 0),
        ("Up-to-date", 0),
        ("Available", 0),
        ("Age", 0),
        ("Containers", 1),
        ("Images", 1),
        ("Selector", 1),
    ]
    (row,) = table["rows"]
    cells = row["cells"]
    assert cells[:4] == ["web", "2/2", 2, 2]
    assert cells[5:] == ["web,proxy", "nginx:1.27,envoy:1", "app=web,tier in (a,b)"]


def test_discovery_serves_apps_v1_deployments(server):
    groups = {g["name"]: g for g in send(server, "GET", "/apis").body["groups"]}
    assert groups["apps"]["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]
    listed = send(server, "GET", "/apis/apps/v1").body["resources"]
    (deployments,) = [r for r in listed if r["name"] == "deployments"]
    assert deployments["kind"] == "Deployment"
    assert deployments["shortNames"] == ["deploy"]
    assert deployments["categories"] == ["all"]
    assert deployments["namespaced"] is True
    assert "deployments/status" in [r["name"] for r in listed]
    assert "apis/apps/v1" in send(server, "GET", "/openapi/v3").body["paths"]


# --- authorization ---------------------------------------------------------------------------

POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKS{}Policy"


@pytest.mark.parametrize(
    ("policy", "reads", "writes"),
    [
        ("View", True, False),
        ("AdminView", True, False),
        ("Edit", True, True),
        ("Admin", True, True),
    ],
)
def test_access_policies_cover_deployments(policy, reads, writes):
    user = UserInfo("dev", access_policies=((POLICY.format(policy), "cluster", ()),))

    def allowed(verb: str, subresource: str = "") -> bool:
        request = RequestAttributes(verb, "apps", "deployments", subresource, "team", "web")
        return authorize(user, request, lambda _kind: [])

    assert (allowed("get"), allowed("list")) == (reads, reads)
    assert (allowed("patch"), allowed("create"), allowed("delete")) == (writes,) * 3
    assert allowed("get", "status") == reads
    assert not allowed("patch", "status")  # the controller's, not a user's


# --- the kubernetes client, as SetupIrsa calls it ----------------------------------------------


@pytest.fixture
def apps_v1(server: KubeApiServer) -> Iterator:
    kubernetes = pytest.importorskip("kubernetes")
    with admin_api_client(server) as api:
        yield kubernetes.client.AppsV1Api(api)


def test_kubernetes_client_lists_and_restarts_a_deployment(apps_v1):
    deployment = _deployment("web")
    deployment["spec"]["template"]["spec"]["serviceAccountName"] = "api"
    apps_v1.create_namespaced_deployment("default", deployment)

    listed = apps_v1.list_namespaced_deployment("default").items
    assert [(d.metadata.name, d.spec.template.spec.service_account_name) for d in listed] == [
        ("web", "api")
    ]
    restarted = apps_v1.patch_namespaced_deployment(
        "web",
        "default",
        {
            "spec": {
                "template": {"metadata": {"annotations": {RESTARTED_AT: "2025-01-01T00:00:00Z"}}}
            }
        },
    )
    assert restarted.spec.template.metadata.annotations == {RESTARTED_AT: "2025-01-01T00:00:00Z"}
    assert restarted.metadata.generation == restarted.status.observed_generation == 2
    assert restarted.status.updated_replicas == restarted.status.available_replicas == 1
