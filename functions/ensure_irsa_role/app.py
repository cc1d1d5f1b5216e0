"""SetupIrsa: the ServiceAccount's role: trust merged in, policies attached, inline policy put."""

from eksops.irsa_steps import ensure_role
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import SetupIrsaStep

lambda_handler = step_handler(SetupIrsaStep, ensure_role)
