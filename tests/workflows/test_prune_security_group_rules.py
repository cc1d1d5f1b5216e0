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


def ledger_items(account: OfflineAccount, execution_arn: str) -> list[dict[str, Any]]:
    table = (
        account.session()
        .resource("dynamodb", endpoint_url=account.endpoint_url)
        .Table(account.resource("RuleLedgerTable"))
    )
    return table.query(KeyConditionExpression=Key("executionArn").eq(execution_arn))["Items"]


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
    assert fleet.groups["nodes"] in done.error_message()  # the plan is in the failure
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
    table = (
        account.session()
        .resource("dynamodb", endpoint_url=account.endpoint_url)
        .Table(account.resource("RuleLedgerTable"))
    )
    items = [i for i in ledger_items(account, step["executionId"]) if i["groupId"] == group]
    for item in items:  # what the crashed attempt did: marked, then revoked
        table.update_item(
            Key={"executionArn": item["executionArn"], "groupKey": item["groupKey"]},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": "revoking"},
        )
    ec2.revoke_security_group_ingress(
        GroupId=group, SecurityGroupRuleIds=[i["ruleId"] for i in items]
    )
    result = invoke_step(account, "RevokeRulesFunction", step | {"groupId": group})
    assert result == {"groupId": group, "revoked": 4, "gone": 0}
    invoke_step(account, "RevokeRulesFunction", step | {"groupId": fleet.groups["shared"]})
    restored = restore(account, {"pruneExecutionArn": step["executionId"]})
    assert restored.status == "SUCCEEDED", restored
    assert nlb_rules.rule_set(ec2, all_groups(fleet)) == original


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
