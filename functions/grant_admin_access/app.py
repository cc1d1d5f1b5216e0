"""CreateCluster: administrators, by access entries or an aws-auth merge."""

from eksops.cluster_steps import grant_admin_access
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import CreateClusterStep

lambda_handler = step_handler(CreateClusterStep, grant_admin_access)
