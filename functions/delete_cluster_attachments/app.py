"""DeleteCluster: add-ons, Pod Identity associations and access entries."""

from eksops.cluster_steps import delete_attachments
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import DeleteClusterStep

lambda_handler = step_handler(DeleteClusterStep, delete_attachments)
