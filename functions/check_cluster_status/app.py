"""CreateCluster: one poll of the cluster's status on its way to ACTIVE."""

from eksops.cluster_steps import check_cluster_status
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import CreateClusterStep

lambda_handler = step_handler(CreateClusterStep, check_cluster_status)
