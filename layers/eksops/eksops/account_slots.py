"""At most N remediation runs at once per target account (``MaxRunsPerAccount``), so that a
storm of signals from one account (a Spot reclaim of a whole pool, a CloudTrail burst) neither
throttles that account's APIs for everyone else nor starves the other accounts' runs.

A run takes a slot before it changes anything and keeps it to its end: the slots of an account
are one DynamoDB item (``AccountSlotsTable``: ``account``, ``holders`` execution ARN -> taken
at, ``version``), written conditionally on the version read. A holder that is no longer
running (DescribeExecution) frees its slot when the next run asks, so a run that failed, was
stopped or timed out never holds one for good; nothing has to release it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from eksops.errors import AccountBusyError
from eksops.execution_status import Running, execution_running
from eksops.fleet import account_of

TABLE_VARIABLE = "ACCOUNT_SLOTS_TABLE"
LIMIT_VARIABLE = "MAX_RUNS_PER_ACCOUNT"
DEFAULT_LIMIT = 10
# DescribeExecution may not know an execution started moments ago
UNKNOWN_HOLDER_GRACE = timedelta(minutes=5)
Clock = Callable[[], datetime]


def _live(holders: Mapping[str, str], running: Running, now: Clock) -> dict[str, str]:
    def holds(arn: str, taken: str) -> bool:
        state = running(arn)
        return bool(state) or (
            state is None and now() - datetime.fromisoformat(taken) < UNKNOWN_HOLDER_GRACE
        )

    return {arn: taken for arn, taken in holders.items() if holds(arn, taken)}


def take(
    table: Any,
    account: str,
    execution_id: str,
    limit: int,
    running: Running,
    now: Clock,
    attempts: int = 5,
) -> int:
    """A slot of ``account`` for ``execution_id`` (again, on a re-run: it is kept); the number
    of slots taken. AccountBusy (the state machines retry it) when ``limit`` running executions
    hold them all."""
    from botocore.exceptions import ClientError

    for _ in range(attempts):
        item = table.get_item(Key={"account": account}, ConsistentRead=True).get("Item") or {}
        holders = dict(item.get("holders") or {})
        if execution_id in holders:
            return len(holders)
        live = _live(holders, running, now)
        if len(live) >= limit:
            raise AccountBusyError(
                f"account {account} has {len(live)} eksops remediation runs going, the most "
                f"MaxRunsPerAccount allows ({limit}): {', '.join(sorted(live))}; this run "
                "waits for a slot"
            )
        live[execution_id] = now().isoformat()
        version = int(item.get("version", 0))
        try:
            table.put_item(
                Item={"account": account, "holders": live, "version": version + 1},
                ConditionExpression="attribute_not_exists(#account) OR #version = :read",
                ExpressionAttributeNames={"#account": "account", "#version": "version"},
                ExpressionAttributeValues={":read": version},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            continue  # another run took or freed a slot meanwhile: read again
        return len(live)
    raise AccountBusyError(
        f"the slots of account {account} changed {attempts} times while this run asked; it "
        "asks again"
    )


def take_for_run(
    target_role_arn: str | None, execution_id: str, environ: Mapping[str, str]
) -> int | None:
    """``take`` a slot of the run's account in the stack's table, at the stack's limit; None
    where no table is configured (nothing is bounded)."""
    name = environ.get(TABLE_VARIABLE)
    if not name:
        return None
    import boto3

    return take(
        boto3.resource("dynamodb").Table(name),
        account_of(target_role_arn, environ),
        execution_id,
        int(environ.get(LIMIT_VARIABLE) or DEFAULT_LIMIT),
        # executions are the hub's, as the table is
        execution_running(boto3.client("stepfunctions")),
        lambda: datetime.now(UTC),
    )
