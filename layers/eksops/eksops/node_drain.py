"""Draining a node through the Eviction API, one pass per state-machine step: the waiting between
passes is the state machine's (Wait states), so a drain blocked by a PodDisruptionBudget costs
no Lambda time, and each pass reports every pod's outcome."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from eksops import drain_plan, node_cordon
from eksops.models.remediation_steps import DrainState, DrainTarget

Clock = Callable[[], datetime]
EVICTION_ACCEPTED_GONE = (404, 409)  # the pod (of that uid) is gone already: nothing to move


def start(core_v1: Any, target: DrainTarget, execution_id: str, now: Clock) -> DrainState:
    """Cordon the node, its reason recorded; the drain's state before its first pass."""
    state = DrainState(
        node_name=target.node_name,
        started=target.deadline_from or now().isoformat(),
        budget_seconds=target.deadline_seconds,
    )
    if target.node_name is None:
        return state
    node = node_cordon.cordon(core_v1, target.node_name, target.reason, execution_id, now)
    if node is None:  # gone meanwhile: its pods went with it
        return state.model_copy(update={"node_name": None})
    return state


def remaining_seconds(state: DrainState, now: Clock) -> int:
    """What is left of the budget (0: spent)."""
    clock = (now() - datetime.fromisoformat(state.started)).total_seconds()
    return max(0, state.budget_seconds - max(state.waited, int(clock)))


def _pods_on(core_v1: Any, node_name: str) -> list[dict[str, Any]]:
    import json

    response = core_v1.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={node_name}", _preload_content=False
    )
    return json.loads(response.data)["items"]


def _budgets(core_v1: Any) -> list[dict[str, Any]]:
    import json

    from kubernetes.client import PolicyV1Api

    response = PolicyV1Api(core_v1.api_client).list_pod_disruption_budget_for_all_namespaces(
        _preload_content=False
    )
    return json.loads(response.data)["items"]


def _evict(core_v1: Any, decision: drain_plan.PodDecision) -> int | None:
    """Ask the Eviction API to evict the pod (only the one of that uid); None when accepted,
    else the HTTP status with which it refused."""
    from kubernetes.client import V1DeleteOptions, V1Eviction, V1ObjectMeta, V1Preconditions
    from kubernetes.client.exceptions import ApiException

    body = V1Eviction(
        metadata=V1ObjectMeta(name=decision.name, namespace=decision.namespace),
        delete_options=V1DeleteOptions(preconditions=V1Preconditions(uid=decision.uid)),
    )
    try:
        core_v1.create_namespaced_pod_eviction(decision.name, decision.namespace, body)
    except ApiException as exc:
        return int(exc.status)
    return None


def evict_pass(core_v1: Any, state: DrainState, now: Clock) -> DrainState:
    """Evict every pod still on the node that a drain moves; pods a budget keeps (429) are
    left for the next pass, until the deadline."""
    if state.node_name is None:
        return state.model_copy(update={"status": "drained", "attempt": state.attempt + 1})
    pods = _pods_on(core_v1, state.node_name)
    decisions = drain_plan.classify(pods)
    by_key = {drain_plan.pod_key(pod): pod for pod in pods}
    evicted = set(state.evicted)
    blocked: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    budgets: list[dict[str, Any]] | None = None
    for decision in decisions:
        if decision.action != "evict" or decision.key in evicted:
            continue
        status = _evict(core_v1, decision)
        if status is None or status in EVICTION_ACCEPTED_GONE:
            evicted.add(decision.key)
        elif status == 429:
            budgets = _budgets(core_v1) if budgets is None else budgets
            blocked[decision.key] = drain_plan.blocking_budgets(by_key[decision.key], budgets)
        else:
            failed[decision.key] = f"the Eviction API answered {status}"
    remaining = remaining_seconds(state, now)
    report = drain_plan.outcome(decisions, evicted, blocked, failed, remaining == 0)
    # evicted is not gone: until its pods have shut down (their grace period), the node's
    # instance must stay, as kubectl drain waits for them
    terminating = sorted(key for key in evicted if key in by_key)
    if report["status"] == "drained" and terminating and remaining > 0:
        report["status"] = "in-progress"
    attempt = state.attempt + 1
    wait = drain_plan.next_wait(attempt, remaining)
    return state.model_copy(
        update={
            "attempt": attempt,
            "evicted": sorted(evicted),
            "status": report["status"],
            "wait": wait,
            "waited": state.waited + (wait if report["status"] == "in-progress" else 0),
            "pods": report["pods"],
            "counts": report["counts"],
            "terminating": terminating,
        }
    )


def blocked_summary(state: DrainState) -> str:
    """The pods a drain left, and the budgets that kept them."""
    held = [
        f"{pod['pod']} ({', '.join(pod.get('budgets') or []) or pod.get('message') or 'pending'})"
        for pod in state.pods
        if pod["outcome"] in ("blocked", "failed", "pending")
    ]
    return (
        f"node {state.node_name}: {len(held)} pods not evicted within "
        f"{state.budget_seconds} s: " + "; ".join(held)
    )
