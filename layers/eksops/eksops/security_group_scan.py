"""What a prune run reads from the account, each with the fewest calls: the security groups in
scope (one paged DescribeSecurityGroups per filter), their rules (one paged
DescribeSecurityGroupRules per 200 groups, EC2's limit of filter values) and the load balancers
that exist (one paged DescribeLoadBalancers per run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eksops.errors import InvalidInputError
from eksops.models.prune_rules import PruneInput

CLUSTER_TAG_PREFIX = "kubernetes.io/cluster/"
OPT_OUT_TAG, OPT_OUT_VALUE = "eksops/prune", "off"
FILTER_VALUES_LIMIT = 200
RULES_PAGE = 1000  # DescribeSecurityGroupRules' largest page


def _groups(ec2: Any, **kwargs: Any) -> list[dict[str, Any]]:
    pages = ec2.get_paginator("describe_security_groups").paginate(**kwargs)
    return [group for page in pages for group in page["SecurityGroups"]]


def _opted_out(group: dict[str, Any]) -> bool:
    tags = {tag["Key"]: tag["Value"] for tag in group.get("Tags", [])}
    return tags.get(OPT_OUT_TAG) == OPT_OUT_VALUE


def _cluster_group(group: dict[str, Any]) -> bool:
    return any(tag["Key"].startswith(CLUSTER_TAG_PREFIX) for tag in group.get("Tags", []))


@dataclass(frozen=True)
class Scope:
    """The security groups a run looks at."""

    group_ids: list[str]
    """In scope, opted-out ones left out."""
    opted_out: list[str]
    """Tagged eksops/prune=off: never read for rules, never changed."""
    missing: list[str] = field(default_factory=list)
    """Listed groups that no longer exist (runs an event started only: others fail)."""


def groups_in_scope(ec2: Any, request: PruneInput, *, clusters_only: bool = False) -> Scope:
    """The groups to look at, and those left alone because they opt out (tag
    ``eksops/prune=off``). Scope: the cluster's groups (tagged kubernetes.io/cluster/<name>,
    owned or shared) and the listed ones; neither given: every cluster's groups.

    ``clusters_only`` (runs an event started) drops listed groups of no cluster, and listed
    groups deleted since the event (reported as missing); otherwise a missing listed group is
    InvalidInput."""
    found: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    if request.cluster_name:
        key = f"{CLUSTER_TAG_PREFIX}{request.cluster_name}"
        found |= {
            g["GroupId"]: g for g in _groups(ec2, Filters=[{"Name": "tag-key", "Values": [key]}])
        }
    if request.group_ids:
        if clusters_only:
            # a filter, unlike GroupIds, answers the groups that exist and ignores the others
            listed = _groups(ec2, Filters=[{"Name": "group-id", "Values": request.group_ids}])
            missing = sorted(set(request.group_ids) - {g["GroupId"] for g in listed})
        else:
            try:
                listed = _groups(ec2, GroupIds=list(request.group_ids))
            except ec2.exceptions.ClientError as exc:
                if exc.response["Error"]["Code"].startswith("InvalidGroup"):
                    message = exc.response["Error"]["Message"]
                    raise InvalidInputError(f"groupIds: {message}") from None
                raise
        found |= {g["GroupId"]: g for g in listed if _cluster_group(g) or not clusters_only}
    if not request.cluster_name and not request.group_ids:
        tagged = _groups(ec2, Filters=[{"Name": "tag-key", "Values": [f"{CLUSTER_TAG_PREFIX}*"]}])
        found |= {g["GroupId"]: g for g in tagged}
    kept = sorted(group_id for group_id, group in found.items() if not _opted_out(group))
    skipped = sorted(group_id for group_id, group in found.items() if _opted_out(group))
    return Scope(kept, skipped, missing)


def rules_of(ec2: Any, group_ids: list[str]) -> list[dict[str, Any]]:
    """Every rule of the groups, as DescribeSecurityGroupRules returns them (tags included)."""
    paginator = ec2.get_paginator("describe_security_group_rules")
    rules = []
    for start in range(0, len(group_ids), FILTER_VALUES_LIMIT):
        chunk = group_ids[start : start + FILTER_VALUES_LIMIT]
        pages = paginator.paginate(
            Filters=[{"Name": "group-id", "Values": chunk}], MaxResults=RULES_PAGE
        )
        rules += [rule for page in pages for rule in page["SecurityGroupRules"]]
    return rules


def existing_rule_ids(ec2: Any, group_id: str, rule_ids: list[str]) -> set[str]:
    """Which of ``rule_ids`` the group still has (none once the group is deleted)."""
    present = {rule["SecurityGroupRuleId"] for rule in rules_of(ec2, [group_id])}
    return present & set(rule_ids)


def load_balancer_names(elbv2: Any) -> set[str]:
    """The names of the region's load balancers (a rule's ``=<lbName>`` is one of these while
    its load balancer exists)."""
    pages = elbv2.get_paginator("describe_load_balancers").paginate(
        PaginationConfig={"PageSize": 400}
    )
    return {lb["LoadBalancerName"] for page in pages for lb in page["LoadBalancers"]}
