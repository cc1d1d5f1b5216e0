"""Contract: member-account.yaml, the template StackSets deploy into each member account (hub and
spoke), gives the hub exactly what eksops's steps call there, and forwards the remediation
signals the hub's rules react to.

What "a call in a target account" is: tests/support/iam_permissions.py scans each function's
reachable code for the AWS actions it calls (iam_permissions.function_needs, implied
actions included), but has no API that tells calls made through the target session
(eksops.target_account: as targetRoleArn) from calls a function makes as itself in the hub. So:
the functions that can act as a target role (their scan finds sts:AssumeRole), and of their
needs every action but the hub's own, by service prefix: dynamodb (ledger, plans, idempotency),
states, events, cloudwatch, sns, sqs, logs, xray, and sts:AssumeRole / sts:GetCallerIdentity.
The member role must grant each of those on the resource the code acts on, and nothing else;
and its policies must be the hub Lambda roles' statements (Sids, scoping) less the hub-only ones.

The template is evaluated with iam_permissions' Resolver: the member account is
iam_permissions.ACCOUNT, its Region iam_permissions.REGION."""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from functools import cache
from typing import Any

import pytest
from eksops.local.template import load_template

from tests.support import iam_permissions as iam

REPO = iam.REPO
MEMBER_TEMPLATE = REPO / "member-account.yaml"
MEMBER = load_template(MEMBER_TEMPLATE)
MEMBER_ROLE = "MemberRole"
FORWARDING_ROLE = "SignalForwardingRole"
FORWARDING_QUEUE = "SignalForwardingDeadLetterQueue"
FORWARDING_QUEUE_POLICY = "SignalForwardingDeadLetterQueuePolicy"
FORWARDS = "ForwardsSignals"  # the condition of everything that forwards signals

DEPLOYED = iam.deployment(iam.SAMPLE_PARAMETERS)  # the hub
FUNCTIONS = DEPLOYED.of_type("AWS::Lambda::Function")
HUB_ACCOUNT = "210987654321"
EXTERNAL_ID = "eksops-0123456789"
# the member's parameters; ServiceAccountRoleArns as the hub's (iam_permissions' samples)
SAMPLE = {
    "HubAccountId": HUB_ACCOUNT,
    "ServiceAccountRoleArns": iam.SAMPLE_PARAMETERS["ServiceAccountRoleArns"],
}
EMPTY = {"HubAccountId": HUB_ACCOUNT, "ServiceAccountRoleArns": ""}

# What only the hub does: its tables, executions, events, metrics, alarms, queues, logs and
# traces, and assuming the target roles (by IAM service prefix, and single actions).
HUB_ONLY_SERVICES = {"dynamodb", "states", "events", "cloudwatch", "sns", "sqs", "logs", "xray"}
HUB_ONLY_ACTIONS = {"sts:AssumeRole", "sts:GetCallerIdentity"}
ASSUME = "sts:AssumeRole"


def _hub_only(action: str) -> bool:
    return action in HUB_ONLY_ACTIONS or action.split(":", 1)[0] in HUB_ONLY_SERVICES


def _hub_only_source(source: str) -> bool:
    """An event source of a hub-only service (aws.states: the hub's own executions)."""
    return source.removeprefix("aws.") in HUB_ONLY_SERVICES


def _member(parameters: dict[str, str]) -> iam.Deployment:
    return iam.Deployment(MEMBER, iam.Resolver(MEMBER, parameters))


def _resources_of(kind: str) -> list[str]:
    return sorted(k for k, v in MEMBER["Resources"].items() if v["Type"] == kind)


# --- linters: test_permissions (cfn-lint) and test_checkov (checkov) run on it too --------


def test_it_is_plain_cloudformation() -> None:
    """StackSets deploy it as is: no SAM transform, no artifacts to upload."""
    assert "Transform" not in MEMBER
    assert all(not v["Type"].startswith("AWS::Serverless::") for v in MEMBER["Resources"].values())


# --- the trust --------------------------------------------------------------------------------


def _trust(parameters: dict[str, str]) -> dict[str, Any]:
    properties = MEMBER["Resources"][MEMBER_ROLE]["Properties"]
    document = iam.Resolver(MEMBER, parameters).resolve(properties["AssumeRolePolicyDocument"])
    statements = document["Statement"]
    assert len(statements) == 1, statements
    return statements[0]


@pytest.mark.parametrize("external_id", ["", EXTERNAL_ID])
def test_only_the_hub_stacks_roles_may_assume_the_member_role(external_id: str) -> None:
    statement = _trust({**SAMPLE, "ExternalId": external_id})
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{HUB_ACCOUNT}:root"}
    assert statement["Action"] == "sts:AssumeRole"
    expected: dict[str, Any] = {
        "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{HUB_ACCOUNT}:role/eksops-*"}
    }
    if external_id:  # required exactly when the parameter is set
        expected["StringEquals"] = {"sts:ExternalId": external_id}
    assert statement["Condition"] == expected


def test_the_principal_condition_follows_the_hub_stack_name() -> None:
    statement = _trust({**SAMPLE, "HubStackName": "ops-eksops"})
    pattern = statement["Condition"]["ArnLike"]["aws:PrincipalArn"]
    assert pattern == f"arn:aws:iam::{HUB_ACCOUNT}:role/ops-eksops-*"


def test_the_hub_roles_that_assume_target_roles_match_the_principal_condition() -> None:
    """CloudFormation names the hub's roles <stack>-<LogicalId>-<suffix>: each that assumes
    target roles passes; other roles and other accounts' do not."""
    pattern = _trust(SAMPLE)["Condition"]["ArnLike"]["aws:PrincipalArn"]
    roles = sorted({DEPLOYED.role_of(f) for f in _target_functions()})
    assert roles, "no hub role assumes target roles (the walk is broken)"
    for role in roles:
        name = iam.physical_name(role, "AWS::IAM::Role")
        assert fnmatch.fnmatchcase(f"arn:aws:iam::{HUB_ACCOUNT}:role/{name}", pattern), role
    for other in (
        f"arn:aws:iam::{HUB_ACCOUNT}:role/other-stack-Role-X",
        f"arn:aws:iam::{iam.ACCOUNT}:role/eksops-ClusterLifecycleRole-X",
    ):
        assert not fnmatch.fnmatchcase(other, pattern), other


@pytest.mark.parametrize(
    ("parameter", "value", "accepted"),
    [
        ("HubAccountId", HUB_ACCOUNT, True),
        ("HubAccountId", "21098765432", False),
        ("HubAccountId", "arn:aws:iam::210987654321:root", False),
        ("RoleName", "eksops-member", True),
        ("RoleName", "eksops/member", False),  # no path: the role is never under /eksops/
        ("ExternalId", "", True),
        ("ExternalId", EXTERNAL_ID, True),
        ("ExternalId", "x", False),
        ("HubRegion", "", True),
        ("HubRegion", "eu-west-1", True),
        ("HubRegion", "us-gov-west-1", True),
        ("HubRegion", "eu-west", False),
    ],
)
def test_parameters_accept_what_they_should(parameter: str, value: str, accepted: bool) -> None:
    pattern = MEMBER["Parameters"][parameter]["AllowedPattern"]
    assert (re.fullmatch(pattern, value) is not None) == accepted


# --- least privilege, proven ------------------------------------------------------------------


@cache
def _target_functions() -> tuple[str, ...]:
    """The hub's functions that can act as a target role (see the module docstring)."""
    return tuple(
        f for f in FUNCTIONS if any(a == ASSUME for a, _ in iam.function_needs(DEPLOYED, f))
    )


def _target_needs(logical_id: str) -> list[tuple[str, list[str]]]:
    needs = iam.function_needs(DEPLOYED, logical_id)
    return [(action, resources) for action, resources in needs if not _hub_only(action)]


def test_the_scan_finds_the_target_calls() -> None:
    """The filter keeps calls in the target account and drops the hub's own."""
    functions = _target_functions()
    assert "CreateClusterFunction" in functions
    assert "KubeconfigFunction" in functions  # eks:DescribeCluster as the input's roleArn
    assert "RouteRebalanceSignalFunction" not in functions  # lists the hub's own clusters
    actions = {a for f in functions for a, _ in _target_needs(f)}
    assert {"eks:CreateCluster", "ec2:RevokeSecurityGroupIngress", "iam:PassRole"} <= actions
    assert not {a for a in actions if _hub_only(a)}


@pytest.mark.parametrize("parameters", [SAMPLE, EMPTY], ids=["listed-roles", "no-listed-roles"])
def test_member_role_grants_what_the_code_calls_in_a_target_account(
    parameters: dict[str, str],
) -> None:
    statements = _member(parameters).statements(MEMBER_ROLE)
    assert statements, "no statement of the member role found (the walk is broken)"
    missing = {
        f: found
        for f in _target_functions()
        if (found := iam.missing_grants(statements, _target_needs(f)))
    }
    assert not missing, f"member-account.yaml does not grant MemberRole: {missing}"


def test_member_role_grants_only_what_the_code_calls_in_a_target_account() -> None:
    needed = {a for f in _target_functions() for a, _ in _target_needs(f)}
    unneeded = sorted(
        (statement.sid, action)
        for statement in _member(SAMPLE).statements(MEMBER_ROLE)
        for action in statement.actions
        if action not in needed
    )
    assert not unneeded, f"MemberRole grants what no step calls in a target account: {unneeded}"


@pytest.mark.parametrize("parameters", [SAMPLE, EMPTY], ids=["listed-roles", "no-listed-roles"])
def test_no_wildcard_actions_or_unscoped_mutations(parameters: dict[str, str]) -> None:
    statements = _member(parameters).all_statements()
    assert statements, "no IAM statements found (the walk is broken)"
    broad = [(s.role, s.sid, action, why) for s, action, why in iam.broad_grants(statements)]
    assert not broad, f"too broad: {broad}"


def test_the_member_role_cannot_change_itself() -> None:
    """Its role-writing grants are for eksops's roles under /eksops/; RoleName has no path."""
    name = MEMBER["Parameters"]["RoleName"]["Default"]
    own = f"arn:aws:iam::{iam.ACCOUNT}:role/{name}"
    writes = sorted(
        {
            (statement.sid, action)
            for statement in _member(EMPTY).statements(MEMBER_ROLE)
            for action in statement.actions
            # passing it to a service is no change, and no service may assume it
            if action.startswith("iam:")
            and action != "iam:PassRole"
            and iam.is_mutating(action)
            and statement.allows(action, own)
        }
    )
    assert not writes, f"MemberRole may change itself: {writes}"


def _member_policy(hub_role: str) -> str:
    """member-account.yaml's policy for a hub role: <Name>Role -> <Name>Policy."""
    return hub_role.removesuffix("Role") + "Policy"


def _comparable(statement: iam.Statement) -> iam.Statement:
    return dataclasses.replace(statement, role="")


def _policy_statements(logical_id: str, parameters: dict[str, str]) -> list[iam.Statement]:
    resources = MEMBER["Resources"]
    alone = {"Resources": {MEMBER_ROLE: resources[MEMBER_ROLE], logical_id: resources[logical_id]}}
    deployed = iam.Deployment(alone, iam.Resolver(MEMBER, parameters))
    return [_comparable(s) for s in deployed.statements(MEMBER_ROLE)]


def _hub_statements(deployed: iam.Deployment, role: str) -> list[iam.Statement]:
    """The hub role's statements less the hub-only actions (a statement of only those goes)."""
    kept = []
    for statement in deployed.statements(role):
        actions = tuple(a for a in statement.actions if not _hub_only(a))
        if actions:
            kept.append(_comparable(dataclasses.replace(statement, actions=actions)))
    return kept


@pytest.mark.parametrize("parameters", [SAMPLE, EMPTY], ids=["listed-roles", "no-listed-roles"])
def test_member_policies_are_the_hub_roles_statements(parameters: dict[str, str]) -> None:
    """Same Sids, actions, resources and conditions as template.yaml's Lambda roles, with
    ${AWS::AccountId} the member account; one member policy per hub role, no other."""
    hub = (
        DEPLOYED
        if parameters is SAMPLE
        else iam.deployment({**iam.SAMPLE_PARAMETERS, **parameters})
    )
    roles = sorted({hub.role_of(f) for f in _target_functions()})
    expected = {_member_policy(r): _hub_statements(hub, r) for r in roles}
    assert set(_resources_of("AWS::IAM::ManagedPolicy")) == set(expected)
    for policy, statements in expected.items():
        attached = MEMBER["Resources"][policy]["Properties"]["Roles"]
        assert attached == [{"Ref": MEMBER_ROLE}], policy
        assert _policy_statements(policy, parameters) == statements, (
            f"{policy} is not what template.yaml grants its hub role"
        )
    # and the role has nothing besides them
    role = MEMBER["Resources"][MEMBER_ROLE]["Properties"]
    assert not {"Policies", "ManagedPolicyArns", "PermissionsBoundary"} & set(role)


# --- the forwarded signals --------------------------------------------------------------------


def _hub_signal_patterns() -> dict[str, dict[str, Any]]:
    """The hub's EventBridgeRule events on AWS services' events in the accounts eksops acts on
    (not the hub's own, such as its executions' status changes)."""
    found = {}
    for logical_id, resource in iam.sam_template()["Resources"].items():
        events = resource.get("Properties", {}).get("Events", {})
        for name, event in events.items():
            if event["Type"] != "EventBridgeRule":
                continue
            pattern = event["Properties"]["Pattern"]
            if not any(_hub_only_source(s) for s in pattern["source"]):
                found[f"{logical_id}.{name}"] = pattern
    return found


def _hub_bus(region: str) -> str:
    return f"arn:aws:events:{region}:{HUB_ACCOUNT}:event-bus/default"


def _rules(parameters: dict[str, str]) -> dict[str, dict[str, Any]]:
    resolver = iam.Resolver(MEMBER, parameters)
    return {
        rule: resolver.resolve(MEMBER["Resources"][rule]["Properties"])
        for rule in _resources_of("AWS::Events::Rule")
    }


def test_every_hub_signal_is_forwarded_with_its_pattern() -> None:
    signals = _hub_signal_patterns()
    assert len(signals) >= 6, f"the hub's signal rules were not all found: {sorted(signals)}"
    rules = _rules(SAMPLE)
    unforwarded = [
        name
        for name, pattern in signals.items()
        if [r for r, p in rules.items() if p["EventPattern"] == pattern] == []
    ]
    assert not unforwarded, f"member-account.yaml forwards no event these match: {unforwarded}"
    extra = [r for r, p in rules.items() if p["EventPattern"] not in signals.values()]
    assert not extra, f"rules forwarding what no hub rule matches: {extra}"
    assert len(rules) == len(signals), "a signal is forwarded twice (it would run twice)"


@pytest.mark.parametrize(
    ("hub_region", "bus_region"), [("", iam.REGION), ("eu-west-1", "eu-west-1")]
)
def test_rules_target_the_hub_bus_with_the_forwarding_role(
    hub_region: str, bus_region: str
) -> None:
    parameters = {**SAMPLE, "HubRegion": hub_region}
    role_arn = iam.Resolver(MEMBER, parameters).resolve({"Fn::GetAtt": [FORWARDING_ROLE, "Arn"]})
    queue_arn = iam.Resolver(MEMBER, parameters).resolve({"Fn::GetAtt": [FORWARDING_QUEUE, "Arn"]})
    rules = _rules(parameters)
    assert rules
    for rule, properties in rules.items():
        assert properties.get("EventBusName", "default") == "default", rule
        assert properties.get("State", "ENABLED") == "ENABLED", rule
        [target] = properties["Targets"]
        assert target["Arn"] == _hub_bus(bus_region), rule
        assert target["RoleArn"] == role_arn, rule
        assert target["DeadLetterConfig"] == {"Arn": queue_arn}, rule
    # the role may put events on that bus, and do nothing else
    statements = _member(parameters).statements(FORWARDING_ROLE)
    assert [(s.actions, s.resources, s.condition) for s in statements] == [
        (("events:PutEvents",), (_hub_bus(bus_region),), None)
    ]
    assert not {"ManagedPolicyArns", "PermissionsBoundary"} & set(
        MEMBER["Resources"][FORWARDING_ROLE]["Properties"]
    )


def test_only_eventbridge_assumes_the_forwarding_role() -> None:
    properties = MEMBER["Resources"][FORWARDING_ROLE]["Properties"]
    trust = iam.Resolver(MEMBER, SAMPLE).resolve(properties["AssumeRolePolicyDocument"])
    assert [(s["Principal"], s["Action"]) for s in trust["Statement"]] == [
        ({"Service": "events.amazonaws.com"}, "sts:AssumeRole")
    ]


def test_undelivered_signals_are_kept_from_every_rule_only() -> None:
    statement = MEMBER["Resources"][FORWARDING_QUEUE_POLICY]["Properties"]["PolicyDocument"]
    [statement] = statement["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(s["Fn::GetAtt"][0] for s in sources) == _resources_of("AWS::Events::Rule")


@pytest.mark.parametrize(
    ("hub_account", "hub_region", "forwards"),
    [
        (HUB_ACCOUNT, "", True),
        (HUB_ACCOUNT, iam.REGION, True),
        (iam.ACCOUNT, "", False),  # the hub's own bus: its rules see the signals already
        (iam.ACCOUNT, iam.REGION, False),
        (iam.ACCOUNT, "eu-west-1", True),  # the hub's account in another Region
    ],
)
def test_signals_are_forwarded_unless_this_is_the_hub_bus(
    hub_account: str, hub_region: str, forwards: bool
) -> None:
    parameters = {**SAMPLE, "HubAccountId": hub_account, "HubRegion": hub_region}
    assert iam.Resolver(MEMBER, parameters).condition(FORWARDS) is forwards


def test_what_forwards_signals_exists_only_where_it_forwards() -> None:
    forwarding = {
        *_resources_of("AWS::Events::Rule"),
        FORWARDING_ROLE,
        FORWARDING_QUEUE,
        FORWARDING_QUEUE_POLICY,
    }
    conditions = {k: v.get("Condition") for k, v in MEMBER["Resources"].items()}
    assert {k for k, c in conditions.items() if c == FORWARDS} == forwarding
    assert {k for k, c in conditions.items() if c == "CreatesRole"} == set(
        MEMBER["Resources"]
    ) - forwarding


@pytest.mark.parametrize(
    ("role_region", "creates"),
    [("", True), (iam.REGION, True), ("eu-west-1", False)],
)
def test_one_region_of_a_stack_set_creates_the_role(role_region: str, creates: bool) -> None:
    """IAM is global: of a StackSet's Regions, only RoleRegion's instance creates the role."""
    parameters = {**SAMPLE, "RoleRegion": role_region}
    assert iam.Resolver(MEMBER, parameters).condition("CreatesRole") is creates


# --- outputs ---------------------------------------------------------------------------------


def test_outputs_name_both_roles_and_how_to_reach_other_clusters() -> None:
    outputs = MEMBER["Outputs"]
    assert outputs["MemberRoleArn"]["Value"] == {"Fn::GetAtt": [MEMBER_ROLE, "Arn"]}
    assert outputs["ForwardingRoleArn"]["Value"] == {"Fn::GetAtt": [FORWARDING_ROLE, "Arn"]}
    assert outputs["ForwardingRoleArn"].get("Condition") == FORWARDS
    # clusters eksops did not create need an access entry for the role
    for text in (MEMBER["Description"], outputs["MemberRoleArn"]["Description"]):
        assert "AmazonEKSClusterAdminPolicy" in text
