"""RebalanceNodegroups: the run's outcome and metrics."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import RebalanceStep
from eksops.rebalance_steps import report_outcome

lambda_handler = step_handler(RebalanceStep, report_outcome)
