"""An EKS cluster of `eksops local up`, reached with `eksops kubeconfig` and the real kubectl."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.local_up import BIN, DEADLINE_SECONDS, TRUST_STATES, LocalUp

VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


def create_cluster(local_up: LocalUp, name: str, *extra: str) -> dict:
    role = f"{name}-role"
    role_arn = local_up.aws(
        "iam",
        "create-role",
        "--role-name",
        role,
        "--assume-role-policy-document",
        json.dumps(TRUST_STATES),
    )["Role"]["Arn"]
    subnets = local_up.subnets(9)
    local_up.aws(
        "eks",
        "create-cluster",
        "--name",
        name,
        "--role-arn",
        role_arn,
        "--resources-vpc-config",
        f"subnetIds={','.join(subnets)}",
        *extra,
    )

    def active() -> dict | None:
        cluster = local_up.aws("eks", "describe-cluster", "--name", name)["cluster"]
        return cluster if cluster["status"] == "ACTIVE" else None

    return local_up.until(active, f"cluster {name} ACTIVE")


def kubectl(local_up: LocalUp, kubeconfig: str, *args: str, env: dict | None = None):
    return subprocess.run(
        ["kubectl", "--kubeconfig", kubeconfig, *args],
        env={**local_up.env, "PATH": f"{BIN}:{local_up.env['PATH']}", **(env or {})},
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
    )


def kubeconfig_for(local_up: LocalUp, cluster: str) -> str:
    path = str(local_up.work / f"{cluster}.kubeconfig")
    made = local_up.eksops("kubeconfig", "--cluster-name", cluster, "--kubeconfig", path)
    assert made.returncode == 0, made.stderr
    return path


def iam_user(local_up: LocalUp, name: str) -> dict[str, str]:
    """A new IAM user's keys, as the environment of its kubectl."""
    user = local_up.aws("iam", "create-user", "--user-name", name)["User"]
    key = local_up.aws("iam", "create-access-key", "--user-name", name)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "USER_ARN": user["Arn"],
        "EKSOPS_CACHE_DIR": str(local_up.work / f"cache-{name}"),
    }


@pytest.fixture(scope="module")
def creator_config(local_up: LocalUp) -> tuple[dict, str]:
    cluster = create_cluster(local_up, "kube")
    return cluster, kubeconfig_for(local_up, "kube")


def test_cluster_endpoint_is_a_local_kubernetes_api(local_up, creator_config) -> None:
    cluster, _ = creator_config
    assert cluster["endpoint"].startswith("https://127.0.0.1:")
    assert cluster["certificateAuthority"]["data"]
    assert cluster["accessConfig"]["authenticationMode"] == "CONFIG_MAP"


def test_creator_reaches_the_cluster_with_kubectl(local_up, creator_config) -> None:
    _, config = creator_config
    namespaces = kubectl(local_up, config, "get", "namespaces", "-o", "name")
    assert namespaces.returncode == 0, namespaces.stderr
    assert {"namespace/default", "namespace/kube-system"} <= set(namespaces.stdout.split())
    assert kubectl(local_up, config, "auth", "can-i", "*", "*").stdout.strip() == "yes"
    created = kubectl(local_up, config, "create", "serviceaccount", "app", "-n", "default")
    assert created.returncode == 0, created.stderr
    read = kubectl(local_up, config, "get", "serviceaccount", "app", "-o", "json")
    assert json.loads(read.stdout)["metadata"]["name"] == "app"


def test_an_unmapped_iam_user_is_unauthorized(local_up, creator_config) -> None:
    _, config = creator_config
    stranger = iam_user(local_up, "stranger")
    denied = kubectl(local_up, config, "get", "namespaces", env=stranger)
    assert denied.returncode != 0
    assert "Unauthorized" in denied.stderr or "provide credentials" in denied.stderr


def test_a_view_only_access_entry_reads_but_cannot_write(local_up) -> None:
    create_cluster(local_up, "entries", "--access-config", "authenticationMode=API_AND_CONFIG_MAP")
    config = kubeconfig_for(local_up, "entries")
    viewer = iam_user(local_up, "viewer")
    local_up.aws(
        "eks",
        "create-access-entry",
        "--cluster-name",
        "entries",
        "--principal-arn",
        viewer["USER_ARN"],
    )
    local_up.aws(
        "eks",
        "associate-access-policy",
        "--cluster-name",
        "entries",
        "--principal-arn",
        viewer["USER_ARN"],
        "--policy-arn",
        VIEW_POLICY,
        "--access-scope",
        "type=cluster",
    )
    read = kubectl(local_up, config, "get", "namespaces", "-o", "name", env=viewer)
    assert read.returncode == 0, read.stderr
    write = kubectl(local_up, config, "create", "namespace", "nope", env=viewer)
    assert write.returncode != 0
    assert "forbidden" in write.stderr.lower()
    assert viewer["USER_ARN"] in write.stderr  # Kubernetes names the user it refused
