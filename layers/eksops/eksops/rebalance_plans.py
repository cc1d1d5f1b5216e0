"""Rebalance plans kept in DynamoDB (``RebalanceTable``) before anything changes, so that a re-run
of an execution that stopped half-way resumes the same plan instead of planning again from a
state its own surge already changed (which would surge twice).

Items: partition key ``key`` (``replace#<cluster>#<instanceId>``, ``skew#<cluster>#<family>``),
``plan`` (JSON), ``status``, ``plannedBy`` (the execution carrying the plan out) and the times.
A plan is ``planned`` until its execution ends it: ``done``, ``blocked`` (a drain ran out of
time: the next run plans afresh from what is there) or ``abandoned`` (its surge never became
Ready). One execution at a time carries a plan out: another running execution's plan is left
to it, and a plan whose execution is no longer running (it failed or was stopped) is taken
over, so a re-run finishes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eksops.execution_status import Running

PLANNED, DONE, BLOCKED, ABANDONED = "planned", "done", "blocked", "abandoned"
# DescribeExecution may not know an execution started moments ago: its plan is not taken over
# on "does not exist" until this long after it was claimed
UNKNOWN_HOLDER_GRACE = timedelta(minutes=5)
# a plan left open longer than this (its runs kept failing, or the schedule was off) describes
# a cluster that has moved on: it is abandoned and planned afresh
MAX_PLAN_AGE = timedelta(hours=6)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Held:
    """The open plan under a key as one execution finds it: ``plan`` to follow (its own, or
    taken over), or ``holder``, the running execution that carries it out; neither when there
    is no open plan."""

    plan: dict[str, Any] | None = None
    holder: str | None = None


def replace_key(cluster_name: str, instance_id: str) -> str:
    return f"replace#{cluster_name}#{instance_id}"


def skew_key(cluster_name: str, family: str) -> str:
    return f"skew#{cluster_name}#{family}"


def _conditional(call: Callable[..., Any], **request: Any) -> bool:
    """``call(**request)``; False when its condition did not hold."""
    from botocore.exceptions import ClientError

    try:
        call(**request)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False
    return True


def held(
    table: Any, key: str, execution_id: str, running: Running, now: Clock, attempts: int = 3
) -> Held:
    """The open plan under ``key`` for ``execution_id``: taken over (conditionally, so two
    executions never both take it) when the execution that planned it is no longer running;
    abandoned when it is older than MAX_PLAN_AGE."""
    for _ in range(attempts):
        item = table.get_item(Key={"key": key}, ConsistentRead=True).get("Item")
        if item is None or item["status"] != PLANNED:
            return Held()
        plan, holder = json.loads(item["plan"]), item["plannedBy"]
        if holder == execution_id:
            return Held(plan=plan)
        state = running(holder)
        claimed = datetime.fromisoformat(item.get("takenOverAt") or item["plannedAt"])
        if state or (state is None and now() - claimed < UNKNOWN_HOLDER_GRACE):
            return Held(holder=holder)
        if now() - datetime.fromisoformat(item["plannedAt"]) > MAX_PLAN_AGE:
            end_plan(table, key, ABANDONED, holder, now)
            continue
        if _conditional(
            table.update_item,
            Key={"key": key},
            UpdateExpression="SET plannedBy = :me, takenOverFrom = :holder, takenOverAt = :at",
            ConditionExpression="#status = :planned AND plannedBy = :holder",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":me": execution_id,
                ":holder": holder,
                ":planned": PLANNED,
                ":at": now().isoformat(),
            },
        ):
            return Held(plan=plan)
    raise RuntimeError(f"plan {key} changed hands {attempts} times while being read")


def record_plan(
    table: Any,
    key: str,
    plan: dict[str, Any],
    execution_id: str,
    running: Running,
    now: Clock,
    attempts: int = 3,
) -> Held:
    """Keep ``plan`` under ``key`` unless another execution's plan is open there already (a
    concurrent run's, or one left by a run that failed: that one is followed instead)."""
    for _ in range(attempts):
        if _conditional(
            table.put_item,
            Item={
                "key": key,
                "plan": json.dumps(plan, sort_keys=True),
                "status": PLANNED,
                "plannedBy": execution_id,
                "plannedAt": now().isoformat(),
            },
            ConditionExpression="attribute_not_exists(#key) OR #status <> :planned",
            ExpressionAttributeNames={"#key": "key", "#status": "status"},
            ExpressionAttributeValues={":planned": PLANNED},
        ):
            return Held(plan=plan)
        found = held(table, key, execution_id, running, now)
        if found.plan is not None or found.holder is not None:
            return found
    raise RuntimeError(f"plan {key} changed hands {attempts} times while being recorded")


def end_plan(table: Any, key: str, status: str, execution_id: str, now: Clock) -> None:
    """Mark the plan ``status`` (done, blocked or abandoned) for good, if ``execution_id`` still
    carries it out (one that took it over meanwhile ends it instead)."""
    _conditional(
        table.update_item,
        Key={"key": key},
        UpdateExpression="SET #status = :status, endedBy = :by, endedAt = :at",
        ConditionExpression="#status = :planned AND plannedBy = :by",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":status": status,
            ":planned": PLANNED,
            ":by": execution_id,
            ":at": now().isoformat(),
        },
    )
