"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator

import pytest

from tests.support.local_up import BIN, DEADLINE_SECONDS, LocalUp
from tests.support.secret_scan import scan_offline_account


@pytest.fixture(scope="module")
def local_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    work = tmp_path_factory.mktemp("local-up")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE", "EKSOPS"))}
    env.update(HOME=str(work), AWS_CONFIG_FILE=str(work / "none"), EKSOPS_CACHE_DIR=str(work))
    server = subprocess.Popen(
        [
            str(BIN / "eksops"),
            "local",
            "up",
            "--port",
            "0",
            "--region",
            "eu-west-1",
            "--eks-delay",
            "1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner: list[str] = []
    ready = threading.Event()

    def read_banner() -> None:  # a thread: select() cannot see what readline() buffered
        for line in server.stdout:
            banner.append(line)
            if line.strip() == "Ctrl-C to stop.":
                ready.set()
        ready.set()

    threading.Thread(target=read_banner, daemon=True).start()
    if not ready.wait(DEADLINE_SECONDS) or not banner or "Ctrl-C" not in banner[-1]:
        server.kill()
        pytest.fail("eksops local up did not come up:\n" + "".join(banner))
    (endpoint,) = [line.split()[1] for line in banner if line.startswith("Endpoint")]
    exports = next(line for line in banner if line.strip().startswith("export "))
    for assignment in exports.split()[1:]:  # the environment the banner tells people to set
        name, value = assignment.split("=", 1)
        env[name] = value
    assert env["AWS_ENDPOINT_URL"] == endpoint
    yield LocalUp(endpoint, env, work)
    scan_offline_account(endpoint, env, banner)  # what it showed people; checked after the test
    # SIGTERM, not Ctrl-C's SIGINT: a test run started in the background inherits SIGINT ignored
    server.send_signal(signal.SIGTERM)
    try:
        assert server.wait(timeout=20) == 0
    finally:
        server.kill()


@pytest.fixture(scope="module")
def operator(local_up: LocalUp) -> dict[str, str]:
    """An IAM user with keys (its ARN under "arn", its environment in the rest): make it a
    cluster's administrator, then run kubectl as it with ``local_up.kubectl_as``."""
    arn = local_up.aws("iam", "create-user", "--user-name", "operator")["User"]["Arn"]
    key = local_up.aws("iam", "create-access-key", "--user-name", "operator")["AccessKey"]
    env = {
        **local_up.env,
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }
    return {"arn": arn, **env}
