"""DeleteCluster: delete the cluster and report whether it is gone."""

from eksops.cluster_steps import delete_cluster
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import DeleteClusterStep

lambda_handler = step_handler(DeleteClusterStep, delete_cluster)
