"""PruneSecurityGroupRules: the input from a start or an event; a redelivered event acts once."""

from eksops.lambda_step import step_handler
from eksops.models.remediation_steps import StartPruneEvent
from eksops.prune_steps import start_prune

lambda_handler = step_handler(StartPruneEvent, start_prune)
