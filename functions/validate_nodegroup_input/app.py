"""JoinNodegroup: check the input against the account and cluster (reads only); plan node groups."""

from eksops.lambda_step import step_handler
from eksops.models.join_nodegroup import JoinNodegroupInput
from eksops.nodegroup_steps import validate_input

lambda_handler = step_handler(JoinNodegroupInput, validate_input, input_key="input")
