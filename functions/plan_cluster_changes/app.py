"""CreateCluster: every mutating call the execution would make, in order (the dry-run answer)."""

from eksops.cluster_steps import plan_changes
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import CreateClusterStep

lambda_handler = step_handler(CreateClusterStep, plan_changes)
