"""PruneSecurityGroupRulesStateMachine and RestoreSecurityGroupRulesStateMachine on the offline
account: the real ASL, handlers, ledger table and EventBridge rules of template.yaml. Each test
builds its own cluster's security groups (tests/support/nlb_rules.py), whose stale rules are
written out by hand, so the tests do not depend on their order."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.conditions import Key
from eksops.local.account import OfflineAccount
from eksops.local.control import call
from eksops.local.lambda_runtime import INJECTED_FAULT

from tests.support import nlb_rules
from tests.support.lifecycle import Execution, eventually, invoke_step, run

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
PRUNE = "PruneSecurityGroupRulesStateMachine"
RESTORE = "RestoreSecurityGroupRulesStateMachine"
_names = itertools.count()
PRUNE_TASKS = {
    "StartPrune": "StartPruneFunction",
    "PlanPrune": "PlanPruneFunction",
    "RevokeGroupRules": "RevokeRulesFunction",
}
RESTORE_TASKS = {"PlanRestore": "PlanRestoreFunction", "RestoreGroupRules": "RestoreRulesFunction"}


@pytest.fixture(scope="module")
def account() -> Iterator[OfflineAccount]:
    with OfflineAccount(region=REGION, template=ROOT / "template.yaml", time_scale=0.02) as offline:
        yield offline


@pytest.fixture
def fleet(account: OfflineAccount) -> nlb_rules.Fleet:
    cluster = f"prune-{next(_names):03d}"
    return nlb_rules.build(account.client("ec2"), account.client("elbv2"), cluster)


def prune(account: OfflineAccount, request: dict[str, Any]) -> Execution:
    return run(account, PRUNE, f"prune-{uuid.uuid4().hex[:12]}", request)


def restore(account: OfflineAccount, request: dict[str, Any]) -> Execution:
    return run(account, RESTORE, f"restore-{uuid.uuid4().hex[:12]}", request)


def all_groups(fleet: nlb_rules.Fleet) -> list[str]:
    return sorted(fleet.groups.values())


def ledger_table(account: OfflineAccount) -> Any:
    return (
        account.session()
        .resource("dynamodb", endpoint_url=account.endpoint_url)
        .Table(account.resource("RuleLedgerTable"))
    )


def ledger_items(account: OfflineAccount, execution_arn: str) -> list[dict[str, Any]]:
    table = ledger_table(account)
    return table.query(KeyConditionExpression=Key("executionArn").eq(execution_arn))["Items"]


def statuses(account: OfflineAccount, execution_arn: str) -> dict[str, str]:
    return {item["ruleId"]: item["status"] for item in ledger_items(account, execution_arn)}


def mark_revoking(account: OfflineAccount, items: list[dict[str, Any]]) -> None:
    """What a RevokeGroupRules attempt does first, before its revoke call."""
    table = ledger_table(account)
    for item in items:
        table.update_item(
            Key={"executionArn": item["executionArn"], "groupKey": item["groupKey"]},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": "revoking"},
        )


def test_dry_run_reports_exactly_the_stale_rules_and_changes_nothing(account, fleet) -> None:
    ec2 = account.client("ec2")
    before = nlb_rules.rule_set(ec2, all_groups(fleet))
    for request in (
        {"clusterName": fleet.cluster},
        {"clusterName": fleet.cluster, "mode": "dry-run"},
    ):
        done = prune(account, request)  # the stack's default mode is dry-run
        assert done.status == "SUCCEEDED", done
        plan = done.output["plan"]
        assert done.output["mode"] == "dry-run"
        assert plan["staleRules"] == len(fleet.stale_ids()) == 5
        assert plan["staleByGroup"] == {fleet.groups["nodes"]: 4, fleet.groups["shared"]: 1}
        assert plan["groupsOptedOut"] == [fleet.groups["opted-out"]]
        assert {rule["ruleId"] for rule in plan["sample"]} == fleet.stale_ids()
        assert done.output["revoked"] == []
        assert ledger_items(account, done.arn) == []
    assert nlb_rules.rule_set(ec2, all_groups(fleet)) == before


def test_enforce_removes_exactly_the_stale_rules_recorded_in_full_first(account, fleet) -> None:
    ec2 = account.client("ec2")
    before = nlb_rules.rule_ids(ec2, all_groups(fleet))
    done = prune(account, {"clusterName": fleet.cluster, "mode": "enforce"})
    assert done.status == "SUCCEEDED", done
    assert nlb_rules.rule_ids(ec2, all_groups(fleet)) == before - fleet.stale_ids()
    assert sorted(done.output["revoked"], key=lambda g: g["groupId"]) == sorted(
        [
            {"groupId": fleet.groups["nodes"], "revoked": 4, "gone": 0},
            {"groupId": fleet.groups["shared"], "revoked": 1, "gone": 0},
        ],
        key=lambda g: g["groupId"],
    )
    items = ledger_items(account, done.arn)
    assert {item["ruleId"] for item in items} == fleet.stale_ids()
    assert {item["status"] for item in items} == {"revoked"}
    tagged = next(i for i in items if i["groupId"] == fleet.groups["shared"])
    assert json.loads(tagged["rule"])["Tags"] == [{"Key": "owner", "Value": "payments"}]
    assert done.output["restoreInput"] == {"pruneExecutionArn": done.arn}

    again = prune(account, {"clusterName": fleet.cluster, "mode": "enforce"})
    assert again.output["plan"]["staleRules"] == 0  # converged


def test_restore_gives_back_an_identical_rule_set_and_prune_keeps_it(account, fleet) -> None:
    ec2 = account.client("ec2")
    original = nlb_rules.rule_set(ec2, all_groups(fleet))
    pruned = prune(account, {"clusterName": fleet.cluster, "mode": "enforce"})
    assert pruned.status == "SUCCEEDED", pruned
    assert nlb_rules.rule_set(ec2, all_groups(fleet)) != original

    restored = restore(account, {"pruneExecutionArn": pruned.arn})
    assert restored.status == "SUCCEEDED", restored
    assert nlb_rules.rule_set(ec2, all_groups(fleet)) == original
    assert restored.output["rules"] == 5
    assert {item["status"] for item in ledger_items(account, pruned.arn)} == {"restored"}

    again = restore(account, {"pruneExecutionArn": pruned.arn})
    assert again.status == "SUCCEEDED", again
    assert (again.output["rules"], again.output["alreadyRestored"]) == (0, 5)
    assert nlb_rules.rule_set(ec2, all_groups(fleet)) == original

    # what an operator restored stays: the next prune leaves it alone
    swept = prune(account, {"clusterName": fleet.cluster, "mode": "enforce"})
    assert swept.output["plan"]["staleRules"] == 0
    assert nlb_rules.rule_set(ec2, all_groups(fleet)) == original


def test_restore_by_rule_ids(account, fleet) -> None:
    ec2 = account.client("ec2")
    original = nlb_rules.rule_set(ec2, all_groups(fleet))
    pruned = prune(account, {"clusterName": fleet.cluster, "mode": "enforce"})
    shared = fleet.rule_ids["shared"][0]
    done = restore(account, {"ruleIds": [shared]})
    assert done.status == "SUCCEEDED", done
    assert done.output["rules"] == 1
    now = nlb_rules.rule_set(ec2, [fleet.groups["shared"]])
    assert now == {rule for rule in original if rule[0] == fleet.groups["shared"]}
    assert pruned.status == "SUCCEEDED"

    unknown = restore(account, {"ruleIds": ["sgr-0123456789abcdef0"]})
    assert unknown.status == "FAILED"
    assert unknown.error == "eksops.InvalidInput"
    assert "sgr-0123456789abcdef0" in unknown.error_message()


@pytest.mark.parametrize(
    ("limits", "violation"),
    [({"maxRulesPerGroup": 3}, "maxRulesPerGroup"), ({"maxRulesPerRun": 4}, "maxRulesPerRun")],
)
def test_over_the_blast_radius_nothing_is_revoked(account, fleet, limits, violation) -> None:
    ec2 = account.client("ec2")
    before = nlb_rules.rule_ids(ec2, all_groups(fleet))
    with account.recording() as calls:
        done = prune(account, {"clusterName": fleet.cluster, "mode": "enforce", **limits})
    assert done.status == "FAILED", done
    assert done.error == "eksops.BlastRadiusExceeded"
    assert violation in done.error_message()
    # the plan is in the failure: counts per group, and the stale rules with their reasons
    plan = json.loads(done.error_message().split("; plan: ", 1)[1])
    assert plan["staleRules"] == 5
    assert plan["staleByGroup"] == {fleet.groups["nodes"]: 4, fleet.groups["shared"]: 1}
    assert {rule["ruleId"] for rule in plan["sample"]} == fleet.stale_ids()
    shared = next(rule for rule in plan["sample"] if rule["groupId"] == fleet.groups["shared"])
    assert shared["description"] == f"{nlb_rules.NLB}client={fleet.cluster}-gone2"
    assert shared["reason"] == (
        f"client rule of load balancer {fleet.cluster}-gone2, which no longer exists"
    )
    assert nlb_rules.rule_ids(ec2, all_groups(fleet)) == before
    assert ledger_items(account, done.arn) == []
    assert not [c.action for c in calls if c.action.startswith("ec2:Revoke")]


def test_within_the_blast_radius_the_limits_let_it_through(account, fleet) -> None:
    done = prune(
        account,
        {
            "clusterName": fleet.cluster,
            "mode": "enforce",
            "maxRulesPerGroup": 4,
            "maxRulesPerRun": 5,
        },
    )
    assert done.status == "SUCCEEDED", done
    assert done.output["plan"]["staleRules"] == 5


def enforce_step(fleet: nlb_rules.Fleet, name: str) -> dict[str, Any]:
    execution = f"arn:aws:states:{REGION}:123456789012:execution:{PRUNE}:{name}-{fleet.cluster}"
    return {"request": {"clusterName": fleet.cluster, "mode": "enforce"}, "executionId": execution}


def test_a_rule_already_gone_is_recorded_and_skipped(account, fleet) -> None:
    """Someone deletes a stale rule between the plan and the revoke: the group still loses the
    other stale rules, and the ledger says which one was gone."""
    ec2 = account.client("ec2")
    step = enforce_step(fleet, "gone")
    execution = step["executionId"]
    plan = invoke_step(account, "PlanPruneFunction", step)
    assert plan["staleRules"] == 5
    group = fleet.groups["nodes"]
    victim = fleet.rule_ids["nodes"][2]  # health rule of the deleted load balancer
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[victim])
    result = invoke_step(account, "RevokeRulesFunction", step | {"groupId": group})
    assert result == {"groupId": group, "revoked": 3, "gone": 1}
    statuses = {item["ruleId"]: item["status"] for item in ledger_items(account, execution)}
    assert statuses[victim] == "gone"
    assert not (nlb_rules.rule_ids(ec2, [group]) & fleet.stale_ids())


def test_a_revoke_retried_after_a_crash_keeps_its_rules_restorable(account, fleet) -> None:
    """The step revoked the rules, then died before marking them: its retry finds them missing
    but marked revoking, so they are this execution's (revoked, restorable), not gone."""
    ec2 = account.client("ec2")
    original = nlb_rules.rule_set(ec2, all_groups(fleet))
    step = enforce_step(fleet, "crash")
    invoke_step(account, "PlanPruneFunction", step)
    group = fleet.groups["nodes"]
    items = [i for i in ledger_items(account, step["executionId"]) if i["groupId"] == group]
    mark_revoking(account, items)  # what the crashed attempt did: marked, then revoked
    ec2.revoke_security_group_ingress(
        GroupId=group, SecurityGroupRuleIds=[i["ruleId"] for i in items]
    )
    result = invoke_step(account, "RevokeRulesFunction", step | {"groupId": group})
    assert result == {"groupId": group, "revoked": 4, "gone": 0}
    invoke_step(account, "RevokeRulesFunction", step | {"groupId": fleet.groups["shared"]})
    restored = restore(account, {"pruneExecutionArn": step["executionId"]})
    assert restored.status == "SUCCEEDED", restored
    assert nlb_rules.rule_set(ec2, all_groups(fleet)) == original


def test_a_group_deleted_before_the_revoke_has_every_rule_gone(account, fleet) -> None:
    """RevokeSecurityGroupIngress on a deleted group is InvalidGroup.NotFound: its rules went
    with it, none was revoked by this execution, and the step succeeds."""
    ec2 = account.client("ec2")
    step = enforce_step(fleet, "deleted")
    invoke_step(account, "PlanPruneFunction", step)
    group = fleet.groups["nodes"]
    ec2.delete_security_group(GroupId=group)
    result = invoke_step(account, "RevokeRulesFunction", step | {"groupId": group})
    assert result == {"groupId": group, "revoked": 0, "gone": 4}
    found = statuses(account, step["executionId"])
    assert {found[rule_id] for rule_id in fleet.stale_ids() & set(fleet.rule_ids["nodes"])} == {
        "gone"
    }


def test_restore_by_rule_id_finds_the_prune_that_revoked_it(account, fleet) -> None:
    """Two prunes overlap: the first revokes a rule, the second (recorded later) finds it gone.
    Restoring the rule by ID restores what the first revoked."""
    ec2 = account.client("ec2")
    original = nlb_rules.rule_set(ec2, all_groups(fleet))
    first, second = enforce_step(fleet, "first"), enforce_step(fleet, "second")
    invoke_step(account, "PlanPruneFunction", first)
    invoke_step(account, "PlanPruneFunction", second)
    group, (shared,) = fleet.groups["shared"], fleet.rule_ids["shared"][:1]
    assert invoke_step(account, "RevokeRulesFunction", first | {"groupId": group})["revoked"] == 1
    assert invoke_step(account, "RevokeRulesFunction", second | {"groupId": group})["gone"] == 1
    assert statuses(account, first["executionId"])[shared] == "revoked"
    assert statuses(account, second["executionId"])[shared] == "gone"

    done = restore(account, {"ruleIds": [shared]})
    assert done.status == "SUCCEEDED", done
    assert done.output["rules"] == 1
    assert nlb_rules.rule_set(ec2, [group]) == {rule for rule in original if rule[0] == group}
    assert statuses(account, first["executionId"])[shared] == "restored"
    again = restore(account, {"ruleIds": [shared]})
    assert (again.output["rules"], again.output["alreadyRestored"]) == (0, 1)


def test_rules_left_revoking_are_restored_whether_or_not_the_revoke_happened(
    account, fleet
) -> None:
    """A RevokeGroupRules that marked its rules revoking and then died for good (not retried):
    the revoke may or may not have happened. Restore re-creates the rules that are missing and
    adopts, with their own IDs, those that are still there."""
    ec2 = account.client("ec2")
    original = nlb_rules.rule_set(ec2, all_groups(fleet))
    step = enforce_step(fleet, "stuck")
    invoke_step(account, "PlanPruneFunction", step)
    group = fleet.groups["nodes"]
    items = [i for i in ledger_items(account, step["executionId"]) if i["groupId"] == group]
    assert len(items) == 4
    mark_revoking(account, items)
    revoked = sorted(item["ruleId"] for item in items)[:2]
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=revoked)

    done = restore(account, {"pruneExecutionArn": step["executionId"]})
    assert done.status == "SUCCEEDED", done
    assert done.output["rules"] == 4
    assert nlb_rules.rule_set(ec2, all_groups(fleet)) == original
    (restored,) = done.output["restored"]
    adopted = {r["ruleId"] for r in restored["restored"] if r["ruleId"] == r["restoredRuleId"]}
    assert adopted == {item["ruleId"] for item in items} - set(revoked)
    found = statuses(account, step["executionId"])
    assert {found[item["ruleId"]] for item in items} == {"restored"}
    # restored rules are kept: the next prune of the cluster leaves the group's four alone
    swept = prune(account, {"clusterName": fleet.cluster, "mode": "dry-run"})
    assert swept.output["plan"]["staleByGroup"] == {fleet.groups["shared"]: 1}


def test_a_conflicting_rule_does_not_stop_the_rest_of_its_group(account, fleet) -> None:
    """Someone re-created one pruned rule with another description: Restore puts back the
    group's other rules, then fails naming that one; it stays revoked, and once the clash is
    resolved a re-run restores it."""
    ec2 = account.client("ec2")
    original = nlb_rules.rule_set(ec2, all_groups(fleet))
    pruned = prune(account, {"clusterName": fleet.cluster, "mode": "enforce"})
    assert pruned.status == "SUCCEEDED", pruned
    group = fleet.groups["nodes"]
    stale = fleet.stale_ids() & set(fleet.rule_ids["nodes"])
    clash = min(stale)  # the group's first rule to restore: the others come after it
    spec = fleet.specs["nodes"][fleet.rule_ids["nodes"].index(clash)]
    manual = ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": spec.protocol,
                "FromPort": spec.ports[0],
                "ToPort": spec.ports[1],
                "IpRanges": [{"CidrIp": spec.cidr, "Description": "put back by hand"}],
            }
        ],
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]

    done = restore(account, {"pruneExecutionArn": pruned.arn})
    assert done.status == "FAILED", done
    assert done.error == "eksops.RestoreConflict"
    message = done.error_message()
    assert f"1 rules of {group} could not be restored" in message
    assert f"{clash}: the group has a rule with the same protocol, ports and source" in message
    assert "3 others were restored" in message
    found = statuses(account, pruned.arn)
    assert found[clash] == "revoked"
    assert {found[rule_id] for rule_id in stale - {clash}} == {"restored"}
    now = nlb_rules.rule_set(ec2, [group])
    assert now - {rule for rule in original if rule[0] == group} == {
        (group, False, spec.protocol, *spec.ports, spec.cidr, "put back by hand", frozenset())
    }

    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=[manual])
    rerun = restore(account, {"pruneExecutionArn": pruned.arn})
    assert rerun.status == "SUCCEEDED", rerun
    assert nlb_rules.rule_set(ec2, all_groups(fleet)) == original
    assert set(statuses(account, pruned.arn).values()) == {"restored"}


def test_event_started_runs_get_the_stack_s_blast_radius(account) -> None:
    event = cloudtrail_event("sg-0123456789abcdef0", str(uuid.uuid4()))
    started = invoke_step(account, "StartPruneFunction", {"event": event, "executionId": "first"})
    assert started["request"] == {
        "groupIds": ["sg-0123456789abcdef0"],
        "region": REGION,
        "mode": "dry-run",
        "maxRulesPerGroup": 60,
        "maxRulesPerRun": 1000,
    }
    direct = {"clusterName": "x", "mode": "enforce", "maxRulesPerRun": 7}
    started = invoke_step(account, "StartPruneFunction", {"event": direct, "executionId": "second"})
    assert started["request"] == direct | {"maxRulesPerGroup": 60}


def cloudtrail_event(group_id: str, event_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2026-11-23T01:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "AuthorizeSecurityGroupIngress",
            "awsRegion": REGION,
            "requestParameters": {"groupId": group_id},
            "responseElements": {
                "requestId": str(uuid.uuid4()),
                "_return": True,
                "securityGroupRuleSet": {
                    "items": [{"groupId": group_id, "securityGroupRuleId": "sgr-0aaaaaaaaaaaaaaaa"}]
                },
            },
        },
    }


def test_an_event_for_a_group_of_no_cluster_leaves_it_alone(account, fleet) -> None:
    outsider = fleet.groups["no-cluster"]
    done = prune(account, cloudtrail_event(outsider, str(uuid.uuid4())))
    assert done.status == "SUCCEEDED", done
    assert done.output["plan"]["groupsScanned"] == 0
    # an operator who lists it means it: its rule of a deleted load balancer is stale then
    listed = prune(account, {"groupIds": [outsider]})
    assert listed.output["plan"]["staleByGroup"] == {outsider: 1}


def test_an_event_naming_a_deleted_group_prunes_the_others(account, fleet) -> None:
    """The group an AuthorizeSecurityGroupIngress event names was deleted before the prune ran:
    an event-started run leaves it out and reports it; a direct run naming it is refused."""
    ec2 = account.client("ec2")
    deleted = ec2.create_security_group(
        GroupName=f"{fleet.cluster}-deleted",
        Description="deleted before the prune",
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [{"Key": f"kubernetes.io/cluster/{fleet.cluster}", "Value": "owned"}],
            }
        ],
    )["GroupId"]
    ec2.delete_security_group(GroupId=deleted)
    event = cloudtrail_event(fleet.groups["nodes"], str(uuid.uuid4()))
    event["detail"]["responseElements"]["securityGroupRuleSet"]["items"].append(
        {"groupId": deleted, "securityGroupRuleId": "sgr-0bbbbbbbbbbbbbbbb"}
    )
    done = prune(account, event)
    assert done.status == "SUCCEEDED", done
    plan = done.output["plan"]
    assert plan["groupsMissing"] == [deleted]
    assert plan["staleByGroup"] == {fleet.groups["nodes"]: 4}

    direct = prune(account, {"groupIds": [fleet.groups["nodes"], deleted]})
    assert direct.status == "FAILED", direct
    assert direct.error == "eksops.InvalidInput"
    assert deleted in direct.error_message()
    listed = prune(account, {"groupIds": [fleet.groups["nodes"]]})
    assert listed.output["plan"]["groupsMissing"] == []


def test_the_same_event_delivered_twice_acts_once(account, fleet) -> None:
    event = cloudtrail_event(fleet.groups["nodes"], str(uuid.uuid4()))
    first, second = prune(account, event), prune(account, event)
    assert first.status == second.status == "SUCCEEDED", (first, second)
    assert first.output["plan"]["staleRules"] == 4
    assert second.output == {
        "duplicate": True,
        "claimedBy": first.arn,
        "trigger": {"kind": "cloudtrail", "eventId": event["id"]},
    }
    assert "PlanPrune" not in second.states_entered()


def started_by(account: OfflineAccount, trigger: Callable[[], Any]) -> dict[str, Any]:
    """The output of the one prune execution ``trigger`` starts (through the template's
    EventBridge rules), once it has succeeded."""
    sfn = account.client("stepfunctions")
    machine = account.resource(PRUNE)
    known = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    trigger()

    def started() -> list[str]:
        listed = sfn.list_executions(stateMachineArn=machine)["executions"]
        return [e["executionArn"] for e in listed if e["executionArn"] not in known]

    (arn,) = eventually(started, "an execution started by the event")
    described = eventually(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
        "the execution to end",
    )
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])


def test_a_cloudtrail_event_on_the_bus_starts_a_prune_through_the_template_rule(
    account, fleet
) -> None:
    event = cloudtrail_event(fleet.groups["shared"], str(uuid.uuid4()))
    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
    }
    output = started_by(account, lambda: account.client("events").put_events(Entries=[entry]))
    assert output["trigger"]["kind"] == "cloudtrail"
    assert output["mode"] == "dry-run"  # the stack's default for event-started runs
    assert output["plan"]["staleByGroup"] == {fleet.groups["shared"]: 1}


def test_a_deleted_load_balancer_starts_a_sweep_of_every_cluster_s_groups(account, fleet) -> None:
    detail = {
        "eventSource": "elasticloadbalancing.amazonaws.com",
        "eventName": "DeleteLoadBalancer",
        "awsRegion": REGION,
        "requestParameters": {"loadBalancerArn": "arn:aws:elasticloadbalancing:eu-west-1:1:x"},
    }
    entry = {
        "Source": "aws.elasticloadbalancing",
        "DetailType": "AWS API Call via CloudTrail",
        "Detail": json.dumps(detail),
    }
    output = started_by(account, lambda: account.client("events").put_events(Entries=[entry]))
    assert output["trigger"]["kind"] == "load-balancer-deleted"
    assert output["mode"] == "dry-run"
    plan = output["plan"]
    assert (
        plan["staleByGroup"][fleet.groups["nodes"]] == 4
    )  # every cluster's groups, this one's too
    assert fleet.groups["no-cluster"] not in plan["staleByGroup"]
    assert fleet.groups["opted-out"] in plan["groupsOptedOut"]


def test_the_schedule_sweeps_in_the_default_mode(account, fleet) -> None:
    output = started_by(
        account,
        lambda: call(
            account.endpoint_url,
            "fire-schedule",
            {"rule": "PruneSecurityGroupRulesStateMachineSweep"},
        ),
    )
    assert output["trigger"]["kind"] == "schedule"
    assert output["mode"] == "dry-run"
    assert output["plan"]["staleByGroup"][fleet.groups["shared"]] == 1


@pytest.mark.parametrize("state", list(PRUNE_TASKS))
def test_crash_after_a_step_then_rerun_converges(account, fleet, state) -> None:
    ec2 = account.client("ec2")
    before = nlb_rules.rule_ids(ec2, all_groups(fleet))
    request = {"clusterName": fleet.cluster, "mode": "enforce"}
    account.inject_fault(PRUNE_TASKS[state], after=True)
    try:
        crashed = prune(account, request)
        assert account.pending_faults() == [], "the step never ran"
    finally:
        account.clear_faults()
    assert crashed.status == "FAILED", crashed
    assert crashed.error == INJECTED_FAULT
    rerun = prune(account, request)
    assert rerun.status == "SUCCEEDED", rerun
    assert nlb_rules.rule_ids(ec2, all_groups(fleet)) == before - fleet.stale_ids()


@pytest.mark.parametrize("state", list(RESTORE_TASKS))
def test_restore_crash_after_a_step_then_rerun_converges(account, fleet, state) -> None:
    ec2 = account.client("ec2")
    original = nlb_rules.rule_set(ec2, all_groups(fleet))
    pruned = prune(account, {"clusterName": fleet.cluster, "mode": "enforce"})
    account.inject_fault(RESTORE_TASKS[state], after=True)
    try:
        crashed = restore(account, {"pruneExecutionArn": pruned.arn})
        assert account.pending_faults() == [], "the step never ran"
    finally:
        account.clear_faults()
    assert crashed.status == "FAILED", crashed
    rerun = restore(account, {"pruneExecutionArn": pruned.arn})
    assert rerun.status == "SUCCEEDED", rerun
    assert nlb_rules.rule_set(ec2, all_groups(fleet)) == original


def test_every_lambda_task_is_covered() -> None:
    for machine, tasks in (
        ("prune_security_group_rules", PRUNE_TASKS),
        ("restore_security_group_rules", RESTORE_TASKS),
    ):
        definition = json.loads((ROOT / "statemachines" / f"{machine}.asl.json").read_text())
        states = dict(definition["States"])
        for state in definition["States"].values():
            states |= state.get("ItemProcessor", {}).get("States", {})
        found = {
            name: state["Resource"][2:-1].removesuffix("Arn")
            for name, state in states.items()
            if state["Type"] == "Task" and state["Resource"].startswith("${")
        }
        assert found == tasks


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"clusterName": "x", "mode": "delete-everything"}, "mode"),
        ({"groupIds": ["not-a-group"]}, "groupIds"),
        ({"clusterName": "x", "maxRulesPerRun": 0}, "maxRulesPerRun"),
        ({"clusterName": "x", "dryRun": True}, "dryRun"),
    ],
)
def test_invalid_input_fails_first_with_a_named_error(account, request_, field) -> None:
    done = prune(account, request_)
    assert done.status == "FAILED", done
    assert done.error == "eksops.InvalidInput"
    assert field in done.error_message()
    assert done.states_entered() == ["StartPrune", "PruneFailed"]
