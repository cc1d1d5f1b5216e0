"""Rebalance plans kept in DynamoDB (``RebalanceTable``) before anything changes, so that a re-run
of an execution that stopped half-way resumes the same plan instead of planning again from a
state its own surge already changed (which would surge twice).

Items: partition key ``key`` (``replace#<cluster>#<instanceId>``, ``skew#<cluster>#<family>``),
``plan`` (JSON), ``status`` (``planned`` -> ``done``), ``plannedBy`` / ``doneBy`` (executions)
and their times.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

PLANNED, DONE = "planned", "done"
Clock = Callable[[], datetime]


def replace_key(cluster_name: str, instance_id: str) -> str:
    return f"replace#{cluster_name}#{instance_id}"


def skew_key(cluster_name: str, family: str) -> str:
    return f"skew#{cluster_name}#{family}"


def open_plan(table: Any, key: str) -> tuple[dict[str, Any], str] | None:
    """The plan recorded under ``key`` and its status, or None."""
    item = table.get_item(Key={"key": key}, ConsistentRead=True).get("Item")
    return None if item is None else (json.loads(item["plan"]), item["status"])


def record_plan(
    table: Any, key: str, plan: dict[str, Any], execution_id: str, now: Clock
) -> dict[str, Any]:
    """Keep ``plan`` under ``key`` unless a plan not done is there already (a concurrent or
    earlier execution's); the plan to follow."""
    from botocore.exceptions import ClientError

    try:
        table.put_item(
            Item={
                "key": key,
                "plan": json.dumps(plan, sort_keys=True),
                "status": PLANNED,
                "plannedBy": execution_id,
                "plannedAt": now().isoformat(),
            },
            ConditionExpression="attribute_not_exists(#key) OR #status = :done",
            ExpressionAttributeNames={"#key": "key", "#status": "status"},
            ExpressionAttributeValues={":done": DONE},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        found = open_plan(table, key)
        assert found is not None, "the condition failed on an item that is not there"
        return found[0]
    return plan


def finish_plan(table: Any, key: str, execution_id: str, now: Clock) -> None:
    table.update_item(
        Key={"key": key},
        UpdateExpression="SET #status = :done, doneBy = :by, doneAt = :at",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":done": DONE, ":by": execution_id, ":at": now().isoformat()},
    )
