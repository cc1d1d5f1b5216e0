"""What the remediation workflows' Lambda steps receive from their state machines."""

from __future__ import annotations

from typing import Any

from eksops.models.base import EventModel
from eksops.models.prune_rules import PruneInput, RestoreInput


class StartPruneEvent(EventModel):
    event: dict[str, Any]
    """The execution's input: a PruneSecurityGroupRules input, or the EventBridge event that
    started it (CloudTrail AuthorizeSecurityGroupIngress, ELBv2 DeleteLoadBalancer, schedule)."""
    execution_id: str
    """The execution's ARN (the first execution for an event claims it)."""


class PruneStep(EventModel):
    request: PruneInput
    """The input, mode resolved."""
    execution_id: str
    """The prune execution's ARN: the ledger's key for what it revokes."""
    group_id: str | None = None
    """The security group of a per-group step (RevokeRules)."""
    trigger: dict[str, Any] | None = None
    """What started the run (StartPrune's trigger): event-started runs act on cluster groups
    only, even when the event names others."""


class RestoreStep(EventModel):
    request: RestoreInput
    """The RestoreSecurityGroupRules input."""
    execution_id: str
    """The restore execution's ARN (recorded on each restored rule)."""
    group_id: str | None = None
    """The security group of a per-group step (RestoreRules)."""
