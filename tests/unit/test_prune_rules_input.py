"""The remediation workflows' inputs: PruneSecurityGroupRules's and RestoreSecurityGroupRules's
contract fields, every invalid input a named error naming the field, and the prune input each
EventBridge event that starts a prune stands for (CloudTrail AuthorizeSecurityGroupIngress and
DeleteLoadBalancer, a schedule); any other event is a named error saying which it was."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from eksops.errors import InvalidInputError
from eksops.models.base import parse_event
from eksops.models.prune_rules import PruneInput, RestoreInput, prune_input_from_event

ACCOUNT = "123456789012"
GROUP = "sg-0a1b2c3d4e5f60718"
OTHER_GROUP = "sg-0f1e2d3c4b5a69788"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/eksops-target"
PRUNE_EXECUTION = (
    f"arn:aws:states:eu-west-1:{ACCOUNT}:execution:"
    "eksops-PruneSecurityGroupRulesStateMachine-AbC123dEf456:0f6c7d1e-2b3a-4c5d-9e8f-1a2b3c4d5e6f"
)
RULE_A, RULE_B = "sgr-0a1b2c3d4e5f60718", "sgr-01234567"
LB = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
FULL_PRUNE: dict[str, Any] = {
    "clusterName": "prod-eu",
    "groupIds": [GROUP, OTHER_GROUP],
    "mode": "enforce",
    "maxRulesPerGroup": 20,
    "maxRulesPerRun": 100,
    "region": "eu-west-1",
    "targetRoleArn": ROLE,
    "externalId": "ops-7f3a",
}


def rejected(model: type[PruneInput | RestoreInput], event: Any) -> str:
    """The InvalidInput message for ``event``."""
    with pytest.raises(InvalidInputError) as caught:
        parse_event(model, event)
    return str(caught.value)


# --- PruneInput ----------------------------------------------------------------------------------


def test_empty_prune_input_means_every_cluster_group_in_the_stacks_mode() -> None:
    parsed = parse_event(PruneInput, {})
    assert parsed.model_dump() == {
        "cluster_name": None,
        "group_ids": None,
        "mode": None,
        "max_rules_per_group": None,
        "max_rules_per_run": None,
        "region": None,
        "target_role_arn": None,
        "external_id": None,
    }


def test_every_contract_field_of_prune_input() -> None:
    parsed = parse_event(PruneInput, FULL_PRUNE)
    assert parsed.cluster_name == "prod-eu"
    assert parsed.group_ids == [GROUP, OTHER_GROUP]
    assert parsed.mode == "enforce"
    assert (parsed.max_rules_per_group, parsed.max_rules_per_run) == (20, 100)
    assert (parsed.region, parsed.target_role_arn) == ("eu-west-1", ROLE)
    assert parsed.model_dump(by_alias=True, exclude_none=True) == FULL_PRUNE


@pytest.mark.parametrize("mode", ["dry-run", "enforce"])
def test_both_modes(mode: str) -> None:
    assert parse_event(PruneInput, {"mode": mode}).mode == mode


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mode": "apply"}, "mode"),
        ({"mode": "DRY-RUN"}, "mode"),
        ({"clusterName": "-prod"}, "clusterName"),
        ({"clusterName": "prod eu"}, "clusterName"),
        ({"groupIds": []}, "groupIds"),
        ({"groupIds": "sg-0a1b2c3d4e5f60718"}, "groupIds"),
        ({"groupIds": ["sg-0A1B2C3D"]}, "groupIds.0"),
        ({"groupIds": [GROUP, "sg-123"]}, "groupIds.1"),
        ({"groupIds": [GROUP, "sgr-0a1b2c3d4e5f60718"]}, "groupIds.1"),
        ({"groupIds": [f"sg-{i:08x}" for i in range(201)]}, "groupIds"),
        ({"maxRulesPerGroup": 0}, "maxRulesPerGroup"),
        ({"maxRulesPerGroup": "5"}, "maxRulesPerGroup"),
        ({"maxRulesPerRun": -1}, "maxRulesPerRun"),
        ({"maxRulesPerRun": 2.5}, "maxRulesPerRun"),
        ({"region": "Europe"}, "region"),
        ({"targetRoleArn": "arn:aws:iam::123:role/x"}, "targetRoleArn"),
    ],
)
def test_invalid_prune_fields_are_named(changes: dict[str, Any], field: str) -> None:
    message = rejected(PruneInput, {**FULL_PRUNE, **changes})
    assert message.startswith("invalid PruneInput input: ")
    assert f"{field}: " in message


def test_two_hundred_groups_are_the_most() -> None:
    groups = [f"sg-{i:08x}" for i in range(200)]
    assert parse_event(PruneInput, {"groupIds": groups}).group_ids == groups


def test_a_group_listed_twice_is_an_error_naming_it() -> None:
    message = rejected(PruneInput, {"groupIds": [GROUP, OTHER_GROUP, GROUP]})
    assert f"groupIds lists {GROUP} more than once" in message


@pytest.mark.parametrize("field", ["groupId", "dryRun", "cluster_name", "maxRules"])
def test_an_unknown_field_is_an_error_naming_it(field: str) -> None:
    message = rejected(PruneInput, {"clusterName": "prod-eu", field: "x"})
    assert f"{field}: Extra inputs are not permitted" in message


def test_the_schema_documents_every_field() -> None:
    for model in (PruneInput, RestoreInput):
        properties = model.model_json_schema(by_alias=True)["properties"]
        assert all(properties[name].get("description") for name in properties), model
    assert set(PruneInput.model_json_schema(by_alias=True)["properties"]) == set(FULL_PRUNE)


def test_the_schema_gives_the_stack_s_limits_as_the_default() -> None:
    """StartPrune fills in PruneMaxRulesPerGroup/PruneMaxRulesPerRun for every run that sets no
    limit, direct or event-started: no run is unlimited, and the schema says so."""
    properties = PruneInput.model_json_schema(by_alias=True)["properties"]
    for field, parameter in (
        ("maxRulesPerGroup", "PruneMaxRulesPerGroup"),
        ("maxRulesPerRun", "PruneMaxRulesPerRun"),
    ):
        description = properties[field]["description"]
        assert parameter in description, field
        assert "no limit" not in description, field


# --- RestoreInput --------------------------------------------------------------------------------


def test_restore_by_prune_execution() -> None:
    parsed = parse_event(RestoreInput, {"pruneExecutionArn": PRUNE_EXECUTION})
    assert (parsed.prune_execution_arn, parsed.rule_ids) == (PRUNE_EXECUTION, None)


def test_restore_by_rule_ids_cross_account() -> None:
    event = {"ruleIds": [RULE_A, RULE_B], "region": "eu-west-1", "targetRoleArn": ROLE}
    parsed = parse_event(RestoreInput, event)
    assert parsed.rule_ids == [RULE_A, RULE_B]
    assert parsed.prune_execution_arn is None
    assert (parsed.region, parsed.target_role_arn) == ("eu-west-1", ROLE)


@pytest.mark.parametrize(
    "event",
    [{}, {"region": "eu-west-1"}, {"pruneExecutionArn": PRUNE_EXECUTION, "ruleIds": [RULE_A]}],
    ids=["neither", "neither-with-region", "both"],
)
def test_restore_needs_exactly_one_selection(event: dict[str, Any]) -> None:
    message = rejected(RestoreInput, event)
    assert "give exactly one of pruneExecutionArn and ruleIds" in message


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"ruleIds": []}, "ruleIds"),
        ({"ruleIds": [RULE_A, "sgr-0123"]}, "ruleIds.1"),
        ({"ruleIds": ["sg-0a1b2c3d4e5f60718"]}, "ruleIds.0"),
        ({"ruleIds": [f"sgr-{i:08x}" for i in range(1001)]}, "ruleIds"),
        ({"pruneExecutionArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:x"}, "prune"),
        ({"pruneExecutionArn": PRUNE_EXECUTION + " "}, "pruneExecutionArn"),
        ({"pruneExecutionArn": PRUNE_EXECUTION.replace(":execution:", ":mapRun:")}, "prune"),
        ({"pruneExecutionArn": PRUNE_EXECUTION.replace(":states:", ":lambda:")}, "prune"),
        ({"pruneExecutionArn": PRUNE_EXECUTION.replace(ACCOUNT, "12345")}, "prune"),
        ({"ruleIds": [RULE_A], "ruleId": RULE_A}, "ruleId"),
    ],
)
def test_invalid_restore_fields_are_named(event: dict[str, Any], field: str) -> None:
    message = rejected(RestoreInput, event)
    assert message.startswith("invalid RestoreInput input: ")
    assert (f"{field}: " if field != "prune" else "pruneExecutionArn: ") in message


def test_a_thousand_rule_ids_are_the_most_and_each_once() -> None:
    rules = [f"sgr-{i:08x}" for i in range(1000)]
    assert parse_event(RestoreInput, {"ruleIds": rules}).rule_ids == rules
    message = rejected(RestoreInput, {"ruleIds": [RULE_A, RULE_B, RULE_A, RULE_B]})
    assert f"ruleIds lists {RULE_B}, {RULE_A} more than once" in message, "sorted"


@pytest.mark.parametrize(
    "arn",
    [
        PRUNE_EXECUTION,
        f"arn:aws:states:us-east-1:{ACCOUNT}:execution:Prune:manual-run.2024-05-01",
        f"arn:aws-cn:states:cn-north-1:{ACCOUNT}:execution:Prune:1",
        f"arn:aws-us-gov:states:us-gov-west-1:{ACCOUNT}:execution:Prune:1",
    ],
)
def test_prune_execution_arns_of_every_partition(arn: str) -> None:
    assert parse_event(RestoreInput, {"pruneExecutionArn": arn}).prune_execution_arn == arn


# --- events --------------------------------------------------------------------------------------


def cloudtrail_authorize(*items: dict[str, Any]) -> dict[str, Any]:
    """CloudTrail's record of the NLB controller calling AuthorizeSecurityGroupIngress, as
    EventBridge delivers it."""
    return {
        "version": "0",
        "id": "6f2c1a3b-8d4e-4f5a-9b6c-7d8e9f0a1b2c",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": ACCOUNT,
        "time": "2024-05-01T12:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLEID:1714564800000000000",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/eks-cluster-role/1714564800000000000",
                "accountId": ACCOUNT,
                "invokedBy": "eks.amazonaws.com",
            },
            "eventTime": "2024-05-01T12:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "AuthorizeSecurityGroupIngress",
            "awsRegion": "eu-west-1",
            "sourceIPAddress": "eks.amazonaws.com",
            "userAgent": "eks.amazonaws.com",
            "requestParameters": {
                "groupId": GROUP,
                "ipPermissions": {
                    "items": [
                        {
                            "ipProtocol": "tcp",
                            "fromPort": 31080,
                            "toPort": 31080,
                            "groups": {},
                            "ipRanges": {
                                "items": [
                                    {
                                        "cidrIp": "10.20.0.0/16",
                                        "description": f"kubernetes.io/rule/nlb/client={LB}",
                                    }
                                ]
                            },
                            "ipv6Ranges": {},
                            "prefixListIds": {},
                        }
                    ]
                },
            },
            "responseElements": {
                "requestId": "0c3b9d0e-7a1f-4b2c-8d3e-4f5a6b7c8d9e",
                "_return": True,
                "securityGroupRuleSet": {"items": list(items)},
            },
            "requestID": "0c3b9d0e-7a1f-4b2c-8d3e-4f5a6b7c8d9e",
            "eventID": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": ACCOUNT,
            "eventCategory": "Management",
        },
    }


def created_rule(group: str, rule_id: str, port: int = 31080) -> dict[str, Any]:
    return {
        "groupOwnerId": ACCOUNT,
        "groupId": group,
        "securityGroupRuleId": rule_id,
        "isEgress": False,
        "ipProtocol": "tcp",
        "fromPort": port,
        "toPort": port,
        "cidrIpv4": "10.20.0.0/16",
        "description": f"kubernetes.io/rule/nlb/client={LB}",
    }


def delete_load_balancer() -> dict[str, Any]:
    arn = f"arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT}:loadbalancer/net/{LB}/50dc6c495c0c9188"
    return {
        "version": "0",
        "id": "1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.elasticloadbalancing",
        "account": ACCOUNT,
        "time": "2024-05-01T13:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "eventTime": "2024-05-01T13:00:00Z",
            "eventSource": "elasticloadbalancing.amazonaws.com",
            "eventName": "DeleteLoadBalancer",
            "awsRegion": "eu-west-1",
            "requestParameters": {"loadBalancerArn": arn},
            "responseElements": None,
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT,
        },
    }


def scheduled() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2024-05-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": [f"arn:aws:events:eu-west-1:{ACCOUNT}:rule/eksops-PruneSchedule-1A2B3C"],
        "detail": {},
    }


def test_a_direct_input_is_validated_as_the_contract() -> None:
    request, trigger = prune_input_from_event(FULL_PRUNE)
    assert request == parse_event(PruneInput, FULL_PRUNE)
    assert trigger == {"kind": "direct", "eventId": None}


def test_a_direct_input_with_an_unknown_field_is_a_named_error() -> None:
    with pytest.raises(InvalidInputError, match="dryRun: Extra inputs are not permitted"):
        prune_input_from_event({"clusterName": "prod-eu", "dryRun": True})


def test_a_direct_input_that_is_no_object_is_a_named_error() -> None:
    with pytest.raises(InvalidInputError, match="invalid PruneInput input"):
        prune_input_from_event(["sg-0a1b2c3d4e5f60718"])


def test_authorize_event_prunes_the_groups_it_changed_once_each_in_order() -> None:
    event = cloudtrail_authorize(
        created_rule(OTHER_GROUP, "sgr-0aaaaaaaaaaaaaaa1"),
        created_rule(GROUP, "sgr-0aaaaaaaaaaaaaaa2"),
        created_rule(OTHER_GROUP, "sgr-0aaaaaaaaaaaaaaa3", port=31081),
    )
    request, trigger = prune_input_from_event(event)
    assert request.group_ids == [OTHER_GROUP, GROUP]
    assert trigger == {"kind": "cloudtrail", "eventId": "6f2c1a3b-8d4e-4f5a-9b6c-7d8e9f0a1b2c"}
    assert request.region == "eu-west-1"
    assert request.cluster_name is None
    assert request.mode is None, "the stack's default mode"
    assert (request.max_rules_per_group, request.max_rules_per_run) == (None, None)
    assert request.target_role_arn is None


def test_a_failed_authorize_call_prunes_the_group_it_asked_for() -> None:
    # over the rules quota: CloudTrail records the error and no response
    event = cloudtrail_authorize()
    event["detail"]["errorCode"] = "Client.RulesPerSecurityGroupLimitExceeded"
    event["detail"]["errorMessage"] = (
        "The maximum number of rules per security group has been reached."
    )
    event["detail"]["responseElements"] = None
    request, trigger = prune_input_from_event(event)
    assert request.group_ids == [GROUP]
    assert trigger["kind"] == "cloudtrail"


def test_an_authorize_event_with_no_created_rules_falls_back_to_the_request() -> None:
    request, _ = prune_input_from_event(cloudtrail_authorize())
    assert request.group_ids == [GROUP]


def test_an_authorize_event_naming_no_group_id_is_a_named_error() -> None:
    event = cloudtrail_authorize()
    event["detail"]["requestParameters"] = {"groupName": "default", "ipPermissions": {}}
    event["detail"]["responseElements"] = None
    with pytest.raises(InvalidInputError, match="names no security group ID"):
        prune_input_from_event(event)


def test_an_authorize_event_with_a_malformed_group_id_is_a_named_error() -> None:
    event = cloudtrail_authorize(created_rule("sg-XYZ", "sgr-0aaaaaaaaaaaaaaa1"))
    with pytest.raises(InvalidInputError, match=r"groupIds\.0: "):
        prune_input_from_event(event)


def test_a_deleted_load_balancer_prunes_every_cluster_group_of_the_region() -> None:
    request, trigger = prune_input_from_event(delete_load_balancer())
    assert trigger == {
        "kind": "load-balancer-deleted",
        "eventId": "1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a",
    }
    assert (request.cluster_name, request.group_ids) == (None, None)
    assert request.region == "eu-west-1"
    assert (request.mode, request.max_rules_per_group, request.max_rules_per_run) == (
        None,
        None,
        None,
    )


def test_a_schedule_prunes_every_cluster_group_of_the_region() -> None:
    request, trigger = prune_input_from_event(scheduled())
    assert trigger == {"kind": "schedule", "eventId": "89d1a02d-5ec7-412e-82f5-13505f849b41"}
    assert request == PruneInput(region="eu-west-1")


def test_an_event_without_id_or_region_still_parses() -> None:
    event = {k: v for k, v in scheduled().items() if k not in ("id", "region")}
    request, trigger = prune_input_from_event(event)
    assert trigger == {"kind": "schedule", "eventId": None}
    assert request == PruneInput()


def _changed(event: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    event = copy.deepcopy(event)
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (
            _changed(cloudtrail_authorize(), ("detail", "eventName"), "RevokeSecurityGroupIngress"),
            "AWS API Call via CloudTrail RevokeSecurityGroupIngress from aws.ec2",
        ),
        (
            _changed(delete_load_balancer(), ("detail", "eventName"), "CreateLoadBalancer"),
            "CreateLoadBalancer from aws.elasticloadbalancing",
        ),
        (
            _changed(cloudtrail_authorize(), ("source",), "aws.elasticloadbalancing"),
            "AuthorizeSecurityGroupIngress from aws.elasticloadbalancing",
        ),
        (
            _changed(scheduled(), ("source",), "aws.ec2"),
            "Scheduled Event from aws.ec2",
        ),
        (
            {
                **scheduled(),
                "detail-type": "EC2 Instance State-change Notification",
                "source": "aws.ec2",
                "detail": {"instance-id": "i-0123456789abcdef0", "state": "terminated"},
            },
            "EC2 Instance State-change Notification from aws.ec2",
        ),
        (
            _changed(cloudtrail_authorize(), ("detail-type",), "AWS Service Event via CloudTrail"),
            "AWS Service Event via CloudTrail AuthorizeSecurityGroupIngress from aws.ec2",
        ),
    ],
    ids=["revoke", "create-lb", "wrong-source", "schedule-wrong-source", "ec2-state", "service"],
)
def test_any_other_event_is_a_named_error_saying_which(event: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        prune_input_from_event(event)
    assert named in str(caught.value)
    assert event["id"] in str(caught.value)
