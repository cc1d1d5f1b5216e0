"""The ledger of pruned security-group rules (DynamoDB): every rule is written in full, as
DescribeSecurityGroupRules returned it, before it is revoked, so that it can be restored exactly.

Items: partition key ``executionArn`` (the prune execution), sort key ``groupKey``
(``groupId#ruleId``: a group's rules are one Query), GSI ``byRuleId`` (restore by rule ID).
``status`` moves pending -> revoking (just before the revoke call) -> revoked | gone (deleted by
someone else meanwhile, or its group deleted); revoked | revoking -> restored (a rule left
``revoking`` by a revoke that never finished may still exist: Restore adopts it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PENDING, REVOKING, REVOKED = "pending", "revoking", "revoked"
GONE, RESTORED = "gone", "restored"
RESTORABLE = (REVOKED, REVOKING)  # what Restore puts back
# the statuses of an entry whose execution removed (or set out to remove) the rule
ACTED_ON = (REVOKING, REVOKED, RESTORED)
RULE_INDEX = "byRuleId"
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class LedgerEntry:
    execution_arn: str
    group_id: str
    rule_id: str
    rule: dict[str, Any]  # as DescribeSecurityGroupRules returned it, tags included
    reason: str
    status: str
    item: dict[str, Any] = field(repr=False, compare=False)  # as stored, for whole-item writes

    @property
    def sort_key(self) -> str:
        return f"{self.group_id}#{self.rule_id}"


def _entry(item: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        item["executionArn"],
        item["groupId"],
        item["ruleId"],
        json.loads(item["rule"]),
        item["reason"],
        item["status"],
        item,
    )


def _query(table: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items, page = [], table.query(**kwargs)
    items += page["Items"]
    while "LastEvaluatedKey" in page:
        page = table.query(ExclusiveStartKey=page["LastEvaluatedKey"], **kwargs)
        items += page["Items"]
    return items


def entries(table: Any, execution_arn: str, group_id: str | None = None) -> list[LedgerEntry]:
    """The execution's entries (of one group: a single Query of its sort-key prefix)."""
    from boto3.dynamodb.conditions import Key

    condition = Key("executionArn").eq(execution_arn)
    if group_id is not None:
        condition &= Key("groupKey").begins_with(f"{group_id}#")
    return [_entry(item) for item in _query(table, KeyConditionExpression=condition)]


def record(
    table: Any,
    execution_arn: str,
    stale: Iterable[tuple[dict[str, Any], str]],
    now: Clock,
) -> int:
    """Write each (rule, reason) as pending, unless this execution has it already (a retried
    step must not set a revoked rule back to pending); how many were written."""
    known = {entry.sort_key for entry in entries(table, execution_arn)}
    written = 0
    with table.batch_writer() as batch:
        for rule, reason in stale:
            group_id, rule_id = rule["GroupId"], rule["SecurityGroupRuleId"]
            if f"{group_id}#{rule_id}" in known:
                continue
            batch.put_item(
                Item={
                    "executionArn": execution_arn,
                    "groupKey": f"{group_id}#{rule_id}",
                    "groupId": group_id,
                    "ruleId": rule_id,
                    "rule": json.dumps(rule, sort_keys=True, default=str),
                    "reason": reason,
                    "status": PENDING,
                    "recordedAt": now().isoformat(),
                }
            )
            written += 1
    return written


def mark(table: Any, entry: LedgerEntry, status: str, now: Clock, **extra: str) -> None:
    """Set an entry's status (and e.g. restoredRuleId), stamped with the time."""
    names = {"#status": "status", "#at": f"{status}At"}
    values: dict[str, Any] = {":status": status, ":at": now().isoformat()}
    updates = ["#status = :status", "#at = :at"]
    for index, (key, value) in enumerate(sorted(extra.items())):
        names[f"#x{index}"] = key
        values[f":x{index}"] = value
        updates.append(f"#x{index} = :x{index}")
    table.update_item(
        Key={"executionArn": entry.execution_arn, "groupKey": entry.sort_key},
        UpdateExpression="SET " + ", ".join(updates),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def mark_all(
    table: Any, marked: Iterable[LedgerEntry], status: str, now: Clock
) -> list[LedgerEntry]:
    """Set many entries' status in batches of 25 (BatchWriteItem; a batch cannot update, so
    each item is written whole) and return them as stored. Returns once every item is stored:
    the batch writer resends unprocessed items."""
    at = now().isoformat()
    items = [{**entry.item, "status": status, f"{status}At": at} for entry in marked]
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)
    return [_entry(item) for item in items]


def by_rule_ids(table: Any, rule_ids: Iterable[str]) -> list[LedgerEntry]:
    """The entry that tells what became of each rule ID: the latest whose execution removed the
    rule (revoking, revoked or restored), else the latest of all (pending, gone). Two prunes that
    overlap can both record a rule: the one that revoked it counts, not the later one that found
    it gone. Rule IDs the ledger does not know are left out."""
    from boto3.dynamodb.conditions import Key

    found = []
    for rule_id in rule_ids:
        items = _query(
            table, IndexName=RULE_INDEX, KeyConditionExpression=Key("ruleId").eq(rule_id)
        )
        acted = [item for item in items if item["status"] in ACTED_ON] or items
        if acted:
            found.append(_entry(max(acted, key=lambda item: item["recordedAt"])))
    return found


# Rules an operator restored are kept: the rule Restore authorizes raises a CloudTrail event
# that starts a prune, which would otherwise remove it again at once.
KEPT_PARTITION = "kept"


def keep(table: Any, group_id: str, rule_id: str, restored_by: str, now: Clock) -> None:
    table.put_item(
        Item={
            "executionArn": KEPT_PARTITION,
            "groupKey": f"{group_id}#{rule_id}",
            "keptRuleId": rule_id,  # not "ruleId": kept marks stay out of the byRuleId index
            "restoredBy": restored_by,
            "keptAt": now().isoformat(),
        }
    )


def kept_rule_ids(table: Any) -> set[str]:
    from boto3.dynamodb.conditions import Key

    items = _query(table, KeyConditionExpression=Key("executionArn").eq(KEPT_PARTITION))
    return {item["keptRuleId"] for item in items}
