"""`eksops local up` as a subprocess, and the real clients (AWS CLI, eksops) to drive it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eksops.local.clusters import service_trust

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

    def subnets(self, second_octet: int) -> list[str]:
        """A new VPC 10.<second_octet>.0.0/16 with a subnet in each of two AZs (the region
        the fixture starts the account in), as EKS requires."""
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
            for i, zone in enumerate("ab")
        ]

    def eksops(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "eksops"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=DEADLINE_SECONDS,
        )

    def until(self, check, what: str):
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if found := check():
                return found
            time.sleep(0.3)
        pytest.fail(f"{what} did not happen within {DEADLINE_SECONDS}s")
