"""The secret scan of the workflow tests (tests/support/secret_scan) finds every kind of secret,
real ones as eksops makes them, and not the names, ARNs and redacted forms around them."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from eksops.eks_token import TokenRequest, get_token
from eksops.kubeconfig import document, token_user

from tests.conftest import FAKE_CREDENTIALS
from tests.support import secret_scan
from tests.support.secret_scan import SecretScan, find_secrets

SESSION_TOKEN = "FQoGZXIvYXdzEBYaD" + base64.b64encode(bytes(range(200))).decode()[17:]
SECRET_KEY = FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
JWT = ".".join(
    base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
    for part in ({"alg": "RS256", "kid": "k1"}, {"sub": "system:serviceaccount:ns:sa"}, "sig")
)
PEM_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"


def kinds(text: str, known: frozenset[str] = frozenset()) -> set[str]:
    return {finding.kind for finding in find_secrets(text, known)}


@pytest.fixture
def eks_token(aws_env: Path) -> str:
    return get_token(TokenRequest("demo", region="us-west-2")).token


def test_finds_a_real_eks_token_and_the_kubeconfig_carrying_it(eks_token: str) -> None:
    assert eks_token.startswith("k8s-aws-v1.")
    assert kinds(f"got {eks_token} back") == {"EKS token"}
    endpoint = type("Endpoint", (), {"endpoint": "https://x", "certificate_authority_data": "Q0E="})
    kubeconfig = document(endpoint(), token_user(get_token(TokenRequest("demo"))), "demo")
    assert {"EKS token", "kubeconfig token"} <= kinds(yaml.safe_dump(kubeconfig))
    assert {"EKS token", "kubeconfig token"} <= kinds(json.dumps(kubeconfig))
    credential = {"kind": "ExecCredential", "status": {"token": eks_token}}
    assert "kubeconfig token" in kinds(repr(credential))  # a Python repr in a log line too


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("users:\n- name: u\n  user:\n    token: 0123456789abcdef0123", "kubeconfig token"),
        ('{"token": "s3cr3t-static-token-value"}', "kubeconfig token"),
        ("Authorization: Bearer abcdef0123456789.xyz", "bearer token"),
        (f"projected token {JWT}", "JWT"),
        (f"token: {JWT}", "kubeconfig token"),
        ("client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=", "client key"),
        (PEM_KEY, "private key"),
        (f"AWS_SESSION_TOKEN={SESSION_TOKEN}", "AWS session token"),
        ('{"SecretAccessKey": "' + "A" * 40 + '"}', "AWS secret access key"),
        ("aws_secret_access_key = " + "b/+9" * 10, "AWS secret access key"),
        ("https://sts.amazonaws.com/?X-Amz-Signature=" + "ab" * 32, "presigned URL signature"),
        ("X-Amz-Security-Token=FQoGZXIvYXdzEBYaD%2Fabcdefghijklmnop", "presigned URL signature"),
    ],
)
def test_finds_each_kind(text: str, kind: str) -> None:
    assert kind in kinds(text)


def test_finds_known_secret_values_anywhere() -> None:
    assert kinds(f"credentials: AKIA... {SECRET_KEY}", frozenset({SECRET_KEY})) == {
        "secret access key"
    }
    assert kinds(f"credentials: {SECRET_KEY}") == set()  # unknown 40 characters are not a key


@pytest.mark.parametrize(
    "text",
    [
        "the token is k8s-aws-v1.<redacted>",
        "token: k8s-aws-v1.***",
        'user: {"token": "<redacted>"}',
        "token: REDACTED",
        "Authorization: Bearer ***",
        "tokenFile: /var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        '"token": "/var/run/secrets/kubernetes.io/serviceaccount/token"',
        "AWS_SESSION_TOKEN, AWS_SECRET_ACCESS_KEY and a bearer token: names, not values",
        '{"LifecycleActionToken": "c4b2ae2f-0c5e-4a8e-9d43-32a1f0d6a3b1"}',
        '"lifecycle": {"token": "241ca007-cbd9-4760-8185-7d29a3736012"}',  # an action, not a key
        '{"taskToken": "AAAAKgAAAAIAAAAAAAAAAUj8a9m0kqcfRtdPNnzs4uDhU"}',
        "role arn:aws:iam::123456789012:role/eksops/payments-api-irsa",
        "certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==",
        "eksops token --cluster-name demo --region eu-west-1",
        "client-key-data: <redacted>",
        "X-Amz-Signature=<redacted>",
    ],
)
def test_does_not_flag_names_arns_or_redacted_forms(text: str) -> None:
    assert find_secrets(text, frozenset({SECRET_KEY})) == []


def test_a_finding_masks_the_secret(eks_token: str) -> None:
    (finding,) = find_secrets(f"before {eks_token} after", source="log of X")
    shown = str(finding)
    assert eks_token not in shown
    assert "EKS token in log of X" in shown
    assert "before" in shown
    assert "after" in shown


def test_collected_log_records_lambda_logs_and_command_output_are_scanned(
    eks_token: str,
) -> None:
    """The collectors the workflow tests use, fed a secret each: every one is found, once."""
    secret_scan.install()
    scan = secret_scan.SCAN
    scan.discard()
    logging.getLogger("eksops.anything").warning("minted %s", "x", extra={"token": eks_token})
    subprocess.run(
        [sys.executable, "-c", f"import sys; sys.stderr.write({JWT!r})"],
        capture_output=True,
        text=True,
        check=True,
    )
    scan.add("log of Lambda F", f"START\ntoken: {SESSION_TOKEN}\nEND")
    sources = {finding.source for finding in scan.findings()}
    assert "log record of eksops.anything" in sources
    assert any(source.startswith("stderr of `") for source in sources)
    assert "log of Lambda F" in sources
    assert scan.findings() == []  # taken: each test's text is checked once


def test_scan_of_a_test_collects_across_threads() -> None:
    scan = SecretScan()
    scan.add("a", {"output": {"token": "abcdefghijklmnopqrstuvwxyz"}})
    scan.add_secret(SECRET_KEY)
    scan.add("b", f"key {SECRET_KEY}")
    assert [(f.source, f.kind) for f in scan.findings()] == [
        ("a", "kubeconfig token"),
        ("b", "secret access key"),
    ]
