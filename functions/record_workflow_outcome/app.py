"""RecordWorkflowOutcomeFunction: every status change of every execution of the stack's
workflows (Step Functions' events) as metrics per workflow and, once it ended, an outcome event
(source eksops)."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from eksops.aws_session import RETRIES
from eksops.workflow_outcomes import parse_workflows, record, status_change

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)  # an execution's input and output: not logged
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    change = status_change(event)
    logger.set_correlation_id(change.execution_arn)
    logger.append_keys(execution_arn=change.execution_arn, cluster_name=change.cluster_name)
    workflows = parse_workflows(os.environ.get("WORKFLOW_STATE_MACHINES", ""))
    events = boto3.client("events", config=Config(retries=RETRIES))
    result = record(change, workflows, metrics, events)
    logger.info("workflow execution status recorded", extra=result)
    return result
