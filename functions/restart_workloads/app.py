"""SetupIrsa: rollout-restart the Deployments that run as the ServiceAccount."""

from eksops.irsa_steps import restart_workloads
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import SetupIrsaStep

lambda_handler = step_handler(SetupIrsaStep, restart_workloads)
