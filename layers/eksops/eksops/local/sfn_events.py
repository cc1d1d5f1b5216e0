"""Step Functions' execution status change events in the offline account.

AWS puts a ``Step Functions Execution Status Change`` event (source ``aws.states``) on the
account's default event bus each time a Standard workflow's execution changes status: RUNNING
when it starts, then SUCCEEDED, FAILED, TIMED_OUT or ABORTED. moto's interpreter puts none, so
rules on them (RecordWorkflowOutcomeFunction's) never fired offline. :func:`install` adds them,
in AWS's shape, through the offline EventBridge (``events.py``: matched now, delivered on its
worker). Nothing an event's targets do can change an execution's status, so no event leads to
another. Express workflows send none, as in AWS.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

LOG = logging.getLogger(__name__)

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"


def install() -> None:
    """Emit the events from moto's executions (start, and every way they end). Idempotent."""
    from moto.stepfunctions.parser.backend import execution as parser

    if getattr(parser.Execution, "_eksops_status_events", False):
        return
    start = parser.Execution.start
    terminated = parser.BaseExecutionWorkerCommunication.terminated

    def start_and_announce(self: Any) -> None:
        start(self)
        announce(self)

    def terminated_and_announce(self: Any) -> None:
        terminated(self)  # the final status, dates, output, error and cause are set here
        announce(self.execution)

    parser.Execution.start = start_and_announce
    parser.BaseExecutionWorkerCommunication.terminated = terminated_and_announce
    parser.Execution._eksops_status_events = True


def _millis(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def status_change_detail(execution: Any) -> dict[str, Any]:
    """The event's ``detail``, as AWS writes it: dates in epoch milliseconds, the input and
    output as JSON text, members without a value as null."""
    machine = execution.state_machine
    status = execution.exec_status.value
    version_arn = None
    if getattr(machine, "source_arn", None):  # an execution of a version
        version_arn = machine.arn
    redrivable = status in ("FAILED", "TIMED_OUT", "ABORTED")
    succeeded = status == "SUCCEEDED"
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": getattr(machine, "source_arn", None) or machine.arn,
        "name": execution.name,
        "status": status,
        "startDate": _millis(execution.start_date),
        "stopDate": _millis(execution.stop_date) if status != "RUNNING" else None,
        "input": _json(execution.input_data),
        "output": _json(execution.output) if succeeded else None,
        "stateMachineVersionArn": version_arn,
        "stateMachineAliasArn": None,
        "redriveCount": 0,
        "redriveDate": None,
        "redriveStatus": "REDRIVABLE" if redrivable else "NOT_REDRIVABLE",
        "redriveStatusReason": (
            "Execution can be redriven"
            if redrivable
            else f"Execution is {status} and cannot be redriven"
        ),
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if succeeded else None,
        "error": execution.error,
        "cause": execution.cause,
    }


def announce(execution: Any) -> None:
    """Put the execution's status change on its account's default bus (best effort, as AWS
    delivers these events: a failure is logged, never raised into the execution)."""
    from moto.events.models import events_backends

    try:
        if getattr(execution.sm_type, "value", execution.sm_type) == "EXPRESS":
            return
        entry = {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(status_change_detail(execution)),
            "Resources": [execution.exec_arn],
        }
        events_backends[execution.account_id][execution.region_name].put_events([entry])
    except Exception:
        LOG.exception("execution %s: the status change event was not put", execution.exec_arn)
