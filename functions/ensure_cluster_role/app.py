"""CreateCluster: the given cluster role, or <clusterName>-cluster-role ensured."""

from eksops.cluster_steps import ensure_cluster_role
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import CreateClusterStep

lambda_handler = step_handler(CreateClusterStep, ensure_cluster_role)
