"""RestoreSecurityGroupRules: the groups with pruned rules to restore, from the ledger."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import RestoreStep
from eksops.prune_steps import plan_restore

lambda_handler = step_handler(RestoreStep, plan_restore)
