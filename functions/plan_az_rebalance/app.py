"""RebalanceNodegroups: the fewest moves that even out per-AZ node groups, kept before anything
changes."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import RebalanceStep
from eksops.rebalance_steps import plan_az_rebalance

lambda_handler = step_handler(RebalanceStep, plan_az_rebalance)
