"""The real kubectl and Deployments on the offline Kubernetes API server, as an EKS user with
AmazonEKSEditPolicy (authorized by the server's own EKS authorizer): create (protobuf), apply,
get (the Table), rollout restart, annotate; and a viewer refused a restart.

There is no controller offline: every Deployment reports its rollout done at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eksops.local.kube import authz
from eksops.local.kube.identity import UserInfo
from eksops.local.kube.server import KubeApiServer

from tests.support.kubectl import KUBECTL, ok, run_kubectl, token_env

POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKS{}Policy"
USERS = {
    "editor": UserInfo("editor", access_policies=((POLICY.format("Edit"), "cluster", ()),)),
    "viewer": UserInfo("viewer", access_policies=((POLICY.format("View"), "cluster", ()),)),
}
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: api}}
  template:
    metadata:
      labels: {{app: api}}
    spec:
      serviceAccountName: api
      containers:
      - name: api
        image: nginx:1.27
"""


@pytest.fixture
def api() -> Iterator[KubeApiServer]:
    server = KubeApiServer(
        "e2e", USERS.get, lambda user, request: authz.authorize(user, request, lambda _: [])
    )
    server.start()
    yield server  # pytest resumes here to tear down, whether or not the test passed
    server.stop()


@pytest.fixture
def kubectl(api: KubeApiServer, tmp_path: Path):
    """kubectl as ``user`` (editor by default), each with its own kubeconfig and HOME."""

    def run(*args: str, user: str = "editor", stdin: str = ""):
        work = tmp_path / user
        work.mkdir(exist_ok=True)
        return run_kubectl(list(args), token_env(api.endpoint, api.pki.ca_data, user, work), stdin)

    return run


def _deployment(kubectl, name: str) -> dict:
    return json.loads(ok(kubectl("get", "deployment", name, "-o", "json")))


def test_create_get_restart_and_annotate(kubectl, api):
    created = kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
    assert ok(created).strip() == "deployment.apps/web created"

    lines = ok(kubectl("get", "deploy")).splitlines()
    assert lines[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:4] == ["web", "2/2", "2", "2"]
    wide = ok(kubectl("get", "deploy", "web", "-o", "wide")).splitlines()
    assert wide[1].split()[5:] == ["nginx", "nginx:1.27", "app=web"]  # named after the image
    assert _deployment(kubectl, "web")["metadata"]["generation"] == 1

    assert ok(kubectl("rollout", "restart", "deployment/web")).strip() == (
        "deployment.apps/web restarted"
    )
    restarted = _deployment(kubectl, "web")
    assert RESTARTED_AT in restarted["spec"]["template"]["metadata"]["annotations"]
    assert restarted["metadata"]["generation"] == 2
    assert restarted["status"]["observedGeneration"] == 2

    annotated = kubectl("annotate", "deployment", "web", "team=blue")
    assert ok(annotated).strip() == "deployment.apps/web annotated"
    after = _deployment(kubectl, "web")
    assert after["metadata"]["annotations"] == {"team": "blue"}
    assert after["metadata"]["generation"] == 2  # metadata only: no new generation
    assert after["spec"]["template"] == restarted["spec"]["template"]
    assert api.store.get("deployments.apps", "default", "web")["metadata"]["annotations"] == {
        "team": "blue"
    }


def test_apply_twice_then_a_selector_mismatch_is_refused(kubectl, api):
    first = kubectl("apply", "-f", "-", stdin=DEPLOYMENT.format(replicas=1))
    assert ok(first).strip() == "deployment.apps/api created"
    second = kubectl("apply", "-f", "-", stdin=DEPLOYMENT.format(replicas=3))
    assert ok(second).strip() == "deployment.apps/api configured"
    stored = api.store.get("deployments.apps", "default", "api")
    assert stored["spec"]["replicas"] == 3
    assert stored["spec"]["template"]["spec"]["serviceAccountName"] == "api"
    assert stored["status"]["availableReplicas"] == 3

    moved = DEPLOYMENT.format(replicas=3).replace("labels: {app: api}", "labels: {app: moved}")
    refused = kubectl("apply", "-f", "-", stdin=moved)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith(
        'The Deployment "api" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"moved"}: `selector` does not match template `labels`'
    )


def test_a_viewer_reads_deployments_but_cannot_restart_them(kubectl):
    ok(kubectl("create", "deployment", "web", "--image=nginx:1.27"))
    assert "web" in ok(kubectl("get", "deploy", user="viewer"))
    refused = kubectl("rollout", "restart", "deployment/web", user="viewer")
    assert refused.returncode == 1
    assert (
        'deployments.apps "web" is forbidden: User "viewer" cannot patch resource "deployments" '
        'in API group "apps" in the namespace "default"' in refused.stderr
    )
