"""Which security-group rules are provably stale, and how to put one back: pure decisions over
rules as EC2's DescribeSecurityGroupRules returns them (no AWS calls here).

The in-tree Kubernetes service controller (cloud-provider-aws) opens the node security groups for
every NLB Service and leaves the rules behind when the load balancer goes. It describes them:

- ``kubernetes.io/rule/nlb/health=<lbName>``: health checks of one load balancer;
- ``kubernetes.io/rule/nlb/client=<lbName>``: client traffic of one load balancer;
- ``kubernetes.io/rule/nlb/mtu``: ICMP "fragmentation needed", one per client CIDR, shared by
  every NLB with clients in it (older controllers wrote ``kubernetes.io/rule/nlb/mtu=<lbName>``).

A rule of a load balancer that no longer exists is stale; a shared MTU rule is stale once no
remaining client rule of its group uses its CIDR. Every other rule (manual ones, egress, any
description not exactly one of these) is left alone.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, cast

NLB_RULE_PREFIX = "kubernetes.io/rule/nlb/"
INBOUND_RULE_QUOTA = 60  # EC2's default "inbound rules per security group"

RuleKind = Literal["health", "client", "mtu"]
# An ELBv2 name: 1-32 alphanumerics and hyphens, neither first nor last a hyphen
_LB_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?"
_DESCRIPTION = re.compile(
    re.escape(NLB_RULE_PREFIX) + rf"(?:(?P<kind>health|client|mtu)=(?P<lb>{_LB_NAME})|mtu)"
)
# protocol numbers EC2 reports by name
_PROTOCOL_NAMES = {"1": "icmp", "6": "tcp", "17": "udp", "58": "icmpv6"}


@dataclass(frozen=True)
class NlbRuleLabel:
    """What a rule's description says about it: its kind, and its load balancer (None: a shared
    MTU rule)."""

    kind: RuleKind
    load_balancer: str | None


def parse_description(description: str | None) -> NlbRuleLabel | None:
    """The label of a description in exactly one of the controller's formats; None for anything
    else (other text, surrounding whitespace, an empty or impossible load balancer name)."""
    if description is None:
        return None
    match = _DESCRIPTION.fullmatch(description)
    if match is None:
        return None
    if match["kind"] is None:
        return NlbRuleLabel("mtu", None)
    return NlbRuleLabel(cast(RuleKind, match["kind"]), match["lb"])  # the pattern's kinds


@dataclass(frozen=True)
class StaleRule:
    """A rule to revoke, as DescribeSecurityGroupRules returned it, and why."""

    rule: dict[str, Any]
    reason: str

    def result(self) -> dict[str, Any]:
        return {
            "ruleId": self.rule["SecurityGroupRuleId"],
            "groupId": self.rule["GroupId"],
            "description": self.rule.get("Description"),
            "reason": self.reason,
        }


def _ingress(rule: dict[str, Any]) -> bool:
    return rule.get("IsEgress") is False


def _network(value: str) -> str:
    """A CIDR in one spelling, so that equal blocks compare equal."""
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        return value


def _cidr(rule: dict[str, Any]) -> str | None:
    value = rule.get("CidrIpv4") or rule.get("CidrIpv6")
    return _network(value) if value else None


def stale_rules(
    rules: list[dict[str, Any]],
    live_load_balancers: set[str],
    *,
    keep: Collection[str] = frozenset(),
) -> list[StaleRule]:
    """The provably stale ingress rules among ``rules`` (a security group's), in input order.

    ``live_load_balancers``: the names of the region's load balancers (ELBv2); compared without
    regard to case, so a difference in case keeps a rule rather than losing it. ``keep``: IDs of
    rules never to prune (say, rules an operator restored); a kept client rule keeps its shared
    MTU rule too. Shared MTU rules are matched against the client rules of their own group, also
    when ``rules`` spans groups.
    """
    live = {name.casefold() for name in live_load_balancers}
    labelled = [
        (rule, label)
        for rule in rules
        if _ingress(rule) and (label := parse_description(rule.get("Description"))) is not None
    ]
    stale: dict[int, StaleRule] = {}
    client_cidrs: set[tuple[str, str]] = set()  # (group, CIDR) of the remaining client rules
    for index, (rule, label) in enumerate(labelled):
        kept = rule.get("SecurityGroupRuleId") in keep
        if (
            label.load_balancer is not None
            and not kept
            and label.load_balancer.casefold() not in live
        ):
            kind = "MTU" if label.kind == "mtu" else label.kind
            stale[index] = StaleRule(
                rule, f"{kind} rule of load balancer {label.load_balancer}, which no longer exists"
            )
        elif label.kind == "client" and (cidr := _cidr(rule)) is not None:
            client_cidrs.add((rule["GroupId"], cidr))
    for index, (rule, label) in enumerate(labelled):
        if label.kind != "mtu" or label.load_balancer is not None:
            continue
        cidr = _cidr(rule)
        # an MTU rule without a CIDR is none the controller wrote: left alone
        if (
            cidr is not None
            and (rule["GroupId"], cidr) not in client_cidrs
            and rule.get("SecurityGroupRuleId") not in keep
        ):
            stale[index] = StaleRule(
                rule, f"MTU rule for {cidr}, which no remaining client rule uses"
            )
    return [stale[index] for index in sorted(stale)]


@dataclass(frozen=True)
class GroupPlan:
    """One security group: how many inbound rules it has, and which of them are stale."""

    group_id: str
    inbound_rules: int
    stale: list[StaleRule]


def plan_groups(
    rules: list[dict[str, Any]],
    live_load_balancers: set[str],
    *,
    keep: Collection[str] = frozenset(),
) -> list[GroupPlan]:
    """A plan per security group of ``rules`` (by group ID; ``keep`` as for stale_rules).
    Inbound rules are counted one per entry, as DescribeSecurityGroupRules lists them (a rule
    with two CIDRs is two entries)."""
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rule in rules:
        by_group[rule["GroupId"]].append(rule)
    return [
        GroupPlan(
            group_id,
            sum(_ingress(rule) for rule in by_group[group_id]),
            stale_rules(by_group[group_id], live_load_balancers, keep=keep),
        )
        for group_id in sorted(by_group)
    ]


def pressure(
    plans: Iterable[GroupPlan], quota: int = INBOUND_RULE_QUOTA, threshold: float = 0.8
) -> list[dict[str, Any]]:
    """The groups with at least ``threshold`` of their inbound quota used (a report: nothing is
    deleted for it beyond the stale rules), with what pruning would leave."""
    if quota < 1 or not 0 < threshold <= 1:
        raise ValueError("pressure needs quota >= 1 and 0 < threshold <= 1")
    limit = Fraction(str(threshold)) * quota  # 0.7 * 60 is 42, not 41.99...
    return [
        {
            "groupId": plan.group_id,
            "inboundRules": plan.inbound_rules,
            "quota": quota,
            "staleRules": len(plan.stale),
            "afterPrune": plan.inbound_rules - len(plan.stale),
        }
        for plan in plans
        if plan.inbound_rules >= limit
    ]


def check_blast_radius(
    plans: Iterable[GroupPlan], max_per_group: int | None, max_per_run: int | None
) -> list[str]:
    """What exceeds the limits (None: no limit), counted in stale rules; empty when within."""
    plans = list(plans)
    violations = []
    if max_per_group is not None:
        violations += [
            f"{plan.group_id}: {len(plan.stale)} stale rules, more than maxRulesPerGroup "
            f"{max_per_group}"
            for plan in plans
            if len(plan.stale) > max_per_group
        ]
    total = sum(len(plan.stale) for plan in plans)
    if max_per_run is not None and total > max_per_run:
        violations.append(f"{total} stale rules in all, more than maxRulesPerRun {max_per_run}")
    return violations


BLAST_RADIUS_SAMPLE = 20  # stale rules a BlastRadiusExceeded message lists
BLAST_RADIUS_GROUPS = 100  # groups it lists with their counts
BLAST_RADIUS_VIOLATIONS = 20  # violations it names
# characters of the message at most: Step Functions keeps 32,768 of an error's cause, which
# is the message JSON-escaped (each quote doubled) with the Lambda's error type and stack trace
BLAST_RADIUS_MESSAGE_LIMIT = 12_000


def blast_radius_message(
    violations: list[str],
    plans: Iterable[GroupPlan],
    *,
    sample: int = BLAST_RADIUS_SAMPLE,
    limit: int = BLAST_RADIUS_MESSAGE_LIMIT,
) -> str:
    """What eksops.BlastRadiusExceeded says: the violations, then the plan as JSON: the stale
    rules in all, per group (the most first), and a sample of them (ruleId, groupId,
    description, reason), from the groups with the most first. At most ``limit`` characters:
    groups and rules beyond are counted (``groupsNotListed``), not listed."""
    named = violations[:BLAST_RADIUS_VIOLATIONS]
    if len(violations) > len(named):
        named.append(f"{len(violations) - len(named)} more violations")
    head = f"{'; '.join(named)}: nothing was recorded or revoked; plan: "
    ranked = sorted(
        (plan for plan in plans if plan.stale), key=lambda plan: (-len(plan.stale), plan.group_id)
    )
    stale_rules = sum(len(plan.stale) for plan in ranked)
    groups = ranked[:BLAST_RADIUS_GROUPS]
    shown = [entry.result() for plan in groups for entry in plan.stale][:sample]

    def render() -> str:
        plan: dict[str, Any] = {
            "staleRules": stale_rules,
            "staleByGroup": {group.group_id: len(group.stale) for group in groups},
        }
        if len(groups) < len(ranked):
            plan["groupsNotListed"] = len(ranked) - len(groups)
        plan["sample"] = shown
        return head + json.dumps(plan)

    message = render()
    while len(message) > limit and (shown or groups):
        (shown or groups).pop()
        message = render()
    return message[:limit]


def _source(rule: dict[str, Any]) -> tuple[str, str]:
    """The rule's one source: (kind, value)."""
    sources = []
    if rule.get("CidrIpv4"):
        sources.append(("ipv4", rule["CidrIpv4"]))
    if rule.get("CidrIpv6"):
        sources.append(("ipv6", rule["CidrIpv6"]))
    if rule.get("ReferencedGroupInfo"):
        sources.append(("group", rule["ReferencedGroupInfo"]["GroupId"]))
    if rule.get("PrefixListId"):
        sources.append(("prefix-list", rule["PrefixListId"]))
    if len(sources) != 1:
        raise ValueError(
            f"rule {rule.get('SecurityGroupRuleId')} has {len(sources)} sources, not one"
        )
    return sources[0]


def restorable_permission(rule: dict[str, Any]) -> dict[str, Any]:
    """The IpPermissions entry that AuthorizeSecurityGroupIngress takes to re-create the ingress
    ``rule`` (as DescribeSecurityGroupRules returned it) with its protocol, ports, source and
    description."""
    if not _ingress(rule):
        raise ValueError(f"rule {rule.get('SecurityGroupRuleId')} is not an ingress rule")
    kind, value = _source(rule)
    permission: dict[str, Any] = {"IpProtocol": rule["IpProtocol"]}
    if rule["IpProtocol"] != "-1":
        permission["FromPort"] = int(rule["FromPort"])
        permission["ToPort"] = int(rule["ToPort"])
    described = {"Description": rule["Description"]} if rule.get("Description") else {}
    if kind == "ipv4":
        permission["IpRanges"] = [{"CidrIp": value, **described}]
    elif kind == "ipv6":
        permission["Ipv6Ranges"] = [{"CidrIpv6": value, **described}]
    elif kind == "group":
        info = rule["ReferencedGroupInfo"]
        owner = {"UserId": info["UserId"]} if info.get("UserId") else {}
        permission["UserIdGroupPairs"] = [{"GroupId": value, **owner, **described}]
    else:
        permission["PrefixListIds"] = [{"PrefixListId": value, **described}]
    return permission


def rule_tags(rule: dict[str, Any]) -> list[dict[str, str]]:
    """The rule's tags, for AuthorizeSecurityGroupIngress's TagSpecifications (empty: none).
    Tags under the reserved ``aws:`` prefix are left out: EC2 refuses them from callers."""
    return [
        {"Key": tag["Key"], "Value": tag["Value"]}
        for tag in rule.get("Tags") or []
        if not tag["Key"].lower().startswith("aws:")
    ]


def _identity(rule: dict[str, Any]) -> tuple[Any, ...]:
    protocol = str(rule["IpProtocol"]).lower()
    protocol = _PROTOCOL_NAMES.get(protocol, protocol)
    ports = None if protocol == "-1" else (int(rule["FromPort"]), int(rule["ToPort"]))
    kind, value = _source(rule)
    if kind in ("ipv4", "ipv6"):
        value = _network(value)
    return (
        rule["GroupId"],
        bool(rule.get("IsEgress")),
        protocol,
        ports,
        (kind, value),
        rule.get("Description") or "",
    )


def same_rule(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two rules (as DescribeSecurityGroupRules returns them) are the same rule of the
    same group and direction: protocol, ports, source and description; rule IDs and tags aside
    (a restored rule gets a new ID)."""
    return _identity(a) == _identity(b)
