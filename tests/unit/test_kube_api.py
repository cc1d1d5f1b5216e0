"""The offline Kubernetes API server: storage semantics, patches, eviction arithmetic, Status
errors, and its discovery documents as the ``kubernetes`` Python client reads them."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from eksops.local.kube import eviction, patch, resources
from eksops.local.kube.identity import RequestAttributes, UserInfo
from eksops.local.kube.pki import ClusterPki
from eksops.local.kube.server import KubeApiServer, Response
from eksops.local.kube.store import ApiError, ObjectStore

ADMIN = UserInfo("admin", ("system:masters",))
VIEWER = UserInfo("viewer", ("viewers",))
TOKENS = {"good": ADMIN, "viewer": VIEWER}
READ_VERBS = ("get", "list", "watch")


def _authorize(user: UserInfo, attributes: RequestAttributes) -> bool:
    return user is ADMIN or attributes.verb in READ_VERBS


@pytest.fixture
def server() -> KubeApiServer:
    """Not listening: requests go through ``handle`` directly."""
    return KubeApiServer("unit", TOKENS.get, _authorize)


def _call(
    server: KubeApiServer,
    method: str,
    path: str,
    body: object = None,
    *,
    token: str | None = "good",
    content_type: str = "application/json",
    accept: str = "application/json",
) -> Response:
    headers = {"Accept": accept, "Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return server.handle(method, path, headers, raw)


def _configmap(name: str, namespace: str = "default", **data: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def _pod(name: str, *, ready: bool = True, labels: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "web", "image": "nginx:1.27"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def _pdb(name: str, **spec: object) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
    }


# --- storage -------------------------------------------------------------------------------


def test_initial_namespaces_each_with_default_service_account(server):
    names = [ns["metadata"]["name"] for ns in server.store.list("namespaces")[0]]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    for name in names:
        assert server.store.get("serviceaccounts", name, "default")
        root_ca = server.store.get("configmaps", name, "kube-root-ca.crt")
        assert root_ca["data"]["ca.crt"] == server.pki.ca_pem.decode()


def test_create_sets_server_fields_and_twice_is_already_exists(server):
    created = _call(server, "POST", "/api/v1/namespaces/default/configmaps", _configmap("a"))
    assert created.code == 201
    metadata = created.body["metadata"]
    assert metadata["uid"]
    assert metadata["creationTimestamp"].endswith("Z")
    assert int(metadata["resourceVersion"]) > 0

    again = _call(server, "POST", "/api/v1/namespaces/default/configmaps", _configmap("a"))
    assert again.code == 409
    assert again.body["kind"] == "Status"
    assert again.body["reason"] == "AlreadyExists"
    assert again.body["message"] == 'configmaps "a" already exists'
    assert again.body["details"] == {"name": "a", "kind": "configmaps"}


def test_resource_versions_grow_across_the_cluster():
    store = ObjectStore()
    first = store.create("configmaps", _configmap("a"))
    second = store.create("secrets", {"metadata": {"name": "s", "namespace": "default"}})
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert store.resource_version == second["metadata"]["resourceVersion"]


def test_stale_update_is_conflict_and_current_update_keeps_server_fields(server):
    path = "/api/v1/namespaces/default/configmaps/a"
    created = _call(server, "POST", "/api/v1/namespaces/default/configmaps", _configmap("a", k="1"))
    fresh = {**created.body, "data": {"k": "2"}}
    fresh["metadata"] = {**created.body["metadata"], "uid": "", "creationTimestamp": None}

    updated = _call(server, "PUT", path, fresh)
    assert updated.code == 200
    assert updated.body["data"] == {"k": "2"}
    assert updated.body["metadata"]["uid"] == created.body["metadata"]["uid"]
    assert (
        updated.body["metadata"]["creationTimestamp"]
        == created.body["metadata"]["creationTimestamp"]
    )

    stale = _call(server, "PUT", path, {**created.body, "data": {"k": "3"}})
    assert stale.code == 409
    assert stale.body["reason"] == "Conflict"
    assert stale.body["message"] == (
        'Operation cannot be fulfilled on configmaps "a": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert server.store.get("configmaps", "default", "a")["data"] == {"k": "2"}


def test_missing_object_is_not_found_status(server):
    response = _call(server, "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/nope")
    assert response.code == 404
    assert response.body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'clusterroles.rbac.authorization.k8s.io "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "clusterroles", "group": "rbac.authorization.k8s.io"},
        "code": 404,
    }


def test_create_in_missing_namespace_is_not_found(server):
    response = _call(
        server, "POST", "/api/v1/namespaces/ghost/configmaps", _configmap("a", "ghost")
    )
    assert response.code == 404
    assert response.body["message"] == 'namespaces "ghost" not found'


def test_deleting_a_namespace_deletes_its_objects(server):
    _call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": "team"}})
    _call(server, "POST", "/api/v1/namespaces/team/configmaps", _configmap("a", "team"))
    assert _call(server, "DELETE", "/api/v1/namespaces/team").code == 200
    assert server.store.list("configmaps", "team")[0] == []
    assert _call(server, "GET", "/api/v1/namespaces/team").code == 404
    protected = _call(server, "DELETE", "/api/v1/namespaces/kube-system")
    assert protected.code == 403


def test_dry_run_does_not_persist(server):
    response = _call(
        server, "POST", "/api/v1/namespaces/default/configmaps?dryRun=All", _configmap("a")
    )
    assert response.code == 201
    assert server.store.find("configmaps", "default", "a") is None


def test_selectors_on_lists(server):
    for name, node, app in (("p1", "n1", "web"), ("p2", "n2", "web"), ("p3", "n1", "db")):
        pod = _pod(name, labels={"app": app})
        pod["spec"]["nodeName"] = node
        _call(server, "POST", "/api/v1/namespaces/default/pods", pod)

    def names(query: str) -> list[str]:
        body = _call(server, "GET", f"/api/v1/pods?{query}").body
        return [item["metadata"]["name"] for item in body["items"]]

    assert names("fieldSelector=spec.nodeName%3Dn1") == ["p1", "p3"]
    assert names("labelSelector=app%3Dweb") == ["p1", "p2"]
    assert names("labelSelector=app+in+(db,cache)") == ["p3"]
    assert names("labelSelector=app!%3Dweb,!missing") == ["p3"]
    assert names("fieldSelector=metadata.name%3Dp2") == ["p2"]


def test_status_subresource_owns_status(server):
    created = _call(server, "POST", "/api/v1/namespaces/default/pods", _pod("p")).body
    assert created["status"]["phase"] == "Running"  # defaulted: no kubelet offline
    main = _call(
        server,
        "PATCH",
        "/api/v1/namespaces/default/pods/p",
        {"status": {"phase": "Failed"}, "metadata": {"labels": {"x": "y"}}},
        content_type=patch.MERGE_PATCH,
    ).body
    assert main["status"]["phase"] == "Running"
    assert main["metadata"]["labels"]["x"] == "y"
    status = _call(
        server,
        "PATCH",
        "/api/v1/namespaces/default/pods/p/status",
        {"status": {"phase": "Succeeded"}},
        content_type=patch.MERGE_PATCH,
    ).body
    assert status["status"]["phase"] == "Succeeded"


def test_table_for_kubectl_get(server):
    response = _call(
        server,
        "GET",
        "/api/v1/namespaces",
        accept="application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )
    table = response.body
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Age"]
    assert [row["cells"][:2] for row in table["rows"]] == [
        ["default", "Active"],
        ["kube-node-lease", "Active"],
        ["kube-public", "Active"],
        ["kube-system", "Active"],
    ]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (50 * 3600, "2d2h"),
    ],
)
def test_age_format(seconds, shown):
    assert resources.human_duration(seconds) == shown


# --- authentication and authorization --------------------------------------------------------


def test_no_or_unknown_token_is_unauthorized(server):
    for token in (None, "bad"):
        response = _call(server, "GET", "/api/v1/namespaces", token=token)
        assert response.code == 401
        assert response.body["reason"] == "Unauthorized"
        assert response.body["message"] == "Unauthorized"
    # what anyone may read, as the public-info-viewer role allows
    assert _call(server, "GET", "/version", token=None).code == 200
    assert _call(server, "GET", "/healthz", token=None).body == "ok"
    assert _call(server, "GET", "/version", token="bad").code == 401


def test_forbidden_messages(server):
    namespaced = _call(
        server, "POST", "/api/v1/namespaces/default/pods", _pod("p"), token="viewer"
    ).body
    assert namespaced["code"] == 403
    assert namespaced["message"] == (
        'pods is forbidden: User "viewer" cannot create resource "pods" in API group "" '
        'in the namespace "default"'
    )
    cluster = _call(
        server, "DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles/x", token="viewer"
    ).body
    assert cluster["message"] == (
        'clusterroles.rbac.authorization.k8s.io "x" is forbidden: User "viewer" cannot delete '
        'resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope'
    )


def test_token_request_is_served_only_through_the_hook(server):
    path = "/api/v1/namespaces/default/serviceaccounts/default/token"
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    assert _call(server, "POST", path, request).code == 404
    seen = []

    def issue(req):
        seen.append((req.namespace, req.name, req.user.username, req.body["kind"]))
        return 201, {**req.body, "status": {"token": "t", "expirationTimestamp": "x"}}

    server.subresource_handlers[("serviceaccounts", "token")] = issue
    answered = _call(server, "POST", path, request)
    assert answered.code == 201
    assert answered.body["status"]["token"] == "t"
    assert seen == [("default", "default", "admin", "TokenRequest")]


def test_self_subject_access_review_asks_the_authorizer(server):
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "create", "resource": "pods", "namespace": "x"}},
    }
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    assert _call(server, "POST", path, review).body["status"] == {"allowed": True}


# --- patches ---------------------------------------------------------------------------------


def test_json_merge_patch():
    original = {"a": {"b": 1, "c": 2}, "list": [1, 2], "gone": True}
    patched = patch.merge_patch(original, {"a": {"b": None, "d": 4}, "list": [3], "gone": None})
    assert patched == {"a": {"c": 2, "d": 4}, "list": [3]}
    assert original["a"] == {"b": 1, "c": 2}  # not modified


def test_json_patch():
    doc = {"metadata": {"labels": {"a": "1"}}, "items": [1, 2]}
    ops = [
        {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
        {"op": "remove", "path": "/items/0"},
        {"op": "add", "path": "/items/-", "value": 3},
        {"op": "test", "path": "/metadata/labels/a", "value": "1"},
    ]
    assert patch.json_patch(doc, ops) == {
        "metadata": {"labels": {"a": "1", "b/c": "2"}},
        "items": [2, 3],
    }
    with pytest.raises(ApiError) as failed:
        patch.json_patch(doc, [{"op": "test", "path": "/items/0", "value": 9}])
    assert failed.value.code == 422


def test_strategic_merge_patch_merges_containers_by_name():
    pod = {
        "spec": {
            "containers": [
                {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "image": "side:1"},
            ],
            "tolerations": [{"key": "x"}],
        },
        "metadata": {"finalizers": ["a"]},
    }
    patched = patch.strategic_merge_patch(
        pod,
        {
            "spec": {
                "containers": [
                    {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]},
                    {"name": "sidecar", "$patch": "delete"},
                    {"name": "new", "image": "new:1"},
                ],
                "tolerations": [{"key": "y"}],
            },
            "metadata": {"finalizers": ["b"]},
        },
    )
    assert patched["spec"]["containers"] == [
        {
            "name": "app",
            "image": "app:2",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        },
        {"name": "new", "image": "new:1"},
    ]
    assert patched["spec"]["tolerations"] == [{"key": "y"}]  # no strategy: replaced
    assert patched["metadata"]["finalizers"] == ["a", "b"]  # a merged set


def test_strategic_merge_patch_directives():
    original = {"data": {"a": "1", "b": "2"}, "spec": {"x": 1}, "fin": ["a", "b"]}
    assert patch.strategic_merge_patch(original, {"data": {"$patch": "replace", "c": "3"}}) == {
        "data": {"c": "3"},
        "spec": {"x": 1},
        "fin": ["a", "b"],
    }
    assert "spec" not in patch.strategic_merge_patch(original, {"spec": {"$patch": "delete"}})
    removed = patch.strategic_merge_patch(
        {"finalizers": ["a", "b"]}, {"$deleteFromPrimitiveList/finalizers": ["a"]}
    )
    assert removed == {"finalizers": ["b"]}
    ordered = patch.strategic_merge_patch(
        {"containers": [{"name": "a"}, {"name": "b"}]},
        {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]},
    )
    assert ordered == {"containers": [{"name": "b"}, {"name": "a"}]}


def test_cordon_patch_through_the_server(server):
    server.store.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    response = _call(
        server,
        "PATCH",
        "/api/v1/nodes/n1",
        {"spec": {"unschedulable": True}},
        content_type=patch.STRATEGIC_MERGE_PATCH,
    )
    assert response.code == 200
    assert server.store.get("nodes", "", "n1")["spec"] == {"unschedulable": True}


def test_patch_with_stale_resource_version_is_conflict(server):
    created = _call(server, "POST", "/api/v1/namespaces/default/configmaps", _configmap("a")).body
    _call(
        server,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a",
        {"data": {"k": "1"}},
        content_type=patch.MERGE_PATCH,
    )
    stale = _call(
        server,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/a",
        {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}},
        content_type=patch.MERGE_PATCH,
    )
    assert stale.code == 409


# --- eviction --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected", "healthy", "desired", "allowed"),
    [
        ({"minAvailable": 2}, 3, 3, 2, 1),
        ({"minAvailable": "50%"}, 3, 3, 2, 1),  # 1.5 rounds up
        ({"minAvailable": "100%"}, 4, 4, 4, 0),
        ({"maxUnavailable": 1}, 3, 3, 2, 1),
        ({"maxUnavailable": "30%"}, 10, 10, 7, 3),  # 3 unavailable (ceil 3.0)
        ({"maxUnavailable": "25%"}, 3, 3, 2, 1),  # ceil(0.75) = 1
        ({"maxUnavailable": "10%"}, 10, 8, 9, 0),  # already below budget
        ({"minAvailable": 0}, 2, 2, 0, 2),
    ],
)
def test_budget_arithmetic(spec, expected, healthy, desired, allowed):
    assert eviction.budget(spec, expected, healthy) == (desired, allowed)


def test_eviction_honours_the_budget(server):
    for name in ("p1", "p2"):
        server.store.create("pods", _pod(name))
    _call(
        server,
        "POST",
        "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
        _pdb("web", minAvailable="50%"),
    )
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p1"}}

    first = _call(server, "POST", "/api/v1/namespaces/default/pods/p1/eviction", body)
    assert first.code == 201
    assert server.store.find("pods", "default", "p1") is None
    status = server.store.get("poddisruptionbudgets.policy", "default", "web")["status"]
    assert status == {
        "disruptionsAllowed": 0,
        "currentHealthy": 1,
        "desiredHealthy": 1,
        "expectedPods": 1,
    }

    refused = _call(server, "POST", "/api/v1/namespaces/default/pods/p2/eviction", body)
    assert refused.code == 429
    assert refused.body["reason"] == "TooManyRequests"
    assert (
        refused.body["message"]
        == "Cannot evict pod as it would violate the pod's disruption budget."
    )
    assert refused.body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert server.store.find("pods", "default", "p2") is not None


def test_unready_pod_may_be_evicted_when_the_budget_is_met(server):
    server.store.create("pods", _pod("ready-1"))
    server.store.create("pods", _pod("ready-2"))
    server.store.create("pods", _pod("broken", ready=False))
    server.store.create("poddisruptionbudgets.policy", _pdb("web", minAvailable=2))
    assert eviction.evict(server.store, "default", "broken")["status"] == "Success"
    with pytest.raises(ApiError) as refused:
        eviction.evict(server.store, "default", "ready-1")
    assert refused.value.code == 429


# --- wire formats ----------------------------------------------------------------------------


def _field(number: int, payload: bytes | str) -> bytes:
    raw = payload.encode() if isinstance(payload, str) else payload
    return bytes([number << 3 | 2, len(raw)]) + raw


def test_protobuf_bodies_as_kubectl_sends_them(server):
    labels = _field(11, _field(1, "team") + _field(2, "a"))
    metadata = _field(1, "proto") + _field(2, "") + labels
    namespace = _field(1, metadata) + _field(2, b"") + _field(3, _field(1, ""))
    envelope = (
        b"k8s\x00" + _field(1, _field(1, "v1") + _field(2, "Namespace")) + _field(2, namespace)
    )
    response = _call(
        server,
        "POST",
        "/api/v1/namespaces",
        envelope,
        content_type="application/vnd.kubernetes.protobuf",
    )
    assert response.code == 201, response.body
    assert response.body["metadata"]["labels"]["team"] == "a"
    assert response.body["status"] == {"phase": "Active"}


# --- the client's view over HTTPS --------------------------------------------------------------


@pytest.fixture
def listening(server: KubeApiServer) -> Iterator[KubeApiServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_pki_serves_127_0_0_1_under_the_cluster_ca(listening):
    pki: ClusterPki = listening.pki
    assert base64.b64decode(pki.ca_data) == pki.ca_pem
    context = ssl.create_default_context(cadata=pki.ca_pem.decode())
    with urllib.request.urlopen(f"{listening.endpoint}/healthz", context=context, timeout=10) as r:
        assert r.read() == b"ok"


def test_kubernetes_python_client_reads_discovery_and_objects(listening, tmp_path: Path):
    kubernetes = pytest.importorskip("kubernetes")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(listening.pki.ca_pem)
    configuration = kubernetes.client.Configuration()
    configuration.host = listening.endpoint
    configuration.ssl_ca_cert = str(ca_file)
    configuration.api_key = {"authorization": "good"}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    api = kubernetes.client.ApiClient(configuration)
    try:
        assert kubernetes.client.VersionApi(api).get_code().git_version == "v1.32.0"
        assert kubernetes.client.CoreApi(api).get_api_versions().versions == ["v1"]
        groups = {g.name for g in kubernetes.client.ApisApi(api).get_api_versions().groups}
        assert {"policy", "rbac.authorization.k8s.io", "authorization.k8s.io"} <= groups
        core = kubernetes.client.CoreV1Api(api)
        listed = {r.name for r in core.get_api_resources().resources}
        assert {"pods", "pods/eviction", "nodes", "serviceaccounts", "namespaces"} <= listed
        policy = kubernetes.client.PolicyV1Api(api).get_api_resources()
        assert [r.name for r in policy.resources] == [
            "poddisruptionbudgets",
            "poddisruptionbudgets/status",
        ]
        rbac = kubernetes.client.RbacAuthorizationV1Api(api).get_api_resources()
        assert {r.name for r in rbac.resources} == {
            "roles",
            "rolebindings",
            "clusterroles",
            "clusterrolebindings",
        }

        names = [ns.metadata.name for ns in core.list_namespace().items]
        assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]

        body = kubernetes.client.V1ConfigMap(
            metadata=kubernetes.client.V1ObjectMeta(name="settings"), data={"k": "1"}
        )
        created = core.create_namespaced_config_map("default", body)
        created.data = {"k": "2"}
        core.replace_namespaced_config_map("settings", "default", created)
        created.data = {"k": "3"}  # still carrying the first resourceVersion
        with pytest.raises(kubernetes.client.ApiException) as stale:
            core.replace_namespaced_config_map("settings", "default", created)
        assert stale.value.status == 409
        assert json.loads(stale.value.body)["reason"] == "Conflict"

        with pytest.raises(kubernetes.client.ApiException) as missing:
            core.read_namespaced_secret("nope", "default")
        assert missing.value.status == 404

        patched = core.patch_namespaced_config_map("settings", "default", {"data": {"x": "y"}})
        assert patched.data == {"k": "2", "x": "y"}
    finally:
        api.close()
