"""RebalanceNodegroups signals: an execution per instance and signal, named after both, so a
signal EventBridge delivers twice, or EC2 sends twice, drains once; the AZ-skew schedule starts
one per managed cluster."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from eksops.rebalance_signals import route

logger = Logger()
tracer = Tracer()


# EC2 and Auto Scaling events carry no secrets; each log line carries the event's id
@logger.inject_lambda_context(log_event=True, correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = route(event, boto3.client("stepfunctions"), boto3.client("eks"))
    logger.info("routed", extra={"result": result})
    return result
