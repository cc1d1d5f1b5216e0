"""CreateCluster: create the cluster, or adopt an identical one."""

from eksops.cluster_steps import create_cluster
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import CreateClusterStep

lambda_handler = step_handler(CreateClusterStep, create_cluster)
