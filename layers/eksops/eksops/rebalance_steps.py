"""The Lambda steps of RebalanceNodegroupsStateMachine. Instances, node groups and the cluster's
Kubernetes API are the target account's (targetRoleArn); the plans table is the ops account's."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from eksops import (
    account_slots,
    az_rebalance,
    instance_mapping,
    metrics,
    node_cordon,
    node_drain,
    nodegroup_surge,
    rebalance_plans,
)
from eksops.eks_cluster import active_cluster, describe_cluster
from eksops.errors import InvalidInputError, NotYetConsistentError, WaitTimeoutError
from eksops.execution_status import Running, execution_running
from eksops.models.base import shortened
from eksops.models.rebalance_nodegroups import RebalanceInput, Signal, rebalance_from_event
from eksops.models.remediation_steps import (
    DrainState,
    DrainTarget,
    RebalanceStep,
    StartRebalanceEvent,
)
from eksops.node_readiness import node_states
from eksops.nodegroup_creation import describe_nodegroup
from eksops.polling import MIN_SECONDS, Poll, next_poll
from eksops.target_account import Opener, TargetAccount, open_target

Clock = Callable[[], datetime]
PLANS_TABLE_VARIABLE = "REBALANCE_TABLE"
DRAIN_TIMEOUT_VARIABLE = "DRAIN_TIMEOUT_SECONDS"
DEFAULT_DRAIN_TIMEOUT = 600
MAX_MOVES_VARIABLE = "MAX_MOVES_PER_RUN"
# ten drains at the longest budget stay within an execution's 25,000 history events
DEFAULT_MAX_MOVES = 10
HOOKS_VARIABLE = "DRAIN_LIFECYCLE_HOOK_NAMES"
DEFAULT_HOOK = "eksops-drain"
# EC2 reclaims a Spot instance 2 minutes after the warning, and a stopping instance is going
# now: 90 s, leaving the pods' own shutdown and the warning's delivery the rest
LEAVING_BUDGET_SECONDS = 90
# signals of an instance that goes whatever eksops does: their drains never wait for a slot
GOING_SIGNALS = ("spot-interruption", "state-change", "terminate-lifecycle-action")
SURGE_LIMIT_SECONDS = 900  # a new node that is not Ready in 15 minutes will not be
CAUSE_LIMIT = 12_000  # characters of an outcome's cause: well under a Fail state's 32 KB
FAILURE_LIMIT = 1_000  # characters of one failed node's error in that cause


def _now() -> datetime:
    return datetime.now(UTC)


def _plans(environ: Mapping[str, str]) -> Any:
    import boto3

    return boto3.resource("dynamodb").Table(environ[PLANS_TABLE_VARIABLE])


def _running() -> Running:
    """Executions are the ops account's, as the plans table is."""
    import boto3

    return execution_running(boto3.client("stepfunctions"))


def _target(request: RebalanceInput, opener: Opener) -> TargetAccount:
    return opener(request.region, request.target_role_arn, request.external_id)


def _budget(request: RebalanceInput, signal: Signal, environ: Mapping[str, str]) -> int:
    if signal.kind in ("spot-interruption", "state-change"):
        return LEAVING_BUDGET_SECONDS
    configured = int(environ.get(DRAIN_TIMEOUT_VARIABLE, DEFAULT_DRAIN_TIMEOUT))
    return request.drain_timeout_seconds or configured


def _ignored(request: RebalanceInput, signal: Signal, why: str, place: Any) -> dict[str, Any]:
    return {
        "request": request.model_dump(by_alias=True, exclude_none=True),
        "signal": signal.model_dump(by_alias=True, exclude_none=True),
        "instance": place.result() if place is not None else None,
        "ignored": why,
    }


def _not_ours(
    request: RebalanceInput,
    target: TargetAccount,
    place: instance_mapping.InstancePlace | None,
    environ: Mapping[str, str],
) -> str | None:
    """Why the instance is not a node eksops drains, or None."""
    instance_id = request.instance_id
    if place is None:
        return f"EC2 has no instance {instance_id} in {target.region}"
    if place.cluster_name is None:
        return (
            f"instance {instance_id} belongs to no EKS cluster (no eks:cluster-name or "
            "kubernetes.io/cluster/<name> tag)"
        )
    if request.cluster_name and place.cluster_name != request.cluster_name:
        return (
            f"instance {instance_id} is a node of {place.cluster_name}, not {request.cluster_name}"
        )
    cluster = describe_cluster(target.client("eks"), place.cluster_name)
    return instance_mapping.unmanaged_reason(cluster, place.cluster_name, environ)


def _hook_not_ours(signal: Signal, environ: Mapping[str, str]) -> str | None:
    """Why eksops leaves a terminate lifecycle action to its hook's owner, or None. Completing
    another's (EKS's Terminate-LC-Hook, a termination handler's) would end its drain early."""
    if signal.lifecycle is None:
        return None
    owned = [n.strip() for n in environ.get(HOOKS_VARIABLE, DEFAULT_HOOK).split(",") if n.strip()]
    if signal.lifecycle.hook_name in owned:
        return None
    return (
        f"lifecycle hook {signal.lifecycle.hook_name} is not one eksops completes (the stack's "
        f"DrainLifecycleHookNames: {', '.join(owned) or 'none'})"
    )


def start_rebalance(
    step: StartRebalanceEvent,
    opener: Opener = open_target,
    environ: Mapping[str, str] = os.environ,
    now: Clock = _now,
) -> dict[str, Any]:
    """The input from a direct start or a signal; for a drain, the instance's cluster, node group
    and Node, and the plan: the node to drain, with a surge first on a rebalance
    recommendation of a managed node group (recorded before anything changes, so a re-run
    follows the same plan). An instance of a cluster eksops does not manage is ignored with the
    reason, when a signal started the run; started directly, that is InvalidInput. A run that
    acts takes a slot of its account before anything changes (AccountBusy while none is free),
    except the drain of an instance that is going anyway: its signal's deadline cannot wait."""
    request, signal = rebalance_from_event(step.event, environ)
    target = _target(request, opener)
    eks = target.client("eks")
    direct = signal.kind == "direct"
    if request.action == "rebalance-az":
        cluster_name = request.cluster_name or ""
        why = instance_mapping.unmanaged_reason(
            describe_cluster(eks, cluster_name), cluster_name, environ
        )
        if why:
            raise InvalidInputError(f"clusterName: {why}")
        account_slots.take_for_run(request.target_role_arn, step.execution_id, environ)
        return {
            "request": request.model_dump(by_alias=True, exclude_none=True),
            "signal": signal.model_dump(by_alias=True, exclude_none=True),
            "instance": None,
        }
    instance_id = request.instance_id or ""
    place = instance_mapping.place_of(target.client("ec2"), instance_id)
    why = _not_ours(request, target, place, environ) or _hook_not_ours(signal, environ)
    if why or place is None or place.cluster_name is None:
        if direct:
            raise InvalidInputError(f"instanceId: {why}")
        return _ignored(request, signal, why or "", place)
    request = request.model_copy(update={"cluster_name": place.cluster_name})
    if signal.kind not in GOING_SIGNALS:
        account_slots.take_for_run(request.target_role_arn, step.execution_id, environ)
    active_cluster(eks, place.cluster_name, "drain its nodes")
    with target.kubernetes_access(place.cluster_name):
        nodes = node_states(target.core_v1(place.cluster_name, environ))
    node = nodes.get(instance_id)
    leaving = signal.kind in ("spot-interruption", "state-change")
    drain = DrainTarget(
        instance_id=instance_id,
        node_name=node.name if node else None,
        availability_zone=place.zone,
        nodegroup=place.nodegroup,
        auto_scaling_group=place.auto_scaling_group,
        reason=f"{signal.kind} of {instance_id}: drained by eksops ({step.execution_id})",
        deadline_seconds=_budget(request, signal, environ),
        deadline_from=signal.time if leaving else None,
        lifecycle=signal.lifecycle,
    )
    plan: dict[str, Any] = {"drain": [drain.model_dump(by_alias=True)]}
    if request.replace and place.state in ("pending", "running"):
        why_not, refused = _no_replacement(target, place)
        if why_not is not None and direct and refused:
            raise InvalidInputError(f"replace: {why_not}")
        # an instance already leaving gets no new plan, but one left open for it is followed
        held = (
            _replacement_plan(step, target, place, drain, environ)
            if why_not is None
            else _open_replacement_plan(step, place, environ)
        )
        if held.holder is not None:
            return _ignored(
                request, signal, f"execution {held.holder} is replacing {instance_id}", place
            )
        if held.plan is not None:
            plan = held.plan
        else:
            plan["note"] = f"drained without a replacement: {why_not}"
    return {
        "request": request.model_dump(by_alias=True, exclude_none=True),
        "signal": signal.model_dump(by_alias=True, exclude_none=True),
        "instance": place.result() | {"nodeName": drain.node_name},
        "plan": plan,
    }


def _no_replacement(
    target: TargetAccount, place: instance_mapping.InstancePlace
) -> tuple[str | None, bool]:
    """Why eksops does not replace the instance before draining it (None: it does), and
    whether a direct start that asked for a replacement is refused for it (an instance already
    leaving its group is not: a re-run after a replacement converges)."""
    if place.nodegroup is None or place.auto_scaling_group is None:
        return (
            f"instance {place.instance_id} is not in a managed node group (its Auto Scaling "
            "group, if any, replaces it once it is gone)"
        ), True
    groups = target.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[place.auto_scaling_group]
    )["AutoScalingGroups"]
    if any(group.get("CapacityRebalance") for group in groups):
        # EKS turns it on for Spot node groups: Auto Scaling launches the replacement itself,
        # then EKS drains and terminates the instance; a surge of ours would be a second one
        return (
            f"Auto Scaling group {place.auto_scaling_group} has Capacity Rebalancing, which "
            "replaces the instance itself"
        ), True
    # an instance being terminated is still "running" in EC2 while a terminate lifecycle hook
    # (EKS's own) holds it: replaced already, or going for good
    state = next(
        (
            instance.get("LifecycleState", "")
            for group in groups
            for instance in group.get("Instances", [])
            if instance["InstanceId"] == place.instance_id
        ),
        None,
    )
    if state is None or state.startswith(("Terminating", "Detach")):
        return (
            f"instance {place.instance_id} is leaving Auto Scaling group "
            f"{place.auto_scaling_group} ({state or 'no longer in it'})"
        ), False
    return None, False


def _replacement_plan(
    step: StartRebalanceEvent,
    target: TargetAccount,
    place: instance_mapping.InstancePlace,
    drain: DrainTarget,
    environ: Mapping[str, str],
) -> rebalance_plans.Held:
    """Surge, drain, terminate: kept in the plans table first (a re-run resumes it; a running
    execution replacing the instance already holds it)."""
    cluster_name = place.cluster_name or ""
    nodegroups = nodegroup_surge.cluster_nodegroups(
        target.client("eks"), target.client("ec2"), cluster_name
    )
    entry, note = nodegroup_surge.replacement_surge(target.client("autoscaling"), nodegroups, place)
    drain = drain.model_copy(
        update={
            "terminate": True,
            "decrement": entry is not None,
            "surged_nodegroup": entry["nodegroup"] if entry else None,
            "desired_before": entry["desiredBefore"] if entry else None,
        }
    )
    key = rebalance_plans.replace_key(cluster_name, place.instance_id)
    plan: dict[str, Any] = {
        "keys": [key],
        "note": note,
        "drain": [drain.model_dump(by_alias=True)],
    }
    if entry is not None:
        plan["surge"] = [entry]
    return rebalance_plans.record_plan(
        _plans(environ), key, plan, step.execution_id, _running(), _now
    )


def _open_replacement_plan(
    step: StartRebalanceEvent, place: instance_mapping.InstancePlace, environ: Mapping[str, str]
) -> rebalance_plans.Held:
    """The replacement plan still open for the instance (a run that stopped half-way left it),
    if any; no new one."""
    key = rebalance_plans.replace_key(place.cluster_name or "", place.instance_id)
    return rebalance_plans.held(_plans(environ), key, step.execution_id, _running(), _now)


def plan_az_rebalance(
    step: RebalanceStep,
    opener: Opener = open_target,
    environ: Mapping[str, str] = os.environ,
    now: Clock = _now,
) -> dict[str, Any]:
    """The plan that evens out each family of per-AZ node groups (or the one a failed run
    left), kept before anything changes; at most MAX_MOVES_PER_RUN nodes move."""
    target = _target(step.request, opener)
    cluster_name = step.request.cluster_name or ""
    active_cluster(target.client("eks"), cluster_name, "rebalance its node groups")
    with target.kubernetes_access(cluster_name):
        return az_rebalance.plan_cluster(
            cluster_name,
            target,
            target.core_v1(cluster_name, environ),
            _plans(environ),
            az_rebalance.PlanSettings(
                execution_id=step.execution_id,
                drain_seconds=_budget(step.request, step.signal, environ),
                max_moves=int(environ.get(MAX_MOVES_VARIABLE, DEFAULT_MAX_MOVES)),
            ),
            _running(),
            now,
        )


def surge_nodegroups(step: RebalanceStep, opener: Opener = open_target) -> dict[str, Any]:
    """Set the planned node groups to their planned sizes (absolute: a re-run never grows them
    twice)."""
    entries = (step.plan or {}).get("surge") or []
    eks = _target(step.request, opener).client("eks")
    changed = nodegroup_surge.apply_surge(eks, step.request.cluster_name or "", entries)
    return {"changed": changed, "ready": False, "poll": Poll(seconds=MIN_SECONDS).model_dump()}


def check_surge(
    step: RebalanceStep,
    opener: Opener = open_target,
    environ: Mapping[str, str] = os.environ,
    now: Clock = _now,
) -> dict[str, Any]:
    """Whether each surged node group has its new nodes Ready in its zone. Past the surge's time
    limit, an AZ rebalance is abandoned (eksops.WaitTimeout: nothing was drained, and the next
    run plans afresh); a replacement is given up on but the at-risk node is still drained, and
    left in place rather than terminated (the late node may still come)."""
    entries = (step.plan or {}).get("surge") or []
    target = _target(step.request, opener)
    cluster_name = step.request.cluster_name or ""
    with target.kubernetes_access(cluster_name):
        waiting = nodegroup_surge.surge_waiting(
            target.client("eks"),
            target.client("autoscaling"),
            target.core_v1(cluster_name, environ),
            cluster_name,
            entries,
        )
    surge = step.surge or {}
    if not waiting:
        return surge | {"ready": True, "waitingFor": []}
    try:
        poll = next_poll(
            Poll.model_validate(surge.get("poll") or {}), "; ".join(waiting), SURGE_LIMIT_SECONDS
        )
    except WaitTimeoutError:
        return _surge_late(step, target.client("eks"), environ, now, waiting)
    return surge | {"ready": False, "waitingFor": waiting, "poll": poll.model_dump()}


def _surge_late(
    step: RebalanceStep, eks: Any, environ: Mapping[str, str], now: Clock, waiting: list[str]
) -> dict[str, Any]:
    """Past the surge's time limit: an AZ plan is abandoned and its surge given back (nothing
    was drained; EKS drains what the smaller size removes); a replacement's drain goes on."""
    plan = step.plan or {}
    late = f"no new node Ready after {SURGE_LIMIT_SECONDS} s ({'; '.join(waiting)})"
    if step.request.action == "rebalance-az":
        cluster_name = step.request.cluster_name or ""
        given_back = nodegroup_surge.give_back(eks, cluster_name, plan.get("surge") or [])
        table = _plans(environ)
        for key in plan.get("keys") or []:
            rebalance_plans.end_plan(table, key, rebalance_plans.ABANDONED, step.execution_id, now)
        back = f"; given back: {', '.join(given_back)}" if given_back else ""
        raise WaitTimeoutError(f"AZ rebalance abandoned, nothing drained: {late}{back}")
    kept = [
        DrainTarget.model_validate(target).model_copy(
            update={
                "terminate": False,
                "decrement": False,
                "reason": f"{target['reason']}; replacement late, kept: {late}",
            }
        )
        for target in plan.get("drain") or []
    ]
    return (step.surge or {}) | {
        "ready": True,
        "late": late,
        "drain": [target.model_dump(by_alias=True) for target in kept],
    }


def _node(step: RebalanceStep) -> DrainTarget:
    if step.node is None:
        raise InvalidInputError("this step drains a node: it needs node")
    return step.node


def cordon_node(
    step: RebalanceStep,
    opener: Opener = open_target,
    environ: Mapping[str, str] = os.environ,
    now: Clock = _now,
) -> dict[str, Any]:
    target = _target(step.request, opener)
    cluster_name = step.request.cluster_name or ""
    with target.kubernetes_access(cluster_name):
        core_v1 = target.core_v1(cluster_name, environ)
        state = node_drain.start(core_v1, _node(step), step.execution_id, now)
    return state.model_dump(by_alias=True)


def _lifecycle_call(autoscaling: Any, node: DrainTarget, call: str, **extra: str) -> bool:
    """Heartbeat or complete the node's terminate lifecycle action; False when it is over
    already (completed by a re-run or by EKS, or timed out: the instance terminates anyway)."""
    assert node.lifecycle is not None
    try:
        getattr(autoscaling, call)(
            LifecycleHookName=node.lifecycle.hook_name,
            AutoScalingGroupName=node.lifecycle.group_name,
            LifecycleActionToken=node.lifecycle.token,
            InstanceId=node.instance_id,
            **extra,
        )
    except autoscaling.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] != "ValidationError":
            raise
        return False
    return True


def evict_pods(
    step: RebalanceStep,
    opener: Opener = open_target,
    environ: Mapping[str, str] = os.environ,
    now: Clock = _now,
) -> dict[str, Any]:
    """One eviction pass over the node's pods."""
    if step.drain is None:
        raise InvalidInputError("EvictPods needs the drain's state")
    target = _target(step.request, opener)
    cluster_name = step.request.cluster_name or ""
    node = _node(step)
    if node.lifecycle is not None:  # keep the action waiting while the drain runs
        _lifecycle_call(target.client("autoscaling"), node, "record_lifecycle_action_heartbeat")
    with target.kubernetes_access(cluster_name):
        state = node_drain.evict_pass(target.core_v1(cluster_name, environ), step.drain, now)
    return state.model_dump(by_alias=True)


def _terminate(autoscaling: Any, node: DrainTarget) -> bool:
    """Terminate the drained instance through its group; False when it is leaving already (a
    re-run, or Spot, Auto Scaling or EKS took it meanwhile). A group busy scaling is
    eksops.NotYetConsistent (retried)."""
    found = autoscaling.describe_auto_scaling_instances(InstanceIds=[node.instance_id])
    states = [i["LifecycleState"] for i in found["AutoScalingInstances"]]
    if not states or states[0].startswith("Terminat"):
        return False
    try:
        autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=node.instance_id, ShouldDecrementDesiredCapacity=node.decrement
        )
    except autoscaling.exceptions.ScalingActivityInProgressFault as exc:
        raise NotYetConsistentError(f"instance {node.instance_id}: {exc}") from None
    return True


def _settle_surge(eks: Any, cluster_name: str, node: DrainTarget) -> str:
    """The instance went without our decrement (Auto Scaling launches a replacement for it):
    give back the node the surge added, never going below the size before it."""
    if node.surged_nodegroup is None or node.desired_before is None:
        return "already leaving"
    nodegroup = describe_nodegroup(eks, cluster_name, node.surged_nodegroup)
    desired = (nodegroup or {}).get("scalingConfig", {}).get("desiredSize", 0)
    if desired <= node.desired_before:
        return "already leaving"
    nodegroup_surge.apply_size(eks, cluster_name, node.surged_nodegroup, desired - 1)
    return f"already leaving; {node.surged_nodegroup} given back the surged node"


def finish_node(
    step: RebalanceStep,
    opener: Opener = open_target,
    environ: Mapping[str, str] = os.environ,
) -> dict[str, Any]:
    """The node's outcome. Drained: its instance terminated when the plan says so, its
    lifecycle action completed. Out of time: the blocking pods and budgets are reported; an
    instance that goes away anyway (Spot, stopping, lifecycle action) still goes; one that
    stays keeps its node cordoned with the reason recorded, or uncordoned (AZ rebalance)."""
    node, state = _node(step), step.drain
    if state is None:
        raise InvalidInputError("FinishNode needs the drain's state")
    target = _target(step.request, opener)
    autoscaling = target.client("autoscaling")
    result: dict[str, Any] = {
        "instanceId": node.instance_id,
        "nodeName": state.node_name,
        "outcome": state.status,
        "counts": state.counts,
        "pods": state.pods,
    }
    if state.status == "drained" and node.terminate:
        if _terminate(autoscaling, node):
            decremented = " (desired capacity decremented)" if node.decrement else ""
            result["instance"] = "terminating" + decremented
        else:
            cluster_name = step.request.cluster_name or ""
            result["instance"] = _settle_surge(target.client("eks"), cluster_name, node)
    elif state.status != "drained":
        result["cause"] = node_drain.blocked_summary(state)
        if state.node_name is not None and node.lifecycle is None:
            result["cordon"] = _after_blocked(step, target, node, state, environ)
    if node.lifecycle is not None:
        completed = _lifecycle_call(
            autoscaling, node, "complete_lifecycle_action", LifecycleActionResult="CONTINUE"
        )
        result["lifecycleAction"] = "CONTINUE" if completed else "already over"
    return result


def _after_blocked(
    step: RebalanceStep,
    target: TargetAccount,
    node: DrainTarget,
    state: DrainState,
    environ: Mapping[str, str],
) -> str:
    cluster_name = step.request.cluster_name or ""
    with target.kubernetes_access(cluster_name):
        core_v1 = target.core_v1(cluster_name, environ)
        if node.on_blocked == "uncordon":
            node_cordon.uncordon(core_v1, state.node_name or "")
            return "uncordoned: the drain was given up, the node stays in service"
        reason = f"{node.reason}; drain blocked: {node_drain.blocked_summary(state)}"
        node_cordon.record_reason(core_v1, state.node_name or "", reason[:1000])
    return "kept cordoned, the reason recorded in its eksops.io/cordon-reason annotation"


def _failure(node: dict[str, Any]) -> str:
    """A failed node step's error and message, from the state machine's Catch (a Lambda error's
    cause is JSON with its stack trace, which the execution's history keeps; a timeout's may
    have no cause)."""
    failure = node.get("failure") or {}
    cause = failure.get("Cause") or ""
    try:
        message = json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        message = cause
    return shortened(f"{failure.get('Error', 'States.ALL')}: {message}", FAILURE_LIMIT)


def report_outcome(
    step: RebalanceStep, environ: Mapping[str, str] = os.environ, now: Clock = _now
) -> dict[str, Any]:
    """The run's outcome and metrics. Its plan ends done, or blocked when a drain ran out of
    time (the next run plans afresh); a node whose step failed leaves the plan open for a
    re-run to finish."""
    drained = step.drained or []
    blocked = [node for node in drained if node["outcome"] == "blocked"]
    failed = [node for node in drained if node["outcome"] == "failed"]
    done = len(drained) - len(blocked) - len(failed)
    evicted = sum(node.get("counts", {}).get("evicted", 0) for node in drained)
    metrics.count("NodesDrained", done)
    metrics.count("PodsEvicted", evicted)
    metrics.count("DrainsBlocked", len(blocked))
    metrics.count("DrainsFailed", len(failed))
    keys = (step.plan or {}).get("keys") or []
    if keys and not failed:
        table = _plans(environ)
        status = rebalance_plans.BLOCKED if blocked else rebalance_plans.DONE
        for key in keys:
            rebalance_plans.end_plan(table, key, status, step.execution_id, now)
    outcome: dict[str, Any] = {
        "status": "failed" if failed else "blocked" if blocked else "done",
        "nodesDrained": done,
        "nodesBlocked": len(blocked),
        "nodesFailed": len(failed),
        "podsEvicted": evicted,
    }
    causes = [node["cause"] for node in blocked]
    causes += [f"{node['instanceId']}: {_failure(node)}" for node in failed]
    if causes:
        outcome["cause"] = shortened("; ".join(causes), CAUSE_LIMIT)
    return outcome
