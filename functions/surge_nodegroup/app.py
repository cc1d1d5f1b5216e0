"""RebalanceNodegroups: grow the planned node groups to their planned sizes."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import RebalanceStep
from eksops.rebalance_steps import surge_nodegroups

lambda_handler = step_handler(RebalanceStep, surge_nodegroups)
