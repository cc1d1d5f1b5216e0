"""The Lambda steps of PruneSecurityGroupRulesStateMachine and
RestoreSecurityGroupRulesStateMachine. Security groups and load balancers are the target
account's (targetRoleArn); the ledger and the idempotency records are the ops account's."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from eksops import account_slots, metrics, rule_ledger, security_group_rules, security_group_scan
from eksops.errors import BlastRadiusExceededError, InvalidInputError, RestoreConflictError
from eksops.models.prune_rules import PruneInput, RestoreInput, prune_input_from_event
from eksops.models.remediation_steps import PruneStep, RestoreStep, StartPruneEvent
from eksops.target_account import Opener, TargetAccount, open_target

Clock = Callable[[], datetime]
LEDGER_TABLE_VARIABLE = "RULE_LEDGER_TABLE"
IDEMPOTENCY_TABLE_VARIABLE = "IDEMPOTENCY_TABLE"
DEFAULT_MODE_VARIABLE = "PRUNE_DEFAULT_MODE"
# the stack's blast radius for runs that set none (every event-started run)
DEFAULT_LIMIT_VARIABLES = {
    "max_rules_per_group": "PRUNE_MAX_RULES_PER_GROUP",
    "max_rules_per_run": "PRUNE_MAX_RULES_PER_RUN",
}
EVENT_CLAIM_SECONDS = 24 * 3600  # EventBridge redelivers within 24 h at most
PLAN_SAMPLE = 50  # stale rules listed in the output; the ledger has them all
# RevokeSecurityGroupIngress by rule IDs names a rule the group no longer has with the first
# code (AWS); InvalidPermission.NotFound is what a revoke by properties answers
RULE_NOT_FOUND = ("InvalidSecurityGroupRuleId.NotFound", "InvalidPermission.NotFound")
GROUP_NOT_FOUND = "InvalidGroup.NotFound"  # the group is deleted, and its rules with it
REVOKE_ATTEMPTS = 5  # revokes of a group's rules while others delete some of them meanwhile
RESTORE_FAILURES_LISTED = 50  # rules a RestoreConflict message names; it counts the rest
REASON_CHARS = 200  # of an EC2 error message, per rule: the 50 stay well under 32 KB


def _now() -> datetime:
    return datetime.now(UTC)


def _ledger(environ: Mapping[str, str]) -> Any:
    import boto3

    return boto3.resource("dynamodb").Table(environ[LEDGER_TABLE_VARIABLE])


def _claim(event_id: str, execution_id: str, environ: Mapping[str, str]) -> str:
    """The execution that acts on the EventBridge event ``event_id``: the first to ask
    (Powertools idempotency: a redelivered event gets the first answer back)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(table_name=environ[IDEMPOTENCY_TABLE_VARIABLE])
    config = IdempotencyConfig(
        event_key_jmespath="eventId", expires_after_seconds=EVENT_CLAIM_SECONDS
    )

    @idempotent_function(
        data_keyword_argument="claim", persistence_store=persistence, config=config
    )
    def first(claim: dict[str, str]) -> dict[str, str]:
        return {"executionId": claim["executionId"]}

    return first(claim={"eventId": event_id, "executionId": execution_id})["executionId"]


def start_prune(step: StartPruneEvent, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The input from a direct start or an event, with the stack's default mode and blast
    radius filled in; and, for an event delivered twice, the execution that already acts on
    it. A run that acts takes a slot of its account first (AccountBusy while none is free)."""
    request, trigger = prune_input_from_event(step.event, environ)
    defaults: dict[str, Any] = {
        field: int(environ[variable])
        for field, variable in DEFAULT_LIMIT_VARIABLES.items()
        if getattr(request, field) is None and environ.get(variable)
    }
    defaults["mode"] = request.mode or environ.get(DEFAULT_MODE_VARIABLE, "dry-run")
    request = request.model_copy(update=defaults)
    claimed_by = step.execution_id
    if trigger.get("eventId"):
        claimed_by = _claim(trigger["eventId"], step.execution_id, environ)
    if claimed_by == step.execution_id:
        account_slots.take_for_run(request.target_role_arn, step.execution_id, environ)
    return {
        "request": request.model_dump(by_alias=True, exclude_none=True),
        "trigger": trigger,
        "duplicate": claimed_by != step.execution_id,
        "claimedBy": claimed_by,
    }


def _target(request: PruneInput | RestoreInput, opener: Opener) -> TargetAccount:
    return opener(request.region, request.target_role_arn, request.external_id)


def _summary(plans: list[security_group_rules.GroupPlan]) -> dict[str, int]:
    return {plan.group_id: len(plan.stale) for plan in plans if plan.stale}


def plan_prune(
    step: PruneStep,
    opener: Opener = open_target,
    environ: Mapping[str, str] = os.environ,
    now: Clock = _now,
) -> dict[str, Any]:
    """The stale rules of the groups in scope and the groups under quota pressure; in enforce
    mode each stale rule is written to the ledger (in full) before any is revoked. Over a blast
    radius limit nothing is recorded or revoked: BlastRadiusExceeded, with the plan."""
    request = step.request
    target = _target(request, opener)
    ec2 = target.client("ec2")
    event_started = (step.trigger or {}).get("kind", "direct") != "direct"
    scope = security_group_scan.groups_in_scope(ec2, request, clusters_only=event_started)
    group_ids = scope.group_ids
    rules = security_group_scan.rules_of(ec2, group_ids) if group_ids else []
    live = security_group_scan.load_balancer_names(target.client("elbv2")) if rules else set()
    ledger = _ledger(environ)
    kept = rule_ledger.kept_rule_ids(ledger)
    # rules an operator restored are kept (and still count as "remaining" for MTU rules)
    plans = security_group_rules.plan_groups(rules, live, keep=kept)
    stale = [entry for plan in plans for entry in plan.stale]
    result: dict[str, Any] = {
        "mode": request.mode,
        "groupsScanned": len(group_ids),
        "groupsOptedOut": scope.opted_out,
        "groupsMissing": scope.missing,
        "rulesScanned": len(rules),
        "staleRules": len(stale),
        "staleByGroup": _summary(plans),
        "revokeGroups": [plan.group_id for plan in plans if plan.stale],
        "pressure": security_group_rules.pressure(plans),
        "sample": [entry.result() for entry in stale[:PLAN_SAMPLE]],
    }
    violations = security_group_rules.check_blast_radius(
        plans, request.max_rules_per_group, request.max_rules_per_run
    )
    if violations:
        raise BlastRadiusExceededError(security_group_rules.blast_radius_message(violations, plans))
    metrics.count("StaleRules", len(stale))
    if request.mode == "enforce" and stale:
        rule_ledger.record(
            ledger, step.execution_id, ((entry.rule, entry.reason) for entry in stale), now
        )
    return result


def _revoke(ec2: Any, group_id: str, rule_ids: list[str]) -> tuple[set[str], bool]:
    """Revoke those of ``rule_ids`` the group still has. The call is all or nothing: when a rule
    is missing, the group is read again and the rest revoked. Returns the rule IDs that were
    missing, and whether the group itself is gone (every rule with it)."""
    todo, attempts = list(rule_ids), 0
    while todo:
        try:
            ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=todo)
            break
        except ec2.exceptions.ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == GROUP_NOT_FOUND:
                return set(rule_ids), True
            attempts += 1
            if code not in RULE_NOT_FOUND or attempts >= REVOKE_ATTEMPTS:
                raise
        todo = sorted(security_group_scan.existing_rule_ids(ec2, group_id, todo))
    return set(rule_ids) - set(todo), False


def revoke_group(
    step: PruneStep,
    opener: Opener = open_target,
    environ: Mapping[str, str] = os.environ,
    now: Clock = _now,
) -> dict[str, Any]:
    """Revoke the group's recorded rules by ID in one call. Each is marked revoking first, so a
    retry after a crash knows a missing rule was revoked by this execution (still restorable).
    A rule someone else deleted meanwhile fails the whole call
    (InvalidSecurityGroupRuleId.NotFound): it is marked gone, and the others are revoked. A
    group deleted meanwhile (InvalidGroup.NotFound) has every rule gone."""
    if step.group_id is None:
        raise InvalidInputError("RevokeRules needs a groupId")
    ec2 = _target(step.request, opener).client("ec2")
    ledger = _ledger(environ)
    todo = [
        entry
        for entry in rule_ledger.entries(ledger, step.execution_id, step.group_id)
        if entry.status in (rule_ledger.PENDING, rule_ledger.REVOKING)
    ]
    # durable before the revoke: a retry after a crash then knows what this execution revoked
    pending = [entry for entry in todo if entry.status == rule_ledger.PENDING]
    todo = [entry for entry in todo if entry.status == rule_ledger.REVOKING]
    todo += rule_ledger.mark_all(ledger, pending, rule_ledger.REVOKING, now)
    ids = [entry.rule_id for entry in todo]
    missing, group_gone = _revoke(ec2, step.group_id, ids) if ids else (set(), False)
    # missing and already revoking: this execution revoked it before a crash
    gone = missing if group_gone else missing & {entry.rule_id for entry in pending}
    rule_ledger.mark_all(
        ledger, [e for e in todo if e.rule_id not in gone], rule_ledger.REVOKED, now
    )
    rule_ledger.mark_all(ledger, [e for e in todo if e.rule_id in gone], rule_ledger.GONE, now)
    metrics.count("RulesRevoked", len(ids) - len(gone))
    return {"groupId": step.group_id, "revoked": len(ids) - len(gone), "gone": len(gone)}


def _restorable(step: RestoreStep, ledger: Any) -> list[rule_ledger.LedgerEntry]:
    request = step.request
    if request.prune_execution_arn:
        found = rule_ledger.entries(ledger, request.prune_execution_arn, step.group_id)
    else:
        found = rule_ledger.by_rule_ids(ledger, request.rule_ids or [])
        if step.group_id is not None:
            found = [entry for entry in found if entry.group_id == step.group_id]
    return found


def plan_restore(step: RestoreStep, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The groups with rules to restore (revoked, or left revoking by a revoke that never
    finished; not yet restored); unknown rule IDs are an input error."""
    ledger = _ledger(environ)
    found = _restorable(step, ledger)
    request = step.request
    if request.rule_ids:
        unknown = sorted(set(request.rule_ids) - {entry.rule_id for entry in found})
        if unknown:
            raise InvalidInputError(f"ruleIds: the ledger has no pruned rule {', '.join(unknown)}")
    elif not found:
        raise InvalidInputError(
            f"pruneExecutionArn: the ledger has no rule pruned by {request.prune_execution_arn} "
            "(a dry run, or an enforce run that found nothing stale, removes nothing)"
        )
    todo = [entry for entry in found if entry.status in rule_ledger.RESTORABLE]
    return {
        "groups": sorted({entry.group_id for entry in todo}),
        "rules": len(todo),
        "alreadyRestored": sum(entry.status == rule_ledger.RESTORED for entry in found),
    }


def restore_group(
    step: RestoreStep,
    opener: Opener = open_target,
    environ: Mapping[str, str] = os.environ,
    now: Clock = _now,
) -> dict[str, Any]:
    """Re-authorize each revoked rule of the group exactly (protocol, ports, source,
    description, tags); one that exists already (a re-run, or a revoke that never happened) is
    recognised and marked. A rule that cannot be restored (a conflicting rule, an EC2 error)
    stays revoked and the others are still restored; then eksops.RestoreConflict names each
    one and why (a re-run retries them)."""
    ec2 = _target(step.request, opener).client("ec2")
    ledger = _ledger(environ)
    restored: list[dict[str, str]] = []
    failed: list[tuple[str, str]] = []
    for entry in _restorable(step, ledger):
        if entry.status not in rule_ledger.RESTORABLE:
            continue
        try:
            rule_id = _authorize(ec2, entry.rule)
        except RestoreConflictError as exc:
            failed.append((entry.rule_id, str(exc)))
            continue
        except ec2.exceptions.ClientError as exc:
            error = exc.response["Error"]
            failed.append((entry.rule_id, f"{error['Code']}: {error['Message']}"[:REASON_CHARS]))
            continue
        # kept first: a crash before the mark re-runs this rule, never the other way round
        rule_ledger.keep(ledger, entry.group_id, rule_id, step.execution_id, now)
        rule_ledger.mark(
            ledger,
            entry,
            rule_ledger.RESTORED,
            now,
            restoredRuleId=rule_id,
            restoredBy=step.execution_id,
        )
        restored.append({"ruleId": entry.rule_id, "restoredRuleId": rule_id})
    metrics.count("RulesRestored", len(restored))
    if failed:
        raise RestoreConflictError(_restore_failures(step.group_id, restored, failed))
    return {"groupId": step.group_id, "restored": restored}


def _restore_failures(
    group_id: str | None, restored: list[dict[str, str]], failed: list[tuple[str, str]]
) -> str:
    listed = "; ".join(f"{rule_id}: {why}" for rule_id, why in failed[:RESTORE_FAILURES_LISTED])
    if len(failed) > RESTORE_FAILURES_LISTED:
        listed += f"; and {len(failed) - RESTORE_FAILURES_LISTED} more"
    return (
        f"{len(failed)} rules of {group_id} could not be restored; the ledger still has them "
        f"to restore, so a re-run retries them ({len(restored)} others were restored): {listed}"
    )


def _authorize(ec2: Any, rule: dict[str, Any]) -> str:
    """The ID of the rule identical to ``rule``: authorized now, or found (already there)."""
    parameters: dict[str, Any] = {
        "GroupId": rule["GroupId"],
        "IpPermissions": [security_group_rules.restorable_permission(rule)],
    }
    tags = security_group_rules.rule_tags(rule)
    if tags:
        parameters["TagSpecifications"] = [{"ResourceType": "security-group-rule", "Tags": tags}]
    try:
        made = ec2.authorize_security_group_ingress(**parameters)["SecurityGroupRules"]
        return made[0]["SecurityGroupRuleId"]
    except ec2.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "InvalidPermission.Duplicate":
            raise
    for existing in security_group_scan.rules_of(ec2, [rule["GroupId"]]):
        if not existing["IsEgress"] and security_group_rules.same_rule(existing, rule):
            return existing["SecurityGroupRuleId"]
    raise RestoreConflictError(  # EC2 says duplicate, yet no rule matches exactly
        "the group has a rule with the same protocol, ports and source and another "
        "description; it was left as it is"
    )
