"""JoinNodegroup: one poll of the node groups on their way to ACTIVE."""

from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import JoinNodegroupStep
from eksops.nodegroup_steps import check_nodegroups

lambda_handler = step_handler(JoinNodegroupStep, check_nodegroups)
