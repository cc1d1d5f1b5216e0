"""RebalanceNodegroups: terminate a drained instance, complete its lifecycle action, or report
the blocking pods."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import RebalanceStep
from eksops.rebalance_steps import finish_node

lambda_handler = step_handler(RebalanceStep, finish_node)
