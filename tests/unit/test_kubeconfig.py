"""Kubeconfig documents and merging (eksops.kubeconfig), and the `eksops kubeconfig` command."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import yaml
from eksops import kubeconfig
from eksops.cli import main
from eksops.eks_cluster import ClusterEndpoint, describe_endpoint
from eksops.eks_token import EksToken, TokenRequest
from eksops.errors import KubeconfigError
from eksops.exec_credential import V1BETA1
from eksops.local.clusters import create_cluster
from moto import mock_aws

from tests.support.kubectl import KUBECTL

ACCOUNT = "123456789012"
REGION = "us-west-2"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-admin"

EXISTING = """\
apiVersion: v1
kind: Config
preferences:
  colors: true
clusters:
- name: other
  cluster:
    server: https://other.example.com
    certificate-authority-data: Q0E=
contexts:
- name: other
  context:
    cluster: other
    user: other
    namespace: kube-system
users:
- name: other
  user:
    token: static-secret
current-context: other
extensions:
- name: vendor
  extension:
    setting: 1
x-unknown-top-level:
  keep: me
"""


def arn(name: str) -> str:
    return f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{name}"


def names(config: dict, section: str) -> list[str]:
    return [entry["name"] for entry in config[section]]


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def entry(config: dict, section: str, name: str) -> dict:
    (found,) = [item for item in config[section] if item["name"] == name]
    return found


def create_clusters(*cluster_names: str) -> dict[str, dict]:
    return {name: create_cluster(name, "us-west-2") for name in cluster_names}


@pytest.fixture
def moto_account(aws_env: Path):
    with mock_aws():
        yield aws_env


@pytest.fixture
def demo(moto_account: Path) -> dict:
    return create_clusters("demo")["demo"]


@pytest.fixture
def kubeconfig_path(aws_env: Path) -> Path:
    """The file KUBECONFIG names in the aws_env fixture."""
    path = Path(os.environ["KUBECONFIG"])
    assert path == aws_env / ".kube" / "config"
    return path


def run_kubeconfig(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["kubeconfig", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def endpoint(name: str) -> ClusterEndpoint:
    return ClusterEndpoint(name, arn(name), f"https://{name}.example.com", "Q0E=")


# --- the pure functions ---------------------------------------------------------------------


def test_document_has_one_cluster_context_and_user_named_alike() -> None:
    user = {"token": "t"}
    doc = kubeconfig.document(endpoint("demo"), user, "ctx")

    assert doc == {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": "ctx",
                "cluster": {
                    "server": "https://demo.example.com",
                    "certificate-authority-data": "Q0E=",
                },
            }
        ],
        "contexts": [{"name": "ctx", "context": {"cluster": "ctx", "user": "ctx"}}],
        "users": [{"name": "ctx", "user": user}],
        "current-context": "ctx",
    }


def test_exec_user_minimal() -> None:
    assert kubeconfig.exec_user(TokenRequest("demo", region=REGION), "eksops") == {
        "exec": {
            "apiVersion": V1BETA1,
            "command": "eksops",
            "args": ["token", "--cluster-name", "demo", "--region", REGION],
            "interactiveMode": "Never",
        }
    }


def test_exec_user_without_region_leaves_it_to_the_environment() -> None:
    spec = kubeconfig.exec_user(TokenRequest("demo"), "/opt/bin/eksops")["exec"]

    assert spec["command"] == "/opt/bin/eksops"
    assert spec["args"] == ["token", "--cluster-name", "demo"]


def test_exec_user_carries_every_identity_option() -> None:
    request = TokenRequest(
        "demo",
        region="eu-west-1",
        role_arn=ADMIN_ROLE,
        role_session_name="alice",
        external_id="ext-123",
        profile="dev",
    )

    spec = kubeconfig.exec_user(request, "eksops")["exec"]

    assert spec["args"] == [
        "token",
        "--cluster-name",
        "demo",
        "--region",
        "eu-west-1",
        "--role-arn",
        ADMIN_ROLE,
        "--role-session-name",
        "alice",
        "--external-id",
        "ext-123",
    ]
    assert spec["env"] == [{"name": "AWS_PROFILE", "value": "dev"}]
    assert spec["interactiveMode"] == "Never"


def test_token_user_is_a_static_bearer_token() -> None:
    token = EksToken("k8s-aws-v1.abc", datetime(2025, 1, 1, tzinfo=UTC))

    assert kubeconfig.token_user(token) == {"token": "k8s-aws-v1.abc"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "~/.kube/config"),
        ("", "~/.kube/config"),
        ("/a/config", "/a/config"),
        (os.pathsep.join(["/a/config", "/b/config", "/c/config"]), "/a/config"),
        ("~/custom/config", "~/custom/config"),
    ],
    ids=["unset", "empty", "one", "several", "tilde"],
)
def test_default_path(
    value: str | None, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # what expanduser reads
    environ = {} if value is None else {"KUBECONFIG": value}

    assert kubeconfig.default_path(environ) == Path(expected.replace("~", str(tmp_path), 1))


def test_default_path_skips_empty_kubeconfig_entries() -> None:
    environ = {"KUBECONFIG": os.pathsep + "/a/config"}

    assert kubeconfig.default_path(environ) == Path("/a/config")


# --- merge_into_file ------------------------------------------------------------------------


def merge(path: Path, name: str, alias: str | None = None) -> kubeconfig.MergeResult:
    user = kubeconfig.exec_user(TokenRequest(name, region=REGION), "eksops")
    return kubeconfig.merge_into_file(
        path, kubeconfig.document(endpoint(name), user, alias or arn(name))
    )


def test_merge_replaces_its_own_entries_in_place(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(EXISTING, encoding="utf-8")
    merge(path, "demo")
    config = load(path)
    entry(config, "clusters", arn("demo"))["cluster"]["server"] = "https://stale.example.com"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    result = merge(path, "demo")

    merged = load(path)
    assert result.changed
    assert names(merged, "clusters") == ["other", arn("demo")]
    assert entry(merged, "clusters", arn("demo"))["cluster"]["server"] == (
        "https://demo.example.com"
    )


def test_current_context_follows_the_last_merge(tmp_path: Path) -> None:
    path = tmp_path / "config"
    merge(path, "one")
    merge(path, "two")
    assert load(path)["current-context"] == arn("two")

    result = merge(path, "one")

    config = load(path)
    assert result.changed  # only current-context moved
    assert config["current-context"] == arn("one")
    assert names(config, "contexts") == [arn("one"), arn("two")]


@pytest.mark.parametrize(
    "content",
    [
        "clusters: [unclosed\n",
        "apiVersion: v1\nkind: Config\n\tclusters: []\n",
        "- a list\n- not a mapping\n",
        "just a string\n",
        "clusters: not-a-list\n",
        "apiVersion: v1\nusers:\n  name: not-a-list\n",
        "contexts: 3\n",
    ],
    ids=[
        "unclosed",
        "tab",
        "list",
        "scalar",
        "clusters-scalar",
        "users-mapping",
        "contexts-int",
    ],
)
def test_unusable_file_raises_and_is_left_byte_identical(tmp_path: Path, content: str) -> None:
    path = tmp_path / "config"
    path.write_bytes(content.encode())
    path.chmod(0o640)
    before = sorted(p.name for p in tmp_path.iterdir())

    with pytest.raises(KubeconfigError) as excinfo:
        merge(path, "demo")

    assert excinfo.value.error_name == "eksops.Kubeconfig"
    assert type(excinfo.value).__name__ == "eksops.Kubeconfig"
    assert str(path) in str(excinfo.value)
    assert path.read_bytes() == content.encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    # Nothing but the advisory lock file appeared; no temporary file was left behind.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "config.lock") == before


def test_unreadable_path_raises(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.mkdir()

    with pytest.raises(KubeconfigError, match="cannot read"):
        merge(path, "demo")

    assert path.is_dir()
    assert list(path.iterdir()) == []


def test_empty_file_is_a_new_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_bytes(b"")

    result = merge(path, "demo")

    assert result.changed
    assert names(load(path), "contexts") == [arn("demo")]


# Each worker builds its document, says "ready", then blocks on stdin: closing every stdin
# at once is the start gate, so all read-modify-write the file together.
MERGE_WORKER = """\
import sys
from pathlib import Path

from eksops import kubeconfig
from eksops.eks_cluster import ClusterEndpoint
from eksops.eks_token import TokenRequest

path, name, arn, server, ca_data = sys.argv[1:]
user = kubeconfig.exec_user(TokenRequest(name, region="us-west-2"), "eksops")
new = kubeconfig.document(ClusterEndpoint(name, arn, server, ca_data), user, arn)
print("ready", flush=True)
sys.stdin.read()
kubeconfig.merge_into_file(Path(path), new)
"""


def test_concurrent_merges_from_processes_all_survive(moto_account: Path, tmp_path: Path) -> None:
    cluster_names = [f"cluster-{n}" for n in range(8)]
    create_clusters(*cluster_names)
    eks = boto3.client("eks")
    clusters = [describe_endpoint(eks, name) for name in cluster_names]
    path = tmp_path / "shared" / "config"
    path.parent.mkdir()
    path.write_text(EXISTING, encoding="utf-8")

    workers = [
        subprocess.Popen(
            [sys.executable, "-c", MERGE_WORKER, str(path), *astuple(c)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in clusters
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline() == "ready\n", worker.communicate()[1]
        for worker in workers:
            worker.stdin.close()
        for worker in workers:
            worker.wait(timeout=120)
            assert worker.returncode == 0, worker.stderr.read()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            worker.stdout.close()
            worker.stderr.close()

    config = load(path)
    arns = {cluster.arn for cluster in clusters}
    for section in ("clusters", "contexts", "users"):
        assert sorted(names(config, section)) == sorted([*arns, "other"])
    assert config["current-context"] in arns
    assert config["x-unknown-top-level"] == {"keep": "me"}
    for cluster in clusters:
        assert entry(config, "clusters", cluster.arn)["cluster"]["server"] == cluster.endpoint
    leftovers = [p.name for p in path.parent.iterdir() if p.name not in ("config", "config.lock")]
    assert leftovers == []


def test_merge_writes_through_a_symlinked_kubeconfig(tmp_path: Path) -> None:
    target = tmp_path / "dotfiles" / "kubeconfig"
    target.parent.mkdir()
    target.write_text(EXISTING, encoding="utf-8")
    link = tmp_path / ".kube" / "config"
    link.parent.mkdir()
    link.symlink_to(target)

    merge(link, "demo")

    assert link.is_symlink()
    assert arn("demo") in names(load(target), "contexts")


# --- the `eksops kubeconfig` command against moto -------------------------------------------


def test_cli_creates_file_0600_with_parent_dirs(
    demo: dict, aws_env: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    path = aws_env / "deep" / "er" / "config"
    monkeypatch.setenv("KUBECONFIG", str(path))

    code, out, err = run_kubeconfig(capsys, "--cluster-name", "demo")

    assert (code, err) == (0, "")
    assert out == f"Updated context {demo['arn']} in {path}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = load(path)
    assert config["apiVersion"] == "v1"
    assert config["kind"] == "Config"
    assert config["current-context"] == demo["arn"]
    assert entry(config, "clusters", demo["arn"])["cluster"] == {
        "server": demo["endpoint"],
        "certificate-authority-data": demo["certificateAuthority"]["data"],
    }
    assert entry(config, "contexts", demo["arn"])["context"] == {
        "cluster": demo["arn"],
        "user": demo["arn"],
    }
    assert entry(config, "users", demo["arn"])["user"] == {
        "exec": {
            "apiVersion": V1BETA1,
            "command": "eksops",
            "args": ["token", "--cluster-name", "demo", "--region", REGION],
            "interactiveMode": "Never",
        }
    }


def test_cli_keeps_existing_entries_and_unknown_keys(
    demo: dict, kubeconfig_path: Path, capsys
) -> None:
    kubeconfig_path.parent.mkdir()
    kubeconfig_path.write_text(EXISTING, encoding="utf-8")
    existing = yaml.safe_load(EXISTING)

    code, out, _ = run_kubeconfig(capsys, "--cluster-name", "demo")

    assert code == 0
    assert out.startswith("Updated context ")
    config = load(kubeconfig_path)
    for section in ("clusters", "contexts", "users"):
        assert names(config, section) == ["other", demo["arn"]]
        assert config[section][0] == existing[section][0]
    assert config["preferences"] == {"colors": True}
    assert config["extensions"] == existing["extensions"]
    assert config["x-unknown-top-level"] == {"keep": "me"}
    assert config["current-context"] == demo["arn"]


def test_cli_rerun_adds_nothing_and_reports_unchanged(
    demo: dict, kubeconfig_path: Path, capsys
) -> None:
    kubeconfig_path.parent.mkdir()
    kubeconfig_path.write_text(EXISTING, encoding="utf-8")
    assert run_kubeconfig(capsys, "--cluster-name", "demo")[0] == 0
    written = kubeconfig_path.read_bytes()
    inode = kubeconfig_path.stat().st_ino

    code, out, err = run_kubeconfig(capsys, "--cluster-name", "demo")

    assert (code, err) == (0, "")
    assert out == f"Unchanged context {demo['arn']} in {kubeconfig_path}\n"
    assert kubeconfig_path.read_bytes() == written
    assert kubeconfig_path.stat().st_ino == inode  # not even rewritten
    config = load(kubeconfig_path)
    for section in ("clusters", "contexts", "users"):
        assert names(config, section) == ["other", demo["arn"]]


def test_cli_alias_names_the_context(demo: dict, kubeconfig_path: Path, capsys) -> None:
    code, out, _ = run_kubeconfig(capsys, "--cluster-name", "demo", "--alias", "dev")

    assert code == 0
    assert out == f"Updated context dev in {kubeconfig_path}\n"
    config = load(kubeconfig_path)
    assert config["current-context"] == "dev"
    for section in ("clusters", "contexts", "users"):
        assert names(config, section) == ["dev"]
    assert config["contexts"][0]["context"] == {"cluster": "dev", "user": "dev"}
    assert config["clusters"][0]["cluster"]["server"] == demo["endpoint"]


def test_cli_role_arn_is_passed_to_the_exec_plugin(
    demo: dict, kubeconfig_path: Path, capsys
) -> None:
    boto3.client("iam").create_role(RoleName="eks-admin", AssumeRolePolicyDocument="{}")

    code, _, err = run_kubeconfig(capsys, "--cluster-name", "demo", "--role-arn", ADMIN_ROLE)

    assert (code, err) == (0, "")
    exec_spec = load(kubeconfig_path)["users"][0]["user"]["exec"]
    assert exec_spec["command"] == "eksops"
    assert exec_spec["args"] == [
        "token",
        "--cluster-name",
        "demo",
        "--region",
        REGION,
        "--role-arn",
        ADMIN_ROLE,
    ]


def test_cli_region_option_wins_over_the_environment(
    demo: dict, kubeconfig_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")  # the cluster is in us-west-2

    code, _, err = run_kubeconfig(capsys, "--cluster-name", "demo", "--region", REGION)

    assert (code, err) == (0, "")
    config = load(kubeconfig_path)
    assert config["current-context"] == demo["arn"]
    assert config["users"][0]["user"]["exec"]["args"][-2:] == ["--region", REGION]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
def test_cli_preserves_an_existing_files_mode(
    demo: dict, kubeconfig_path: Path, capsys, mode: int
) -> None:
    kubeconfig_path.parent.mkdir()
    kubeconfig_path.write_text(EXISTING, encoding="utf-8")
    kubeconfig_path.chmod(mode)

    assert run_kubeconfig(capsys, "--cluster-name", "demo")[0] == 0

    assert demo["arn"] in names(load(kubeconfig_path), "contexts")
    assert stat.S_IMODE(kubeconfig_path.stat().st_mode) == mode


def test_cli_invalid_kubeconfig_exits_1_and_leaves_it(
    demo: dict, kubeconfig_path: Path, capsys
) -> None:
    kubeconfig_path.parent.mkdir()
    content = b"clusters: [unclosed\n"
    kubeconfig_path.write_bytes(content)

    code, out, err = run_kubeconfig(capsys, "--cluster-name", "demo")

    assert code == 1
    assert out == ""
    assert err.startswith("eksops: eksops.Kubeconfig: ")
    assert kubeconfig_path.read_bytes() == content


def test_cli_kubeconfig_with_several_paths_uses_the_first(
    demo: dict, aws_env: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    first = aws_env / "first" / "config"
    second = aws_env / "second" / "config"
    second.parent.mkdir()
    second.write_text(EXISTING, encoding="utf-8")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(second)]))

    code, out, _ = run_kubeconfig(capsys, "--cluster-name", "demo")

    assert code == 0
    assert out == f"Updated context {demo['arn']} in {first}\n"
    assert names(load(first), "contexts") == [demo["arn"]]
    assert second.read_text(encoding="utf-8") == EXISTING


def test_cli_kubeconfig_option_overrides_the_environment(
    demo: dict, aws_env: Path, kubeconfig_path: Path, capsys
) -> None:
    chosen = aws_env / "chosen.yaml"

    code, out, _ = run_kubeconfig(capsys, "--cluster-name", "demo", "--kubeconfig", str(chosen))

    assert code == 0
    assert out == f"Updated context {demo['arn']} in {chosen}\n"
    assert names(load(chosen), "clusters") == [demo["arn"]]
    assert not kubeconfig_path.exists()


@pytest.mark.parametrize("existing", [True, False], ids=["existing-file", "no-file"])
def test_cli_missing_cluster_exits_1_and_leaves_kubeconfig(
    moto_account: Path, kubeconfig_path: Path, capsys, existing: bool
) -> None:
    create_clusters("demo")
    if existing:
        kubeconfig_path.parent.mkdir()
        kubeconfig_path.write_text(EXISTING, encoding="utf-8")

    code, out, err = run_kubeconfig(capsys, "--cluster-name", "missing")

    assert code == 1
    assert out == ""
    assert err.startswith("eksops: eksops.ClusterNotFound: ")
    assert "'missing'" in err
    assert REGION in err
    if existing:
        assert kubeconfig_path.read_text(encoding="utf-8") == EXISTING
        assert sorted(p.name for p in kubeconfig_path.parent.iterdir()) == ["config"]
    else:
        assert not kubeconfig_path.parent.exists()


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_reads_the_merged_file(demo: dict, kubeconfig_path: Path, tmp_path: Path, capsys):
    kubeconfig_path.parent.mkdir()
    kubeconfig_path.write_text(EXISTING, encoding="utf-8")
    assert run_kubeconfig(capsys, "--cluster-name", "demo", "--alias", "dev")[0] == 0
    assert run_kubeconfig(capsys, "--cluster-name", "demo")[0] == 0

    result = subprocess.run(
        [KUBECTL, "config", "view", "--kubeconfig", str(kubeconfig_path), "-o", "json"],
        env={"HOME": str(tmp_path), "PATH": os.defpath},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["current-context"] == demo["arn"]
    assert sorted(names(view, "contexts")) == sorted(["other", "dev", demo["arn"]])
    assert sorted(names(view, "clusters")) == sorted(["other", "dev", demo["arn"]])
    assert entry(view, "clusters", demo["arn"])["cluster"]["server"] == demo["endpoint"]
    assert entry(view, "contexts", "other")["context"]["namespace"] == "kube-system"
    exec_spec = entry(view, "users", "dev")["user"]["exec"]
    assert exec_spec["command"] == "eksops"
    assert exec_spec["args"] == ["token", "--cluster-name", "demo", "--region", REGION]
    assert exec_spec["apiVersion"] == V1BETA1
    assert exec_spec["interactiveMode"] == "Never"
