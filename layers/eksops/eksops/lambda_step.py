"""The handler of every workflow step: Powertools logging and tracing, the event parsed into its
model (a named error when it does not fit), one library call, a JSON-serialisable result.

Correlation: every Task passes ``"executionId.$": "$$.Execution.Id"``, so each log line of a
step carries the execution's ARN (Powertools ``correlation_id``, and ``execution_arn``) and the
cluster's name (``cluster_name``) when the event names one. A step whose model has no
``execution_id`` field gets ``executionId`` taken off its event before parsing; a step that
validates a workflow's input whole gets it as ``{"input": <the input>, "executionId": ...}``
(``input_key``), since a Task cannot add a key to its state's input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksops.models.base import Model, parse_event

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

EXECUTION_ID = "executionId"  # the key under which every Task passes $$.Execution.Id
# Where a step's event names the cluster: at the top, or in the request or input it carries.
CLUSTER_NAME_HOLDERS = ("request", "input")


def correlation_ids(event: Any) -> dict[str, str | None]:
    """The log keys that tie a step's lines to its execution and cluster (None: not known)."""
    if not isinstance(event, dict):
        return {"execution_arn": None, "cluster_name": None}
    execution = event.get(EXECUTION_ID)
    holders = [event, *(event.get(key) for key in CLUSTER_NAME_HOLDERS)]
    names = [h["clusterName"] for h in holders if isinstance(h, dict) and "clusterName" in h]
    return {
        "execution_arn": execution if isinstance(execution, str) else None,
        "cluster_name": names[0] if names and isinstance(names[0], str) else None,
    }


def step_event(model: type[Model], event: Any, input_key: str | None = None) -> Any:
    """What ``model`` parses: ``executionId`` off the event unless the model declares it; the
    workflow's input from under ``input_key``."""
    if not isinstance(event, dict):
        return event
    if "execution_id" not in model.model_fields:
        event = {key: value for key, value in event.items() if key != EXECUTION_ID}
    return event.get(input_key) if input_key is not None else event


def step_handler(
    model: type[Model],
    operation: Callable[[Model], dict[str, Any]],
    *,
    input_key: str | None = None,
) -> Handler:
    logger = Logger()
    tracer = Tracer()

    @logger.inject_lambda_context(log_event=True)  # step inputs carry no secrets
    @tracer.capture_lambda_handler
    def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        result = operation(parse_event(model, step_event(model, event, input_key)))
        logger.info("step finished", extra={"result": result})
        return result

    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        # set before the event is logged; None drops a key a previous invocation set
        ids = correlation_ids(event)
        logger.set_correlation_id(ids["execution_arn"])
        logger.append_keys(**ids)
        return run(event, context)

    return lambda_handler
