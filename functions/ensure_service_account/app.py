"""SetupIrsa: the ServiceAccount, created or annotated (other annotations and labels kept)."""

from eksops.irsa_steps import ensure_service_account
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import SetupIrsaStep

lambda_handler = step_handler(SetupIrsaStep, ensure_service_account)
