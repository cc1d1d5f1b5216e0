"""The handler of every workflow step: Powertools logging and tracing, the event parsed into its
model (a named error when it does not fit), one library call, a JSON-serialisable result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksops.models.base import Model, parse_event

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def step_handler(model: type[Model], operation: Callable[[Model], dict[str, Any]]) -> Handler:
    logger = Logger()
    tracer = Tracer()

    @logger.inject_lambda_context(log_event=True)  # step inputs carry no secrets
    @tracer.capture_lambda_handler
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        result = operation(parse_event(model, event))
        logger.info("step finished", extra={"result": result})
        return result

    return lambda_handler
