"""JoinNodegroup's input: the documented defaults of both kinds, and every invalid input a named
error naming the field (a field of the other kind included, not silently ignored)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eksops.errors import InvalidInputError
from eksops.models.base import STARTED_BY_KEY, parse_event
from eksops.models.create_cluster import CreateClusterInput
from eksops.models.join_nodegroup import JoinNodegroupInput

SUBNET_A = "subnet-0a1b2c3d4e5f60718"
SUBNET_B = "subnet-0f1e2d3c4b5a69788"
NODE_ROLE = "arn:aws:iam::123456789012:role/nodes"
PARENT = "arn:aws:states:eu-west-1:123456789012:execution:CreateCluster:run-1"
OWN = "arn:aws:states:eu-west-1:123456789012:execution:JoinNodegroup:run-2"
MANAGED: dict[str, Any] = {
    "clusterName": "prod-eu",
    "kind": "managed",
    "name": "general",
    "subnetIds": [SUBNET_A, SUBNET_B],
}
SELF_MANAGED: dict[str, Any] = {
    "clusterName": "prod-eu",
    "kind": "self-managed",
    "nodeRoleArn": NODE_ROLE,
}


def parse(base: dict[str, Any], **changes: Any) -> JoinNodegroupInput:
    return parse_event(JoinNodegroupInput, {**base, **changes})


def rejected(base: dict[str, Any], **changes: Any) -> str:
    """The InvalidInput message for ``base`` with ``changes``."""
    with pytest.raises(InvalidInputError) as caught:
        parse(base, **changes)
    return str(caught.value)


def test_minimal_managed_input_gets_the_documented_defaults() -> None:
    parsed = parse(MANAGED)
    assert (parsed.wait_for_nodes, parsed.timeout_seconds) == (True, 1500)
    assert parsed.capacity_type == "ON_DEMAND"
    scaling = parsed.scaling
    assert (scaling.min_size, scaling.desired_size, scaling.max_size) == (1, 2, 2)
    assert (parsed.per_az, parsed.autoscaler, parsed.os_family) == (False, False, "linux")
    assert parsed.node_role_arn is None, "eksops ensures the node role"
    assert not parsed.windows


def test_minimal_self_managed_input_gets_the_documented_defaults() -> None:
    parsed = parse(SELF_MANAGED)
    assert (parsed.wait_for_nodes, parsed.timeout_seconds) == (True, 1500)
    assert parsed.os_family == "linux"
    assert parsed.auto_scaling_group_name is None
    assert not parsed.windows


@pytest.mark.parametrize("field", ["name", "subnetIds"])
def test_managed_needs_a_name_and_subnets(field: str) -> None:
    event = {key: value for key, value in MANAGED.items() if key != field}
    with pytest.raises(InvalidInputError, match=f"a managed node group needs {field}"):
        parse_event(JoinNodegroupInput, event)


def test_self_managed_needs_the_node_role() -> None:
    event = {key: value for key, value in SELF_MANAGED.items() if key != "nodeRoleArn"}
    with pytest.raises(InvalidInputError, match="self-managed nodes need nodeRoleArn"):
        parse_event(JoinNodegroupInput, event)


def test_managed_fields_on_self_managed_are_named_errors() -> None:
    message = rejected(SELF_MANAGED, perAz=True, labels={"workload": "batch"})
    assert "perAz, labels: not for kind self-managed" in message


@pytest.mark.parametrize(
    ("field", "value"), [("autoScalingGroupName", "my-asg"), ("osFamily", "windows")]
)
def test_self_managed_fields_on_managed_are_named_errors(field: str, value: str) -> None:
    assert f"{field}: not for kind managed" in rejected(MANAGED, **{field: value})


def test_defaults_of_the_other_kind_given_explicitly_are_no_error() -> None:
    # the steps pass the request on with every field filled in
    assert parse(SELF_MANAGED, perAz=False, labels={}).kind == "self-managed"
    assert parse(MANAGED, osFamily="linux").kind == "managed"


@pytest.mark.parametrize(
    "event",
    [
        {
            **MANAGED,
            "perAz": True,
            "instanceTypes": ["m6i.large"],
            "scaling": {"minSize": 0, "maxSize": 5, "desiredSize": 3},
            "labels": {"example.com/team": "data"},
            "taints": [{"key": "gpu", "value": "true", "effect": "NO_SCHEDULE"}],
            "amiType": "AL2023_x86_64_STANDARD",
            "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "3"},
            "tags": {"team": "data"},
            STARTED_BY_KEY: PARENT,
        },
        {**SELF_MANAGED, "autoScalingGroupName": "nodes-asg", "osFamily": "windows"},
    ],
    ids=["managed", "self-managed"],
)
def test_a_normalized_request_parses_again_to_the_same_model(event: dict[str, Any]) -> None:
    parsed = parse_event(JoinNodegroupInput, event)
    normalized = json.loads(json.dumps(parsed.model_dump(by_alias=True)))
    assert normalized[STARTED_BY_KEY] == event.get(STARTED_BY_KEY), "the wire name is kept"
    assert parse_event(JoinNodegroupInput, normalized) == parsed


@pytest.mark.parametrize(
    "scaling",
    [
        {"minSize": 3, "desiredSize": 2, "maxSize": 4},
        {"minSize": 1, "desiredSize": 5, "maxSize": 4},
    ],
)
def test_scaling_must_be_ordered(scaling: dict[str, int]) -> None:
    message = rejected(MANAGED, scaling=scaling)
    assert "scaling: Value error, needs minSize <= desiredSize <= maxSize" in message


def test_scaling_accepts_equal_sizes() -> None:
    scaling = parse(MANAGED, scaling={"minSize": 3, "desiredSize": 3, "maxSize": 3}).scaling
    assert scaling.min_size == scaling.max_size == 3


def test_a_subnet_listed_twice_is_an_error() -> None:
    assert "subnetIds lists a subnet twice" in rejected(MANAGED, subnetIds=[SUBNET_A, SUBNET_A])


def test_a_taint_key_and_effect_listed_twice_is_an_error() -> None:
    taint = {"key": "gpu", "effect": "NO_SCHEDULE"}
    twice = [taint, {**taint, "value": "other"}]
    assert "same key and effect twice" in rejected(MANAGED, taints=twice)
    other_effect = [taint, {**taint, "effect": "NO_EXECUTE"}]
    assert len(parse(MANAGED, taints=other_effect).taints) == 2


@pytest.mark.parametrize(
    "template",
    [{}, {"id": "lt-0123456789abcdef0", "name": "nodes"}, {"version": "1"}],
    ids=["neither", "both", "version only"],
)
def test_launch_template_needs_exactly_one_of_id_and_name(template: dict[str, str]) -> None:
    message = rejected(MANAGED, launchTemplate=template)
    assert "launchTemplate: Value error, give exactly one of id and name" in message


def test_launch_template_by_name_or_by_id() -> None:
    assert parse(MANAGED, launchTemplate={"name": "nodes"}).launch_template is not None
    by_id = parse(MANAGED, launchTemplate={"id": "lt-0123456789abcdef0"}).launch_template
    assert by_id is not None
    assert by_id.id == "lt-0123456789abcdef0"


def test_at_most_48_tags() -> None:
    tags = {f"k{i}": "v" for i in range(48)}
    assert len(parse(MANAGED, tags=tags).tags) == 48
    assert "at most 48 tags" in rejected(MANAGED, tags={**tags, "one-more": "v"})


@pytest.mark.parametrize("key", ["aws:team", "AWS:team"])
def test_the_aws_tag_prefix_is_reserved(key: str) -> None:
    assert "the aws: prefix is reserved" in rejected(MANAGED, tags={key: "x"})


def test_the_parent_execution_is_the_creator_when_given() -> None:
    nested = parse(MANAGED, **{STARTED_BY_KEY: PARENT})
    assert nested.started_by == PARENT
    assert nested.creator(OWN) == PARENT, "the parent's rollback removes what this one creates"
    assert parse(MANAGED).creator(OWN) == OWN


def test_the_parent_execution_must_be_a_states_arn() -> None:
    message = rejected(MANAGED, **{STARTED_BY_KEY: "arn:aws:lambda:eu-west-1:1:function:x"})
    assert f"{STARTED_BY_KEY}: String should match pattern" in message


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"scaling": {"minSize": "1"}}, "scaling.minSize"),
        ({"timeoutSeconds": "3600"}, "timeoutSeconds"),
        ({"waitForNodes": "false"}, "waitForNodes"),
        ({"perAz": 1}, "perAz"),
    ],
)
def test_json_types_are_strict(changes: dict[str, Any], named: str) -> None:
    assert f"{named}: Input should be a valid" in rejected(MANAGED, **changes)


def test_unknown_fields_are_named_errors() -> None:
    assert "desiredSize: Extra inputs are not permitted" in rejected(MANAGED, desiredSize=3)


@pytest.mark.parametrize(
    ("base", "changes", "windows"),
    [
        (MANAGED, {"amiType": "WINDOWS_CORE_2022_x86_64"}, True),
        (MANAGED, {"amiType": "WINDOWS_FULL_2019_x86_64"}, True),
        (MANAGED, {"amiType": "BOTTLEROCKET_x86_64"}, False),
        (SELF_MANAGED, {"osFamily": "windows"}, True),
        (SELF_MANAGED, {"osFamily": "linux"}, False),
    ],
)
def test_windows_nodes(base: dict[str, Any], changes: dict[str, Any], windows: bool) -> None:
    assert parse(base, **changes).windows is windows


CLUSTER = {
    "clusterName": "prod-eu",
    "kubernetesVersion": "1.31",
    "vpc": {"subnetIds": [SUBNET_A, SUBNET_B]},
}
NESTED = {key: value for key, value in MANAGED.items() if key != "clusterName"}


def test_create_cluster_nodegroups_leave_the_cluster_out() -> None:
    parsed = parse_event(CreateClusterInput, {**CLUSTER, "nodegroups": [NESTED, SELF_MANAGED]})
    assert parsed.nodegroups[0].cluster_name is None
    assert parsed.nodegroups[0].name == "general"
    assert parsed.nodegroups[1].kind == "self-managed"


def test_create_cluster_names_the_unknown_field_of_a_nodegroup() -> None:
    event = {**CLUSTER, "nodegroups": [{**NESTED, "minSize": 1}]}
    with pytest.raises(InvalidInputError, match=r"nodegroups\.0\.minSize: Extra inputs"):
        parse_event(CreateClusterInput, event)
