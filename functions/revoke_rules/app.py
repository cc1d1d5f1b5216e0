"""PruneSecurityGroupRules: revoke one group's recorded rules by ID, in one call."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import PruneStep
from eksops.prune_steps import revoke_group

lambda_handler = step_handler(PruneStep, revoke_group)
