"""`make demo` runs `eksops local demo`: it must keep working, with nothing of the user's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_offline_without_credentials(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE", "EKSOPS"))}
    env["HOME"] = str(tmp_path)  # a user cache or kubeconfig written here would be a leak
    demo = subprocess.run(
        [str(Path(sys.executable).with_name("eksops")), "local", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    lines = demo.stdout.splitlines()
    for step in ("1. `eksops local up`", "3. `eksops token", "4. `eksops kubeconfig", "5. "):
        assert any(line.startswith(step) for line in lines), step
    assert "kubectl auth can-i '*' '*': yes" in demo.stdout  # kubectl through an EKS token
    start = lines.index("{")  # the ExecCredential printed in step 3
    credential = json.loads("\n".join(lines[start : lines.index("}", start) + 1]))
    assert credential["status"]["token"].startswith("k8s-aws-v1.")
    assert "-> eksops.InvalidInput: cluster name 'not a name'" in demo.stdout
    assert "Done." in demo.stdout
    assert list(tmp_path.iterdir()) == []
