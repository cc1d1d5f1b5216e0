"""Inputs of PruneSecurityGroupRulesStateMachine and RestoreSecurityGroupRulesStateMachine
(contract field names), and the prune input an EventBridge event stands for."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from eksops.errors import InvalidInputError
from eksops.fleet import member_target
from eksops.models.base import TargetAccountInput, parse_event, shortened
from eksops.models.fields import CLUSTER_NAME_PATTERN, REGION_PATTERN

GROUP_ID_PATTERN = r"^sg-[0-9a-f]{8,17}$"
RULE_ID_PATTERN = r"^sgr-[0-9a-f]{8,17}$"
# A Standard workflow's execution; Step Functions names are 1-80 characters without
# whitespace, brackets, wildcards or " # % \ ^ | ~ ` $ & , ; : /
_SFN_NAME = r"[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/]{1,80}"
EXECUTION_ARN_PATTERN = (
    rf"^arn:aws[a-z-]*:states:[a-z]{{2}}(-[a-z]+)+-\d:\d{{12}}:execution:{_SFN_NAME}:{_SFN_NAME}$"
)
MAX_GROUP_IDS = 200  # EC2's limit of values in one DescribeSecurityGroupRules filter
MAX_RULE_IDS = 1000

PruneMode = Literal["dry-run", "enforce"]

CLOUDTRAIL = "AWS API Call via CloudTrail"
SCHEDULED = "Scheduled Event"


def _unique(values: list[str] | None, field: str) -> list[str] | None:
    if values is not None:
        twice = sorted(value for value, count in Counter(values).items() if count > 1)
        if twice:
            raise ValueError(f"{field} lists {', '.join(twice)} more than once")
    return values


class PruneInput(TargetAccountInput):
    """Which security groups to prune. Neither clusterName nor groupIds: every group tagged
    kubernetes.io/cluster/* in the region."""

    cluster_name: Annotated[str, Field(pattern=CLUSTER_NAME_PATTERN)] | None = None
    """The security groups of this EKS cluster (tagged kubernetes.io/cluster/<clusterName>,
    owned or shared); with groupIds, those as well."""
    group_ids: (
        Annotated[
            list[Annotated[str, Field(pattern=GROUP_ID_PATTERN)]],
            Field(min_length=1, max_length=MAX_GROUP_IDS),
        ]
        | None
    ) = None
    """These security groups (1-200, each once); with clusterName, the cluster's as well."""
    mode: PruneMode | None = None
    """dry-run: report the stale rules, change nothing; enforce: record each stale rule in the
    ledger, then revoke it. Default: the stack's default mode."""
    max_rules_per_group: Annotated[int, Field(ge=1)] | None = None
    """Blast radius: when any group has more stale rules than this, nothing is revoked
    (eksops.BlastRadiusExceeded, with the plan). Default: the stack's PruneMaxRulesPerGroup
    (60 unless set at deploy), for direct and event-started runs alike."""
    max_rules_per_run: Annotated[int, Field(ge=1)] | None = None
    """Blast radius: when all groups together have more stale rules than this, nothing is
    revoked (eksops.BlastRadiusExceeded, with the plan). Default: the stack's
    PruneMaxRulesPerRun (1000 unless set at deploy), for direct and event-started runs alike."""
    region: Annotated[str, Field(pattern=REGION_PATTERN)] | None = None
    """Region of the security groups (default: the region eksops runs in)."""

    @field_validator("group_ids")
    @classmethod
    def _distinct_groups(cls, group_ids: list[str] | None) -> list[str] | None:
        return _unique(group_ids, "groupIds")


class RestoreInput(TargetAccountInput):
    """Which pruned rules to put back: those of one prune execution, or the listed ones."""

    prune_execution_arn: Annotated[str, Field(pattern=EXECUTION_ARN_PATTERN)] | None = None
    """Restore every rule this PruneSecurityGroupRules execution revoked (give this or
    ruleIds)."""
    rule_ids: (
        Annotated[
            list[Annotated[str, Field(pattern=RULE_ID_PATTERN)]],
            Field(min_length=1, max_length=MAX_RULE_IDS),
        ]
        | None
    ) = None
    """Restore these revoked rules (their IDs before pruning; 1-1000, each once; give this or
    pruneExecutionArn)."""
    region: Annotated[str, Field(pattern=REGION_PATTERN)] | None = None
    """Region of the security groups (default: the region eksops runs in)."""

    @field_validator("rule_ids")
    @classmethod
    def _distinct_rules(cls, rule_ids: list[str] | None) -> list[str] | None:
        return _unique(rule_ids, "ruleIds")

    @model_validator(mode="after")
    def _one_selection(self) -> RestoreInput:
        if (self.prune_execution_arn is None) == (self.rule_ids is None):
            raise ValueError("give exactly one of pruneExecutionArn and ruleIds")
        return self


def _dig(value: Any, *path: str) -> Any:
    """``value[path[0]][path[1]]...``, or None where a step is missing or no object."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _authorized_groups(detail: dict[str, Any]) -> list[str]:
    """The groups an AuthorizeSecurityGroupIngress call changed: from the rules it created, or
    (a failed call, such as one over the rules quota, has no response) from its request."""
    items = _dig(detail, "responseElements", "securityGroupRuleSet", "items")
    found = [item.get("groupId") for item in items or [] if isinstance(item, dict)]
    groups = list(dict.fromkeys(group for group in found if group))
    if not groups and _dig(detail, "requestParameters", "groupId"):
        groups = [_dig(detail, "requestParameters", "groupId")]
    return groups


def prune_input_from_event(
    event: Any, environ: Mapping[str, str] = os.environ
) -> tuple[PruneInput, dict[str, Any]]:
    """The prune input an execution's input stands for, and what triggered it.

    A PruneInput (the contract) is validated as is. An EventBridge event (it has detail-type and
    source) stands for: CloudTrail AuthorizeSecurityGroupIngress (aws.ec2) -> the groups it
    changed; CloudTrail DeleteLoadBalancer (aws.elasticloadbalancing) or a schedule
    (aws.events) -> every cluster group of the event's region. Event inputs set no mode and no
    limits: StartPrune fills in the stack's default mode and blast radius for them, as for any
    input that sets none. An event a member account forwarded acts there, through the stack's
    member role. The trigger: {"kind": direct | cloudtrail | load-balancer-deleted |
    schedule, "eventId": the event's id, or None}.
    """
    if not (isinstance(event, dict) and "detail-type" in event and "source" in event):
        return parse_event(PruneInput, event), {"kind": "direct", "eventId": None}
    event_id = event.get("id") if isinstance(event.get("id"), str) else None
    detail_type, source = event["detail-type"], event["source"]
    event_name = _dig(event, "detail", "eventName")
    fields: dict[str, Any] = dict(member_target(event, environ))
    if isinstance(event.get("region"), str):
        fields["region"] = event["region"]
    if detail_type == CLOUDTRAIL and (source, event_name) == (
        "aws.ec2",
        "AuthorizeSecurityGroupIngress",
    ):
        groups = _authorized_groups(event["detail"])
        if not groups:
            raise InvalidInputError(
                f"AuthorizeSecurityGroupIngress event {event_id} names no security group ID "
                "(a group given by name only); start a prune with groupIds instead"
            )
        kind, fields["groupIds"] = "cloudtrail", groups
    elif detail_type == CLOUDTRAIL and (source, event_name) == (
        "aws.elasticloadbalancing",
        "DeleteLoadBalancer",
    ):
        kind = "load-balancer-deleted"
    elif detail_type == SCHEDULED and source == "aws.events":
        kind = "schedule"
    else:
        call = f" {shortened(event_name)}" if isinstance(event_name, str) else ""
        raise InvalidInputError(
            f"PruneSecurityGroupRules does not act on the event {event_id} "
            f"({shortened(detail_type)}{call} from {shortened(source)}); it acts on CloudTrail "
            "AuthorizeSecurityGroupIngress (aws.ec2) and DeleteLoadBalancer "
            "(aws.elasticloadbalancing), scheduled events, and PruneSecurityGroupRules inputs"
        )
    return parse_event(PruneInput, fields), {"kind": kind, "eventId": event_id}
