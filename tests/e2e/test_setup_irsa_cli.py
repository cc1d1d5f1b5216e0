"""Issue 7 acceptance, as an operator runs it: SetupIrsaStateMachine started with `eksops run`
against `eksops local up` with the contract field names; the role's trust read back with the AWS
CLI and the ServiceAccount with kubectl. CreateCluster runs one binding as a nested execution."""

from __future__ import annotations

import json

import pytest

from tests.support.local_up import LocalUp

CLUSTER = "e2e-irsa"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


@pytest.fixture(scope="module")
def cluster(local_up: LocalUp, operator: dict[str, str]) -> dict:
    """An API-mode cluster with one IRSA binding made by CreateCluster itself; its outputs."""
    request = {
        "clusterName": CLUSTER,
        "kubernetesVersion": "1.31",
        "vpc": {"subnetIds": local_up.subnets(41)},
        "admins": [{"principalArn": operator["arn"]}],
        "irsa": [{"namespace": "platform", "serviceAccount": "external-dns"}],
    }
    created = local_up.run_workflow("CreateClusterStateMachine", request, "--json")
    assert created.returncode == 0, created.stdout + created.stderr
    return json.loads(created.stdout)["output"]


def test_setup_irsa_then_aws_cli_reads_the_trust_and_kubectl_the_service_account(
    local_up: LocalUp, operator: dict[str, str], cluster: dict
) -> None:
    request = {
        "clusterName": CLUSTER,
        "namespace": "payments",
        "serviceAccount": "ledger",
        "policyArns": [S3_READ],
        "createServiceAccount": True,
        "mode": "irsa",
        "audience": "sts.amazonaws.com",
        "restartWorkloads": False,
    }
    done = local_up.run_workflow("SetupIrsaStateMachine", request, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    output = json.loads(done.stdout)["output"]
    assert output["verified"] is True, output["reason"]

    issuer = local_up.aws("eks", "describe-cluster", "--name", CLUSTER)["cluster"]["identity"]
    host = issuer["oidc"]["issuer"].removeprefix("https://")
    role_name = output["roleArn"].rsplit("/", 1)[1]
    document = local_up.aws(
        "iam", "get-role", "--role-name", role_name, "--query", "Role.AssumeRolePolicyDocument"
    )
    (statement,) = document["Statement"]
    assert statement["Principal"] == {
        "Federated": f"arn:aws:iam::123456789012:oidc-provider/{host}"
    }
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{host}:sub": "system:serviceaccount:payments:ledger",
            f"{host}:aud": "sts.amazonaws.com",
        }
    }
    policies = local_up.aws("iam", "list-attached-role-policies", "--role-name", role_name)
    assert [p["PolicyArn"] for p in policies["AttachedPolicies"]] == [S3_READ]

    account = json.loads(
        local_up.kubectl_as(
            operator, CLUSTER, "get", "serviceaccount", "ledger", "-n", "payments", "-o", "json"
        )
    )
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == output["roleArn"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/sts-regional-endpoints"] == "true"


def test_create_cluster_ran_its_irsa_binding_as_a_nested_execution(
    local_up: LocalUp, operator: dict[str, str], cluster: dict
) -> None:
    (binding,) = cluster["irsa"]
    assert binding["verified"] is True, binding["reason"]
    assert (binding["namespace"], binding["serviceAccount"]) == ("platform", "external-dns")
    account = json.loads(
        local_up.kubectl_as(
            operator, CLUSTER, "get", "sa", "external-dns", "-n", "platform", "-o", "json"
        )
    )
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == binding["roleArn"]
