"""SetupIrsa: prove the binding (a ServiceAccount token exchanged with STS, or the association)."""

from eksops.irsa_steps import verify
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import SetupIrsaStep

lambda_handler = step_handler(SetupIrsaStep, verify)
