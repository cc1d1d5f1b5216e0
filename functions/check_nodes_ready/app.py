"""JoinNodegroup: one poll of the expected nodes' Ready condition, matched by instance ID."""

from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import JoinNodegroupStep
from eksops.nodegroup_steps import check_nodes

lambda_handler = step_handler(JoinNodegroupStep, check_nodes)
