"""CreateCluster's input: defaults, and every invalid input a named error naming the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from eksops.errors import InvalidInputError
from eksops.models.base import parse_event
from eksops.models.create_cluster import CreateClusterInput
from eksops.models.setup_irsa import IrsaSpec

EVENTS = Path(__file__).resolve().parents[2] / "events" / "create_cluster"
MINIMAL = json.loads((EVENTS / "minimal.json").read_text())
FULL = json.loads((EVENTS / "full.json").read_text())


def test_minimal_input_gets_the_documented_defaults() -> None:
    parsed = parse_event(CreateClusterInput, MINIMAL)
    assert parsed.authentication_mode == "API_AND_CONFIG_MAP"
    assert parsed.vpc.endpoint_public_access is True
    assert parsed.vpc.endpoint_private_access is False
    assert (parsed.rollback_on_failure, parsed.dry_run) == (False, False)
    assert parsed.nodegroups == parsed.irsa == parsed.admins == []
    assert parsed.cluster_role_name == "prod-eu-cluster-role"


def test_full_input_keeps_every_field() -> None:
    parsed = parse_event(CreateClusterInput, FULL)
    assert parsed.model_dump(by_alias=True, exclude_unset=True)["vpc"] == FULL["vpc"]
    viewer = parsed.admins[1]
    assert viewer.policy_arn == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
    assert parsed.admins[0].policy == "AmazonEKSClusterAdminPolicy"


def test_irsa_items_are_setup_irsa_inputs_without_the_cluster_fields() -> None:
    items = [
        {"namespace": "apps", "serviceAccount": "web", "mode": "pod-identity"},
        {"clusterName": "prod-eu", "namespace": "apps", "serviceAccount": "api"},
    ]
    web, api = parse_event(CreateClusterInput, {**FULL, "irsa": items}).irsa
    assert isinstance(web, IrsaSpec)
    assert (web.cluster_name, web.mode, web.policy_arns) == (None, "pod-identity", [])
    assert (api.cluster_name, api.mode) == ("prod-eu", "irsa")


def test_role_name_stays_within_iam_limits() -> None:
    long = {**MINIMAL, "clusterName": "c" * 100}
    assert len(parse_event(CreateClusterInput, long).cluster_role_name) <= 64


def changed(path: str, value: object) -> dict:
    event = copy.deepcopy(FULL)
    *parents, leaf = path.split(".")
    target = event
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is KeyError:
        del target[leaf]
    else:
        target[leaf] = value
    return event


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("clusterName", "-bad", "clusterName"),
        ("clusterName", "x" * 101, "clusterName"),
        ("clusterName", KeyError, "clusterName"),
        ("kubernetesVersion", "1.31.2", "kubernetesVersion"),
        ("region", "EU-WEST-1", "region"),
        ("targetRoleArn", "arn:aws:iam::210987654321:user/someone", "targetRoleArn"),
        ("roleArn", "arn:aws:iam::123:role/short-account", "roleArn"),
        ("vpc.subnetIds", ["subnet-0a1b2c3d4e5f60718"], "vpc.subnetIds"),
        ("vpc.subnetIds", ["subnet-0a1b2c3d4e5f60718"] * 2, "subnet twice"),
        ("vpc.subnetIds", ["vpc-0a1b2c3d", "subnet-0f1e2d3c4b5a69788"], "vpc.subnetIds.0"),
        ("vpc.securityGroupIds", ["sg-nothex!"], "vpc.securityGroupIds.0"),
        ("vpc.endpointPublicAccess", False, "publicAccessCidrs"),
        ("vpc.publicAccessCidrs", ["10.0.0.0"], "vpc.publicAccessCidrs.0"),
        ("authenticationMode", "api", "authenticationMode"),
        ("admins.0.principalArn", "arn:aws:iam::210987654321:group/admins", "principalArn"),
        ("admins.0.policy", "ClusterAdmin", "policy"),
        ("admins.1.principalArn", "arn:aws:iam::210987654321:role/platform-admins", "twice"),
        ("logging", ["api", "kubelet"], "logging.1"),
        ("secretsKmsKeyArn", "alias/mine", "secretsKmsKeyArn"),
        ("addons.0.name", "VPC_CNI", "addons.0.name"),
        ("addons.1.version", "1.11.3", "addons.1.version"),
        ("addons.1.name", "vpc-cni", "twice"),
        ("tags", {"aws:owner": "x"}, "reserved"),
        ("tags", {f"k{i}": "v" for i in range(49)}, "at most 48"),
        ("tags", {"k": "v" * 257}, "values at most 256"),
        ("irsa", [{"namespace": "apps"}], "irsa.0.serviceAccount"),
        ("irsa", [{"namespace": "apps", "serviceAccount": "web", "mode": "both"}], "irsa.0.mode"),
        ("dryRun", "yes", "dryRun"),
        ("clustername", "typo", "clustername"),
    ],
)
def test_invalid_inputs_are_named_errors(path: str, value: object, named: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_event(CreateClusterInput, changed(path, value))
    assert type(caught.value).__name__ == "eksops.InvalidInput"
    assert named in str(caught.value)


def test_neither_endpoint_is_refused() -> None:
    event = changed("vpc.endpointPublicAccess", False)
    del event["vpc"]["publicAccessCidrs"]
    event["vpc"]["endpointPrivateAccess"] = False
    with pytest.raises(InvalidInputError, match="public or private access"):
        parse_event(CreateClusterInput, event)
