"""The real kubectl, as the end-to-end tests run it."""

from __future__ import annotations

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
