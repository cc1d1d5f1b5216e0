"""EC2 security group rules and ELBv2 load balancers offline, as AWS serves what the workflows
that prune leaked ``kubernetes.io/rule/nlb/*`` rules (and restore them) depend on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from eksops.local import security_group_rules
from eksops.local.account import ACCOUNT_ID, OfflineAccount

REGION = "eu-west-1"
NLB = "a" + "0" * 31  # the service controller names an NLB after its Service's UID


@pytest.fixture(scope="module")
def account() -> Iterator[OfflineAccount]:
    with OfflineAccount(template=None, region=REGION) as offline:
        yield offline


@pytest.fixture(scope="module")
def ec2(account: OfflineAccount):
    return account.client("ec2")


@pytest.fixture(scope="module")
def elbv2(account: OfflineAccount):
    return account.client("elbv2")


def unchecked(account: OfflineAccount, service: str):
    """A client that sends what botocore would refuse, to see what the service answers."""
    return account.session().client(
        service, endpoint_url=account.endpoint_url, config=Config(parameter_validation=False)
    )


@pytest.fixture(scope="module")
def vpc(ec2) -> dict:
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{REGION}{z}"
        )["Subnet"]["SubnetId"]
        for n, z in ((1, "a"), (2, "b"))
    ]
    return {"VpcId": vpc_id, "Subnets": subnets}


def new_group(ec2, vpc: dict, tags: dict[str, str] | None = None) -> str:
    spec = {}
    if tags:
        tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
        spec["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": tag_list}]
    return ec2.create_security_group(
        GroupName=f"sg-{uuid.uuid4().hex[:12]}", Description="test", VpcId=vpc["VpcId"], **spec
    )["GroupId"]


def nlb_rules(source: str = "10.0.0.0/16") -> list[dict]:
    """The three ingress permissions the service controller opens for an NLB."""
    return [
        {
            "IpProtocol": "tcp",
            "FromPort": 31000,
            "ToPort": 31000,
            "IpRanges": [{"CidrIp": source, "Description": f"kubernetes.io/rule/nlb/client={NLB}"}],
        },
        {
            "IpProtocol": "tcp",
            "FromPort": 31001,
            "ToPort": 31001,
            "IpRanges": [{"CidrIp": source, "Description": f"kubernetes.io/rule/nlb/health={NLB}"}],
        },
        {
            "IpProtocol": "icmp",
            "FromPort": 3,
            "ToPort": 4,
            "IpRanges": [{"CidrIp": source, "Description": f"kubernetes.io/rule/nlb/mtu={NLB}"}],
        },
    ]


def rules_of(ec2, group_id: str, *, egress: bool = False) -> list[dict]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return [rule for rule in rules["SecurityGroupRules"] if rule["IsEgress"] == egress]


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def rule_tags(tag_key: str, value: str) -> list[dict]:
    return [{"ResourceType": "security-group-rule", "Tags": [{"Key": tag_key, "Value": value}]}]


def test_describe_security_group_rules_filters_and_fields(ec2, vpc: dict) -> None:
    first, second, other = (new_group(ec2, vpc) for _ in range(3))
    tag = f"owner-{uuid.uuid4().hex[:8]}"
    ec2.authorize_security_group_ingress(
        GroupId=first, IpPermissions=nlb_rules(), TagSpecifications=rule_tags(tag, "prune")
    )
    ec2.authorize_security_group_ingress(
        GroupId=second,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "v6"}],
                "UserIdGroupPairs": [{"GroupId": first, "Description": "from first"}],
                "PrefixListIds": [{"PrefixListId": "pl-0123456789abcdef0", "Description": "pl"}],
            }
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=other, IpProtocol="tcp", FromPort=1, ToPort=1, CidrIp="10.9.0.0/16"
    )

    both = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [first, second]}]
    )["SecurityGroupRules"]
    assert {rule["GroupId"] for rule in both} == {first, second}
    assert len(both) == 8  # 3 + 3 ingress, and each group's default egress rule
    for rule in both:
        assert rule["GroupOwnerId"] == ACCOUNT_ID
        assert rule["SecurityGroupRuleArn"] == (
            f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:security-group-rule/{rule['SecurityGroupRuleId']}"
        )
    egress = next(rule for rule in both if rule["GroupId"] == first and rule["IsEgress"])
    assert (egress["IpProtocol"], egress["FromPort"], egress["ToPort"]) == ("-1", -1, -1)
    assert egress["CidrIpv4"] == "0.0.0.0/0"
    mtu = next(rule for rule in both if rule.get("Description", "").endswith(f"mtu={NLB}"))
    assert (mtu["IpProtocol"], mtu["FromPort"], mtu["ToPort"], mtu["CidrIpv4"]) == (
        "icmp",
        3,
        4,
        "10.0.0.0/16",
    )
    assert mtu["Tags"] == [{"Key": tag, "Value": "prune"}]
    sources = {
        ("CidrIpv6", "v6"),
        ("ReferencedGroupInfo", "from first"),
        ("PrefixListId", "pl"),
    }
    seen = set()
    for rule in both:
        if rule["GroupId"] == second and not rule["IsEgress"]:
            kind = next(
                k
                for k in ("CidrIpv4", "CidrIpv6", "ReferencedGroupInfo", "PrefixListId")
                if k in rule
            )
            seen.add((kind, rule.get("Description")))
    assert seen == sources
    referenced = next(rule for rule in both if "ReferencedGroupInfo" in rule)
    assert referenced["ReferencedGroupInfo"]["GroupId"] == first

    # IDs are stable, and each way of naming a rule finds it
    again = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [first, second]}]
    )["SecurityGroupRules"]
    assert [r["SecurityGroupRuleId"] for r in again] == [r["SecurityGroupRuleId"] for r in both]
    rule_id = mtu["SecurityGroupRuleId"]
    by_filter = ec2.describe_security_group_rules(
        Filters=[{"Name": "security-group-rule-id", "Values": [rule_id]}]
    )["SecurityGroupRules"]
    by_id = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])["SecurityGroupRules"]
    assert by_filter == by_id == [mtu]
    by_tag = ec2.describe_security_group_rules(
        Filters=[{"Name": f"tag:{tag}", "Values": ["prune"]}]
    )
    by_key = ec2.describe_security_group_rules(Filters=[{"Name": "tag-key", "Values": [tag]}])
    tagged = {rule["SecurityGroupRuleId"] for rule in rules_of(ec2, first)}
    assert {r["SecurityGroupRuleId"] for r in by_tag["SecurityGroupRules"]} == tagged
    assert {r["SecurityGroupRuleId"] for r in by_key["SecurityGroupRules"]} == tagged

    with pytest.raises(ClientError) as caught:
        ec2.describe_security_group_rules(Filters=[{"Name": "description", "Values": ["x"]}])
    assert error_of(caught) == ("InvalidParameterValue", "The filter 'description' is invalid")


def test_describe_security_group_rules_pages(account: OfflineAccount, ec2, vpc: dict) -> None:
    group = new_group(ec2, vpc)
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            }
            for port in range(1, 13)
        ],
    )
    everything = [rule["SecurityGroupRuleId"] for rule in rules_of(ec2, group)]
    everything += [rule["SecurityGroupRuleId"] for rule in rules_of(ec2, group, egress=True)]
    filters = [{"Name": "group-id", "Values": [group]}]

    first = ec2.describe_security_group_rules(Filters=filters, MaxResults=5)
    assert len(first["SecurityGroupRules"]) == 5
    seen = [rule["SecurityGroupRuleId"] for rule in first["SecurityGroupRules"]]
    # a rule of a later page revoked meanwhile: paging goes on without it
    later = next(rule_id for rule_id in everything if rule_id not in seen)
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[later])
    token, pages = first["NextToken"], 1
    while token:
        page = ec2.describe_security_group_rules(Filters=filters, MaxResults=5, NextToken=token)
        assert 0 < len(page["SecurityGroupRules"]) <= 5
        seen += [rule["SecurityGroupRuleId"] for rule in page["SecurityGroupRules"]]
        token, pages = page.get("NextToken"), pages + 1
        assert pages <= 3
    assert sorted(seen) == sorted(set(everything) - {later})  # 12 rules: 5, 5, 2
    assert pages == 3

    unvalidated = unchecked(account, "ec2")
    for size in (4, 1001):
        with pytest.raises(ClientError) as caught:
            unvalidated.describe_security_group_rules(MaxResults=size)
        assert error_of(caught)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as caught:
        ec2.describe_security_group_rules(MaxResults=5, NextToken="not-a-token")
    assert error_of(caught)[0] == "InvalidPaginationToken"
    assert len(ec2.describe_security_group_rules(MaxResults=1000)["SecurityGroupRules"]) >= 12


def test_authorize_with_tags_answers_every_rule(ec2, vpc: dict) -> None:
    group = new_group(ec2, vpc)
    permissions = nlb_rules()
    permissions[0]["IpRanges"] += [{"CidrIp": "10.1.0.0/16"}, {"CidrIp": "10.2.0.0/16"}]
    answer = ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=permissions, TagSpecifications=rule_tags("restore", "me")
    )
    assert answer["Return"] is True
    added = answer["SecurityGroupRules"]
    assert len(added) == 5  # one rule per CIDR: 3 + 1 + 1
    assert all(rule["SecurityGroupRuleId"].startswith("sgr-") for rule in added)
    assert all(rule["Tags"] == [{"Key": "restore", "Value": "me"}] for rule in added)
    assert all((rule["GroupId"], rule["IsEgress"]) == (group, False) for rule in added)
    described = {rule["SecurityGroupRuleId"]: rule for rule in rules_of(ec2, group)}
    assert described == {rule["SecurityGroupRuleId"]: rule for rule in added}


def test_duplicate_rule_fails_the_whole_request(ec2, vpc: dict) -> None:
    group, peer = new_group(ec2, vpc), new_group(ec2, vpc)
    from_peer = {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "UserIdGroupPairs": [{"GroupId": peer, "Description": "from the peer"}],
    }
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[*nlb_rules()[:1], from_peer])
    before = rules_of(ec2, group)
    new = {
        "IpProtocol": "tcp",
        "FromPort": 80,
        "ToPort": 80,
        "IpRanges": [{"CidrIp": "10.3.0.0/16"}],
    }
    duplicate = nlb_rules()[0]
    duplicate["IpRanges"][0]["Description"] = "another description, the same rule"
    peer_again = {**from_peer, "UserIdGroupPairs": [{"GroupId": peer, "Description": "other"}]}
    for permissions in (
        [new, duplicate],
        [new, peer_again],
        [{**new, "IpRanges": new["IpRanges"] * 2}],
    ):
        with pytest.raises(ClientError) as caught:
            ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)
        assert error_of(caught)[0] == "InvalidPermission.Duplicate"
        assert rules_of(ec2, group) == before  # nothing of the request was added


def test_rules_quota(ec2, vpc: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    assert security_group_rules.RULES_PER_SECURITY_GROUP == 60  # AWS's default quota
    group = new_group(ec2, vpc)

    def permission(port: int, count: int = 1, family: str = "IpRanges") -> dict:
        if family == "IpRanges":
            ranges = [{"CidrIp": f"10.{port % 200}.{n}.0/24"} for n in range(count)]
        else:
            ranges = [{"CidrIpv6": f"2001:db8:{port:x}:{n:x}::/64"} for n in range(count)]
        return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, family: ranges}

    ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[permission(port) for port in range(1, 59)]
    )
    assert len(rules_of(ec2, group)) == 58
    # three CIDRs are three rules: 61 > 60, and nothing of the request is added
    with pytest.raises(ClientError) as caught:
        ec2.authorize_security_group_ingress(
            GroupId=group, IpPermissions=[permission(100), permission(101, count=2)]
        )
    assert error_of(caught) == (
        "RulesPerSecurityGroupLimitExceeded",
        "The maximum number of rules per security group has been reached.",
    )
    assert len(rules_of(ec2, group)) == 58
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[permission(101, count=2)])
    with pytest.raises(ClientError) as caught:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[permission(102)])
    assert error_of(caught)[0] == "RulesPerSecurityGroupLimitExceeded"
    # IPv6 rules and outbound rules have quotas of their own
    ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=[permission(103, 2, "Ipv6Ranges")]
    )
    ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[permission(104, count=3)])
    assert len(rules_of(ec2, group)) == 62

    monkeypatch.setattr(security_group_rules, "RULES_PER_SECURITY_GROUP", 2)
    small = new_group(ec2, vpc)
    with pytest.raises(ClientError) as caught:
        ec2.authorize_security_group_ingress(GroupId=small, IpPermissions=[permission(1, count=3)])
    assert error_of(caught)[0] == "RulesPerSecurityGroupLimitExceeded"
    ec2.authorize_security_group_ingress(GroupId=small, IpPermissions=[permission(1, count=2)])


def test_revoke_by_rule_ids_is_all_or_nothing(ec2, vpc: dict) -> None:
    group, other = new_group(ec2, vpc), new_group(ec2, vpc)
    added = ec2.authorize_security_group_ingress(
        GroupId=group, IpPermissions=nlb_rules(), TagSpecifications=rule_tags("leaked", NLB)
    )["SecurityGroupRules"]
    client, health, mtu = (rule["SecurityGroupRuleId"] for rule in added)
    elsewhere = ec2.authorize_security_group_ingress(GroupId=other, IpPermissions=nlb_rules()[:1])[
        "SecurityGroupRules"
    ][0]["SecurityGroupRuleId"]
    outbound = rules_of(ec2, group, egress=True)[0]["SecurityGroupRuleId"]

    # by rule IDs, AWS names the first one the group does not have (in that direction)
    for stranger in ("sgr-0123456789abcdef0", elsewhere, outbound):
        with pytest.raises(ClientError) as caught:
            ec2.revoke_security_group_ingress(
                GroupId=group, SecurityGroupRuleIds=[client, stranger, "sgr-0fedcba9876543210"]
            )
        assert error_of(caught) == (
            "InvalidSecurityGroupRuleId.NotFound",
            f"The security group rule ID '{stranger}' does not exist",
        )
        assert len(rules_of(ec2, group)) == 3  # nothing revoked
    # by properties, a rule the group does not have is InvalidPermission.NotFound
    with pytest.raises(ClientError) as caught:
        ec2.revoke_security_group_ingress(
            GroupId=group, IpPermissions=[*nlb_rules()[:1], *nlb_rules("10.9.0.0/16")[:1]]
        )
    assert error_of(caught)[0] == "InvalidPermission.NotFound"
    assert len(rules_of(ec2, group)) == 3

    answer = ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[client, health])
    assert answer["Return"] is True
    assert answer["UnknownIpPermissions"] == []
    revoked = {rule["SecurityGroupRuleId"]: rule for rule in answer["RevokedSecurityGroupRules"]}
    assert set(revoked) == {client, health}
    assert revoked[client]["Description"] == f"kubernetes.io/rule/nlb/client={NLB}"
    assert [rule["SecurityGroupRuleId"] for rule in rules_of(ec2, group)] == [mtu]
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [client, health, mtu]}])
    assert {tag["ResourceId"] for tag in tags["Tags"]} == {mtu}  # tags went with their rules
    with pytest.raises(ClientError) as caught:
        ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[client])
    assert error_of(caught)[0] == "InvalidSecurityGroupRuleId.NotFound"
    ec2.delete_security_group(GroupId=group)
    with pytest.raises(ClientError) as caught:
        ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[mtu])
    assert error_of(caught)[0] == "InvalidGroup.NotFound"


def test_tags_and_modification_of_rules(ec2, vpc: dict) -> None:
    group = new_group(ec2, vpc)
    rule_id = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=nlb_rules()[:1])[
        "SecurityGroupRules"
    ][0]["SecurityGroupRuleId"]
    ec2.create_tags(Resources=[rule_id], Tags=[{"Key": "eksops/pruned", "Value": "no"}])
    found = ec2.describe_security_group_rules(
        Filters=[{"Name": "tag:eksops/pruned", "Values": ["no"]}]
    )["SecurityGroupRules"]
    assert [rule["SecurityGroupRuleId"] for rule in found] == [rule_id]
    ec2.delete_tags(Resources=[rule_id], Tags=[{"Key": "eksops/pruned"}])
    (rule,) = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])[
        "SecurityGroupRules"
    ]
    assert rule["Tags"] == []

    ec2.modify_security_group_rules(
        GroupId=group,
        SecurityGroupRules=[
            {
                "SecurityGroupRuleId": rule_id,
                "SecurityGroupRule": {
                    "IpProtocol": "tcp",
                    "FromPort": 32000,
                    "ToPort": 32000,
                    "CidrIpv4": "10.4.0.0/16",
                    "Description": "moved",
                },
            }
        ],
    )
    (rule,) = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])[
        "SecurityGroupRules"
    ]
    assert (rule["FromPort"], rule["ToPort"], rule["CidrIpv4"], rule["Description"]) == (
        32000,
        32000,
        "10.4.0.0/16",
        "moved",
    )


def test_describe_security_groups_by_cluster_tags(ec2) -> None:
    vpc_id = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    only_here = {"Name": "vpc-id", "Values": [vpc_id]}
    own = {"VpcId": vpc_id}
    groups = {
        "owned": new_group(ec2, own, {"kubernetes.io/cluster/demo": "owned"}),
        "shared": new_group(ec2, own, {"kubernetes.io/cluster/demo": "shared"}),
        "prefix": new_group(ec2, own, {"kubernetes.io/cluster/demo-2": "owned"}),
        "other": new_group(ec2, own, {"kubernetes.io/cluster/other": "unknown"}),
        "none": new_group(ec2, own, {"Name": "kubernetes.io/cluster/demo"}),
    }

    def named(*filters: dict) -> set[str]:
        found = ec2.describe_security_groups(Filters=[only_here, *filters])["SecurityGroups"]
        ids = {group["GroupId"] for group in found}
        return {name for name, group_id in groups.items() if group_id in ids}

    assert named({"Name": "tag-key", "Values": ["kubernetes.io/cluster/*"]}) == {
        "owned",
        "shared",
        "prefix",
        "other",
    }
    assert named({"Name": "tag-key", "Values": ["kubernetes.io/cluster/demo"]}) == {
        "owned",
        "shared",
    }
    assert named({"Name": "tag:kubernetes.io/cluster/demo", "Values": ["owned", "shared"]}) == {
        "owned",
        "shared",
    }
    assert named({"Name": "tag:kubernetes.io/cluster/demo", "Values": ["owned"]}) == {"owned"}


def create_nlb(elbv2, vpc: dict, name: str, scheme: str = "internal") -> dict:
    return elbv2.create_load_balancer(
        Name=name, Subnets=vpc["Subnets"], Type="network", Scheme=scheme
    )["LoadBalancers"][0]


def test_network_load_balancer_lifecycle(elbv2, vpc: dict) -> None:
    name = f"a{uuid.uuid4().hex[:31]}"
    created = create_nlb(elbv2, vpc, name)
    arn = created["LoadBalancerArn"]
    prefix = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_ID}:loadbalancer/net/{name}/"
    assert arn.startswith(prefix)
    assert created["DNSName"] == f"{name}-{arn.rsplit('/', 1)[1]}.elb.{REGION}.amazonaws.com"
    assert (created["Type"], created["Scheme"], created["VpcId"]) == (
        "network",
        "internal",
        vpc["VpcId"],
    )
    assert sorted(zone["SubnetId"] for zone in created["AvailabilityZones"]) == sorted(
        vpc["Subnets"]
    )
    (described,) = elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
    assert described["State"]["Code"] == "active"
    # the same request again answers the same load balancer; other settings are refused
    assert create_nlb(elbv2, vpc, name)["LoadBalancerArn"] == arn
    with pytest.raises(ClientError) as caught:
        create_nlb(elbv2, vpc, name, scheme="internet-facing")
    assert error_of(caught)[0] == "DuplicateLoadBalancerName"
    assert len(elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]) == 1

    elbv2.delete_load_balancer(LoadBalancerArn=arn)
    elbv2.delete_load_balancer(LoadBalancerArn=arn)  # deleting a deleted one succeeds, as in AWS
    with pytest.raises(ClientError) as caught:
        elbv2.describe_load_balancers(Names=[name])
    assert error_of(caught)[0] == "LoadBalancerNotFound"


def test_describe_load_balancers_pages(account: OfflineAccount, elbv2, vpc: dict) -> None:
    names = [f"page-{uuid.uuid4().hex[:8]}-{n}" for n in range(5)]
    for name in names:
        create_nlb(elbv2, vpc, name)
    everything = [lb["LoadBalancerName"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]]
    assert set(names) <= set(everything)
    assert "NextMarker" not in elbv2.describe_load_balancers()

    first = elbv2.describe_load_balancers(PageSize=2)
    seen = [lb["LoadBalancerName"] for lb in first["LoadBalancers"]]
    assert len(seen) == 2
    # the load balancer the marker was made after is deleted: paging goes on
    last = first["LoadBalancers"][-1]["LoadBalancerArn"]
    elbv2.delete_load_balancer(LoadBalancerArn=last)
    marker, pages = first["NextMarker"], 1
    while marker:
        page = elbv2.describe_load_balancers(PageSize=2, Marker=marker)
        seen += [lb["LoadBalancerName"] for lb in page["LoadBalancers"]]
        marker, pages = page.get("NextMarker"), pages + 1
        assert pages <= len(everything)
    assert seen == everything

    unvalidated = unchecked(account, "elbv2")
    for size in (0, 401):
        with pytest.raises(ClientError) as caught:
            unvalidated.describe_load_balancers(PageSize=size)
        assert error_of(caught)[0] == "ValidationError"
    with pytest.raises(ClientError) as caught:
        elbv2.describe_load_balancers(Marker="not-a-marker")
    assert error_of(caught)[0] == "ValidationError"


def test_describe_load_balancers_by_missing_name_fails(elbv2, vpc: dict) -> None:
    name = f"named-{uuid.uuid4().hex[:8]}"
    arn = create_nlb(elbv2, vpc, name)["LoadBalancerArn"]
    missing_arn = arn.replace(f"/{name}/", "/missing/")
    for request in (
        {"Names": [name, "missing"]},
        {"Names": ["missing", name]},
        {"LoadBalancerArns": [arn, missing_arn]},
    ):
        with pytest.raises(ClientError) as caught:
            elbv2.describe_load_balancers(**request)
        assert error_of(caught)[0] == "LoadBalancerNotFound"
    found = elbv2.describe_load_balancers(Names=[name, name])["LoadBalancers"]
    assert [lb["LoadBalancerArn"] for lb in found] == [arn]
