"""Fixtures shared by every test: an isolated AWS environment with fake credentials."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import secret_scan

TESTS = Path(__file__).resolve().parent
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Fake credentials in the environment, region us-west-2, and nothing of the developer's
    own AWS configuration, kubeconfig or token cache in reach. Yields a private home dir."""
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        # AWS_DATA_PATH is the AWS CLI's own (set when awscli is imported), not configuration
        if name.startswith(("AWS_", "KUBE", "EKSOPS_")) and name != "AWS_DATA_PATH":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    monkeypatch.setenv("EKSOPS_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("KUBECONFIG", str(home / ".kube" / "config"))
    # both, as Lambda sets them: the AWS CLI v1 (the byte-identical baseline) reads only the latter
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "eksops")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "eksops")
    return home


# -- secrets stay secret: what workflow and e2e tests produce is scanned (tests/support/secret_scan)


def _scanned(item: pytest.Item) -> bool:
    relative = item.path.resolve().relative_to(TESTS) if item.path.is_relative_to(TESTS) else None
    return relative is not None and relative.parts[0] in secret_scan.SCANNED_DIRS


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _scanned(item):
        secret_scan.install()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    if call.when != "teardown":
        return
    if not _scanned(item):
        secret_scan.SCAN.discard()
        return
    report = outcome.get_result()
    captured = [
        (name.lower(), content)
        for name, content in report.sections
        if name.startswith(("Captured stdout", "Captured stderr"))
    ]
    findings = secret_scan.SCAN.findings(captured)
    if findings:
        report.outcome = "failed"
        report.longrepr = "Secrets given away (tests/support/secret_scan.py):\n" + "\n".join(
            str(finding) for finding in findings[:20]
        )
