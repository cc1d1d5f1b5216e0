"""Contract: least privilege, proven. Every AWS action the code and the ASL can call is granted
to the role that calls it, on a resource that matches; every action a Lambda role is granted is
one its functions call (or an exception below); nothing is granted with a wildcard action, and
nothing mutating on Resource "*" where AWS allows narrower. How the actions are found:
tests/support/iam_permissions.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import iam_permissions as iam

REPO = iam.REPO

# (role, action) grants that no scanned call needs, each with the reason it stays.
UNSCANNED_GRANTS: dict[tuple[str, str], str] = {}

# (role, action): mutating actions deliberately granted on Resource "*" although the action
# takes resource-level permissions. Each is justified by a comment at its statement in
# template.yaml. None today: keep it that way, or say why here and there.
BROAD_EXCEPTIONS: dict[tuple[str, str], str] = {}

# Functions that reach the Kubernetes API run as the cluster creator (see template.yaml).
CREATOR_ROLE = "ClusterLifecycleRole"
CREATOR_FUNCTION = "CreateClusterFunction"
KUBERNETES_LAYER = "KubernetesLayer"

SOURCE = iam.sam_template()
DEPLOYED = iam.deployment(iam.SAMPLE_PARAMETERS)
FUNCTIONS = sorted(
    k for k, v in SOURCE["Resources"].items() if v["Type"] == "AWS::Serverless::Function"
)
STATE_MACHINES = sorted(
    k for k, v in SOURCE["Resources"].items() if v["Type"] == "AWS::Serverless::StateMachine"
)


# --- every call is granted ------------------------------------------------------------------


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_role_grants_what_its_code_calls(logical_id: str) -> None:
    role = DEPLOYED.role_of(logical_id)
    missing = iam.missing_grants(
        DEPLOYED.statements(role), iam.function_needs(DEPLOYED, logical_id)
    )
    assert not missing, f"{logical_id} runs as {role}, which may not: {missing}"


@pytest.mark.parametrize("logical_id", STATE_MACHINES)
def test_state_machine_role_grants_what_its_tasks_call(logical_id: str) -> None:
    properties = SOURCE["Resources"][logical_id]["Properties"]
    substitute = {
        name: str(DEPLOYED.resolver.resolve(value))
        for name, value in properties.get("DefinitionSubstitutions", {}).items()
    }
    needs = iam.state_machine_needs(properties["Definition"], substitute)
    assert needs, f"{logical_id}: no task found (the walk is broken)"
    role = DEPLOYED.role_of(logical_id)
    missing = iam.missing_grants(DEPLOYED.statements(role), [(a, [r]) for a, r in needs])
    assert not missing, f"{logical_id} runs as {role}, which may not: {missing}"


# --- and nothing else ------------------------------------------------------------------------


def _lambda_roles() -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for logical_id in FUNCTIONS:
        users.setdefault(DEPLOYED.role_of(logical_id), []).append(logical_id)
    return users


@pytest.mark.parametrize("role", sorted(_lambda_roles()))
def test_lambda_role_grants_only_what_its_functions_call(role: str) -> None:
    needed = {
        action
        for logical_id in _lambda_roles()[role]
        for action, _ in iam.function_needs(DEPLOYED, logical_id)
    }
    unneeded = sorted(
        (statement.sid, action)
        for statement in DEPLOYED.statements(role)
        for action in statement.actions
        if action not in needed and (role, action) not in UNSCANNED_GRANTS
    )
    assert not unneeded, f"{role} grants what none of {_lambda_roles()[role]} calls: {unneeded}"


def test_steps_that_reach_kubernetes_run_as_the_cluster_creator() -> None:
    """EKS makes CreateCluster's caller the cluster's first administrator; in CONFIG_MAP mode
    only it reaches Kubernetes until aws-auth maps others, and eksops maps no other role."""
    resources = SOURCE["Resources"]
    kubernetes = [
        k
        for k in FUNCTIONS
        if {"Ref": KUBERNETES_LAYER} in resources[k]["Properties"].get("Layers", [])
    ]
    assert kubernetes, "no function with the Kubernetes layer (the walk is broken)"
    roles = {k: DEPLOYED.role_of(k) for k in [CREATOR_FUNCTION, *kubernetes]}
    others = {k: r for k, r in roles.items() if r != CREATOR_ROLE}
    assert not others, f"these must run as {CREATOR_ROLE}: {others}"


# --- nothing broad ---------------------------------------------------------------------------


@pytest.mark.parametrize("parameters", [iam.SAMPLE_PARAMETERS, iam.EMPTY_PARAMETERS])
def test_no_wildcard_actions_or_unscoped_mutations(parameters: dict[str, str]) -> None:
    deployed = DEPLOYED if parameters is iam.SAMPLE_PARAMETERS else iam.deployment(parameters)
    statements = deployed.all_statements()
    assert statements, "no IAM statements found (the walk is broken)"
    broad = [
        (s.role, s.sid, action, why)
        for s, action, why in iam.broad_grants(statements)
        if (s.role, action) not in BROAD_EXCEPTIONS
    ]
    assert not broad, f"too broad: {broad}"


def test_broad_exceptions_are_still_used_and_justified() -> None:
    found = {(s.role, a) for s, a, _ in iam.broad_grants(DEPLOYED.all_statements())}
    stale = sorted(set(BROAD_EXCEPTIONS) - found)
    assert not stale, f"exceptions no statement needs any more: {stale}"
    text = (REPO / "template.yaml").read_text(encoding="utf-8")
    for role, action in BROAD_EXCEPTIONS:
        assert action in text, f"{role} {action}: justify it in template.yaml"


# --- the check itself can fail ---------------------------------------------------------------


def _role(statements: list[dict[str, Any]]) -> list[iam.Statement]:
    template = {
        "Resources": {
            "R": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Statement": []},
                    "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": statements}}],
                },
            }
        }
    }
    return iam.Deployment(template, iam.Resolver(template, {})).statements("R")


CLUSTER = "arn:aws:eks:us-east-1:123456789012:cluster/demo"


def test_a_missing_action_is_reported() -> None:
    granted = _role([{"Effect": "Allow", "Action": "eks:Describe*", "Resource": CLUSTER}])
    needs = [("eks:DescribeCluster", [CLUSTER]), ("eks:DeleteCluster", [CLUSTER])]
    assert iam.missing_grants(granted, needs) == [("eks:DeleteCluster", [CLUSTER])]


def test_a_grant_on_another_resource_is_reported() -> None:
    other = "arn:aws:eks:us-east-1:123456789012:cluster/other"
    granted = _role([{"Effect": "Allow", "Action": "eks:DeleteCluster", "Resource": other}])
    assert iam.missing_grants(granted, [("eks:DeleteCluster", [CLUSTER])])


def test_a_scoped_grant_does_not_cover_an_action_without_resource_types() -> None:
    granted = _role([{"Effect": "Allow", "Action": "eks:CreateCluster", "Resource": CLUSTER}])
    needs = [("eks:CreateCluster", iam.action_samples("eks:CreateCluster"))]
    assert iam.missing_grants(granted, needs)


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "eks:*", "Resource": CLUSTER},
        {"Effect": "Allow", "Action": "eks:DeleteCluster", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:Create*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
    ],
)
def test_a_broad_grant_is_reported(statement: dict[str, Any]) -> None:
    assert iam.broad_grants(_role([statement]))


def test_reads_and_resourceless_actions_on_star_are_fine() -> None:
    statements = [
        {"Effect": "Allow", "Action": ["eks:ListClusters", "ec2:DescribeSubnets"], "Resource": "*"},
        {"Effect": "Allow", "Action": "eks:CreateCluster", "Resource": "*"},
    ]
    assert iam.broad_grants(_role(statements)) == []


def test_the_scan_finds_calls_through_clients_paginators_and_tables(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "import boto3\n"
        "def lambda_handler(event, context):\n"
        "    eks = boto3.client('eks')\n"
        "    eks.describe_cluster(name='x')\n"
        "    eks.get_paginator('list_nodegroups')\n"
        "    boto3.resource('dynamodb').Table('t').put_item(Item={})\n",
        encoding="utf-8",
    )
    assert iam.function_actions(app) == {
        "eks:DescribeCluster",
        "eks:ListNodegroups",
        "dynamodb:PutItem",
    }


def test_the_scan_follows_only_what_the_handler_reaches() -> None:
    """The step module holds JoinNodegroup's other steps too: they are not this function's."""
    assert iam.function_actions(iam.function_app("CheckNodegroupStatusFunction")) == {
        "eks:DescribeNodegroup",
        "sts:AssumeRole",
    }


# --- linters -----------------------------------------------------------------------------------

CFN_LINT = REPO / ".venv" / "sam" / "bin" / "cfn-lint"


def _tool(path: Path) -> Path:
    if not path.is_file():
        found = shutil.which(path.name)
        if found is None:
            pytest.fail(f"{path.name} not found at {path}: run `make sam-venv`")
        return Path(found)
    return path


@pytest.mark.parametrize("template", ["template.yaml", "member-account.yaml"])
def test_cfn_lint_is_clean(template: str) -> None:
    result = subprocess.run(
        [str(_tool(CFN_LINT)), template],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
