"""JoinNodegroup: create the managed node groups (one per AZ with perAz) or adopt identical ones."""

from eksops.lambda_step import step_handler
from eksops.models.cluster_steps import JoinNodegroupStep
from eksops.nodegroup_steps import create_nodegroups

lambda_handler = step_handler(JoinNodegroupStep, create_nodegroups)
