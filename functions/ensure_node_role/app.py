"""JoinNodegroup: the given node role, or the eksops node role with the three node policies."""

from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import JoinNodegroupStep
from eksops.nodegroup_steps import ensure_node_role

lambda_handler = step_handler(JoinNodegroupStep, ensure_node_role)
