"""Whether a Step Functions execution still runs: how a record that an execution holds (a plan,
an account slot) is known to be left behind by one that failed or was stopped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Running = Callable[[str], bool | None]
"""Whether the execution of this ARN is still running; None when Step Functions does not know
it."""


def execution_running(sfn: Any) -> Running:
    """``Running`` answered by Step Functions (DescribeExecution)."""

    def running(execution_arn: str) -> bool | None:
        try:
            return sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
        except sfn.exceptions.ExecutionDoesNotExist:
            return None
        except sfn.exceptions.InvalidArn:
            return False  # no execution has that ARN (a step invoked by hand, a test)

    return running
