"""RebalanceNodegroups: the input from a start or a signal, the instance mapped to its cluster
and Node, the plan."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import StartRebalanceEvent
from eksops.rebalance_steps import start_rebalance

lambda_handler = step_handler(StartRebalanceEvent, start_rebalance)
