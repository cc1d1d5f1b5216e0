"""Counts the remediation workflows publish as CloudWatch metrics (Powertools EMF: a log line
that CloudWatch turns into a metric, no API call)."""

from __future__ import annotations


def count(name: str, value: int) -> None:
    """Publish ``value`` of the metric ``name`` in the POWERTOOLS_METRICS_NAMESPACE."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=value):
        pass  # flushed when the block ends
