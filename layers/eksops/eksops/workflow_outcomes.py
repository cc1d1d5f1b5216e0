"""Every workflow's outcome, in one place: Step Functions' ``Step Functions Execution Status
Change`` events (source ``aws.states``, one per status change of every execution of the stack's
state machines, failures included) become

- EMF metrics in the POWERTOOLS_METRICS_NAMESPACE, dimension ``Workflow`` (the state machine's
  logical name without ``StateMachine``: ``CreateCluster``): ``ExecutionsStarted``,
  ``ExecutionsSucceeded``, ``ExecutionsFailed``, ``ExecutionsTimedOut``, ``ExecutionsAborted``
  (Count) and ``ExecutionDuration`` (Milliseconds, from ``startDate`` to ``stopDate``);
- for an execution that ended, an event on the default bus, source ``eksops``, detail-type
  ``Workflow Execution Succeeded`` / ``Failed`` / ``Timed Out`` / ``Aborted``, whose detail is
  small: the workflow, the execution, the status, the cluster (from the input), the error and a
  shortened cause; never the output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from eksops.errors import EksopsError, InvalidInputError
from eksops.models.base import shortened

SOURCE = "eksops"
STATUS_CHANGE = "Step Functions Execution Status Change"
# status -> (count metric, the outcome event's detail-type or None while running)
STATUSES: dict[str, tuple[str, str | None]] = {
    "RUNNING": ("ExecutionsStarted", None),
    "SUCCEEDED": ("ExecutionsSucceeded", "Workflow Execution Succeeded"),
    "FAILED": ("ExecutionsFailed", "Workflow Execution Failed"),
    "TIMED_OUT": ("ExecutionsTimedOut", "Workflow Execution Timed Out"),
    "ABORTED": ("ExecutionsAborted", "Workflow Execution Aborted"),
}
DURATION_METRIC = "ExecutionDuration"
WORKFLOW_DIMENSION = "Workflow"
CAUSE_LIMIT = 256  # characters of an error's cause the event carries


class OutcomeNotPublishedError(EksopsError):
    """EventBridge refused the outcome event (Lambda's asynchronous retries try again)."""

    error_name = "eksops.OutcomeNotPublished"


class ExecutionStatusChange(BaseModel):
    """The ``detail`` of a Step Functions Execution Status Change event (the members eksops
    reads; AWS adds others, such as ``inputDetails`` and the ``redrive*`` ones)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    execution_arn: str
    state_machine_arn: str
    name: str
    status: str
    start_date: int | None = None  # epoch milliseconds
    stop_date: int | None = None
    input: str | None = None  # JSON text; null when too large to include
    error: str | None = None
    cause: str | None = None

    @property
    def duration_ms(self) -> int | None:
        if self.start_date is None or self.stop_date is None:
            return None
        return max(0, self.stop_date - self.start_date)

    @property
    def cluster_name(self) -> str | None:
        try:
            document = json.loads(self.input) if self.input else None
        except ValueError:
            return None
        name = document.get("clusterName") if isinstance(document, dict) else None
        return name if isinstance(name, str) else None


def status_change(event: Any) -> ExecutionStatusChange:
    """The detail of a status change event (Powertools' EventBridge envelope); anything else is
    eksops.InvalidInput."""
    from aws_lambda_powertools.utilities.parser import envelopes, parse
    from pydantic import ValidationError

    if not isinstance(event, dict) or event.get("detail-type") != STATUS_CHANGE:
        raise InvalidInputError(f"not a {STATUS_CHANGE} event: {shortened(event)}")
    try:
        return parse(
            event=event, model=ExecutionStatusChange, envelope=envelopes.EventBridgeEnvelope
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInputError(f"invalid {STATUS_CHANGE} event: {problems}") from None


def parse_workflows(text: str) -> dict[str, str]:
    """``"CreateCluster=arn:...,DeleteCluster=arn:..."`` (WORKFLOW_STATE_MACHINES) as
    {state machine ARN: workflow}."""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {arn.strip(): name.strip() for name, arn in pairs}


def workflow_name(state_machine_arn: str, workflows: Mapping[str, str]) -> str:
    """The workflow of a state machine: as the stack names it, else from its name
    (CloudFormation's ``CreateClusterStateMachine-AbC123`` is ``CreateCluster``)."""
    if state_machine_arn in workflows:
        return workflows[state_machine_arn]
    name = state_machine_arn.rsplit(":", 1)[-1]
    if "StateMachine" in name:
        name = name.split("StateMachine", 1)[0]
    return name


def _message(cause: str) -> str:
    """A Lambda step's error document (errorType, errorMessage, stackTrace) as its message."""
    try:
        document = json.loads(cause)
    except ValueError:
        return cause
    message = document.get("errorMessage") if isinstance(document, dict) else None
    return message if isinstance(message, str) else cause


def outcome_event(change: ExecutionStatusChange, workflow: str) -> dict[str, Any] | None:
    """The PutEvents entry announcing an ended execution (None while it runs)."""
    detail_type = STATUSES[change.status][1]
    if detail_type is None:
        return None
    detail: dict[str, Any] = {
        "workflow": workflow,
        "executionArn": change.execution_arn,
        "executionName": change.name,
        "stateMachineArn": change.state_machine_arn,
        "status": change.status,
        "startDate": change.start_date,
        "stopDate": change.stop_date,
        "durationMs": change.duration_ms,
        "clusterName": change.cluster_name,
        "error": change.error,
        "cause": shortened(_message(change.cause), CAUSE_LIMIT) if change.cause else None,
    }
    return {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Resources": [change.execution_arn],
        "Detail": json.dumps({k: v for k, v in detail.items() if v is not None}),
    }


def record(
    change: ExecutionStatusChange, workflows: Mapping[str, str], metrics: Any, events: Any
) -> dict[str, Any]:
    """Add the change's metrics to ``metrics`` (a Powertools Metrics, flushed by the caller)
    and put its outcome event with ``events`` (an EventBridge client)."""
    workflow = workflow_name(change.state_machine_arn, workflows)
    result: dict[str, Any] = {"workflow": workflow, "status": change.status}
    if change.status not in STATUSES:  # e.g. PENDING_REDRIVE: no outcome yet
        return result
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_dimension(name=WORKFLOW_DIMENSION, value=workflow)
    metrics.add_metric(name=STATUSES[change.status][0], unit=MetricUnit.Count, value=1)
    if change.status != "RUNNING" and change.duration_ms is not None:
        metrics.add_metric(
            name=DURATION_METRIC, unit=MetricUnit.Milliseconds, value=change.duration_ms
        )
    entry = outcome_event(change, workflow)
    if entry is not None:
        answer = events.put_events(Entries=[entry])
        if answer.get("FailedEntryCount"):
            failed = answer["Entries"][0]
            raise OutcomeNotPublishedError(
                f"{change.execution_arn}: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}"
            )
        result["eventId"] = answer["Entries"][0].get("EventId")
    return result
