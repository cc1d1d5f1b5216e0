"""SetupIrsa (pod-identity): the eks-pod-identity-agent add-on, and whether it is installed yet."""

from eksops.irsa_steps import ensure_pod_identity_agent
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import SetupIrsaStep

lambda_handler = step_handler(SetupIrsaStep, ensure_pod_identity_agent)
