"""Input of RebalanceNodegroupsStateMachine (contract field names), and the input an EventBridge
signal stands for: EC2 Spot interruption warnings, rebalance recommendations and state changes,
Auto Scaling terminate lifecycle actions, and the AZ-skew schedule."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from eksops.errors import InvalidInputError
from eksops.fleet import member_target
from eksops.models.base import EventModel, TargetAccountInput, parse_event, shortened
from eksops.models.fields import CLUSTER_NAME_PATTERN, REGION_PATTERN

INSTANCE_ID_PATTERN = r"^i-[0-9a-f]{8,17}$"
RebalanceAction = Literal["drain", "rebalance-az"]
SignalKind = Literal[
    "direct",
    "spot-interruption",
    "rebalance-recommendation",
    "terminate-lifecycle-action",
    "state-change",
]
# EventBridge detail-types (source aws.ec2 unless said) and the signal each is
SPOT_WARNING = "EC2 Spot Instance Interruption Warning"
REBALANCE_RECOMMENDATION = "EC2 Instance Rebalance Recommendation"
STATE_CHANGE = "EC2 Instance State-change Notification"
TERMINATE_LIFECYCLE_ACTION = "EC2 Instance-terminate Lifecycle Action"  # aws.autoscaling
_EC2_SIGNALS: dict[str, SignalKind] = {
    SPOT_WARNING: "spot-interruption",
    REBALANCE_RECOMMENDATION: "rebalance-recommendation",
    STATE_CHANGE: "state-change",
}
# an instance going away now: drained within what is left, not a configured deadline
LEAVING_STATES = ("stopping", "shutting-down")


class RebalanceInput(TargetAccountInput):
    """What to rebalance. ``drain``: cordon the instance's node and evict its pods through the
    Eviction API (PodDisruptionBudgets respected). ``rebalance-az``: even out the cluster's
    per-AZ managed node groups."""

    cluster_name: Annotated[str, Field(pattern=CLUSTER_NAME_PATTERN)] | None = None
    """The EKS cluster (required when started directly; an event's instance names its own)."""
    instance_id: Annotated[str, Field(pattern=INSTANCE_ID_PATTERN)] | None = None
    """The EC2 instance whose node to drain (action drain only)."""
    action: RebalanceAction
    """drain | rebalance-az."""
    replace: bool = False
    """drain of a managed node group's instance: first surge the node group of the instance's
    Availability Zone by one and wait for a Ready node, then drain, then terminate the instance
    with the desired capacity decremented (what a rebalance recommendation does)."""
    drain_timeout_seconds: Annotated[int, Field(ge=30, le=7200)] | None = None
    """How long evictions blocked by PodDisruptionBudgets are retried before the drain ends
    with the blocking pods listed (default: the stack's DrainTimeoutSeconds; a Spot
    interruption warning always gets 90 s of its 2 minutes)."""
    region: Annotated[str, Field(pattern=REGION_PATTERN)] | None = None
    """Region of the cluster (default: the region eksops runs in)."""

    @model_validator(mode="after")
    def _action_fits(self) -> RebalanceInput:
        if self.action == "drain" and self.instance_id is None:
            raise ValueError("action drain needs instanceId")
        if self.action == "rebalance-az" and (self.instance_id is not None or self.replace):
            raise ValueError("action rebalance-az takes no instanceId or replace")
        return self


class LifecycleAction(EventModel):
    """The Auto Scaling terminate lifecycle action waiting for this drain."""

    group_name: str
    hook_name: str
    token: str


class Signal(EventModel):
    """What started the execution."""

    kind: SignalKind
    event_id: str | None = None
    time: str | None = None
    lifecycle: LifecycleAction | None = None


def _ignored(event_id: Any, detail_type: Any, source: Any) -> InvalidInputError:
    return InvalidInputError(
        f"RebalanceNodegroups does not act on the event {shortened(event_id)} "
        f"({shortened(detail_type)} from {shortened(source)}); it acts on EC2 Spot interruption "
        "warnings, rebalance recommendations and stopping/shutting-down state changes (aws.ec2), "
        "Auto Scaling terminate lifecycle actions (aws.autoscaling), scheduled events, and "
        "RebalanceNodegroups inputs"
    )


def rebalance_from_event(
    event: Any, environ: Mapping[str, str] = os.environ
) -> tuple[RebalanceInput, Signal]:
    """The input an execution's input stands for, and its signal.

    A RebalanceInput (the contract) is validated as is and needs clusterName. An EventBridge
    event (it has detail-type and source) stands for a drain of the instance it names, its
    cluster found later from the instance's tags; a rebalance recommendation replaces it. An
    event a member account forwarded acts there, through the stack's member role.
    """
    if not (isinstance(event, dict) and "detail-type" in event and "source" in event):
        request = parse_event(RebalanceInput, event)
        if request.cluster_name is None:
            raise InvalidInputError("invalid RebalanceInput input: clusterName: Field required")
        return request, Signal(kind="direct")
    detail_type, source = event["detail-type"], event["source"]
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    fields: dict[str, Any] = {"action": "drain", **member_target(event, environ)}
    if isinstance(event.get("region"), str):
        fields["region"] = event["region"]
    lifecycle = None
    kind: SignalKind
    if source == "aws.ec2" and detail_type in _EC2_SIGNALS:
        kind = _EC2_SIGNALS[detail_type]
        if kind == "state-change" and detail.get("state") not in LEAVING_STATES:
            raise InvalidInputError(
                f"the state change of event {shortened(event.get('id'))} is to "
                f"{shortened(detail.get('state'))}; only {' and '.join(LEAVING_STATES)} drain"
            )
        fields["instanceId"] = detail.get("instance-id")
        fields["replace"] = kind == "rebalance-recommendation"
    elif source == "aws.autoscaling" and detail_type == TERMINATE_LIFECYCLE_ACTION:
        kind = "terminate-lifecycle-action"
        fields["instanceId"] = detail.get("EC2InstanceId")
        lifecycle = parse_event(
            LifecycleAction,
            {
                "groupName": detail.get("AutoScalingGroupName"),
                "hookName": detail.get("LifecycleHookName"),
                "token": detail.get("LifecycleActionToken"),
            },
        )
    else:
        raise _ignored(event.get("id"), detail_type, source)
    signal = Signal(
        kind=kind,
        event_id=event.get("id") if isinstance(event.get("id"), str) else None,
        time=event.get("time") if isinstance(event.get("time"), str) else None,
        lifecycle=lifecycle,
    )
    return parse_event(RebalanceInput, fields), signal
