"""A fixture of node security groups as the Kubernetes service controller leaves them: rules of
live and deleted NLBs in both MTU formats, manual rules, a shared group, an opted-out group and
a group of no cluster; and which rules a correct prune removes (written out by hand, not
computed by the code under test)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

NLB = "kubernetes.io/rule/nlb/"
_octets = itertools.count(100)


@dataclass(frozen=True)
class RuleSpec:
    protocol: str
    ports: tuple[int, int]
    cidr: str
    description: str
    stale: bool
    tags: tuple[tuple[str, str], ...] = ()


def _specs(live: str, gone: str, gone2: str) -> dict[str, list[RuleSpec]]:
    return {
        "nodes": [
            RuleSpec("tcp", (30001, 30001), "10.0.0.0/16", f"{NLB}health={live}", False),
            RuleSpec("tcp", (30002, 30002), "0.0.0.0/0", f"{NLB}client={live}", False),
            RuleSpec("tcp", (30011, 30011), "10.0.0.0/16", f"{NLB}health={gone}", True),
            RuleSpec("tcp", (30012, 30012), "203.0.113.0/24", f"{NLB}client={gone}", True),
            # bare MTU rules: kept while a live client rule uses the CIDR
            RuleSpec("icmp", (3, 4), "0.0.0.0/0", f"{NLB}mtu", False),
            RuleSpec("icmp", (3, 4), "203.0.113.0/24", f"{NLB}mtu", True),
            # the older format names its load balancer
            RuleSpec("icmp", (3, 4), "198.51.100.0/24", f"{NLB}mtu={gone2}", True),
            RuleSpec("tcp", (22, 22), "10.1.0.0/16", "bastion", False),
            RuleSpec("tcp", (30013, 30013), "10.2.0.0/16", f"{NLB}health={gone} (copy)", False),
        ],
        "shared": [
            RuleSpec(
                "tcp",
                (30020, 30020),
                "192.0.2.0/24",
                f"{NLB}client={gone2}",
                True,
                (("owner", "payments"),),
            ),
            RuleSpec("tcp", (443, 443), "10.0.0.0/8", "", False),
        ],
        "opted-out": [RuleSpec("tcp", (30011, 30011), "10.0.0.0/16", f"{NLB}health={gone}", False)],
        "no-cluster": [
            RuleSpec("tcp", (30011, 30011), "10.0.0.0/16", f"{NLB}health={gone}", False)
        ],
    }


@dataclass
class Fleet:
    cluster: str
    groups: dict[str, str]  # role -> group ID
    rule_ids: dict[str, list[str]]  # role -> ingress rule IDs, in spec order
    specs: dict[str, list[RuleSpec]]
    live_load_balancer: str

    def stale_ids(self) -> set[str]:
        return {
            rule_id
            for role, specs in self.specs.items()
            for rule_id, spec in zip(self.rule_ids[role], specs, strict=True)
            if spec.stale
        }


def _tags(cluster: str, role: str) -> list[dict[str, str]]:
    tags = {"nodes": "owned", "shared": "shared", "opted-out": "owned"}
    if role not in tags:
        return [{"Key": "Name", "Value": f"{cluster}-{role}"}]
    result = [{"Key": f"kubernetes.io/cluster/{cluster}", "Value": tags[role]}]
    if role == "opted-out":
        result.append({"Key": "eksops/prune", "Value": "off"})
    return result


def build(ec2: Any, elbv2: Any, cluster: str) -> Fleet:
    """The groups in a new VPC, an NLB that lives (``<cluster>-live``), and the names of two
    that do not (their rules leaked)."""
    octet = next(_octets)
    vpc = ec2.create_vpc(CidrBlock=f"10.{octet}.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{octet}.{i}.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for i, zone in enumerate(("eu-west-1a", "eu-west-1b"))
    ]
    live = f"{cluster}-live"
    elbv2.create_load_balancer(Name=live, Type="network", Subnets=subnets)
    specs = _specs(live, f"{cluster}-gone", f"{cluster}-gone2")
    groups, rule_ids = {}, {}
    for role, rules in specs.items():
        group = ec2.create_security_group(
            GroupName=f"{cluster}-{role}",
            Description=f"{cluster} {role}",
            VpcId=vpc,
            TagSpecifications=[{"ResourceType": "security-group", "Tags": _tags(cluster, role)}],
        )["GroupId"]
        groups[role] = group
        rule_ids[role] = [_authorize(ec2, group, spec) for spec in rules]
    return Fleet(cluster, groups, rule_ids, specs, live)


def _authorize(ec2: Any, group: str, spec: RuleSpec) -> str:
    source: dict[str, Any] = {"CidrIp": spec.cidr}
    if spec.description:
        source["Description"] = spec.description
    permission = {
        "IpProtocol": spec.protocol,
        "FromPort": spec.ports[0],
        "ToPort": spec.ports[1],
        "IpRanges": [source],
    }
    parameters: dict[str, Any] = {"GroupId": group, "IpPermissions": [permission]}
    if spec.tags:
        tags = [{"Key": k, "Value": v} for k, v in spec.tags]
        parameters["TagSpecifications"] = [{"ResourceType": "security-group-rule", "Tags": tags}]
    return ec2.authorize_security_group_ingress(**parameters)["SecurityGroupRules"][0][
        "SecurityGroupRuleId"
    ]


def rule_set(ec2: Any, group_ids: list[str]) -> set[tuple[Any, ...]]:
    """The groups' rules as what they allow (IDs left out): restored rules get new IDs."""
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": group_ids}])
    return {
        (
            rule["GroupId"],
            rule["IsEgress"],
            rule["IpProtocol"],
            rule.get("FromPort"),
            rule.get("ToPort"),
            rule.get("CidrIpv4"),
            rule.get("Description", ""),
            frozenset((t["Key"], t["Value"]) for t in rule.get("Tags", [])),
        )
        for rule in rules["SecurityGroupRules"]
    }


def rule_ids(ec2: Any, group_ids: list[str]) -> set[str]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": group_ids}])
    return {rule["SecurityGroupRuleId"] for rule in rules["SecurityGroupRules"]}
