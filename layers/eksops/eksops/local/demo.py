"""`eksops local demo`: what eksops does today, end to end, on the offline account.

Needs no AWS account and no credentials: the offline account plays AWS, and nothing of the
caller's AWS configuration, kubeconfig or token cache is read or written.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO
from unittest import mock
from urllib.parse import parse_qs, urlsplit

CLUSTER = "demo"
REGION = "us-west-2"
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


@contextmanager
def _isolated_environment(environment: dict[str, str]) -> Iterator[Path]:
    """The offline account's environment, and a private home for config, caches and output."""
    with tempfile.TemporaryDirectory() as home:
        kept = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE"))}
        private = {
            "HOME": home,
            "AWS_CONFIG_FILE": f"{home}/config",
            "AWS_SHARED_CREDENTIALS_FILE": f"{home}/credentials",
            "EKSOPS_CACHE_DIR": f"{home}/cache",
        }
        with mock.patch.dict(os.environ, {**kept, **environment, **private}, clear=True):
            yield Path(home)


def _kubectl(kubeconfig: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError:
        return "(kubectl not found: skipped)"
    return (done.stdout if done.returncode == 0 else done.stderr).rstrip()


def run(out: TextIO) -> int:
    from eksops import exec_credential
    from eksops.cli import main as cli
    from eksops.eks_token import TOKEN_PREFIX, TokenRequest, get_token
    from eksops.local.account import OfflineAccount
    from eksops.local.clusters import create_cluster

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    say("eksops demo: the offline account (moto, adapted to behave like AWS), no credentials.\n")
    started = time.monotonic()
    with (
        OfflineAccount(region=REGION, eks_delay=1) as account,
        _isolated_environment(account.environment) as home,
    ):
        assert account.deployment is not None
        say(f"1. `eksops local up`: {account.endpoint_url}, template.yaml deployed as stack")
        say(
            f"   {account.deployment.stack_name} ({account.deployment.status}, "
            f"{time.monotonic() - started:.1f} s):"
        )
        for logical_id, physical_id in sorted(account.deployment.resources.items()):
            say(f"     {logical_id:28} {physical_id}")

        cluster = create_cluster(CLUSTER, REGION)
        eks = account.client("eks")
        deadline = time.monotonic() + 60
        while eks.describe_cluster(name=CLUSTER)["cluster"]["status"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster {CLUSTER} did not become ACTIVE within 60 s")
            time.sleep(0.2)
        say(f"\n2. An EKS cluster through the EKS API, CREATING then ACTIVE: {cluster['arn']}")
        say(f"   its Kubernetes API: {eks.describe_cluster(name=CLUSTER)['cluster']['endpoint']}")

        token = get_token(TokenRequest(CLUSTER))
        document = exec_credential.render(
            token.token, token.expiration_timestamp, exec_credential.V1BETA1
        )
        url = base64.urlsafe_b64decode(token.token.removeprefix(TOKEN_PREFIX) + "==").decode()
        signed = parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0]
        say("\n3. `eksops token --cluster-name demo`: the ExecCredential kubectl receives")
        say(document.rstrip())
        say(f"   a presigned STS GetCallerIdentity URL for {urlsplit(url).netloc} (the offline")
        say(f"   STS), signed headers {signed!r}, valid until {token.expiration_timestamp}")

        kubeconfig = home / "kubeconfig"
        kubeconfig.write_text(EXISTING_KUBECONFIG)
        say(f"\n4. `eksops kubeconfig --cluster-name demo`, twice, into {kubeconfig.name}:")
        for _ in range(2):
            cli(["kubeconfig", "--cluster-name", CLUSTER, "--kubeconfig", str(kubeconfig)])
        say(kubeconfig.read_text().rstrip())
        contexts = _kubectl(kubeconfig, "config", "get-contexts")
        say("\n   kubectl config get-contexts:\n" + contexts)
        say("\n   kubectl get namespaces: kubectl runs `eksops token`; the cluster replays the")
        say("   token to the offline STS and maps its creator to system:masters:")
        say(_kubectl(kubeconfig, "get", "namespaces"))
        say("   kubectl auth can-i '*' '*': " + _kubectl(kubeconfig, "auth", "can-i", "*", "*"))

        lambda_client = account.client("lambda")
        function = account.resource("KubeconfigFunction")
        say(f"\n5. KubeconfigFunction through the Lambda API ({function}):")
        for event in (
            {"clusterName": CLUSTER, "format": "kubeconfig"},
            {"clusterName": CLUSTER, "format": "token"},
            {"clusterName": "not a name", "format": "token"},
        ):
            began = time.monotonic()
            response = lambda_client.invoke(FunctionName=function, Payload=json.dumps(event))
            body = json.loads(response["Payload"].read())
            took = f"{(time.monotonic() - began) * 1000:.0f} ms"
            if "FunctionError" in response:
                outcome = f"{body['errorType']}: {body['errorMessage']}"
            elif "kubeconfig" in body:
                outcome = f"kubeconfig for {body['kubeconfig']['current-context']}"
            else:
                outcome = f"token valid until {body['expirationTimestamp']}"
            say(f"   {json.dumps(event)}\n     -> {outcome} ({took})")
        say("   (the first call starts a warm worker with the deployed code; later calls reuse it)")
    say("\nDone. `eksops local up` serves the same account to the AWS CLI and kubectl; the")
    say("workflows (cluster creation, node groups, IRSA, remediation) come next.")
    return 0
