"""A node's credentials (its role, session named after the instance) authenticate as
`system:node:{{EC2PrivateDNSName}}` through aws-auth, as a kubelet's do on EKS."""

from __future__ import annotations

import json
import os

import pytest
from eksops.eks_token import TokenRequest, get_token
from eksops.kubernetes_session import KubernetesSession
from eksops.local.account import ACCOUNT_ID, OfflineAccount
from eksops.local.clusters import create_cluster, service_trust
from eksops.local.nodes import private_dns_name
from kubernetes import client

REGION = "us-west-2"
TRUST = service_trust("ec2.amazonaws.com")


@pytest.fixture(scope="module")
def account():
    with OfflineAccount(template=None, region=REGION, eks_delay=0) as offline:
        yield offline


def test_node_role_maps_to_its_private_dns_name(account, monkeypatch, tmp_path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in account.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    create_cluster("nodes", REGION)
    ec2, iam, sts = account.client("ec2"), account.client("iam"), account.client("sts")
    role = iam.create_role(RoleName="node", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    server = account._cluster_apis.server(ACCOUNT_ID, REGION, "nodes")
    map_roles = f"- rolearn: {role['Arn']}\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n"
    map_roles += "  groups: [system:bootstrappers, system:nodes]\n"
    server.store.create(
        "configmaps",
        {
            "metadata": {"name": "aws-auth", "namespace": "kube-system"},
            "data": {"mapRoles": map_roles},
        },
    )
    assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName=instance["InstanceId"])
    credentials = assumed["Credentials"]
    as_node = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
    session = KubernetesSession.for_cluster(TokenRequest("nodes"), environ=dict(os.environ))
    node = KubernetesSession(session.cluster, lambda: get_token(TokenRequest("nodes"), as_node))
    with session, node:
        review = client.AuthenticationV1Api(node.api_client()).create_self_subject_review({})
    user = review.status.user_info
    assert user.username == f"system:node:{private_dns_name(instance['PrivateIpAddress'], REGION)}"
    assert {"system:nodes", "system:bootstrappers"} <= set(user.groups)
