"""CreateCluster: the IAM OIDC provider of the cluster's issuer."""

from eksops.cluster_steps import ensure_oidc_provider
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import CreateClusterStep

lambda_handler = step_handler(CreateClusterStep, ensure_oidc_provider)
