"""RebalanceNodegroups: cordon a node, the reason recorded on it."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import RebalanceStep
from eksops.rebalance_steps import cordon_node

lambda_handler = step_handler(RebalanceStep, cordon_node)
