"""JoinNodegroup: let the node role join (an EC2 access entry, or an aws-auth mapRoles merge)."""

from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import JoinNodegroupStep
from eksops.nodegroup_steps import authorize_nodes

lambda_handler = step_handler(JoinNodegroupStep, authorize_nodes)
