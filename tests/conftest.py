"""Fixtures shared by every test: an isolated AWS environment with fake credentials."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
