"""Issue 6 acceptance, as an operator runs it: JoinNodegroupStateMachine started with `eksops run`
against `eksops local up` with contract field names, several executions at once, and kubectl
reading the nodes and aws-auth they leave."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import yaml

from tests.support.local_up import LocalUp

ACCOUNT = "123456789012"
CLUSTER = "e2e-joins"
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture(scope="module")
def cluster(local_up: LocalUp, operator: dict[str, str]) -> list[str]:
    """A CONFIG_MAP cluster over three AZs (every join edits aws-auth); its subnets."""
    subnets = local_up.subnets(31, "abc")
    request = {
        "clusterName": CLUSTER,
        "kubernetesVersion": "1.31",
        "vpc": {"subnetIds": subnets},
        "authenticationMode": "CONFIG_MAP",
        "admins": [{"principalArn": operator["arn"]}],
    }
    created = local_up.run_workflow("CreateClusterStateMachine", request)
    assert created.returncode == 0, created.stdout + created.stderr
    return subnets


def kubectl(local_up: LocalUp, operator: dict[str, str], *args: str) -> str:
    return local_up.kubectl_as(operator, CLUSTER, *args)


def test_concurrent_joins_then_kubectl_sees_nodes_in_three_zones(
    local_up: LocalUp, operator: dict[str, str], cluster: list[str]
) -> None:
    roles = [
        local_up.aws(
            "iam",
            "create-role",
            "--role-name",
            f"fleet-{i}",
            "--assume-role-policy-document",
            json.dumps(EC2_TRUST),
        )["Role"]["Arn"]
        for i in range(4)
    ]
    requests: list[dict[str, Any]] = [
        {
            "clusterName": CLUSTER,
            "kind": "managed",
            "name": "zonal",
            "subnetIds": cluster,
            "perAz": True,
            "scaling": {"minSize": 1, "maxSize": 2, "desiredSize": 1},
        },
        *(
            {
                "clusterName": CLUSTER,
                "kind": "self-managed",
                "nodeRoleArn": role,
                "waitForNodes": False,
            }
            for role in roles
        ),
    ]
    with ThreadPoolExecutor(len(requests)) as pool:
        done = list(
            pool.map(
                lambda r: local_up.run_workflow("JoinNodegroupStateMachine", r, "--json"),
                requests,
            )
        )
    for result in done:
        assert result.returncode == 0, result.stdout + result.stderr
    managed = json.loads(done[0].stdout)["output"]
    assert managed["nodesPerAvailabilityZone"] == dict.fromkeys(ZONES, 1)

    nodes = json.loads(kubectl(local_up, operator, "get", "nodes", "-o", "json"))["items"]
    zonal = [n for n in nodes if n["metadata"]["labels"].get("eks.amazonaws.com/nodegroup", "")]
    assert sorted(n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in zonal) == ZONES
    for node in zonal:
        (ready,) = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready["status"] == "True"
        zone = node["metadata"]["labels"]["topology.kubernetes.io/zone"]
        assert node["metadata"]["labels"]["eks.amazonaws.com/nodegroup"] == f"zonal-{zone}"

    aws_auth = yaml.safe_load(
        kubectl(
            local_up, operator, "get", "configmap", "aws-auth", "-n", "kube-system", "-o", "yaml"
        )
    )
    mapped = yaml.safe_load(aws_auth["data"]["mapRoles"])
    counts = Counter(entry["rolearn"] for entry in mapped)
    node_role = f"arn:aws:iam::{ACCOUNT}:role/{CLUSTER}-zonal-node-role"  # without /eksops/
    for role in [*roles, node_role]:
        assert counts[role] == 1, (role, counts)
    users = yaml.safe_load(aws_auth["data"]["mapUsers"])
    assert [u["userarn"] for u in users] == [operator["arn"]]  # CreateCluster's admin kept
