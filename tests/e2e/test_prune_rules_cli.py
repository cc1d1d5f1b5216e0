"""Issue 8 acceptance, as an operator runs it: leaked NLB rules pruned with `eksops run
PruneSecurityGroupRulesStateMachine` against `eksops local up` (dry run first, then enforce),
checked with the AWS CLI, then restored with `eksops run RestoreSecurityGroupRulesStateMachine`."""

from __future__ import annotations

import json

import boto3

from tests.support import nlb_rules
from tests.support.local_up import LocalUp

CLUSTER = "e2e-prune"


def clients(local_up: LocalUp) -> tuple:
    session = boto3.session.Session(
        aws_access_key_id=local_up.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=local_up.env["AWS_SECRET_ACCESS_KEY"],
        region_name="eu-west-1",
    )
    return tuple(session.client(s, endpoint_url=local_up.endpoint) for s in ("ec2", "elbv2"))


def cli_rule_ids(local_up: LocalUp, groups: list[str]) -> set[str]:
    listed = local_up.aws(
        "ec2",
        "describe-security-group-rules",
        "--filters",
        f"Name=group-id,Values={','.join(groups)}",
    )
    return {rule["SecurityGroupRuleId"] for rule in listed["SecurityGroupRules"]}


def test_prune_dry_run_then_enforce_then_restore_with_eksops_run(local_up: LocalUp) -> None:
    ec2, elbv2 = clients(local_up)
    fleet = nlb_rules.build(ec2, elbv2, CLUSTER)
    groups = sorted(fleet.groups.values())
    original_ids = cli_rule_ids(local_up, groups)
    original = nlb_rules.rule_set(ec2, groups)

    dry = local_up.run_workflow(
        "PruneSecurityGroupRulesStateMachine", {"clusterName": CLUSTER}, "--json"
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert json.loads(dry.stdout)["output"]["plan"]["staleRules"] == len(fleet.stale_ids())
    assert cli_rule_ids(local_up, groups) == original_ids  # the dry run changed nothing

    enforced = local_up.run_workflow(
        "PruneSecurityGroupRulesStateMachine", {"clusterName": CLUSTER, "mode": "enforce"}, "--json"
    )
    assert enforced.returncode == 0, enforced.stdout + enforced.stderr
    output = json.loads(enforced.stdout)["output"]
    assert cli_rule_ids(local_up, groups) == original_ids - fleet.stale_ids()

    restored = local_up.run_workflow(
        "RestoreSecurityGroupRulesStateMachine", output["restoreInput"], "--json"
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert nlb_rules.rule_set(ec2, groups) == original
