"""Issue 5 acceptance, as an operator runs it: `eksops run` of CreateClusterStateMachine and
DeleteClusterStateMachine against `eksops local up`, with input files in the contract's field
names, and the AWS CLI (and kubectl) looking at the result."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.kubectl import ok, run_kubectl
from tests.support.local_up import BIN, LocalUp

ACCOUNT = "123456789012"
CLUSTER = "e2e-cli"
# the first execution starts a warm worker per function; waits run in real time (5 s polls)
RUN_TIMEOUT = 300


def eksops_run(local_up: LocalUp, workflow: str, request: dict[str, Any], *extra: str):
    return local_up.run_workflow(workflow, request, *extra, timeout=RUN_TIMEOUT)


def aws_error(local_up: LocalUp, *args: str) -> str:
    """The stderr of an AWS CLI call that must fail."""
    result = subprocess.run(
        [str(BIN / "aws"), "--output", "json", *args],
        env=local_up.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0, f"aws {' '.join(args)} succeeded: {result.stdout}"
    return result.stderr


@pytest.fixture(scope="module")
def admin_role(local_up: LocalUp) -> str:
    """An operators' role, made with the AWS CLI: the cluster's administrator."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return local_up.aws(
        "iam",
        "create-role",
        "--role-name",
        "platform-admins",
        "--assume-role-policy-document",
        json.dumps(trust),
    )["Role"]["Arn"]


@pytest.fixture(scope="module")
def create_request(local_up: LocalUp, admin_role: str) -> dict[str, Any]:
    return {
        "clusterName": CLUSTER,
        "kubernetesVersion": "1.31",
        "vpc": {"subnetIds": local_up.subnets(21)},
        "admins": [{"principalArn": admin_role}],
        "tags": {"team": "platform"},
    }


def test_dry_run_returns_the_plan_and_changes_nothing(local_up, create_request) -> None:
    done = eksops_run(
        local_up, "CreateClusterStateMachine", {**create_request, "dryRun": True}, "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "SUCCEEDED"
    output = result["output"]
    assert output["dryRun"] is True
    calls = [step["call"] for step in output["plan"]]
    assert "eks:CreateCluster" in calls, calls
    assert local_up.aws("eks", "list-clusters")["clusters"] == []


def test_create_converges_then_delete_removes_it(
    local_up: LocalUp, create_request: dict[str, Any], admin_role: str
) -> None:
    created = eksops_run(local_up, "CreateClusterStateMachine", create_request)
    assert created.returncode == 0, created.stdout + created.stderr
    assert "wait  WaitForClusterActive" in created.stdout  # followed live
    assert created.stdout.splitlines()[-1] == "}"  # ends with the output, pretty JSON
    assert '"clusterArn": "arn:aws:eks:eu-west-1:123456789012:cluster/e2e-cli"' in created.stdout

    again = eksops_run(local_up, "CreateClusterStateMachine", create_request, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    output = json.loads(again.stdout)["output"]
    assert output["clusterArn"] == f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/{CLUSTER}"
    assert output["kubeconfigCommand"] == (
        f"eksops kubeconfig --cluster-name {CLUSTER} --region eu-west-1"
    )
    assert [admin["principalArn"] for admin in output["admins"]] == [admin_role]
    assert local_up.aws("eks", "list-clusters")["clusters"] == [CLUSTER]  # nothing twice

    cluster = local_up.aws("eks", "describe-cluster", "--name", CLUSTER)["cluster"]
    assert cluster["status"] == "ACTIVE"
    assert cluster["tags"]["team"] == "platform"
    entries = local_up.aws("eks", "list-access-entries", "--cluster-name", CLUSTER)
    assert admin_role in entries["accessEntries"]
    providers = local_up.aws("iam", "list-open-id-connect-providers")
    assert [p["Arn"] for p in providers["OpenIDConnectProviderList"]] == [output["oidcProviderArn"]]

    # the admin role reaches the cluster: kubectl runs `eksops token --role-arn`
    kubeconfig = local_up.work / "kubeconfig"
    configured = local_up.eksops(
        "kubeconfig",
        "--cluster-name",
        CLUSTER,
        "--role-arn",
        admin_role,
        "--kubeconfig",
        str(kubeconfig),
    )
    assert configured.returncode == 0, configured.stderr
    can = run_kubectl(["--kubeconfig", str(kubeconfig), "auth", "can-i", "*", "*"], local_up.env)
    assert ok(can).strip() == "yes"

    deleted = eksops_run(local_up, "DeleteClusterStateMachine", {"clusterName": CLUSTER})
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert "SUCCEEDED" in deleted.stdout
    missing = aws_error(local_up, "eks", "describe-cluster", "--name", CLUSTER)
    assert "ResourceNotFoundException" in missing
    # with what eksops made for it; the operators' role was not eksops's
    role = aws_error(local_up, "iam", "get-role", "--role-name", f"{CLUSTER}-cluster-role")
    assert "NoSuchEntity" in role
    providers = local_up.aws("iam", "list-open-id-connect-providers")
    assert providers["OpenIDConnectProviderList"] == []
    admin_name = admin_role.rsplit("/", 1)[1]
    assert local_up.aws("iam", "get-role", "--role-name", admin_name)["Role"]["Arn"] == admin_role

    again = eksops_run(local_up, "DeleteClusterStateMachine", {"clusterName": CLUSTER})
    assert again.returncode == 0, again.stdout + again.stderr  # gone already: converges


def test_bad_input_fails_first_with_a_named_error(local_up, create_request) -> None:
    one_subnet = {
        **create_request,
        "clusterName": "e2e-bad",
        "vpc": {"subnetIds": create_request["vpc"]["subnetIds"][:1]},
    }
    failed = eksops_run(local_up, "CreateClusterStateMachine", one_subnet)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "error: eksops.InvalidInput" in failed.stdout
    assert "subnetIds" in failed.stdout  # the message names the field
    assert "fail  ValidateInput: eksops.InvalidInput" in failed.stdout  # the first state
    assert "CreateOrAdoptCluster" not in failed.stdout  # nothing after it ran
    missing = aws_error(local_up, "eks", "describe-cluster", "--name", "e2e-bad")
    assert "ResourceNotFoundException" in missing


def test_workflows_are_named_by_their_logical_id(local_up: LocalUp, tmp_path: Path) -> None:
    request = tmp_path / "input.json"
    request.write_text(json.dumps({"clusterName": CLUSTER}))
    unknown = local_up.eksops("run", "DeleteCluster", "--input", str(request))
    assert unknown.returncode == 2
    assert "eksops.WorkflowNotFound" in unknown.stderr
    assert "DeleteClusterStateMachine" in unknown.stderr  # what the stack has, listed
