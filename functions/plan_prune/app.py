"""PruneSecurityGroupRules: find the provably stale rules; record them in the ledger (enforce)."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import PruneStep
from eksops.prune_steps import plan_prune

lambda_handler = step_handler(PruneStep, plan_prune)
