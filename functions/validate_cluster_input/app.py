"""CreateCluster: check the input against the account (reads only) and fill in its region."""

from eksops.cluster_steps import validate_input
from eksops.lambda_step import step_handler
from eksops.models.create_cluster import CreateClusterInput

lambda_handler = step_handler(CreateClusterInput, validate_input, input_key="input")
