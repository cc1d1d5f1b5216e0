"""The plans table's rules: one execution carries a plan out at a time, a plan left by an
execution that is no longer running is taken over, and an ended plan is planned afresh."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eksops import rebalance_plans
from eksops.execution_status import Running, execution_running
from eksops.rebalance_plans import Held

from tests.support.dynamodb import mocked_table

KEY = "skew#prod#workers"
FIRST, SECOND = "arn:exec:first", "arn:exec:second"
PLAN = {"drain": ["a"]}
OTHER_PLAN = {"drain": ["b"]}


def now() -> datetime:
    return datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def table() -> Iterator[Any]:
    with mocked_table("plans", "key") as created:
        yield created


def running(*arns: str) -> Running:
    return lambda arn: arn in arns


def unknown(arn: str) -> bool | None:
    """Step Functions does not know the execution (yet)."""
    return None


def item(table: Any) -> dict[str, Any]:
    return table.get_item(Key={"key": KEY})["Item"]


def test_no_plan_is_held_until_one_is_recorded(table) -> None:
    assert rebalance_plans.held(table, KEY, FIRST, running(), now) == Held()
    assert rebalance_plans.record_plan(table, KEY, PLAN, FIRST, running(), now) == Held(plan=PLAN)
    assert rebalance_plans.held(table, KEY, FIRST, running(FIRST), now) == Held(plan=PLAN)
    assert item(table)["plannedBy"] == FIRST


def test_a_running_execution_keeps_its_plan_from_another(table) -> None:
    rebalance_plans.record_plan(table, KEY, PLAN, FIRST, running(), now)
    assert rebalance_plans.held(table, KEY, SECOND, running(FIRST), now) == Held(holder=FIRST)
    recorded = rebalance_plans.record_plan(table, KEY, OTHER_PLAN, SECOND, running(FIRST), now)
    assert recorded == Held(holder=FIRST)
    assert item(table)["plannedBy"] == FIRST


def test_the_plan_of_an_execution_no_longer_running_is_taken_over_not_replanned(table) -> None:
    rebalance_plans.record_plan(table, KEY, PLAN, FIRST, running(), now)
    recorded = rebalance_plans.record_plan(table, KEY, OTHER_PLAN, SECOND, running(), now)
    assert recorded == Held(plan=PLAN)
    assert (item(table)["plannedBy"], item(table)["takenOverFrom"]) == (SECOND, FIRST)
    # the first execution, if it came back, finds the plan another's now
    assert rebalance_plans.held(table, KEY, FIRST, running(SECOND), now) == Held(holder=SECOND)


@pytest.mark.parametrize(
    "status", [rebalance_plans.DONE, rebalance_plans.BLOCKED, rebalance_plans.ABANDONED]
)
def test_an_ended_plan_is_planned_afresh(table, status: str) -> None:
    rebalance_plans.record_plan(table, KEY, PLAN, FIRST, running(), now)
    rebalance_plans.end_plan(table, KEY, status, FIRST, now)
    assert item(table)["status"] == status
    assert rebalance_plans.held(table, KEY, SECOND, running(), now) == Held()
    recorded = rebalance_plans.record_plan(table, KEY, OTHER_PLAN, SECOND, running(), now)
    assert recorded == Held(plan=OTHER_PLAN)


def test_only_the_execution_carrying_a_plan_out_ends_it(table) -> None:
    rebalance_plans.record_plan(table, KEY, PLAN, FIRST, running(), now)
    rebalance_plans.record_plan(table, KEY, OTHER_PLAN, SECOND, running(), now)  # taken over
    rebalance_plans.end_plan(table, KEY, rebalance_plans.DONE, FIRST, now)
    assert item(table)["status"] == rebalance_plans.PLANNED
    rebalance_plans.end_plan(table, KEY, rebalance_plans.DONE, SECOND, now)
    assert item(table)["status"] == rebalance_plans.DONE


def test_of_two_executions_taking_a_plan_over_at_once_one_wins(table) -> None:
    third = "arn:exec:third"
    rebalance_plans.record_plan(table, KEY, PLAN, FIRST, running(), now)

    def second_takes_it_meanwhile(arn: str) -> bool:
        """While the third looks at the first, the second takes the plan over."""
        if arn == FIRST:
            assert rebalance_plans.held(table, KEY, SECOND, running(), now) == Held(plan=PLAN)
            return False
        return arn == SECOND

    found = rebalance_plans.held(table, KEY, third, second_takes_it_meanwhile, now)
    assert found == Held(holder=SECOND)
    assert item(table)["plannedBy"] == SECOND


def test_an_execution_step_functions_does_not_know_yet_keeps_its_plan_a_while(table) -> None:
    rebalance_plans.record_plan(table, KEY, PLAN, FIRST, running(), now)
    assert rebalance_plans.held(table, KEY, SECOND, unknown, now) == Held(holder=FIRST)

    def later() -> datetime:
        return now() + rebalance_plans.UNKNOWN_HOLDER_GRACE + timedelta(seconds=1)

    assert rebalance_plans.held(table, KEY, SECOND, unknown, later) == Held(plan=PLAN)


def test_a_plan_left_open_too_long_is_abandoned_and_planned_afresh(table) -> None:
    rebalance_plans.record_plan(table, KEY, PLAN, FIRST, running(), now)

    def much_later() -> datetime:
        return now() + rebalance_plans.MAX_PLAN_AGE + timedelta(seconds=1)

    assert rebalance_plans.held(table, KEY, SECOND, running(), much_later) == Held()
    assert item(table)["status"] == rebalance_plans.ABANDONED
    # while its execution still runs, a plan is never abandoned
    rebalance_plans.record_plan(table, KEY, OTHER_PLAN, SECOND, running(), now)
    assert rebalance_plans.held(table, KEY, FIRST, running(SECOND), much_later) == Held(
        holder=SECOND
    )


class FakeStepFunctions:
    """DescribeExecution's answers: a status per known ARN, InvalidArn for what is no ARN,
    ExecutionDoesNotExist otherwise."""

    class exceptions:
        class ExecutionDoesNotExist(Exception):
            pass

        class InvalidArn(Exception):
            pass

    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses = statuses

    def describe_execution(self, executionArn: str) -> dict[str, str]:
        if not executionArn.startswith("arn:"):
            raise self.exceptions.InvalidArn(executionArn)
        if executionArn not in self.statuses:
            raise self.exceptions.ExecutionDoesNotExist(executionArn)
        return {"executionArn": executionArn, "status": self.statuses[executionArn]}


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        ("RUNNING", True),
        ("SUCCEEDED", False),
        ("FAILED", False),
        ("TIMED_OUT", False),
        ("ABORTED", False),
        ("PENDING_REDRIVE", False),
        (None, None),
    ],
)
def test_execution_running_asks_step_functions(status: str | None, answer: bool | None) -> None:
    sfn = FakeStepFunctions({FIRST: status} if status else {})
    assert execution_running(sfn)(FIRST) is answer


def test_what_is_no_execution_arn_is_not_running() -> None:
    assert execution_running(FakeStepFunctions({}))("first") is False
