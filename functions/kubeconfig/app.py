"""KubeconfigFunction: an EKS token, or a kubeconfig carrying one, for a cluster."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from eksops.kubeconfig_service import issue
from eksops.models.base import parse_event
from eksops.models.kubeconfig import KubeconfigEvent

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)  # events are safe, responses are not: never log
@tracer.capture_lambda_handler(capture_response=False)  # the response carries the token
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_event(KubeconfigEvent, event)
    result = issue(request)
    metrics.add_metric(name="TokensIssued", unit=MetricUnit.Count, value=1)
    logger.info("issued", extra={"cluster": request.cluster_name, "format": request.format})
    return result
