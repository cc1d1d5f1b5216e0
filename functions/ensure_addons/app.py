"""CreateCluster: the input's add-ons, created if missing, and their progress."""

from eksops.cluster_steps import ensure_addons
from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import CreateClusterStep

lambda_handler = step_handler(CreateClusterStep, ensure_addons)
