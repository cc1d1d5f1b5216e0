"""PruneSecurityGroupRulesStateMachine at scale: API calls against the floor, wall time, and the
same figures for Cloud Custodian's ``remove-permissions`` on the same security groups.

The fixture, built on the offline account from a fixed seed: ``GROUPS`` security groups of one
cluster (tagged kubernetes.io/cluster/<name>=owned) in one VPC, ``RULES_PER_GROUP`` inbound rules
each (under EC2's quota of 60), as the Kubernetes service controller and people leave them:

- health and client rules of ``LIVE_LOAD_BALANCERS`` NLBs that exist (kept), some in the older
  format with their own ``mtu=<lb>`` rule;
- the same of NLBs that no longer exist (stale), a quarter of them in the older format;
- bare ``mtu`` rules, one per client CIDR: stale when only rules of deleted NLBs use the CIDR,
  kept when a live NLB's client rule does too;
- manual rules (some tagged), among them a few whose description starts like the controller's
  but is none of its formats (kept);
- a few groups with nothing stale.

Which rules are stale is decided while the fixture is generated (by construction, not by
eksops' classifier), and afterwards the benchmark checks that exactly those are gone.

eksops: one enforce execution with the clusterName, its Lambda workers warmed by a small run
first (a cold start per worker is Lambda's business, not the algorithm's). Every AWS call the
account serves meanwhile is counted by operation (the harness' own Step Functions calls aside);
the floor per operation: DescribeSecurityGroups 1 page, DescribeSecurityGroupRules
ceil(rules / 1000) pages per 200 groups, DescribeLoadBalancers ceil(load balancers / 400) pages,
RevokeSecurityGroupIngress one per group with stale rules. Wall time: the execution's start to
stop.

Cloud Custodian (PyPI ``c7n``, installed into .venv/c7n on first use; skipped with the reason
when that fails): the same fixture rebuilt on a fresh account, ``custodian run`` of a policy on
``aws.security-group`` with the cluster's tag and the ``ingress`` filter
``Description: kubernetes.io/rule/nlb/.*`` (regex): the closest it comes, as it cannot know
which load balancers exist; ``remove-permissions ingress: matched``. Counted the same way; wall
time of the ``custodian`` process, and c7n's own reported duration of the policy.

The offline account's EC2 and DynamoDB are moto's, whose cost per request is far above AWS's
and grows with what the account holds: wall times compare the two tools on the same engine, not
what either takes on AWS. Call counts do not depend on the engine.

`make bench` runs it (benchmarks/run.py); alone: `.venv/bin/python benchmarks/prune_rules.py`
(exit status 1 when eksops removed other rules than exactly the stale ones).
BENCH_SKIP_C7N=1 leaves Cloud Custodian out; BENCH_PRUNE_GROUPS (default 200) makes the fixture
smaller for a quick look; BENCH_TIME_SCALE (default 0.02) scales the workflow's Retry intervals.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-west-2"
WORKFLOW = "PruneSecurityGroupRulesStateMachine"
CLUSTER = "bench"
SEED = 20261123
GROUPS = int(os.environ.get("BENCH_PRUNE_GROUPS", "200"))
RULES_PER_GROUP = 50
LIVE_LOAD_BALANCERS = 10
GONE_LOAD_BALANCERS = 60  # names of deleted NLBs the groups draw their leftovers from
TIME_SCALE = float(os.environ.get("BENCH_TIME_SCALE", "0.02"))
NLB = "kubernetes.io/rule/nlb/"
VPC_CIDR = "10.0.0.0/16"
# floor arithmetic, as AWS pages (security_group_scan uses the same limits)
FILTER_VALUES = 200  # group IDs per DescribeSecurityGroupRules filter
RULES_PAGE = 1000  # DescribeSecurityGroupRules MaxResults
LOAD_BALANCERS_PAGE = 400  # DescribeLoadBalancers PageSize
C7N_REQUIREMENT = "c7n==0.9.53"
C7N_VENV = ROOT / ".venv" / "c7n"
C7N_FILTER = f"{NLB}.*"
# what the harness itself asks Step Functions (start, follow): not the workflow's calls
HARNESS_SERVICES = {"states"}
FOLLOW_INTERVAL = 5.0  # the harness' polls of the execution; they take the engine's time too

STALE, LIVE_NLB, MTU_IN_USE, MANUAL = "stale", "live NLB", "shared MTU in use", "manual"


@dataclass(frozen=True)
class RuleSpec:
    """One inbound rule of the fixture, and what it is by construction."""

    protocol: str
    ports: tuple[int, int]
    cidr: str
    description: str
    kind: str  # STALE, LIVE_NLB, MTU_IN_USE or MANUAL
    tagged: bool = False

    @property
    def key(self) -> tuple[str, int, int, str]:
        """What makes a rule unique in its group (EC2 refuses a duplicate whatever its
        description)."""
        return (self.protocol, self.ports[0], self.ports[1], self.cidr)


@dataclass(frozen=True)
class GroupSpec:
    name: str
    rules: list[RuleSpec]


def live_names() -> list[str]:
    return [f"{CLUSTER}-live-{i:02d}" for i in range(LIVE_LOAD_BALANCERS)]


def _client_cidr_of_live(index: int) -> str:
    # three public NLBs share 0.0.0.0/0 (and so one MTU rule); the others have their own
    return "0.0.0.0/0" if index < 3 else f"198.18.{index}.0/24"


def _load_balancer_rules(
    name: str, port: int, client: str, older_format: bool, kind: str
) -> list[RuleSpec]:
    rules = [
        RuleSpec("tcp", (port, port), VPC_CIDR, f"{NLB}health={name}", kind),
        RuleSpec("tcp", (port, port), client, f"{NLB}client={name}", kind),
    ]
    if older_format:  # its own MTU rule, named, for a CIDR no other load balancer uses
        rules.append(RuleSpec("icmp", (3, 4), client, f"{NLB}mtu={name}", kind))
    return rules


MANUAL_PORTS = (22, 443, 8443, 9100, 10250, 5432, 6379, 3000)
MANUAL_DESCRIPTIONS = ("bastion", "office VPN", "", "monitoring", "CI runners", "vendor")


def _group(rng: random.Random, index: int) -> GroupSpec:
    live = live_names()
    chosen_live = sorted(rng.sample(range(LIVE_LOAD_BALANCERS), rng.randint(2, 4)))
    clean = rng.random() < 0.05  # nothing stale in this group
    gone = [] if clean else sorted(rng.sample(range(GONE_LOAD_BALANCERS), rng.randint(11, 13)))
    rules: list[RuleSpec] = []
    live_cidrs: set[str] = set()
    for i in chosen_live:
        older = i >= LIVE_LOAD_BALANCERS - 2
        client = f"100.65.{i}.0/24" if older else _client_cidr_of_live(i)
        rules += _load_balancer_rules(live[i], 30000 + i, client, older, LIVE_NLB)
        if not older:
            live_cidrs.add(client)
    gone_cidrs: set[str] = set()
    for j in gone:
        name = f"{CLUSTER}-gone-{j:03d}"
        older = rng.random() < 0.25
        if older:
            client = f"100.64.{j}.0/24"
        elif live_cidrs and rng.random() < 0.25:
            client = rng.choice(sorted(live_cidrs))  # its MTU rule is still in use
        else:
            client = f"198.19.{j % 20}.0/24"  # 20 CIDRs: some deleted NLBs shared one
        rules += _load_balancer_rules(name, 31000 + j, client, older, STALE)
        if not older:
            gone_cidrs.add(client)
    for cidr in sorted(live_cidrs | gone_cidrs):
        kind = MTU_IN_USE if cidr in live_cidrs else STALE
        rules.append(RuleSpec("icmp", (3, 4), cidr, f"{NLB}mtu", kind))
    while len(rules) > RULES_PER_GROUP - 4:  # room for a few manual rules at least
        # only rules of deleted NLBs go, none of which keeps a bare MTU rule: what is stale
        # stays stale
        rules.pop(next(i for i, rule in enumerate(rules) if rule.kind == STALE))
    decoys = [
        f"{NLB}health={CLUSTER}-gone-{rng.randrange(GONE_LOAD_BALANCERS):03d} (copy)",
        f"{NLB}client={rng.choice(live)} temporary",
        f"{NLB}mtu for the VPN",
    ]
    manual = 0
    while len(rules) < RULES_PER_GROUP:
        if manual < len(decoys) and rng.random() < 0.3:
            description = decoys[manual]
        else:
            description = MANUAL_DESCRIPTIONS[manual % len(MANUAL_DESCRIPTIONS)]
        port = MANUAL_PORTS[manual % len(MANUAL_PORTS)]
        cidr = f"172.16.{manual}.0/24"
        tagged = manual == 0 and index % 10 == 0  # a few: moto looks tags up by scanning them all
        rules.append(RuleSpec("tcp", (port, port), cidr, description, MANUAL, tagged))
        manual += 1
    if len({rule.key for rule in rules}) != len(rules):
        raise RuntimeError(f"the fixture's group {index} has a rule twice")
    return GroupSpec(f"{CLUSTER}-nodes-{index:03d}", rules)


def fixture_specs(seed: int = SEED, groups: int = GROUPS) -> list[GroupSpec]:
    rng = random.Random(seed)  # noqa: S311 - a fixture, not a secret
    return [_group(rng, index) for index in range(groups)]


@dataclass
class Fixture:
    groups: dict[str, str]  # name -> group ID
    rules: dict[str, tuple[str, RuleSpec]]  # inbound rule ID -> its group ID and spec
    load_balancers: int
    egress: Counter[str] = field(default_factory=Counter)  # group ID -> outbound rules

    def ids_of(self, *kinds: str) -> set[str]:
        return {rule_id for rule_id, (_, spec) in self.rules.items() if spec.kind in kinds}

    def groups_with_stale(self) -> int:
        return len({group for group, spec in self.rules.values() if spec.kind == STALE})

    def group_ids(self) -> list[str]:
        return sorted(self.groups.values())

    def rules_of(self, group_ids: list[str]) -> int:
        """The groups' rules before the prune, inbound and outbound, as DescribeSecurityGroupRules
        lists them."""
        wanted = set(group_ids)
        inbound = sum(group in wanted for group, _ in self.rules.values())
        return inbound + sum(self.egress[group] for group in wanted)


def _permission(spec: RuleSpec) -> dict[str, Any]:
    source = {"CidrIp": spec.cidr}
    if spec.description:
        source["Description"] = spec.description
    return {
        "IpProtocol": spec.protocol,
        "FromPort": spec.ports[0],
        "ToPort": spec.ports[1],
        "IpRanges": [source],
    }


def _key_of(rule: dict[str, Any]) -> tuple[str, int, int, str]:
    return (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["CidrIpv4"])


def _vpc(ec2: Any) -> tuple[str, list[str]]:
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    return vpc, subnets


def _create_group(ec2: Any, vpc: str, name: str, cluster: str) -> str:
    tag = {"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned"}
    return ec2.create_security_group(
        GroupName=name,
        Description=f"{cluster} nodes",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [tag]}],
    )["GroupId"]


def build(account: Any, specs: list[GroupSpec]) -> Fixture:
    """The groups and their rules in a new VPC, with ``LIVE_LOAD_BALANCERS`` NLBs in it; a
    group's untagged rules in one AuthorizeSecurityGroupIngress, its tagged ones in another."""
    ec2, elbv2 = account.client("ec2"), account.client("elbv2")
    vpc, subnets = _vpc(ec2)
    for name in live_names():
        elbv2.create_load_balancer(Name=name, Type="network", Subnets=subnets)
    fixture = Fixture({}, {}, LIVE_LOAD_BALANCERS)
    owner = [{"ResourceType": "security-group-rule", "Tags": [{"Key": "owner", "Value": "ops"}]}]
    for group in specs:
        group_id = _create_group(ec2, vpc, group.name, CLUSTER)
        fixture.groups[group.name] = group_id
        by_key = {spec.key: spec for spec in group.rules}
        for tagged in (False, True):
            permissions = [_permission(spec) for spec in group.rules if spec.tagged is tagged]
            if not permissions:
                continue
            request: dict[str, Any] = {"GroupId": group_id, "IpPermissions": permissions}
            if tagged:
                request["TagSpecifications"] = owner
            made = ec2.authorize_security_group_ingress(**request)["SecurityGroupRules"]
            for rule in made:
                fixture.rules[rule["SecurityGroupRuleId"]] = (group_id, by_key[_key_of(rule)])
    if len(fixture.rules) != sum(len(group.rules) for group in specs):
        raise RuntimeError("the offline account made other rules than the fixture asked for")
    return fixture


def removed_rules(ec2: Any, fixture: Fixture) -> set[str]:
    """The fixture's inbound rules that are gone (and the groups' outbound rules noted, which
    no tool touches). Every rule of the account is read and the fixture's picked here: moto's
    group-id filter costs a regex per rule and filter value, seconds per page at this size."""
    pages = ec2.get_paginator("describe_security_group_rules").paginate(MaxResults=RULES_PAGE)
    groups = set(fixture.groups.values())
    rules = [r for page in pages for r in page["SecurityGroupRules"] if r["GroupId"] in groups]
    fixture.egress = Counter(rule["GroupId"] for rule in rules if rule["IsEgress"])
    return set(fixture.rules) - {r["SecurityGroupRuleId"] for r in rules if not r["IsEgress"]}


def floor(fixture: Fixture) -> dict[str, int]:
    """The fewest calls per operation that can do the job (the issue's efficiency target)."""
    ids = fixture.group_ids()
    chunks = [ids[i : i + FILTER_VALUES] for i in range(0, len(ids), FILTER_VALUES)]
    return {
        "ec2:DescribeSecurityGroups": 1,
        "ec2:DescribeSecurityGroupRules": sum(
            math.ceil(fixture.rules_of(chunk) / RULES_PAGE) for chunk in chunks
        ),
        "elasticloadbalancing:DescribeLoadBalancers": max(
            math.ceil(fixture.load_balancers / LOAD_BALANCERS_PAGE), 1
        ),
        "ec2:RevokeSecurityGroupIngress": fixture.groups_with_stale(),
    }


@dataclass(frozen=True)
class Run:
    """One tool's run on the fixture."""

    fixture: Fixture  # as built on the run's account (rule IDs differ between accounts)
    calls: Counter[str]  # action -> calls the account served (the harness' own left out)
    seconds: float
    removed: set[str]  # the fixture's inbound rule IDs gone afterwards
    detail: dict[str, Any] = field(default_factory=dict)

    def removed_kinds(self) -> Counter[str]:
        return Counter(self.fixture.rules[rule_id][1].kind for rule_id in self.removed)

    def live_load_balancers_hit(self) -> int:
        """How many live NLBs lost a rule of theirs (health, client or named MTU)."""
        return len(
            {
                spec.description.split("=", 1)[1]
                for rule_id in self.removed
                if (spec := self.fixture.rules[rule_id][1]).kind == LIVE_NLB
            }
        )


def _counted(calls: list[Any]) -> Counter[str]:
    return Counter(call.action for call in calls if call.service not in HARNESS_SERVICES)


def enforce(cluster: str, rules: int) -> dict[str, Any]:
    """The workflow's input: enforce, with blast radius limits that let every stale rule of
    ``rules`` go (the stack's default limit per run is lower)."""
    return {
        "clusterName": cluster,
        "mode": "enforce",
        "maxRulesPerGroup": RULES_PER_GROUP,
        "maxRulesPerRun": rules,
    }


def _execute(account: Any, name: str, request: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """An execution of the workflow, followed to its end: its output and its wall time."""
    from eksops.execution_history import follow

    sfn = account.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=account.resource(WORKFLOW), name=name, input=json.dumps(request)
    )["executionArn"]
    follow(sfn, arn, sleep=time.sleep, clock=time.monotonic, max_interval=FOLLOW_INTERVAL)
    described = sfn.describe_execution(executionArn=arn)
    if described["status"] != "SUCCEEDED":  # a broken workflow is no measurement
        cause = str(described.get("cause"))[:2000]
        raise RuntimeError(f"{WORKFLOW} {described['status']}: {described.get('error')}: {cause}")
    seconds = (described["stopDate"] - described["startDate"]).total_seconds()
    return json.loads(described["output"]), seconds


WARM_UP_GROUPS = 10  # the Map's MaxConcurrency: as many RevokeRules workers as it runs at once


def _warm_up(account: Any) -> float:
    """A small enforce run of another cluster, so that the measured one finds warm Lambda
    workers (StartPrune, PlanPrune, and as many RevokeRules as run at once); its wall time."""
    ec2 = account.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": [VPC_CIDR]}])["Vpcs"][0]["VpcId"]
    cluster = f"{CLUSTER}-warm-up"
    for index in range(WARM_UP_GROUPS):
        group = _create_group(ec2, vpc, f"{cluster}-{index}", cluster)
        spec = RuleSpec("tcp", (31999, 31999), VPC_CIDR, f"{NLB}health={cluster}-gone", STALE)
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[_permission(spec)])
    output, seconds = _execute(account, "warm-up", enforce(cluster, WARM_UP_GROUPS))
    if output["plan"]["staleRules"] != WARM_UP_GROUPS:
        raise RuntimeError(f"warm-up: {output['plan']['staleRules']} stale rules, not 10")
    return seconds


def measure_eksops(specs: list[GroupSpec]) -> Run:
    from eksops.local.account import OfflineAccount

    template = ROOT / "template.yaml"
    with OfflineAccount(region=REGION, template=template, time_scale=TIME_SCALE) as account:
        started = time.perf_counter()
        fixture = build(account, specs)
        built = time.perf_counter() - started
        warm_up = _warm_up(account)
        with account.recording() as calls:
            output, seconds = _execute(account, "bench", enforce(CLUSTER, len(fixture.rules)))
        removed = removed_rules(account.client("ec2"), fixture)
    plan = output["plan"]
    detail = {
        "built": built,
        "warm_up": warm_up,
        "groups": plan["groupsScanned"],
        "scanned": plan["rulesScanned"],
        "stale": plan["staleRules"],
        "revoked": sum(group["revoked"] for group in output["revoked"]),
    }
    return Run(fixture, _counted(calls), seconds, removed, detail)


# --- Cloud Custodian -------------------------------------------------------------------------


def c7n_custodian() -> tuple[Path | None, str]:
    """The ``custodian`` command of .venv/c7n, installed there on first use; None and the
    reason when it cannot be."""
    custodian = C7N_VENV / "bin" / "custodian"
    marker = C7N_VENV / ".installed"
    if custodian.exists() and marker.exists() and marker.read_text() == C7N_REQUIREMENT:
        return custodian, ""
    pip = [str(C7N_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(C7N_VENV)],
            capture_output=True,
            text=True,
            check=True,
        )
        subprocess.run(
            [*pip, "--disable-pip-version-check", C7N_REQUIREMENT],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        output = getattr(exc, "stderr", None) or str(exc)
        return None, f"`pip install {C7N_REQUIREMENT}` into {C7N_VENV} failed: {output[-600:]}"
    marker.write_text(C7N_REQUIREMENT)
    return custodian, ""


C7N_POLICY = "remove-nlb-rules"


def c7n_policy() -> dict[str, Any]:
    """The closest Cloud Custodian comes: rules whose description looks like the controller's
    (it cannot ask which load balancers exist), in the cluster's groups."""
    return {
        "policies": [
            {
                "name": C7N_POLICY,
                "resource": "aws.security-group",
                "filters": [
                    {f"tag:kubernetes.io/cluster/{CLUSTER}": "owned"},
                    {"type": "ingress", "Description": {"value": C7N_FILTER, "op": "regex"}},
                ],
                "actions": [{"type": "remove-permissions", "ingress": "matched"}],
            }
        ]
    }


def measure_c7n(specs: list[GroupSpec], custodian: Path) -> Run:
    """``custodian run`` of c7n_policy on the same fixture, on a fresh account (no stack: c7n
    needs none)."""
    from eksops.local.account import OfflineAccount

    with (
        OfflineAccount(region=REGION, template=None, time_scale=TIME_SCALE) as account,
        tempfile.TemporaryDirectory() as work,
    ):
        fixture = build(account, specs)
        # the account's first request of a service costs it seconds (it looks the service up
        # among botocore's models): made here, not in c7n's time
        account.client("sts").get_caller_identity()
        policy = Path(work) / "policy.yml"
        policy.write_text(json.dumps(c7n_policy(), indent=2))  # JSON is YAML
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env |= account.environment | {
            "HOME": work,  # no ~/.aws, no c7n cache of another run
            "AWS_CONFIG_FILE": f"{work}/config",
            "AWS_SHARED_CREDENTIALS_FILE": f"{work}/credentials",
        }
        command = [str(custodian), "run", "--region", REGION, "--cache-period", "0"]
        command += ["-s", f"{work}/out", str(policy)]
        with account.recording() as calls:
            started = time.perf_counter()
            result = subprocess.run(command, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
        if result.returncode:
            raise RuntimeError(f"custodian run failed:\n{result.stderr[-2000:]}")
        removed = removed_rules(account.client("ec2"), fixture)
        output = Path(work) / "out" / C7N_POLICY
        metadata = json.loads((output / "metadata.json").read_text())
        matched = json.loads((output / "resources.json").read_text())
    detail = {
        "duration": metadata["execution"]["duration"],
        "version": metadata.get("version", "?"),
        "groups": len(matched),
    }
    return Run(fixture, _counted(calls), seconds, removed, detail)


# --- report --------------------------------------------------------------------------------


def _ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "-"


def report_fixture(fixture: Fixture, built: float) -> None:
    inbound = len(fixture.rules)
    kinds = Counter(spec.kind for _, spec in fixture.rules.values())
    decoys = sum(
        spec.kind == MANUAL and spec.description.startswith(NLB)
        for _, spec in fixture.rules.values()
    )
    print(
        f"fixture (seed {SEED}, built in {built:.0f} s): {len(fixture.groups)} groups,"
        f" {inbound} inbound rules (+{sum(fixture.egress.values())} outbound),"
        f" {fixture.load_balancers} live NLBs\nstale by construction: {kinds[STALE]}"
        f" ({kinds[STALE] / inbound:.1%}) in {fixture.groups_with_stale()} groups; kept:"
        f" {kinds[LIVE_NLB]} rules of live NLBs, {kinds[MTU_IN_USE]} shared MTU rules in use,"
        f" {kinds[MANUAL]} manual ({decoys} described like '{NLB}...' but in none of its formats)"
    )


def report_eksops(run: Run) -> bool:
    """Prints the run against the floor; True when exactly the stale rules are gone."""
    fixture = run.fixture
    expected = fixture.ids_of(STALE)
    exact = run.removed == expected
    detail = run.detail
    print(
        f"eksops, enforce ({detail['warm_up']:.1f} s warm-up run first: {WARM_UP_GROUPS} groups"
        f" of another cluster, cold Lambda workers)\n  groups {detail['groups']}, rules scanned"
        f" {detail['scanned']} (inbound and outbound), stale found {detail['stale']} vs expected"
        f" {len(expected)}, rules revoked {detail['revoked']}\n  afterwards exactly the stale"
        f" rules are gone: {'yes' if exact else 'NO'}"
    )
    if not exact:
        print(
            f"  MISMATCH: {len(expected - run.removed)} stale rules left, "
            f"{len(run.removed - expected)} other rules removed"
        )
    print(f"  wall time of the execution: {run.seconds:.1f} s")
    floors = floor(fixture)
    print(f"  {'operation':44} {'calls':>6} {'floor':>6} {'calls/floor':>11}")
    for action, least in floors.items():
        calls = run.calls[action]
        print(f"  {action:44} {calls:6d} {least:6d} {_ratio(calls, least):>11}")
    others = sorted((action, n) for action, n in run.calls.items() if action not in floors)
    print(
        f"  other calls (no floor set; {sum(n for _, n in others)} in all): "
        + ", ".join(f"{action} {count}" for action, count in others)
    )
    return exact


def report_side_by_side(eksops: Run, c7n: Run) -> None:
    print(
        f"\n## eksops vs Cloud Custodian {c7n.detail['version']} remove-permissions (ingress"
        f" Description regex '{C7N_FILTER}'), same fixture, fresh account"
    )
    aws = ("ec2:", "elasticloadbalancing:")
    rows: list[tuple[str, float, float]] = [
        ("AWS calls", sum(eksops.calls.values()), sum(c7n.calls.values())),
        (
            "  EC2 and ELBv2 calls",
            sum(n for action, n in eksops.calls.items() if action.startswith(aws)),
            sum(n for action, n in c7n.calls.items() if action.startswith(aws)),
        ),
    ]
    rows += [
        (f"    {action}", eksops.calls[action], c7n.calls[action])
        for action in sorted(set(eksops.calls) | set(c7n.calls))
        if action.startswith(aws)
    ]
    rows += [
        (f"  {action}", eksops.calls[action], c7n.calls[action])
        for action in sorted(set(eksops.calls) | set(c7n.calls))
        if not action.startswith(aws)
    ]
    print(f"{'':50} {'eksops':>8} {'c7n':>8} {'eksops/c7n':>10}")
    for label, ours, theirs in rows:
        print(f"{label:50} {ours:8.0f} {theirs:8.0f} {_ratio(ours, theirs):>10}")
    wall = "wall time, s (eksops: execution; c7n: process)"
    ratio = _ratio(eksops.seconds, c7n.seconds)
    print(f"{wall:50} {eksops.seconds:8.1f} {c7n.seconds:8.1f} {ratio:>10}")
    alone = "  c7n: the policy's own duration, s"
    duration = c7n.detail["duration"]
    print(f"{alone:50} {'':8} {duration:8.1f} {_ratio(eksops.seconds, duration):>10}")
    ours, theirs = eksops.removed_kinds(), c7n.removed_kinds()
    stale = len(eksops.fixture.ids_of(STALE))
    print(f"{'rules removed':50} {len(eksops.removed):8d} {len(c7n.removed):8d}")
    print(f"{f'  stale (of {stale})':50} {ours[STALE]:8d} {theirs[STALE]:8d}")
    for kind in (LIVE_NLB, MTU_IN_USE, MANUAL):
        print(f"{'  NOT stale: ' + kind:50} {ours[kind]:8d} {theirs[kind]:8d}")
    hit = [run.live_load_balancers_hit() for run in (eksops, c7n)]
    label = f"live NLBs (of {eksops.fixture.load_balancers}) that lost rules"
    print(f"{label:50} {hit[0]:8d} {hit[1]:8d}")
    print(f"{'stale rules left':50} {stale - ours[STALE]:8d} {stale - theirs[STALE]:8d}")
    print(
        f"c7n matched {c7n.detail['groups']} groups. It matches descriptions only: it cannot tell"
        " a deleted NLB's rules from a\nlive one's, nor a shared MTU rule still in use from one"
        " no client rule needs, nor a manual rule\nthat merely looks like the controller's."
    )


def bench_prune_rules() -> bool:
    """Runs both and prints the figures; True when eksops removed exactly the stale rules."""
    # the account deploys the template; aws-sam-translator then warns about its own
    # unpublished usage metrics, which say nothing about eksops
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    print(
        f"\n## {WORKFLOW}: {GROUPS} groups x {RULES_PER_GROUP} inbound rules, calls against the"
        f" floor (offline account, time scale {TIME_SCALE:g})",
        flush=True,
    )
    specs = fixture_specs()
    eksops = measure_eksops(specs)
    report_fixture(eksops.fixture, eksops.detail["built"])
    exact = report_eksops(eksops)
    sys.stdout.flush()
    if os.environ.get("BENCH_SKIP_C7N"):
        print("\nCloud Custodian: skipped (BENCH_SKIP_C7N is set)")
        return exact
    custodian, reason = c7n_custodian()
    if custodian is None:
        print(f"\nCloud Custodian: skipped: {reason}")
        return exact
    try:
        c7n = measure_c7n(specs, custodian)
    except (RuntimeError, OSError, KeyError, ValueError) as exc:
        print(f"\nCloud Custodian: no measurement: {exc}")
        return exact
    report_side_by_side(eksops, c7n)
    return exact


def main() -> int:
    return 0 if bench_prune_rules() else 1  # wrong rules removed is a defect, not a figure


if __name__ == "__main__":
    sys.exit(main())
