"""Hub and spoke on the offline account: a hub (template.yaml, with an organization and a member
external ID) and a member account (another moto account, member-account.yaml deployed in it).
A signal in the member account reaches the hub's bus through the member's forwarding rule and
starts a run that acts in the member account, as the member role; per-account slots bound the
runs that act in one account at once."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eksops.local.account import OfflineAccount

from tests.support import nlb_rules
from tests.support.lifecycle import Execution, eventually, finish, run, start
from tests.support.member_account import Member, cloudtrail_event, open_member

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
ORGANIZATION = "o-a1b2c3d4e5"
EXTERNAL_ID = "eksops-fleet-0123"
PRUNE = "PruneSecurityGroupRulesStateMachine"
_names = itertools.count()


@pytest.fixture(scope="module")
def hub() -> Iterator[OfflineAccount]:
    parameters = {"OrganizationId": ORGANIZATION, "MemberExternalId": EXTERNAL_ID}
    with OfflineAccount(
        region=REGION, template=ROOT / "template.yaml", time_scale=0.02, parameters=parameters
    ) as offline:
        yield offline


@pytest.fixture(scope="module")
def member(hub: OfflineAccount) -> Member:
    return open_member(hub, EXTERNAL_ID)


def cluster_name() -> str:
    return f"fleet-{next(_names):03d}"


def prune_runs(hub: OfflineAccount) -> list[str]:
    sfn = hub.client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=hub.resource(PRUNE))
    return [e["executionArn"] for page in pages for e in page["executions"]]


def first_step_output(execution: Execution) -> dict[str, Any]:
    """What the execution's first Task returned (StartPrune: the request it resolved)."""
    for event in execution.history:
        for key in ("taskSucceededEventDetails", "lambdaFunctionSucceededEventDetails"):
            if key in event:
                output = json.loads(event[key]["output"])
                return output.get("Payload", output)
    raise AssertionError(f"no step of {execution.arn} succeeded")


def test_member_account_yaml_deploys_the_role_the_hub_assumes(hub, member) -> None:
    role = member.client("iam").get_role(RoleName=member.role_arn.split("/")[-1])["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    (statement,) = trust["Statement"]
    hub_account = hub.client("sts").get_caller_identity()["Account"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{hub_account}:root"}
    assert statement["Condition"]["StringEquals"] == {"sts:ExternalId": EXTERNAL_ID}
    assert member.role_arn == f"arn:aws:iam::{member.account_id}:role/eksops-member"


def test_a_member_signal_prunes_in_the_member_account(hub, member) -> None:
    fleet = nlb_rules.build(member.client("ec2"), member.client("elbv2"), cluster_name())
    before = set(prune_runs(hub))
    entry = cloudtrail_event("elasticloadbalancing.amazonaws.com", "DeleteLoadBalancer")
    assert member.client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0

    arn = eventually(lambda: next(iter(set(prune_runs(hub)) - before), None), "a prune run")
    done = finish(hub, arn)
    assert done.status == "SUCCEEDED", done
    started_with = json.loads(done.history[0]["executionStartedEventDetails"]["input"])
    assert started_with["account"] == member.account_id  # the event kept its account
    request = first_step_output(done)["request"]
    assert (request["targetRoleArn"], request["externalId"]) == (member.role_arn, EXTERNAL_ID)
    # the member's groups were planned (dry-run: the stack's default for event-started runs)
    assert done.output["mode"] == "dry-run"
    assert fleet.groups["nodes"] in done.output["plan"]["staleByGroup"]
    assert done.output["plan"]["staleRules"] >= len(fleet.stale_ids())


def test_a_direct_run_with_target_role_and_external_id_acts_in_the_member(hub, member) -> None:
    ec2 = member.client("ec2")
    fleet = nlb_rules.build(ec2, member.client("elbv2"), cluster_name())
    groups = sorted(fleet.groups.values())
    before = nlb_rules.rule_ids(ec2, groups)
    request = {
        "clusterName": fleet.cluster,
        "mode": "enforce",
        "targetRoleArn": member.role_arn,
        "externalId": EXTERNAL_ID,
    }
    done = run(hub, PRUNE, f"fleet-{uuid.uuid4().hex[:12]}", request)
    assert done.status == "SUCCEEDED", done
    assert nlb_rules.rule_ids(ec2, groups) == before - fleet.stale_ids()


def test_the_hub_refuses_a_bad_target_before_anything_changes(hub, member) -> None:
    request = {"clusterName": "x", "externalId": EXTERNAL_ID}  # no role to assume
    done = run(hub, PRUNE, f"fleet-{uuid.uuid4().hex[:12]}", request)
    assert (done.status, done.error) == ("FAILED", "eksops.InvalidInput")
    assert "externalId is only used with targetRoleArn" in done.error_message()


def _retried(execution: Execution, error: str) -> int:
    return sum(
        1
        for event in execution.history
        if event.get("lambdaFunctionFailedEventDetails", {}).get("error") == error
    )


def _set_limit(hub: OfflineAccount, limit: int) -> dict[str, Any]:
    lambda_ = hub.client("lambda")
    name = hub.resource("StartPruneFunction")
    variables = lambda_.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    lambda_.update_function_configuration(
        FunctionName=name,
        Environment={"Variables": {**variables, "MAX_RUNS_PER_ACCOUNT": str(limit)}},
    )
    return variables


def test_runs_in_one_account_wait_for_a_slot_and_other_accounts_do_not(hub, member) -> None:
    ec2 = member.client("ec2")
    fleet = nlb_rules.build(ec2, member.client("elbv2"), cluster_name())
    at_home = nlb_rules.build(hub.client("ec2"), hub.client("elbv2"), cluster_name())
    variables = _set_limit(hub, 1)
    try:
        in_member = {"targetRoleArn": member.role_arn, "externalId": EXTERNAL_ID}
        arns = [
            start(
                hub,
                PRUNE,
                f"slot-{i}-{uuid.uuid4().hex[:8]}",
                {"clusterName": fleet.cluster, **in_member},
            )
            for i in range(3)
        ]
        home = finish(
            hub, start(hub, PRUNE, f"home-{uuid.uuid4().hex[:8]}", {"clusterName": at_home.cluster})
        )
        runs = [finish(hub, arn) for arn in arns]
    finally:
        hub.client("lambda").update_function_configuration(
            FunctionName=hub.resource("StartPruneFunction"), Environment={"Variables": variables}
        )
    assert home.status == "SUCCEEDED", home
    assert [r.status for r in runs] == ["SUCCEEDED"] * 3, runs
    # one at a time: all but the first to take the slot waited for it
    assert sum(_retried(r, "eksops.AccountBusy") > 0 for r in runs) >= 2
    assert _retried(home, "eksops.AccountBusy") == 0
