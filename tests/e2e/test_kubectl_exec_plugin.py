"""The real kubectl, authenticating through `eksops token` as its exec plugin.

`eksops kubeconfig` writes the kubeconfig in-process against moto; the test then points the
cluster entry at a local HTTPS server with its own CA and runs kubectl as a subprocess. kubectl
starts `eksops token` (found on PATH), which signs the token locally: no AWS call is made.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sysconfig
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from eksops.cli import main
from eksops.exec_credential import V1
from eksops.local.clusters import create_cluster
from moto import mock_aws

from tests.conftest import FAKE_CREDENTIALS
from tests.support.kubectl import KUBECTL
from tests.support.tls_server import VERSION, Pki, make_pki, serve

SCRIPTS = Path(sysconfig.get_path("scripts"))  # .venv/bin, where the `eksops` script lives
TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER = "demo"

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki("e2e")


@pytest.fixture
def api_server(pki: Pki):
    with serve(pki) as info:
        yield info


@pytest.fixture
def kubeconfig_file(aws_env: Path, api_server, pki: Pki, capsys: pytest.CaptureFixture[str]):
    """`eksops kubeconfig` output, with the cluster entry pointed at the local API server."""
    path = aws_env / "work" / "kubeconfig"
    with mock_aws():
        create_cluster(CLUSTER, "us-west-2")
        assert main(["kubeconfig", "--cluster-name", CLUSTER, "--kubeconfig", str(path)]) == 0
    assert capsys.readouterr().out.startswith("Updated context arn:aws:eks:us-west-2:")

    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    (cluster,) = config["clusters"]
    (user,) = config["users"]
    assert user["user"]["exec"]["command"] == "eksops"
    cluster["cluster"]["server"] = api_server.url
    cluster["cluster"]["certificate-authority-data"] = pki.ca_data
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def kubectl_env(tmp_path: Path) -> dict[str, str]:
    """Only what the exec plugin needs: fake static keys, a region, private home and cache."""
    home = tmp_path / "kubectl-home"
    home.mkdir()
    return {
        "PATH": os.pathsep.join([str(SCRIPTS), os.defpath.strip(os.pathsep)]),
        "HOME": str(home),
        "AWS_REGION": "us-west-2",
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "EKSOPS_CACHE_DIR": str(tmp_path / "token-cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
        **FAKE_CREDENTIALS,
    }


def _kubectl_version(kubeconfig: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "--raw", "/version"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == VERSION


def _bearer_tokens(authorizations: list[str | None]) -> list[str]:
    tokens = []
    for header in authorizations:
        assert header is not None
        scheme, _, token = header.partition(" ")
        assert scheme == "Bearer"
        tokens.append(token)
    return tokens


def _cache_entries(env: dict[str, str]) -> list[Path]:
    directory = Path(env["EKSOPS_CACHE_DIR"])
    return sorted(p for p in directory.iterdir() if not p.name.startswith(".tmp-"))


def _presigned_url(token: str) -> str:
    assert token.startswith(TOKEN_PREFIX)
    encoded = token.removeprefix(TOKEN_PREFIX)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", encoded), "base64url without padding"
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")


def test_kubectl_authenticates_with_eksops_token(kubeconfig_file, kubectl_env, api_server):
    _kubectl_version(kubeconfig_file, kubectl_env)

    assert api_server.requests, "kubectl never reached the API server"
    assert {urlsplit(path).path for path in api_server.paths} == {"/version"}
    tokens = set(_bearer_tokens(api_server.authorizations))
    assert len(tokens) == 1
    url = _presigned_url(tokens.pop())

    assert url.startswith("https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&")
    assert "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id" in url
    assert "X-Amz-Expires=60&" in url
    query = parse_qs(urlsplit(url).query, strict_parsing=True)
    assert all(len(values) == 1 for values in query.values())
    params = {name: values[0] for name, values in query.items()}
    assert params["Action"] == "GetCallerIdentity"
    assert params["Version"] == "2011-06-15"
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert re.fullmatch(
        r"AKIAIOSFODNN7EXAMPLE/\d{8}/us-west-2/sts/aws4_request", params["X-Amz-Credential"]
    )
    assert params["X-Amz-Credential"].split("/")[1] == params["X-Amz-Date"][:8]
    assert params["X-Amz-Expires"] == "60"
    assert params["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    assert re.fullmatch(r"[0-9a-f]{64}", params["X-Amz-Signature"])
    assert "X-Amz-Security-Token" not in params  # static keys


def test_second_kubectl_call_reuses_the_cached_token(kubeconfig_file, kubectl_env, api_server):
    _kubectl_version(kubeconfig_file, kubectl_env)
    (entry,) = _cache_entries(kubectl_env)
    first = entry.stat()
    (first_token,) = set(_bearer_tokens(api_server.authorizations))
    assert entry.read_text(encoding="utf-8").splitlines()[-1] == first_token  # token: last line

    _kubectl_version(kubeconfig_file, kubectl_env)

    tokens = _bearer_tokens(api_server.authorizations)
    assert len(tokens) >= 2
    assert set(tokens) == {first_token}
    # A miss would have minted and rewritten the entry (atomically: a new inode).
    assert _cache_entries(kubectl_env) == [entry]
    second = entry.stat()
    assert (second.st_ino, second.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)


def test_exec_api_version_v1(kubeconfig_file, kubectl_env, api_server):
    config = yaml.safe_load(kubeconfig_file.read_text(encoding="utf-8"))
    exec_spec = config["users"][0]["user"]["exec"]
    exec_spec["apiVersion"] = V1  # kubectl then sends KUBERNETES_EXEC_INFO with v1 ...
    assert exec_spec["interactiveMode"] == "Never"  # ... and requires interactiveMode
    kubeconfig_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    _kubectl_version(kubeconfig_file, kubectl_env)  # minted
    (entry,) = _cache_entries(kubectl_env)
    inode = entry.stat().st_ino
    _kubectl_version(kubeconfig_file, kubectl_env)  # answered from the cache

    assert entry.stat().st_ino == inode
    tokens = set(_bearer_tokens(api_server.authorizations))
    assert len(tokens) == 1
    assert _presigned_url(tokens.pop()).startswith("https://sts.us-west-2.amazonaws.com/")
