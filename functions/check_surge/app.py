"""RebalanceNodegroups: whether the surged node groups' new nodes are Ready."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import RebalanceStep
from eksops.rebalance_steps import check_surge

lambda_handler = step_handler(RebalanceStep, check_surge)
