"""The library's KubernetesSession against an offline EKS cluster: the `kubernetes` client over
verified TLS, authenticated with an eksops token that the cluster replays to the offline STS."""

from __future__ import annotations

import os

import pytest
from eksops.eks_token import TokenRequest
from eksops.kubernetes_session import KubernetesSession
from eksops.local.account import OfflineAccount
from eksops.local.clusters import create_cluster
from kubernetes import client


@pytest.fixture(scope="module")
def account():
    with OfflineAccount(template=None, region="us-west-2", eks_delay=0) as offline:
        yield offline


@pytest.fixture
def environment(account: OfflineAccount, monkeypatch: pytest.MonkeyPatch, tmp_path) -> dict:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in account.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    return dict(os.environ)


def test_kubernetes_client_through_kubernetes_session(account, environment) -> None:
    create_cluster("lib", account.region)
    with KubernetesSession.for_cluster(TokenRequest("lib"), environ=environment) as session:
        api = session.api_client()
        names = {ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items}
        assert {"default", "kube-system"} <= names
        created = client.CoreV1Api(api).create_namespaced_config_map(
            "default", {"metadata": {"name": "settings"}, "data": {"k": "v"}}
        )
        assert created.metadata.resource_version
        review = client.AuthorizationV1Api(api).create_self_subject_access_review(
            {"spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}}
        )
        assert review.status.allowed  # the creator is the bootstrap admin (CONFIG_MAP mode)


def test_a_token_for_another_cluster_is_refused(account, environment) -> None:
    """EKS binds a token to its cluster through STS's signature check on x-k8s-aws-id."""
    create_cluster("first", account.region)
    create_cluster("second", account.region)
    eks, iam = account.client("eks"), account.client("iam")
    user = iam.create_user(UserName="ops")["User"]["Arn"]
    key = iam.create_access_key(UserName="ops")["AccessKey"]
    eks.update_cluster_config(
        name="second", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"}
    )
    eks.describe_cluster(name="second")  # the update completes (no delay in this account)
    eks.create_access_entry(clusterName="second", principalArn=user)
    eks.associate_access_policy(
        clusterName="second",
        principalArn=user,
        policyArn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
        accessScope={"type": "cluster"},
    )
    as_ops = {
        **environment,
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }
    with KubernetesSession.for_cluster(TokenRequest("second"), environ=as_ops) as own:
        assert client.CoreV1Api(own.api_client()).list_namespace().items
        minted_for_first = KubernetesSession.for_cluster(TokenRequest("first"), environ=as_ops)
        crossed = KubernetesSession(own.cluster, minted_for_first._token_source)
        with crossed, pytest.raises(client.ApiException) as caught:
            client.CoreV1Api(crossed.api_client()).list_namespace()
    assert caught.value.status == 401
