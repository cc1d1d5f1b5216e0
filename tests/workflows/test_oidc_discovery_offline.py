"""Each offline cluster publishes its service-account issuer (OIDC discovery and JWKS), and the
tokens its TokenRequest issues are signed with a key listed there."""

from __future__ import annotations

import base64
import json
import os
import ssl
import urllib.request

import pytest
from eksops.eks_token import TokenRequest
from eksops.kubernetes_session import KubernetesSession
from eksops.local.account import OfflineAccount
from eksops.local.clusters import create_cluster
from kubernetes import client

REGION = "us-west-2"


@pytest.fixture(scope="module")
def account():
    with OfflineAccount(template=None, region=REGION, eks_delay=0) as offline:
        yield offline


def fetch(cluster: dict, path: str) -> dict:
    context = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificateAuthority"]["data"]).decode()
    )
    with urllib.request.urlopen(cluster["endpoint"] + path, context=context, timeout=10) as answer:
        return json.loads(answer.read())


def test_issuer_documents_are_public_and_sign_service_account_tokens(
    account, monkeypatch, tmp_path
) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in account.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    create_cluster("oidc", REGION)
    cluster = account.client("eks").describe_cluster(name="oidc")["cluster"]
    configuration = fetch(cluster, "/.well-known/openid-configuration")  # no token sent
    assert configuration["issuer"] == cluster["identity"]["oidc"]["issuer"]
    assert configuration["id_token_signing_alg_values_supported"] == ["RS256"]
    (key,) = fetch(cluster, "/openid/v1/jwks")["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"

    with KubernetesSession.for_cluster(TokenRequest("oidc"), environ=dict(os.environ)) as session:
        core = client.CoreV1Api(session.api_client())
        core.create_namespaced_service_account("default", {"metadata": {"name": "app"}})
        issued = core.create_namespaced_service_account_token(
            "app",
            "default",
            {"spec": {"audiences": ["sts.amazonaws.com"], "expirationSeconds": 3600}},
        )
    token = issued.status.token
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert header["kid"] == key["kid"]
    assert claims["iss"] == configuration["issuer"]
    assert claims["sub"] == "system:serviceaccount:default:app"
    assert claims["aud"] == ["sts.amazonaws.com"]

    # IRSA end to end: that token assumes a role trusted for exactly this service account
    host_path = configuration["issuer"].removeprefix("https://")
    provider = account.client("iam").create_open_id_connect_provider(
        Url=configuration["issuer"],
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
    )["OpenIDConnectProviderArn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host_path}:sub": "system:serviceaccount:default:app",
                        f"{host_path}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }
    role = account.client("iam").create_role(
        RoleName="irsa-app", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    assumed = account.client("sts").assume_role_with_web_identity(
        RoleArn=role["Arn"], RoleSessionName="app", WebIdentityToken=token
    )
    assert assumed["AssumedRoleUser"]["Arn"].endswith(":assumed-role/irsa-app/app")
