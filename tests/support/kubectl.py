"""The real kubectl, as the end-to-end tests run it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

KUBECTL = "/usr/bin/kubectl" if Path("/usr/bin/kubectl").exists() else shutil.which("kubectl")


def run_kubectl(
    args: list[str], env: dict[str, str], stdin: str = "", timeout: int = 60
) -> subprocess.CompletedProcess[str]:
    """kubectl with ``args`` in ``env``, bounded by ``timeout``; never raises on failure."""
    return subprocess.run(
        [KUBECTL, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a kubectl call that must have succeeded."""
    assert result.returncode == 0, result.stderr
    return result.stdout


def token_env(endpoint: str, ca_data: str, token: str, work: Path) -> dict[str, str]:
    """The environment of a kubectl that reaches ``endpoint`` (its CA: base64 ``ca_data``) with
    a static bearer ``token``: a kubeconfig in ``work`` and a HOME of its own there, so the
    discovery cache is the caller's."""
    cluster = {"server": endpoint, "certificate-authority-data": ca_data}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "local", "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}],
        "current-context": "local",
    }
    (work / "home").mkdir(exist_ok=True)
    (work / "kubeconfig").write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return {
        "HOME": str(work / "home"),
        "KUBECONFIG": str(work / "kubeconfig"),
        "PATH": "/usr/bin:/bin",
    }
