"""SetupIrsa (pod-identity): the ServiceAccount's association with the role."""

from eksops.irsa_steps import ensure_pod_identity_association
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import SetupIrsaStep

lambda_handler = step_handler(SetupIrsaStep, ensure_pod_identity_association)
