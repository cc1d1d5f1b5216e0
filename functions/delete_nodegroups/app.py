"""DeleteCluster: delete every node group and report those still going."""

from eksops.cluster_steps import delete_nodegroups
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import DeleteClusterStep

lambda_handler = step_handler(DeleteClusterStep, delete_nodegroups)
