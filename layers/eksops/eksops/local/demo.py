"""`eksops local demo`: what eksops does today, end to end, against an in-process moto account.

Needs no AWS account and no credentials: moto plays AWS and fake credentials are set for the
duration of the demo only.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO
from unittest import mock
from urllib.parse import parse_qs, urlsplit

CLUSTER = "demo"
REGION = "us-west-2"
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_SERVICE_NAME": "eksops",
    "POWERTOOLS_METRICS_NAMESPACE": "eksops",
}


@contextmanager
def _offline_account() -> object:
    """Fake credentials and moto, with nothing of the caller's AWS configuration in reach."""
    from moto import mock_aws

    with tempfile.TemporaryDirectory() as home:
        cleared = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env = {
            **cleared,
            **FAKE_ENV,
            "AWS_CONFIG_FILE": f"{home}/config",
            "AWS_SHARED_CREDENTIALS_FILE": f"{home}/credentials",
            "EKSOPS_CACHE_DIR": home,
        }
        with mock.patch.dict(os.environ, env, clear=True), mock_aws():
            yield Path(home)


EXISTING_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: []
contexts:
- name: existing
  context: {cluster: other, user: other}
users: []
current-context: existing
"""


def _kubectl_contexts(kubeconfig: Path) -> str:
    try:
        return subprocess.run(
            ["kubectl", "config", "get-contexts", "--kubeconfig", str(kubeconfig)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.rstrip()
    except (OSError, subprocess.CalledProcessError):
        return "(kubectl not found: skipped)"


def run(out: TextIO) -> int:
    from eksops import exec_credential
    from eksops.cli import main as cli
    from eksops.eks_token import TOKEN_PREFIX, TokenRequest, get_token
    from eksops.local.clusters import create_cluster
    from eksops.local.handlers import LambdaContext, handler

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    with _offline_account() as home:
        say("eksops demo: an offline AWS account (moto), fake credentials, no network.\n")
        cluster = create_cluster(CLUSTER, REGION)
        say(f"1. EKS cluster {cluster['name']} ({cluster['arn']})")

        token = get_token(TokenRequest(CLUSTER))
        document = exec_credential.render(
            token.token, token.expiration_timestamp, exec_credential.V1BETA1
        )
        url = base64.urlsafe_b64decode(token.token.removeprefix(TOKEN_PREFIX) + "==").decode()
        signed = parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0]
        say("\n2. `eksops token --cluster-name demo`: the ExecCredential kubectl receives")
        say(document.rstrip())
        say(f"   a presigned STS GetCallerIdentity URL for {urlsplit(url).netloc},")
        say(f"   signed headers {signed!r}, valid until {token.expiration_timestamp}")

        kubeconfig = home / "kubeconfig"
        kubeconfig.write_text(EXISTING_KUBECONFIG)
        say(f"\n3. `eksops kubeconfig --cluster-name demo`, twice, into {kubeconfig.name}:")
        for _ in range(2):
            cli(["kubeconfig", "--cluster-name", CLUSTER, "--kubeconfig", str(kubeconfig)])
        say(kubeconfig.read_text().rstrip())
        say("\n   kubectl config get-contexts:\n" + _kubectl_contexts(kubeconfig))

        event = {"clusterName": CLUSTER, "format": "kubeconfig"}
        say(f"\n4. KubeconfigFunction, the real handler, with {json.dumps(event)}")
        result = handler("kubeconfig")(event, LambdaContext("KubeconfigFunction"))
        say(f"   context {result['kubeconfig']['current-context']}")
        say(f"   static token, valid until {result['expirationTimestamp']}")
        say("\nDone. Later issues grow this into every workflow on the offline account.")
    return 0
