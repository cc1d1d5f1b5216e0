"""`eksops local up` as a subprocess, and the real clients (AWS CLI, eksops) to drive it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from eksops.local.clusters import service_trust

from tests.support.kubectl import ok, run_kubectl
from tests.support.lifecycle import eventually

BIN = Path(sys.executable).parent
DEADLINE_SECONDS = 60
TRUST_STATES = service_trust("states.amazonaws.com", "events.amazonaws.com", "eks.amazonaws.com")


class LocalUp:
    def __init__(self, endpoint: str, env: dict[str, str], work: Path) -> None:
        self.endpoint = endpoint
        self.env = env
        self.work = work

    def aws(self, *args: str) -> dict:
        result = subprocess.run(
            [str(BIN / "aws"), "--output", "json", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=DEADLINE_SECONDS,
        )
        assert result.returncode == 0, f"aws {' '.join(args)}: {result.stderr}"
        return json.loads(result.stdout) if result.stdout.strip() else {}

    def subnets(self, second_octet: int, zones: str = "ab") -> list[str]:
        """A new VPC 10.<second_octet>.0.0/16 with a subnet in each of ``zones`` (AZs of the
        region the fixture starts the account in; EKS requires two or more)."""
        cidr = f"10.{second_octet}.0.0/16"
        vpc = self.aws("ec2", "create-vpc", "--cidr-block", cidr)["Vpc"]["VpcId"]
        return [
            self.aws(
                "ec2",
                "create-subnet",
                "--vpc-id",
                vpc,
                "--cidr-block",
                f"10.{second_octet}.{i}.0/24",
                "--availability-zone",
                f"eu-west-1{zone}",
            )["Subnet"]["SubnetId"]
            for i, zone in enumerate(zones)
        ]

    def eksops(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "eksops"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=DEADLINE_SECONDS,
        )

    def run_workflow(
        self, workflow: str, request: dict, *extra: str, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """`eksops run WORKFLOW --input FILE` with ``request`` written to FILE (the first
        execution starts a warm worker per function; waits run in real time)."""
        # a unique name: tests start workflows from several threads at once
        path = self.work / f"{workflow}-{uuid.uuid4().hex[:12]}.input.json"
        path.write_text(json.dumps(request, indent=2))
        return subprocess.run(
            [str(BIN / "eksops"), "run", workflow, "--input", str(path), *extra],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def kubectl_as(self, operator: dict[str, str], cluster: str, *args: str) -> str:
        """kubectl ``args`` against ``cluster`` as ``operator`` (the e2e fixture's environment),
        through a kubeconfig that ``eksops kubeconfig`` writes on first use."""
        env = {k: v for k, v in operator.items() if k != "arn"}
        kubeconfig = self.work / f"{cluster}.operator.kubeconfig"
        if not kubeconfig.exists():
            configured = subprocess.run(
                [
                    str(BIN / "eksops"),
                    "kubeconfig",
                    "--cluster-name",
                    cluster,
                    "--kubeconfig",
                    str(kubeconfig),
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert configured.returncode == 0, configured.stderr
        return ok(run_kubectl(["--kubeconfig", str(kubeconfig), *args], env))

    def until(self, check, what: str):
        return eventually(check, what, DEADLINE_SECONDS)
