"""RebalanceNodegroups: one Eviction API pass over a node's pods (budgets respected)."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import RebalanceStep
from eksops.rebalance_steps import evict_pods

lambda_handler = step_handler(RebalanceStep, evict_pods)
