"""What the remediation workflows' Lambda steps receive from their state machines."""

from __future__ import annotations

from typing import Any, Literal

from eksops.models.base import EventModel
from eksops.models.prune_rules import PruneInput, RestoreInput
from eksops.models.rebalance_nodegroups import LifecycleAction, RebalanceInput, Signal


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


class StartRebalanceEvent(EventModel):
    event: dict[str, Any]
    """The execution's input: a RebalanceNodegroups input, or the EventBridge signal that
    started it."""
    execution_id: str
    """The execution's ARN."""


class DrainTarget(EventModel):
    """One node to drain, as the plan names it (an item of the DrainNodes Map)."""

    instance_id: str
    node_name: str | None
    """None when no Node has the instance's providerID (never joined, or gone): nothing to
    evict."""
    availability_zone: str
    nodegroup: str | None = None
    auto_scaling_group: str | None = None
    reason: str
    """Why it is drained: recorded on the node with the cordon."""
    deadline_seconds: int
    """The drain's budget, counted from ``deadline_from`` or, if that is None, from the
    cordon."""
    deadline_from: str | None = None
    """ISO time the budget counts from (a Spot warning's time: its 2 minutes run from there)."""
    terminate: bool = False
    """Terminate the instance once drained (through its Auto Scaling group)."""
    decrement: bool = True
    """With terminate: lower the group's desired capacity (no replacement launched)."""
    surged_nodegroup: str | None = None
    """The node group surged to replace the instance, given its node back if the instance goes
    without our decrement."""
    desired_before: int | None = None
    """That node group's desiredSize before the surge."""
    lifecycle: LifecycleAction | None = None
    """The terminate lifecycle action waiting for this drain: heartbeats while it runs,
    CONTINUE when it ends."""
    on_blocked: Literal["keep-cordoned", "uncordon"] = "keep-cordoned"
    """What a drain that runs out of time does with a node whose instance stays: keep it
    cordoned (its reason recorded) or make it schedulable again."""


class DrainState(EventModel):
    """Where a node's drain stands between eviction passes."""

    node_name: str | None
    started: str
    """ISO time the budget counts from."""
    budget_seconds: int
    """Blocked pods are retried until this much time has passed, then reported."""
    waited: int = 0
    """Seconds of Wait states so far: the budget is spent when either these or the clock since
    ``started`` reach it (the same in AWS; the offline account's time-scaled Waits count)."""
    attempt: int = 0
    evicted: list[str] = []
    """Pods (namespace/name) evicted so far."""
    status: Literal["in-progress", "drained", "blocked"] = "in-progress"
    wait: int = 0
    """Seconds until the next pass."""
    pods: list[dict[str, Any]] = []
    """The last pass's report of every pod."""
    counts: dict[str, int] = {}
    terminating: list[str] = []
    """Evicted pods still on the node (shutting down): the drain waits for them."""


class RebalanceStep(EventModel):
    request: RebalanceInput
    execution_id: str
    signal: Signal
    node: DrainTarget | None = None
    drain: DrainState | None = None
    plan: dict[str, Any] | None = None
    """The plan (StartRebalance's or PlanAzRebalance's output)."""
    surge: dict[str, Any] | None = None
    """The surge's state between its polls."""
    drained: list[dict[str, Any]] | None = None
    """Each node's drain outcome (ReportOutcome)."""
