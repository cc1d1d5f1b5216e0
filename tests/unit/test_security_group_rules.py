"""The prune decisions, without AWS: which descriptions are the NLB controller's, which of its
rules are provably stale (load balancer gone; shared MTU rule no remaining client rule uses),
what is never touched (manual rules, egress, near-miss descriptions), quota pressure, blast
radius limits, and turning a pruned rule back into the call that restores it."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator
from eksops.security_group_rules import (
    BLAST_RADIUS_MESSAGE_LIMIT,
    INBOUND_RULE_QUOTA,
    NLB_RULE_PREFIX,
    GroupPlan,
    NlbRuleLabel,
    StaleRule,
    blast_radius_message,
    check_blast_radius,
    parse_description,
    plan_groups,
    pressure,
    restorable_permission,
    rule_tags,
    same_rule,
    stale_rules,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

ACCOUNT = "123456789012"
GROUP = "sg-0a1b2c3d4e5f60718"
OTHER_GROUP = "sg-0f1e2d3c4b5a69788"
PEER_GROUP = "sg-0123456789abcdef0"
# names as the controller makes them: "a" and the Service UID without hyphens, 32 characters
LIVE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
LIVE_TOO = "a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4"
GONE = "a0f9e8d7c6b5a4938271605f4e3d2c1b"
GONE_TOO = "a5a5a5a5b6b6b6b6c7c7c7c7d8d8d8d8"
VPC_CIDR = "192.168.0.0/16"
CLIENTS = "10.20.0.0/16"
CLIENTS_V6 = "2600:1f14:abc:de00::/56"

HEALTH, CLIENT, MTU = (f"{NLB_RULE_PREFIX}{kind}" for kind in ("health", "client", "mtu"))

_rule_ids = itertools.count(0x0A000000001)


def rule(
    description: str | None = None,
    *,
    group: str = GROUP,
    egress: bool = False,
    protocol: str = "tcp",
    ports: tuple[int, int] = (31080, 31080),
    cidr: str | None = CLIENTS,
    cidr6: str | None = None,
    peer: str | None = None,
    prefix_list: str | None = None,
    tags: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A rule as DescribeSecurityGroupRules returns it (one source; no Description key when
    it has none)."""
    rule_id = f"sgr-0{next(_rule_ids):016x}"
    found: dict[str, Any] = {
        "SecurityGroupRuleId": rule_id,
        "GroupId": group,
        "GroupOwnerId": ACCOUNT,
        "IsEgress": egress,
        "IpProtocol": protocol,
        "FromPort": ports[0],
        "ToPort": ports[1],
        "Tags": tags or [],
        "SecurityGroupRuleArn": f"arn:aws:ec2:us-west-2:{ACCOUNT}:security-group-rule/{rule_id}",
    }
    if cidr6 is not None:
        found["CidrIpv6"] = cidr6
    elif peer is not None:
        found["ReferencedGroupInfo"] = {"GroupId": peer, "UserId": ACCOUNT}
    elif prefix_list is not None:
        found["PrefixListId"] = prefix_list
    elif cidr is not None:
        found["CidrIpv4"] = cidr
    if description is not None:
        found["Description"] = description
    return found


def health(lb: str, **changes: Any) -> dict[str, Any]:
    return rule(f"{HEALTH}={lb}", **{"cidr": VPC_CIDR, "ports": (32100, 32100), **changes})


def client(lb: str, **changes: Any) -> dict[str, Any]:
    return rule(f"{CLIENT}={lb}", **changes)


def mtu(lb: str | None = None, **changes: Any) -> dict[str, Any]:
    description = MTU if lb is None else f"{MTU}={lb}"
    return rule(description, **{"protocol": "icmp", "ports": (3, 4), **changes})


def ids(found: list[StaleRule]) -> list[str]:
    return [entry.rule["SecurityGroupRuleId"] for entry in found]


def rule_id(*rules: dict[str, Any]) -> list[str]:
    return [r["SecurityGroupRuleId"] for r in rules]


# --- descriptions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "label"),
    [
        (f"{HEALTH}={LIVE}", NlbRuleLabel("health", LIVE)),
        (f"{CLIENT}={LIVE}", NlbRuleLabel("client", LIVE)),
        (f"{MTU}={LIVE}", NlbRuleLabel("mtu", LIVE)),
        (MTU, NlbRuleLabel("mtu", None)),
        (f"{HEALTH}=a", NlbRuleLabel("health", "a")),
        (f"{CLIENT}=my-nlb-1", NlbRuleLabel("client", "my-nlb-1")),
        (f"{HEALTH}={'b' * 32}", NlbRuleLabel("health", "b" * 32)),
    ],
    ids=["health", "client", "old-mtu", "mtu", "one-char", "hyphens", "32-chars"],
)
def test_descriptions_in_the_controllers_formats_are_labelled(
    description: str, label: NlbRuleLabel
) -> None:
    assert parse_description(description) == label


@pytest.mark.parametrize(
    "description",
    [
        None,
        "",
        "allow office VPN",
        HEALTH,  # health and client rules always name their load balancer
        CLIENT,
        f"{HEALTH}=",
        f"{CLIENT}=",
        f"{MTU}=",
        f" {MTU}",
        f"{MTU} ",
        f"{MTU}\n",
        f"{HEALTH}={LIVE} ",
        f"{HEALTH}= {LIVE}",
        f"{HEALTH} ={LIVE}",
        f"{HEALTH}={LIVE}\t",
        f"{CLIENT}={LIVE} (keep)",
        f"keep {CLIENT}={LIVE}",
        f"{HEALTH}={LIVE}={LIVE}",
        f"{HEALTH}:{LIVE}",
        f"{HEALTH}/{LIVE}",
        f"{NLB_RULE_PREFIX}healthz={LIVE}",
        f"{NLB_RULE_PREFIX}Health={LIVE}",
        f"{NLB_RULE_PREFIX}mtus",
        f"{NLB_RULE_PREFIX}mtu/{LIVE}",
        f"{NLB_RULE_PREFIX}other={LIVE}",
        NLB_RULE_PREFIX,
        f"Kubernetes.io/rule/nlb/client={LIVE}",
        f"kubernetes.io/rule/elb/client={LIVE}",
        f"kubernetes.io/rule/nlb-client={LIVE}",
        f"{HEALTH}=-{LIVE[1:]}",  # no ELBv2 name starts or ends with a hyphen
        f"{HEALTH}={LIVE[:-1]}-",
        f"{HEALTH}={'b' * 33}",  # nor is longer than 32
        f"{HEALTH}=my_nlb",
        f"{HEALTH}=my.nlb",
    ],
)
def test_anything_else_is_no_nlb_rule(description: str | None) -> None:
    assert parse_description(description) is None


# --- staleness -----------------------------------------------------------------------------------


def test_rules_of_live_load_balancers_are_kept() -> None:
    rules = [health(LIVE), client(LIVE), mtu(LIVE), health(LIVE_TOO), client(LIVE_TOO)]
    assert stale_rules(rules, {LIVE, LIVE_TOO, GONE}) == []


def test_rules_of_deleted_load_balancers_are_stale_with_their_reason() -> None:
    rules = [health(GONE), client(GONE), mtu(GONE), health(LIVE), client(LIVE)]
    found = stale_rules(rules, {LIVE})
    assert ids(found) == rule_id(*rules[:3])
    assert [entry.reason for entry in found] == [
        f"health rule of load balancer {GONE}, which no longer exists",
        f"client rule of load balancer {GONE}, which no longer exists",
        f"MTU rule of load balancer {GONE}, which no longer exists",
    ]
    assert found[0].rule is rules[0], "the rule in full, as EC2 returned it, for the ledger"


def test_no_live_load_balancer_makes_every_named_rule_stale() -> None:
    rules = [health(LIVE), client(LIVE_TOO), mtu(GONE)]
    assert ids(stale_rules(rules, set())) == rule_id(*rules)


def test_load_balancer_names_compare_without_case_so_a_doubt_keeps_the_rule() -> None:
    assert stale_rules([client(LIVE)], {LIVE.upper()}) == []
    assert stale_rules([client(LIVE.upper())], {LIVE}) == []


def test_shared_mtu_rule_is_kept_while_a_live_client_rule_uses_its_cidr() -> None:
    rules = [mtu(), client(LIVE), client(GONE)]
    found = stale_rules(rules, {LIVE})
    assert ids(found) == rule_id(rules[2])


def test_shared_mtu_rule_goes_when_only_stale_client_rules_use_its_cidr() -> None:
    rules = [mtu(), client(GONE), client(GONE_TOO, ports=(30999, 30999)), health(LIVE)]
    found = stale_rules(rules, {LIVE})
    assert ids(found) == rule_id(*rules[:3]), "in input order, the MTU rule first"
    assert found[0].reason == f"MTU rule for {CLIENTS}, which no remaining client rule uses"


def test_shared_mtu_rule_with_no_client_rule_at_all_is_stale() -> None:
    rules = [mtu(cidr="0.0.0.0/0"), mtu(cidr=CLIENTS)]
    assert ids(stale_rules(rules, {LIVE})) == rule_id(*rules)


def test_only_client_rules_keep_a_shared_mtu_rule() -> None:
    # a live health rule, a live old-format MTU rule and a manual rule from the same CIDR
    rules = [
        mtu(),
        health(LIVE, cidr=CLIENTS),
        mtu(LIVE),
        rule("office", cidr=CLIENTS),
        client(LIVE, cidr="10.99.0.0/16"),
    ]
    assert ids(stale_rules(rules, {LIVE})) == rule_id(rules[0])


def test_an_egress_client_rule_does_not_keep_a_shared_mtu_rule() -> None:
    rules = [mtu(), client(LIVE, egress=True)]
    assert ids(stale_rules(rules, {LIVE})) == rule_id(rules[0])


def test_shared_mtu_rule_is_matched_with_the_client_rules_of_its_own_group() -> None:
    rules = [mtu(group=GROUP), client(LIVE, group=OTHER_GROUP), mtu(group=OTHER_GROUP)]
    assert ids(stale_rules(rules, {LIVE})) == rule_id(rules[0])
    plans = plan_groups(rules, {LIVE})
    assert [(plan.group_id, ids(plan.stale)) for plan in plans] == [
        (GROUP, rule_id(rules[0])),
        (OTHER_GROUP, []),
    ]


def test_each_client_cidr_keeps_only_its_own_mtu_rule() -> None:
    rules = [
        mtu(cidr="0.0.0.0/0"),
        mtu(cidr=CLIENTS),
        mtu(cidr="10.30.0.0/16"),
        client(LIVE, cidr=CLIENTS),
        client(GONE, cidr="0.0.0.0/0"),
    ]
    assert ids(stale_rules(rules, {LIVE})) == rule_id(rules[0], rules[2], rules[4])


def test_ipv6_client_and_mtu_rules() -> None:
    kept_mtu = mtu(protocol="icmpv6", ports=(2, 0), cidr6=CLIENTS_V6)
    stale_mtu = mtu(protocol="icmpv6", ports=(2, 0), cidr6="::/0")
    v4_only = mtu(cidr="0.0.0.0/0")  # "::/0" clients do not keep the IPv4 "0.0.0.0/0" one
    rules = [
        kept_mtu,
        stale_mtu,
        v4_only,
        client(LIVE, cidr6=CLIENTS_V6),
        client(GONE, cidr6="::/0"),
        health(GONE, cidr6="2600:1f14:abc::/48"),
    ]
    found = stale_rules(rules, {LIVE})
    assert ids(found) == rule_id(stale_mtu, v4_only, rules[4], rules[5])
    assert found[0].reason == "MTU rule for ::/0, which no remaining client rule uses"


def test_cidrs_compare_as_networks_not_as_text() -> None:
    rules = [mtu(cidr6="2600:1F14:ABC:DE00::/56"), client(LIVE, cidr6=CLIENTS_V6)]
    assert stale_rules(rules, {LIVE}) == []


def test_shared_mtu_rule_without_a_cidr_is_left_alone() -> None:
    rules = [mtu(prefix_list="pl-0123456789abcdef0"), mtu(peer=PEER_GROUP)]
    assert stale_rules(rules, set()) == []


def test_manual_and_near_miss_rules_are_never_stale() -> None:
    rules = [
        rule(None),
        rule("allow office VPN"),
        rule(f"{CLIENT}={GONE} "),
        rule(f"{HEALTH}={GONE} (manual copy)"),
        rule(f"{HEALTH}=", cidr=VPC_CIDR),
        rule(f" {MTU}", protocol="icmp", ports=(3, 4)),
        rule(f"kubernetes.io/rule/nlb/client-{GONE}"),
        rule("ssh", ports=(22, 22), peer=PEER_GROUP),
    ]
    assert stale_rules(rules, set()) == []


def test_egress_rules_are_never_stale() -> None:
    rules = [
        client(GONE, egress=True),
        health(GONE, egress=True),
        mtu(GONE, egress=True),
        mtu(egress=True),
        rule(None, egress=True, protocol="-1", ports=(-1, -1), cidr="0.0.0.0/0"),
    ]
    assert stale_rules(rules, set()) == []


def test_kept_rules_are_never_stale_and_a_kept_client_rule_keeps_its_mtu_rule() -> None:
    restored_client = client(GONE)
    restored_health = health(GONE)
    rules = [mtu(), restored_client, restored_health, health(GONE), mtu(cidr="0.0.0.0/0")]
    keep = {restored_client["SecurityGroupRuleId"], restored_health["SecurityGroupRuleId"]}
    assert ids(stale_rules(rules, set(), keep=keep)) == rule_id(rules[3], rules[4])
    assert ids(stale_rules(rules, set())) == rule_id(*rules)
    kept_mtu = rules[4]["SecurityGroupRuleId"]
    assert ids(stale_rules(rules, set(), keep=keep | {kept_mtu})) == rule_id(rules[3])
    [plan] = plan_groups(rules, set(), keep=keep)
    assert (plan.inbound_rules, ids(plan.stale)) == (5, rule_id(rules[3], rules[4]))


def test_stale_rule_result_is_what_the_plan_shows() -> None:
    gone = health(GONE)
    [entry] = stale_rules([gone], set())
    assert entry.result() == {
        "ruleId": gone["SecurityGroupRuleId"],
        "groupId": GROUP,
        "description": f"{HEALTH}={GONE}",
        "reason": f"health rule of load balancer {GONE}, which no longer exists",
    }


# --- a property: only rules the controller wrote, never a live load balancer's -------------------

NAMES = [LIVE, LIVE_TOO, GONE, GONE_TOO, "a", "nlb-1"]
CIDRS = ["0.0.0.0/0", CLIENTS, VPC_CIDR]
CIDRS_V6 = ["::/0", CLIENTS_V6]
descriptions = st.one_of(
    st.none(),
    st.just(MTU),
    st.builds(
        lambda kind, name: f"{NLB_RULE_PREFIX}{kind}={name}",
        st.sampled_from(["health", "client", "mtu"]),
        st.sampled_from(NAMES),
    ),
    st.builds(  # near misses
        lambda base, noise: base + noise,
        st.sampled_from([MTU, HEALTH, f"{CLIENT}={LIVE}", f"{CLIENT}={GONE}", NLB_RULE_PREFIX]),
        st.sampled_from([" ", "=", "\n", "x", "==", "=a b", ":1"]),
    ),
    st.text(max_size=40),
)
rules_strategy = st.lists(
    st.builds(
        lambda description, group, egress, source: rule(
            description, group=group, egress=egress, **source
        ),
        descriptions,
        st.sampled_from([GROUP, OTHER_GROUP]),
        st.booleans(),
        st.one_of(
            st.builds(lambda cidr: {"cidr": cidr}, st.sampled_from(CIDRS)),
            st.builds(lambda cidr: {"cidr6": cidr}, st.sampled_from(CIDRS_V6)),
            st.just({"peer": PEER_GROUP}),
            st.just({"prefix_list": "pl-0123456789abcdef0"}),
        ),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(rules_strategy, st.sets(st.sampled_from(NAMES)), st.data())
def test_only_nlb_rules_and_never_those_of_a_live_load_balancer(
    rules: list[dict[str, Any]], live: set[str], data: st.DataObject
) -> None:
    all_ids = [r["SecurityGroupRuleId"] for r in rules]
    keep = data.draw(st.sets(st.sampled_from(all_ids)) if all_ids else st.just(set()))
    found = stale_rules(rules, live, keep=keep)
    assert not {entry.rule["SecurityGroupRuleId"] for entry in found} & keep
    positions = [rules.index(entry.rule) for entry in found]
    assert positions == sorted(set(positions)), "a subsequence of the input, each rule once"
    remaining = [r for r in rules if not any(entry.rule is r for entry in found)]
    for entry in found:
        label = parse_description(entry.rule.get("Description"))
        assert label is not None
        assert entry.rule["Description"].startswith(NLB_RULE_PREFIX)
        assert entry.rule["IsEgress"] is False
        if label.load_balancer is not None:
            assert label.load_balancer not in live
        else:  # a shared MTU rule: no remaining client rule of its group has its CIDR
            cidr = entry.rule.get("CidrIpv4") or entry.rule.get("CidrIpv6")
            assert cidr is not None
            assert not any(
                (other.get("CidrIpv4") or other.get("CidrIpv6")) == cidr
                and other["GroupId"] == entry.rule["GroupId"]
                and other["IsEgress"] is False
                and (parse_description(other.get("Description")) or NlbRuleLabel("mtu", None)).kind
                == "client"
                for other in remaining
            )
    # and everything provably stale is found: a rule of a load balancer not live is listed
    for r in rules:
        label = parse_description(r.get("Description"))
        if (
            label
            and label.load_balancer
            and label.load_balancer not in live
            and not r["IsEgress"]
            and r["SecurityGroupRuleId"] not in keep
        ):
            assert any(entry.rule is r for entry in found)


# --- groups, pressure, blast radius --------------------------------------------------------------


def test_plan_groups_counts_inbound_rules_per_group_and_sorts_by_group() -> None:
    rules = [
        client(GONE, group=OTHER_GROUP),
        rule("office", group=OTHER_GROUP),
        rule(None, group=OTHER_GROUP, egress=True, protocol="-1", ports=(-1, -1)),
        health(LIVE, group=GROUP),
        health(GONE, group=GROUP),
        mtu(group=GROUP),
        rule(None, group=PEER_GROUP, egress=True, protocol="-1", ports=(-1, -1)),
    ]
    plans = plan_groups(rules, {LIVE})
    assert [(p.group_id, p.inbound_rules, ids(p.stale)) for p in plans] == [
        (PEER_GROUP, 0, []),
        (GROUP, 3, rule_id(rules[4], rules[5])),
        (OTHER_GROUP, 2, rule_id(rules[0])),
    ]
    assert plan_groups([], {LIVE}) == []


def plan(group: str, inbound: int, stale: int) -> GroupPlan:
    return GroupPlan(group, inbound, [StaleRule(client(GONE), "gone") for _ in range(stale)])


def test_pressure_reports_groups_at_or_above_the_threshold_of_their_quota() -> None:
    plans = [plan(PEER_GROUP, 47, 0), plan(GROUP, 48, 5), plan(OTHER_GROUP, 60, 0)]
    assert INBOUND_RULE_QUOTA == 60
    assert pressure(plans) == [
        {"groupId": GROUP, "inboundRules": 48, "quota": 60, "staleRules": 5, "afterPrune": 43},
        {
            "groupId": OTHER_GROUP,
            "inboundRules": 60,
            "quota": 60,
            "staleRules": 0,
            "afterPrune": 60,
        },
    ]


def test_pressure_threshold_and_quota_are_exact() -> None:
    plans = [plan(GROUP, 42, 0), plan(OTHER_GROUP, 41, 0)]
    assert [p["groupId"] for p in pressure(plans, threshold=0.7)] == [GROUP]  # 0.7 * 60 == 42
    assert [p["groupId"] for p in pressure(plans, quota=100, threshold=0.42)] == [GROUP]
    assert pressure(plans, quota=200) == []
    assert [p["groupId"] for p in pressure(plans, threshold=0.01)] == [GROUP, OTHER_GROUP]


@pytest.mark.parametrize(("quota", "threshold"), [(0, 0.8), (60, 0.0), (60, 1.5), (60, -0.1)])
def test_pressure_refuses_meaningless_limits(quota: int, threshold: float) -> None:
    with pytest.raises(ValueError, match="quota >= 1 and 0 < threshold <= 1"):
        pressure([plan(GROUP, 60, 0)], quota=quota, threshold=threshold)


def test_blast_radius_within_limits_or_without_limits_has_no_violations() -> None:
    plans = [plan(GROUP, 50, 10), plan(OTHER_GROUP, 20, 5)]
    assert check_blast_radius(plans, None, None) == []
    assert check_blast_radius(plans, 10, 15) == [], "limits are inclusive"
    assert check_blast_radius(iter(plans), 10, 15) == []


def test_blast_radius_per_group_names_each_group_over_it() -> None:
    plans = [plan(GROUP, 50, 11), plan(OTHER_GROUP, 20, 5), plan(PEER_GROUP, 40, 12)]
    assert check_blast_radius(plans, 10, None) == [
        f"{GROUP}: 11 stale rules, more than maxRulesPerGroup 10",
        f"{PEER_GROUP}: 12 stale rules, more than maxRulesPerGroup 10",
    ]


def test_blast_radius_per_run_counts_every_group() -> None:
    plans = [plan(GROUP, 50, 10), plan(OTHER_GROUP, 20, 6)]
    assert check_blast_radius(plans, None, 15) == [
        "16 stale rules in all, more than maxRulesPerRun 15"
    ]
    assert check_blast_radius(plans, 9, 15) == [
        f"{GROUP}: 10 stale rules, more than maxRulesPerGroup 9",
        "16 stale rules in all, more than maxRulesPerRun 15",
    ]


def test_blast_radius_counts_stale_rules_from_real_plans() -> None:
    rules = [health(GONE), client(GONE), mtu(), client(LIVE, group=OTHER_GROUP)]
    plans = plan_groups(rules, {LIVE})
    assert check_blast_radius(plans, 3, 3) == []
    assert check_blast_radius(plans, 2, None) == [
        f"{GROUP}: 3 stale rules, more than maxRulesPerGroup 2"
    ]


def plan_message(message: str) -> dict[str, Any]:
    """The plan a BlastRadiusExceeded message carries (the JSON after "plan: ")."""
    return json.loads(message.split("; plan: ", 1)[1])


def test_blast_radius_message_carries_the_counts_and_a_sample_with_reasons() -> None:
    small = [health(GONE, group=OTHER_GROUP)]
    big = [health(GONE), client(GONE), mtu(GONE_TOO)]
    plans = plan_groups(small + big, set())
    violations = check_blast_radius(plans, 2, 3)
    message = blast_radius_message(violations, plans)
    assert message.startswith("; ".join(violations) + ": nothing was recorded or revoked")
    found = plan_message(message)
    assert found["staleRules"] == 4
    assert list(found["staleByGroup"].items()) == [(GROUP, 3), (OTHER_GROUP, 1)]  # most first
    assert "groupsNotListed" not in found
    assert [entry["ruleId"] for entry in found["sample"]] == rule_id(*big, *small)
    assert found["sample"][0] == {
        "ruleId": big[0]["SecurityGroupRuleId"],
        "groupId": GROUP,
        "description": f"{HEALTH}={GONE}",
        "reason": f"health rule of load balancer {GONE}, which no longer exists",
    }
    assert len(plan_message(blast_radius_message(violations, plans, sample=2))["sample"]) == 2


def test_blast_radius_message_stays_well_under_the_cause_limit() -> None:
    """Step Functions keeps 32,768 characters of a cause: the Lambda error JSON, the message in
    it escaped, and a stack trace. Thousands of groups of long descriptions still fit."""
    long = f"{HEALTH}={GONE}"
    plans = [
        GroupPlan(
            f"sg-{index:017x}",
            60,
            [StaleRule(rule(long, group=f"sg-{index:017x}"), "x" * 300) for _ in range(60)],
        )
        for index in range(2000)
    ]
    violations = check_blast_radius(plans, 59, 1000)
    assert len(violations) == 2001
    message = blast_radius_message(violations, plans)
    assert len(message) <= BLAST_RADIUS_MESSAGE_LIMIT
    assert "1981 more violations" in message
    cause = json.dumps({"errorMessage": message, "errorType": "eksops.BlastRadiusExceeded"})
    assert len(cause) < 32_768 - 8_000  # room for the stack trace
    found = plan_message(message)
    assert found["staleRules"] == 120_000
    listed = len(found["staleByGroup"])
    assert 0 < listed <= 100
    assert found["groupsNotListed"] == 2000 - listed
    assert all(count == 60 for count in found["staleByGroup"].values())


# --- restoring -----------------------------------------------------------------------------------

TAGS = [{"Key": "team", "Value": "edge"}, {"Key": "aws:cloudformation:stack-name", "Value": "x"}]
SOURCES: dict[str, dict[str, Any]] = {
    "ipv4": {"cidr": CLIENTS},
    "ipv6": {"cidr6": CLIENTS_V6},
    "group": {"peer": PEER_GROUP},
    "prefix-list": {"prefix_list": "pl-0123456789abcdef0"},
}


def described(group: str, permission: dict[str, Any]) -> list[dict[str, Any]]:
    """What DescribeSecurityGroupRules lists after AuthorizeSecurityGroupIngress(permission):
    one rule per source (EC2's expansion, written independently of the code under test)."""
    base = {
        "SecurityGroupRuleId": "sgr-0ffffffffffffffff",
        "GroupId": group,
        "IsEgress": False,
        "IpProtocol": permission["IpProtocol"],
        "FromPort": permission.get("FromPort", -1),
        "ToPort": permission.get("ToPort", -1),
    }
    found = []
    for key, field, target in [
        ("IpRanges", "CidrIp", "CidrIpv4"),
        ("Ipv6Ranges", "CidrIpv6", "CidrIpv6"),
        ("PrefixListIds", "PrefixListId", "PrefixListId"),
    ]:
        found += [
            {**base, target: entry[field], **_description(entry)}
            for entry in permission.get(key, [])
        ]
    found += [
        {
            **base,
            "ReferencedGroupInfo": {"GroupId": pair["GroupId"], "UserId": pair.get("UserId")},
            **_description(pair),
        }
        for pair in permission.get("UserIdGroupPairs", [])
    ]
    return found


def _description(entry: dict[str, Any]) -> dict[str, str]:
    return {"Description": entry["Description"]} if "Description" in entry else {}


def authorize_params(pruned: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "GroupId": pruned["GroupId"],
        "IpPermissions": [restorable_permission(pruned)],
    }
    if rule_tags(pruned):
        params["TagSpecifications"] = [
            {"ResourceType": "security-group-rule", "Tags": rule_tags(pruned)}
        ]
    return params


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    ("protocol", "ports"),
    [("tcp", (31080, 31080)), ("udp", (30000, 30100)), ("icmp", (3, 4)), ("-1", (-1, -1))],
)
def test_restorable_permission_round_trips_every_source_kind(
    source: str, protocol: str, ports: tuple[int, int]
) -> None:
    pruned = rule(f"{CLIENT}={GONE}", protocol=protocol, ports=ports, tags=TAGS, **SOURCES[source])
    permission = restorable_permission(pruned)
    [recreated] = described(GROUP, permission)
    assert same_rule(recreated, pruned)
    assert recreated["Description"] == f"{CLIENT}={GONE}"
    # and EC2's own API model accepts the call
    operation = (
        get_session().get_service_model("ec2").operation_model("AuthorizeSecurityGroupIngress")
    )
    report = ParamValidator().validate(authorize_params(pruned), operation.input_shape)
    assert not report.has_errors(), report.generate_report()


def test_restorable_permission_shapes() -> None:
    assert restorable_permission(health(GONE)) == {
        "IpProtocol": "tcp",
        "FromPort": 32100,
        "ToPort": 32100,
        "IpRanges": [{"CidrIp": VPC_CIDR, "Description": f"{HEALTH}={GONE}"}],
    }
    assert restorable_permission(mtu(protocol="icmpv6", ports=(2, 0), cidr6="::/0")) == {
        "IpProtocol": "icmpv6",
        "FromPort": 2,
        "ToPort": 0,
        "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": MTU}],
    }
    assert restorable_permission(rule("ssh", peer=PEER_GROUP, protocol="-1", ports=(-1, -1))) == {
        "IpProtocol": "-1",
        "UserIdGroupPairs": [{"GroupId": PEER_GROUP, "UserId": ACCOUNT, "Description": "ssh"}],
    }
    assert restorable_permission(rule(None, prefix_list="pl-0123456789abcdef0")) == {
        "IpProtocol": "tcp",
        "FromPort": 31080,
        "ToPort": 31080,
        "PrefixListIds": [{"PrefixListId": "pl-0123456789abcdef0"}],
    }


def test_restorable_permission_takes_ports_read_back_from_dynamodb() -> None:
    pruned = {**client(GONE), "FromPort": Decimal(31080), "ToPort": Decimal(31081)}
    permission = restorable_permission(pruned)
    assert (permission["FromPort"], permission["ToPort"]) == (31080, 31081)
    assert all(type(permission[key]) is int for key in ("FromPort", "ToPort"))


def test_restorable_permission_refuses_egress_and_ambiguous_rules() -> None:
    with pytest.raises(ValueError, match="not an ingress rule"):
        restorable_permission(client(GONE, egress=True))
    with pytest.raises(ValueError, match="2 sources, not one"):
        restorable_permission({**client(GONE), "CidrIpv6": "::/0"})
    with pytest.raises(ValueError, match="0 sources, not one"):
        restorable_permission(rule(f"{CLIENT}={GONE}", cidr=None))


def test_rule_tags_are_the_rules_own_without_reserved_ones() -> None:
    assert rule_tags(rule("x", tags=TAGS)) == [{"Key": "team", "Value": "edge"}]
    assert rule_tags(rule("x")) == []
    assert rule_tags({k: v for k, v in rule("x").items() if k != "Tags"}) == []


@pytest.mark.parametrize("source", ["ipv4", "ipv6"])
def test_restore_round_trip_through_ec2(source: str) -> None:
    """Authorize what restorable_permission says in (moto's) EC2 and find the same rule."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-west-2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        group = ec2.create_security_group(GroupName="nodes", Description="n", VpcId=vpc)
        pruned = {
            **rule(f"{CLIENT}={GONE}", tags=TAGS, **SOURCES[source]),
            "GroupId": group["GroupId"],
        }
        ec2.authorize_security_group_ingress(**authorize_params(pruned))
        rules = ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [group["GroupId"]]}]
        )["SecurityGroupRules"]
        [restored] = [r for r in rules if same_rule(r, pruned)]
        assert restored["SecurityGroupRuleId"] != pruned["SecurityGroupRuleId"]
        assert restored["Tags"] == [{"Key": "team", "Value": "edge"}]
        assert len([r for r in rules if not r["IsEgress"]]) == 1


def test_same_rule_ignores_ids_tags_and_spelling() -> None:
    a = rule(f"{CLIENT}={GONE}", tags=TAGS)
    assert same_rule(a, {**a, "SecurityGroupRuleId": "sgr-0eeeeeeeeeeeeeeee", "Tags": []})
    assert same_rule(a, {**a, "IpProtocol": "6"})
    assert same_rule(rule(None), rule(""))
    v6 = rule("x", cidr6=CLIENTS_V6)
    assert same_rule(v6, {**v6, "CidrIpv6": "2600:1F14:ABC:DE00::/56"})
    everything = rule("all", protocol="-1", ports=(-1, -1))
    assert same_rule(everything, {**everything, "FromPort": 0, "ToPort": 65535})


@pytest.mark.parametrize(
    "change",
    [
        {"Description": "something else"},
        {"FromPort": 31081},
        {"ToPort": 31081},
        {"IpProtocol": "udp"},
        {"CidrIpv4": "10.21.0.0/16"},
        {"GroupId": OTHER_GROUP},
        {"IsEgress": True},
    ],
    ids=lambda change: next(iter(change)),
)
def test_same_rule_tells_different_rules_apart(change: dict[str, Any]) -> None:
    a = rule(f"{CLIENT}={GONE}")
    assert not same_rule(a, {**a, **change})
    assert not same_rule({**a, **change}, a)


def test_same_rule_tells_sources_apart() -> None:
    by_kind = [rule("x", **source) for source in SOURCES.values()]
    for a, b in itertools.permutations(by_kind, 2):
        assert not same_rule(a, b)
    peer = rule("x", peer=PEER_GROUP)
    assert not same_rule(peer, rule("x", peer=OTHER_GROUP))
