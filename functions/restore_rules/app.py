"""RestoreSecurityGroupRules: re-authorize one group's pruned rules exactly."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import RestoreStep
from eksops.prune_steps import restore_group

lambda_handler = step_handler(RestoreStep, restore_group)
