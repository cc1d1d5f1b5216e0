"""The decisions behind JoinNodegroup, without a cluster: which node groups to make and how an
existing one differs, the node role (moto IAM), how nodes are authorized (access entry or aws-auth
merge), what to do about EKS's health issues, and why an instance did not become a Ready node."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import boto3
import pytest
import yaml
from eksops.errors import InvalidInputError, NodegroupConflictError, NodesNotJoinedError
from eksops.models.base import STARTED_BY_KEY, parse_event
from eksops.models.join_nodegroup import JoinNodegroupInput
from eksops.node_authorization import authentication_mode, authorize_nodes, caller_principal
from eksops.node_readiness import Diagnosis, Expected, NodeState, check_nodes, instance_id_of
from eksops.node_role import NODE_POLICIES, check_given_node_role, ensure_node_role, role_name
from eksops.nodegroup_hints import DEFAULT_HINT, HINTS, described_issues
from eksops.nodegroup_spec import (
    AUTOSCALER_ENABLED_TAG,
    PlannedNodegroup,
    create_parameters,
    differences,
    plan_nodegroups,
)
from eksops.ownership import CLUSTER_TAG, CREATED_BY_TAG
from eksops.polling import MIN_SECONDS, Poll
from moto import mock_aws

from tests.unit.test_cluster_decisions import FakeCoreV1

ACCOUNT = "123456789012"  # moto's
EXECUTION = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:JoinNodegroup:run-1"
OTHER_EXECUTION = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:JoinNodegroup:run-2"
PARENT = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:CreateCluster:run-0"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eksops/prod-eu-general-node-role"
SUBNET_A = "subnet-0a1b2c3d4e5f60718"
SUBNET_B = "subnet-0f1e2d3c4b5a69788"
SUBNET_C = "subnet-0c0c0c0c0c0c0c0c0"
MANAGED: dict[str, Any] = {
    "clusterName": "prod-eu",
    "kind": "managed",
    "name": "general",
    "subnetIds": [SUBNET_A, SUBNET_B, SUBNET_C],
}


def request(**changes: Any) -> JoinNodegroupInput:
    return parse_event(JoinNodegroupInput, {**MANAGED, **changes})


# --- which node groups, and their CreateNodegroup parameters -------------------------------------

SUBNETS = [  # as DescribeSubnets lists them: not in the input's order, nor by AZ
    {"SubnetId": SUBNET_C, "AvailabilityZone": "eu-west-1b"},
    {"SubnetId": SUBNET_A, "AvailabilityZone": "eu-west-1b"},
    {"SubnetId": SUBNET_B, "AvailabilityZone": "eu-west-1a"},
]


def test_one_node_group_spans_every_subnet() -> None:
    assert plan_nodegroups(request(), SUBNETS) == [
        PlannedNodegroup(name="general", subnet_ids=[SUBNET_A, SUBNET_B, SUBNET_C])
    ]


def test_per_az_makes_one_node_group_per_zone_sorted_by_zone() -> None:
    assert plan_nodegroups(request(perAz=True), SUBNETS) == [
        PlannedNodegroup(
            name="general-eu-west-1a", subnet_ids=[SUBNET_B], availability_zone="eu-west-1a"
        ),
        PlannedNodegroup(
            name="general-eu-west-1b",
            subnet_ids=[SUBNET_A, SUBNET_C],
            availability_zone="eu-west-1b",
        ),
    ]


def test_per_az_names_must_fit_eks_63_characters() -> None:
    fits = "n" * (63 - len("-eu-west-1a"))
    assert plan_nodegroups(request(perAz=True, name=fits), SUBNETS)[0].name == f"{fits}-eu-west-1a"
    with pytest.raises(InvalidInputError, match=r"name: with perAz .* use a shorter name"):
        plan_nodegroups(request(perAz=True, name=fits + "n"), SUBNETS)


GENERAL = PlannedNodegroup(name="general", subnet_ids=[SUBNET_A, SUBNET_B])


def test_create_parameters_tag_for_eksops_and_the_autoscaler() -> None:
    tags = create_parameters(
        request(autoscaler=True, tags={"team": "data"}), GENERAL, NODE_ROLE, EXECUTION
    )["tags"]
    assert tags == {
        "team": "data",
        CLUSTER_TAG: "prod-eu",
        CREATED_BY_TAG: EXECUTION,
        "k8s.io/cluster-autoscaler/enabled": "true",
        "k8s.io/cluster-autoscaler/prod-eu": "owned",
    }
    plain = create_parameters(request(), GENERAL, NODE_ROLE, EXECUTION)["tags"]
    assert AUTOSCALER_ENABLED_TAG not in plain


def test_create_parameters_leave_optional_fields_to_eks() -> None:
    parameters = create_parameters(request(), GENERAL, NODE_ROLE, EXECUTION)
    assert parameters["scalingConfig"] == {"minSize": 1, "maxSize": 2, "desiredSize": 2}
    assert parameters["subnets"] == [SUBNET_A, SUBNET_B], "the planned group's, not the input's"
    assert (parameters["nodeRole"], parameters["capacityType"]) == (NODE_ROLE, "ON_DEMAND")
    assert not {"instanceTypes", "amiType", "launchTemplate"} & parameters.keys()


def test_create_parameters_pass_the_optional_fields_given() -> None:
    given = request(
        instanceTypes=["m6i.large", "m5.large"],
        amiType="AL2023_x86_64_STANDARD",
        launchTemplate={"name": "nodes", "version": "4"},
        taints=[{"key": "gpu", "effect": "NO_SCHEDULE"}],
        labels={"workload": "gpu"},
    )
    parameters = create_parameters(given, GENERAL, NODE_ROLE, EXECUTION)
    assert parameters["instanceTypes"] == ["m6i.large", "m5.large"]
    assert parameters["amiType"] == "AL2023_x86_64_STANDARD"
    assert parameters["launchTemplate"] == {"name": "nodes", "version": "4"}
    assert parameters["taints"] == [{"key": "gpu", "effect": "NO_SCHEDULE"}]
    assert parameters["labels"] == {"workload": "gpu"}


def test_client_request_token_is_stable_per_creator_and_node_group() -> None:
    def token(planned: PlannedNodegroup, creator: str) -> str:
        return create_parameters(request(), planned, NODE_ROLE, creator)["clientRequestToken"]

    other = PlannedNodegroup(name="general-eu-west-1a", subnet_ids=[SUBNET_A])
    assert token(GENERAL, EXECUTION) == token(GENERAL, EXECUTION), "a retry is the same request"
    assert token(GENERAL, EXECUTION) != token(other, EXECUTION)
    assert token(GENERAL, EXECUTION) != token(GENERAL, OTHER_EXECUTION)


def test_autoscaler_tags_stay_within_eks_50_tags() -> None:
    tags = {f"k{i}": "v" for i in range(48)}
    try:
        given = request(autoscaler=True, tags=tags)
    except InvalidInputError:
        return  # rejecting the input up front is as good
    assert len(create_parameters(given, GENERAL, NODE_ROLE, EXECUTION)["tags"]) <= 50


def described(req: JoinNodegroupInput, planned: PlannedNodegroup, **changes: Any) -> dict:
    """DescribeNodegroup's answer for the node group ``req`` creates (EKS's field names)."""
    parameters = create_parameters(req, planned, NODE_ROLE, EXECUTION)
    nodegroup = {key: value for key, value in parameters.items() if key != "clientRequestToken"}
    nodegroup["status"] = "ACTIVE"
    nodegroup.update(changes)
    return nodegroup


def test_a_matching_node_group_has_no_differences() -> None:
    req = request(labels={"a": "b"}, taints=[{"key": "gpu", "effect": "NO_SCHEDULE"}])
    existing = described(
        req,
        GENERAL,
        subnets=[SUBNET_B, SUBNET_A],  # EKS's order
        scalingConfig={"minSize": 1, "maxSize": 2, "desiredSize": 7},  # the autoscaler's
        instanceTypes=["t3.medium"],  # EKS's default: the input left it out
        amiType="AL2_x86_64",
        tags={},
    )
    assert differences(existing, req, GENERAL, NODE_ROLE) == []


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"nodeRole": f"arn:aws:iam::{ACCOUNT}:role/other"}, "nodeRole"),
        ({"subnets": [SUBNET_A]}, "subnets"),
        ({"capacityType": "SPOT"}, "capacityType"),
        (
            {"scalingConfig": {"minSize": 0, "maxSize": 2, "desiredSize": 2}},
            "scalingConfig.minSize",
        ),
        (
            {"scalingConfig": {"minSize": 1, "maxSize": 9, "desiredSize": 2}},
            "scalingConfig.maxSize",
        ),
        ({"labels": {"a": "c"}}, "labels"),
        ({"taints": [{"key": "gpu", "value": "x", "effect": "NO_SCHEDULE"}]}, "taints"),
        ({"instanceTypes": ["m5.large", "m6i.large"]}, "instanceTypes"),
        ({"amiType": "AL2_x86_64"}, "amiType"),
        (
            {"launchTemplate": {"name": "nodes", "id": "lt-0a0b0c0d", "version": "5"}},
            "launchTemplate.version",
        ),
    ],
)
def test_each_difference_is_named_with_the_node_group(changes: dict, named: str) -> None:
    req = request(
        labels={"a": "b"},
        taints=[{"key": "gpu", "effect": "NO_SCHEDULE"}],
        instanceTypes=["m6i.large", "m5.large"],
        amiType="AL2023_x86_64_STANDARD",
        launchTemplate={"name": "nodes", "version": "4"},
    )
    found = differences(described(req, GENERAL, **changes), req, GENERAL, NODE_ROLE)
    assert len(found) == 1
    assert found[0].startswith(f"general {named}: is ")


def test_taints_compare_in_any_order() -> None:
    taints = [{"key": "a", "effect": "NO_SCHEDULE"}, {"key": "b", "effect": "NO_EXECUTE"}]
    req = request(taints=taints)
    existing = described(req, GENERAL, taints=list(reversed(taints)))
    assert differences(existing, req, GENERAL, NODE_ROLE) == []


def test_a_symbolic_launch_template_version_is_no_difference() -> None:
    req = request(launchTemplate={"name": "nodes", "version": "$Latest"})
    existing = described(
        req, GENERAL, launchTemplate={"name": "nodes", "id": "lt-0123456789abcdef0", "version": "3"}
    )
    assert differences(existing, req, GENERAL, NODE_ROLE) == []


# --- the node role ---------------------------------------------------------------------------


def test_role_name_is_readable_when_it_fits() -> None:
    assert role_name("prod-eu", "general") == "prod-eu-general-node-role"


def test_role_name_stays_within_iam_64_characters_and_stays_distinct() -> None:
    cluster = "c" * 100
    first, second = role_name(cluster, "a" * 62 + "1"), role_name(cluster, "a" * 62 + "2")
    assert len(first) <= 64
    assert len(second) <= 64
    assert first.endswith("-node-role")
    assert first == role_name(cluster, "a" * 62 + "1"), "stable across runs"
    assert first != second, "names that differ only past the cut differ"


@pytest.fixture
def iam(aws_env: Path) -> Iterator[Any]:
    # the node policies are AWS managed policies, which moto only knows when asked to load them
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        yield boto3.client("iam", region_name="us-east-1")


def policy_arn(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


def trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def attached(iam: Any, name: str) -> set[str]:
    policies = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    return {policy["PolicyArn"] for policy in policies}


def existing_role(iam: Any, service: str, tags: dict[str, str], policies: tuple[str, ...]) -> None:
    name = "prod-eu-general-node-role"
    iam.create_role(
        RoleName=name,
        Path="/eksops/",
        AssumeRolePolicyDocument=trust(service),
        Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
    )
    for policy in policies:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn(policy))


def test_node_role_is_created_under_the_eksops_path(iam: Any) -> None:
    role = ensure_node_role(iam, request(tags={"team": "data"}), EXECUTION, "aws")
    assert (role.arn, role.created) == (NODE_ROLE, True)
    made = iam.get_role(RoleName="prod-eu-general-node-role")["Role"]
    assert made["Path"] == "/eksops/"
    statement = made["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert "sts:AssumeRole" in statement["Action"]
    assert attached(iam, "prod-eu-general-node-role") == {policy_arn(p) for p in NODE_POLICIES}
    assert {tag["Key"]: tag["Value"] for tag in made["Tags"]} == {
        "team": "data",
        CLUSTER_TAG: "prod-eu",
        CREATED_BY_TAG: EXECUTION,
    }


def test_node_role_is_adopted_on_a_second_run(iam: Any) -> None:
    ensure_node_role(iam, request(), EXECUTION, "aws")
    assert ensure_node_role(iam, request(), EXECUTION, "aws").created, "a retry: still its own"
    again = ensure_node_role(iam, request(), OTHER_EXECUTION, "aws")
    assert (again.arn, again.created) == (NODE_ROLE, False)
    assert len(iam.list_roles(PathPrefix="/eksops/")["Roles"]) == 1


def test_a_nested_run_creates_the_node_role_as_its_parent(iam: Any) -> None:
    nested = request(**{STARTED_BY_KEY: PARENT})
    assert ensure_node_role(iam, nested, EXECUTION, "aws").created
    assert ensure_node_role(iam, nested, OTHER_EXECUTION, "aws").created, "same parent"
    tags = iam.get_role(RoleName="prod-eu-general-node-role")["Role"]["Tags"]
    assert {"Key": CREATED_BY_TAG, "Value": PARENT} in tags


def test_an_eksops_role_missing_a_policy_is_finished(iam: Any) -> None:
    # an earlier attempt stopped between CreateRole and the last AttachRolePolicy
    existing_role(iam, "ec2.amazonaws.com", {CLUSTER_TAG: "prod-eu"}, NODE_POLICIES[:2])
    role = ensure_node_role(iam, request(), EXECUTION, "aws")
    assert (role.arn, role.created) == (NODE_ROLE, False)
    assert attached(iam, "prod-eu-general-node-role") == {policy_arn(p) for p in NODE_POLICIES}


def test_a_foreign_role_missing_a_policy_is_a_conflict_left_unchanged(iam: Any) -> None:
    existing_role(iam, "ec2.amazonaws.com", {"owner": "someone"}, NODE_POLICIES[:2])
    with pytest.raises(NodegroupConflictError, match="lacks AmazonEKS_CNI_Policy"):
        ensure_node_role(iam, request(), EXECUTION, "aws")
    assert len(attached(iam, "prod-eu-general-node-role")) == 2


def test_a_role_not_trusting_ec2_is_a_conflict(iam: Any) -> None:
    existing_role(iam, "eks.amazonaws.com", {CLUSTER_TAG: "prod-eu"}, NODE_POLICIES)
    with pytest.raises(NodegroupConflictError, match=r"does not trust ec2\.amazonaws\.com"):
        ensure_node_role(iam, request(), EXECUTION, "aws")


def test_a_given_node_role_is_used_as_it_is(iam: Any) -> None:
    given = f"arn:aws:iam::{ACCOUNT}:role/mine"
    role = ensure_node_role(iam, request(nodeRoleArn=given), EXECUTION, "aws")
    assert (role.arn, role.created) == (given, False)
    assert iam.list_roles()["Roles"] == [], "nothing created"


def test_a_given_node_role_is_checked(iam: Any) -> None:
    iam.create_role(
        RoleName="nodes", Path="/team/", AssumeRolePolicyDocument=trust("ec2.amazonaws.com")
    )
    iam.create_role(RoleName="lambda", AssumeRolePolicyDocument=trust("lambda.amazonaws.com"))
    check_given_node_role(iam, f"arn:aws:iam::{ACCOUNT}:role/team/nodes", ACCOUNT)
    cases = {
        "arn:aws:iam::210987654321:role/team/nodes": "is not in the cluster's account",
        f"arn:aws:iam::{ACCOUNT}:role/missing": "no IAM role",
        f"arn:aws:iam::{ACCOUNT}:role/nodes": "no IAM role",  # the path is part of the ARN
        f"arn:aws:iam::{ACCOUNT}:role/lambda": r"does not trust ec2\.amazonaws\.com",
    }
    for arn, problem in cases.items():
        with pytest.raises(InvalidInputError, match=f"nodeRoleArn: .*{problem}"):
            check_given_node_role(iam, arn, ACCOUNT)


# --- authorizing the node role -----------------------------------------------------------------


class NotFoundError(Exception):
    pass


class InUseError(Exception):
    pass


class FakeEks:
    """Access entries of one cluster; ``made_meanwhile`` appears between describe and create."""

    exceptions = SimpleNamespace(
        ResourceNotFoundException=NotFoundError, ResourceInUseException=InUseError
    )

    def __init__(
        self,
        entries: dict[str, dict[str, Any]] | None = None,
        made_meanwhile: dict[str, Any] | None = None,
    ) -> None:
        self.entries = dict(entries or {})
        self.made_meanwhile = made_meanwhile
        self.created: list[dict[str, Any]] = []

    def describe_access_entry(self, clusterName: str, principalArn: str) -> dict[str, Any]:
        if principalArn not in self.entries:
            raise NotFoundError
        return {"accessEntry": self.entries[principalArn]}

    def create_access_entry(self, **parameters: Any) -> dict[str, Any]:
        principal = parameters["principalArn"]
        if self.made_meanwhile is not None:
            self.entries[principal] = self.made_meanwhile
        if principal in self.entries:
            raise InUseError
        self.created.append(parameters)
        entry = {"principalArn": principal, "type": parameters["type"], "tags": parameters["tags"]}
        self.entries[principal] = entry
        return {"accessEntry": entry}


def no_core_v1() -> Any:
    raise AssertionError("aws-auth must not be touched in this mode")


TAGS = {CLUSTER_TAG: "prod-eu", CREATED_BY_TAG: EXECUTION}


def cluster(mode: str) -> dict[str, Any]:
    return {"name": "prod-eu", "accessConfig": {"authenticationMode": mode}}


@pytest.mark.parametrize("mode", ["API", "API_AND_CONFIG_MAP"])
@pytest.mark.parametrize(("windows", "entry_type"), [(False, "EC2_LINUX"), (True, "EC2_WINDOWS")])
def test_access_entry_modes_create_an_ec2_entry(mode: str, windows: bool, entry_type: str) -> None:
    eks = FakeEks()
    result = authorize_nodes(eks, no_core_v1, cluster(mode), NODE_ROLE, windows, TAGS)
    assert eks.created == [
        {"clusterName": "prod-eu", "principalArn": NODE_ROLE, "type": entry_type, "tags": TAGS}
    ]
    assert result == {
        "authenticationMode": mode,
        "method": "access entry",
        "roleArn": NODE_ROLE,
        "accessEntryType": entry_type,
        "created": True,
    }


def test_an_existing_node_entry_is_adopted() -> None:
    # EKS makes the entry itself for a managed node group's role
    eks = FakeEks({NODE_ROLE: {"type": "EC2_LINUX", "tags": {}}})
    result = authorize_nodes(eks, no_core_v1, cluster("API"), NODE_ROLE, False, TAGS)
    assert (eks.created, result["created"]) == ([], False)


def test_an_entry_made_meanwhile_is_adopted() -> None:
    eks = FakeEks(made_meanwhile={"type": "EC2_LINUX", "tags": {}})
    result = authorize_nodes(eks, no_core_v1, cluster("API"), NODE_ROLE, False, TAGS)
    assert (eks.created, result["accessEntryType"], result["created"]) == ([], "EC2_LINUX", False)


def test_a_standard_entry_of_the_node_role_is_a_conflict() -> None:
    eks = FakeEks({NODE_ROLE: {"type": "STANDARD"}})
    with pytest.raises(NodegroupConflictError, match="already has a STANDARD access entry"):
        authorize_nodes(eks, no_core_v1, cluster("API"), NODE_ROLE, False, TAGS)


ADMINS = yaml.safe_dump(
    [
        {
            "rolearn": f"arn:aws:iam::{ACCOUNT}:role/admins",
            "username": "a",
            "groups": ["system:masters"],
        }
    ]
)
USERS = "- userarn: arn:aws:iam::123456789012:user/alice  # ops\n  username: alice\n"
UNMAPPED_ROLE = f"arn:aws:iam::{ACCOUNT}:role/prod-eu-general-node-role"  # the path dropped


@pytest.mark.parametrize(
    ("windows", "groups"),
    [
        (False, ["system:bootstrappers", "system:nodes"]),
        (True, ["system:bootstrappers", "system:nodes", "eks:kube-proxy-windows"]),
    ],
)
def test_config_map_mode_merges_the_node_role_into_aws_auth(windows: bool, groups: list) -> None:
    core = FakeCoreV1(
        {"mapRoles": ADMINS, "mapUsers": USERS, "mapAccounts": "- '111122223333'\n", "x": "y"}
    )
    eks = FakeEks()
    result = authorize_nodes(eks, lambda: core, cluster("CONFIG_MAP"), NODE_ROLE, windows, TAGS)
    node = {"rolearn": UNMAPPED_ROLE, "username": "system:node:{{EC2PrivateDNSName}}"}
    assert yaml.safe_load(core.data["mapRoles"]) == [
        *yaml.safe_load(ADMINS),
        {**node, "groups": groups},
    ]
    assert (core.data["mapUsers"], core.data["mapAccounts"], core.data["x"]) == (
        USERS,
        "- '111122223333'\n",
        "y",
    ), "untouched sections keep their text, comments and all"
    assert result == {
        "authenticationMode": "CONFIG_MAP",
        "method": "aws-auth",
        "roleArn": NODE_ROLE,
        "awsAuthChanges": [
            {"section": "mapRoles", **node, "change": "added", "groups": groups},
        ],
    }
    assert eks.created == []
    again = authorize_nodes(eks, lambda: core, cluster("CONFIG_MAP"), NODE_ROLE, windows, TAGS)
    assert again["awsAuthChanges"] == []
    assert core.writes == 1, "nothing to add: no write"


def test_a_cluster_without_access_config_is_in_config_map_mode() -> None:
    assert authentication_mode({"name": "old"}) == "CONFIG_MAP"


# --- EKS's health issues -----------------------------------------------------------------------


def test_health_issues_get_their_hint_and_instances() -> None:
    nodegroup = {
        "health": {
            "issues": [
                {
                    "code": "NodeCreationFailure",
                    "message": "Instances failed to join the kubernetes cluster",
                    "resourceIds": ["i-0aaa", "i-0bbb"],
                },
                {"code": "SomethingNewFromEks"},
            ]
        }
    }
    assert described_issues(nodegroup) == [
        "NodeCreationFailure (i-0aaa, i-0bbb): Instances failed to join the kubernetes cluster. "
        f"Hint: {HINTS['NodeCreationFailure']}",
        f"SomethingNewFromEks: no message. Hint: {DEFAULT_HINT}",
    ]
    assert described_issues({"status": "ACTIVE"}) == []


# --- whether the nodes joined, and why not -----------------------------------------------------


@pytest.mark.parametrize(
    ("provider_id", "instance_id"),
    [
        ("aws:///eu-west-1a/i-0123456789abcdef0", "i-0123456789abcdef0"),
        ("aws:///", None),
        ("kind://docker/kind/node", None),
        (None, None),
    ],
)
def test_instance_id_of_a_provider_id(provider_id: str | None, instance_id: str | None) -> None:
    assert instance_id_of(provider_id) == instance_id


TIMED = request(timeoutSeconds=600)
READY = NodeState("ip-10-0-1-1", "eu-west-1a", True, "")
NOT_READY = NodeState("ip-10-0-1-2", "eu-west-1b", False, "KubeletNotReady: cni not initialized")
UNUSED = Diagnosis(None, None, None, None, {}, NODE_ROLE)  # any call on it fails the test


def test_all_expected_nodes_ready_ends_the_wait() -> None:
    expected = Expected({"i-1": "general-eu-west-1a", "i-2": "general-eu-west-1b"}, short=[])
    nodes = {"i-1": READY, "i-2": NodeState("ip-10-0-2-2", "eu-west-1b", True, "")}
    progress = check_nodes(expected, nodes, TIMED, None, UNUSED)
    assert progress.ready
    result = progress.result()
    assert [node["instanceId"] for node in result["nodes"]] == ["i-1", "i-2"]
    assert result["nodes"][0]["nodegroup"] == "general-eu-west-1a"
    assert result["nodesPerAvailabilityZone"] == {"eu-west-1a": 1, "eu-west-1b": 1}


def test_missing_nodes_and_short_groups_mean_another_poll() -> None:
    expected = Expected({"i-1": "general", "i-2": "general"}, short=["general: 2 of 3 launched"])
    progress = check_nodes(expected, {"i-1": READY, "i-2": NOT_READY}, TIMED, None, UNUSED)
    assert not progress.ready
    assert progress.waiting == ["general: 2 of 3 launched", "general: i-2"]
    assert (progress.poll.attempt, progress.poll.seconds) == (1, MIN_SECONDS)


class FakeEc2:
    def __init__(self, instances: list[dict[str, Any]]) -> None:
        self.instances = {instance["InstanceId"]: instance for instance in instances}

    def describe_instances(self, Filters: list[dict[str, Any]]) -> dict[str, Any]:
        (wanted,) = [f["Values"] for f in Filters if f["Name"] == "instance-id"]
        found = [self.instances[i] for i in wanted if i in self.instances]
        return {"Reservations": [{"Instances": found}]}


class NoSuchEntityError(Exception):
    pass


class FakeIam:
    exceptions = SimpleNamespace(NoSuchEntityException=NoSuchEntityError)
    profiles: ClassVar[dict[str, str | None]] = {  # instance profile name -> its role
        "nodes": NODE_ROLE,
        "other": f"arn:aws:iam::{ACCOUNT}:role/other",
        "empty": None,
    }

    def get_instance_profile(self, InstanceProfileName: str) -> dict[str, Any]:
        if InstanceProfileName not in self.profiles:
            raise NoSuchEntityError
        role = self.profiles[InstanceProfileName]
        return {"InstanceProfile": {"Roles": [{"Arn": role}] if role else []}}


def instance(state: str = "running", vpc: str = "vpc-1", profile: str | None = "nodes") -> dict:
    described = {
        "InstanceId": "i-1",
        "State": {"Name": state},
        "VpcId": vpc,
        "SubnetId": "subnet-0other000000000000",
    }
    if profile is not None:
        described["IamInstanceProfile"] = {
            "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/eksops/{profile}"
        }
    return described


def timed_out(
    instances: list[dict], nodes: dict[str, NodeState], mode: str, aws_auth: dict | None
) -> str:
    """NodesNotJoined's message once the wait for instance i-1 of "general" is up."""
    diagnosis = Diagnosis(
        ec2=FakeEc2(instances),
        iam=FakeIam(),
        eks=FakeEks(),  # no access entry at all
        core_v1=FakeCoreV1(aws_auth),
        cluster={**cluster(mode), "resourcesVpcConfig": {"vpcId": "vpc-1"}},
        node_role_arn=NODE_ROLE,
    )
    expected = Expected({"i-1": "general"}, short=[])
    with pytest.raises(NodesNotJoinedError) as caught:
        check_nodes(expected, nodes, TIMED, Poll(attempt=40, waited=600, seconds=20), diagnosis)
    return str(caught.value)


@pytest.mark.parametrize(
    ("described_instance", "cause"),
    [
        (instance(state="stopped"), "the instance is stopped"),
        (None, "the instance no longer exists"),
        (instance(vpc="vpc-2"), "wrong subnets: .* of vpc-2, not in the cluster's VPC vpc-1"),
        (instance(profile=None), "the instance has no IAM instance profile with a role"),
        (instance(profile="deleted"), "the instance has no IAM instance profile with a role"),
        (instance(profile="empty"), "the instance has no IAM instance profile with a role"),
        (
            instance(profile="other"),
            "the instance runs as arn:aws:iam::123456789012:role/other, but",
        ),
        (instance(), "role not mapped: .* aws-auth mapRoles entry"),
    ],
)
def test_each_instance_that_did_not_join_gets_its_cause(
    described_instance: dict | None, cause: str
) -> None:
    instances = [described_instance] if described_instance else []
    message = timed_out(instances, {}, "CONFIG_MAP", {"mapRoles": ADMINS})
    assert message.startswith("after 600 s, 1 of 1 nodes of prod-eu are not Ready: ")
    assert re.search(f"i-1: {cause}", message), message


def test_a_registered_node_that_is_not_ready_points_at_the_cni() -> None:
    message = timed_out([instance()], {"i-1": NOT_READY}, "CONFIG_MAP", None)
    assert "i-1: Node ip-10-0-1-2 registered but is not Ready (KubeletNotReady: cni" in message


def test_a_mapped_role_without_a_node_points_at_bootstrap_and_network() -> None:
    mapped = yaml.safe_dump(
        [
            {
                "rolearn": UNMAPPED_ROLE,
                "username": "n",
                "groups": ["system:bootstrappers", "system:nodes"],
            }
        ]
    )
    message = timed_out([instance()], {}, "CONFIG_MAP", {"mapRoles": mapped})
    assert "i-1: no Node registered although the role is mapped" in message


def test_in_api_mode_a_missing_access_entry_is_the_cause() -> None:
    # aws-auth maps the role, but an API-mode cluster does not read it
    mapped = yaml.safe_dump([{"rolearn": UNMAPPED_ROLE, "groups": ["system:nodes"]}])
    message = timed_out([instance()], {}, "API", {"mapRoles": mapped})
    assert re.search("i-1: role not mapped: .* EC2 access entry", message), message


def test_the_count_of_nodes_not_ready_never_exceeds_the_expected() -> None:
    diagnosis = Diagnosis(
        FakeEc2([instance()]), FakeIam(), FakeEks(), FakeCoreV1(None), cluster("API"), NODE_ROLE
    )
    expected = Expected({"i-1": "general"}, short=["general: 1 of 2 instances launched"])
    with pytest.raises(NodesNotJoinedError) as caught:
        check_nodes(expected, {}, TIMED, Poll(waited=600), diagnosis)
    assert "general: 1 of 2 instances launched" in str(caught.value)
    counted = re.search(r"(\d+) of (\d+) nodes", str(caught.value))
    assert counted is not None
    assert int(counted[1]) <= int(counted[2])


def test_the_caller_is_its_role_with_the_path_or_the_user() -> None:
    iam = SimpleNamespace(
        get_role=lambda RoleName: {"Role": {"Arn": f"arn:aws:iam::1:role/team/{RoleName}"}}
    )

    def sts(arn: str) -> Any:
        return SimpleNamespace(get_caller_identity=lambda: {"Arn": arn})

    assumed = sts("arn:aws:sts::1:assumed-role/ops/i-0123")
    assert caller_principal(assumed, iam) == "arn:aws:iam::1:role/team/ops"
    assert caller_principal(sts("arn:aws:iam::1:user/alice"), iam) == "arn:aws:iam::1:user/alice"
