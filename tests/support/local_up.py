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
