"""SetupIrsa: the cluster's IAM OIDC provider (adopted, or created with its root CA thumbprint)."""

from eksops.irsa_steps import ensure_provider
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import SetupIrsaStep

lambda_handler = step_handler(SetupIrsaStep, ensure_provider)
