"""DeleteCluster: the OIDC provider and IAM roles eksops created for the cluster."""

from eksops.cluster_steps import delete_iam
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import DeleteClusterStep

lambda_handler = step_handler(DeleteClusterStep, delete_iam)
