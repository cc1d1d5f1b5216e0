"""The Eviction API (``POST pods/<name>/eviction``) and the PodDisruptionBudget arithmetic it
enforces, as Kubernetes' eviction REST handler and disruption controller do it.

There are no workload controllers offline, so a budget's expected pod count is the number of
pods its selector matches (Kubernetes uses the owning controllers' scale for percentages and
maxUnavailable; with one pod per replica that is the same number). A budget's
``unhealthyPodEvictionPolicy`` applies to pods that are not ready: ``IfHealthyBudget`` (the
default) lets them go while the budget is met, ``AlwaysAllow`` always.
"""

from __future__ import annotations

import math
from typing import Any

from eksops.local.kube.store import ApiError, Obj, ObjectStore, selector_object_matches

PODS = "pods"
PDBS = "poddisruptionbudgets.policy"
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


def scaled(value: int | str, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent with rounding up, as the disruption controller
    applies it to both minAvailable and maxUnavailable."""
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        return int(text)
    return math.ceil(int(text[:-1]) * total / 100)


def budget(spec: dict[str, Any], expected: int, healthy: int) -> tuple[int, int]:
    """(desiredHealthy, disruptionsAllowed) of a PDB spec with ``expected`` pods of which
    ``healthy`` are ready."""
    if "maxUnavailable" in spec:
        desired = max(0, expected - scaled(spec["maxUnavailable"], expected))
    elif "minAvailable" in spec:
        desired = scaled(spec["minAvailable"], expected)
    else:
        # Neither set: Kubernetes defaults minAvailable to 1 in policy/v1beta1 only; in
        # policy/v1 an empty spec allows no disruption beyond the pods that exist.
        desired = expected
    return desired, max(0, healthy - desired)


def is_healthy(pod: Obj) -> bool:
    """Ready, and not on its way out (podutil.IsPodReady plus no deletionTimestamp)."""
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _labels(obj: Obj) -> dict[str, str]:
    return obj["metadata"].get("labels") or {}


def pdb_status(store: ObjectStore, pdb: Obj) -> Obj:
    """The status the disruption controller would write for ``pdb`` now."""
    namespace = pdb["metadata"]["namespace"]
    selector = (pdb.get("spec") or {}).get("selector")
    pods, _ = store.list(PODS, namespace)
    matching = [
        p
        for p in pods
        if selector_object_matches(selector, _labels(p))
        and not p["metadata"].get("deletionTimestamp")
    ]
    healthy = sum(1 for p in matching if is_healthy(p))
    desired, allowed = budget(pdb.get("spec") or {}, len(matching), healthy)
    return {
        **(pdb.get("status") or {}),
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": len(matching),
    }


def refresh_budgets(store: ObjectStore, namespace: str) -> None:
    """Recompute every PDB status in ``namespace`` (after pods or budgets changed), writing
    only those that differ, as the controller does."""
    with store.locked():
        for pdb in store.list(PDBS, namespace)[0]:
            status = pdb_status(store, pdb)
            if status != pdb.get("status"):
                store.update(PDBS, {**pdb, "status": status})


def _budgets_for(store: ObjectStore, pod: Obj) -> list[Obj]:
    pdbs, _ = store.list(PDBS, pod["metadata"]["namespace"])
    return [
        p
        for p in pdbs
        if selector_object_matches((p.get("spec") or {}).get("selector"), _labels(pod))
    ]


def evict(store: ObjectStore, namespace: str, name: str, *, dry_run: bool = False) -> Obj:
    """Delete the pod if its disruption budget allows (the budget's status then counts one
    healthy pod less); 429 TooManyRequests with Kubernetes' message when it does not. Returns the
    Status Kubernetes answers with (HTTP 201)."""
    with store.locked():
        pod = store.get(PODS, namespace, name)
        phase = (pod.get("status") or {}).get("phase")
        # Pods that are not running, or already going, cannot disrupt anything.
        exempt = phase in ("Succeeded", "Failed", "Pending") or pod["metadata"].get(
            "deletionTimestamp"
        )
        pdbs = [] if exempt else _budgets_for(store, pod)
        if len(pdbs) > 1:
            raise ApiError(
                500,
                "InternalError",
                "This pod has more than one PodDisruptionBudget, which the eviction subresource "
                "does not support.",
            )
        for pdb in pdbs:
            status = pdb_status(store, pdb)
            if not is_healthy(pod):
                # An unready pod may always go under AlwaysAllow, and under IfHealthyBudget
                # (the default) while the budget is otherwise met.
                policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy")
                if policy == "AlwaysAllow":
                    break
                if status["currentHealthy"] >= status["desiredHealthy"] > 0:
                    break
            if status["disruptionsAllowed"] <= 0:
                raise ApiError(
                    429,
                    "TooManyRequests",
                    VIOLATION,
                    details={
                        "causes": [
                            {
                                "reason": "DisruptionBudget",
                                "message": f"The disruption budget {pdb['metadata']['name']} "
                                f"needs {status['desiredHealthy']} healthy pods and has "
                                f"{status['currentHealthy']} currently",
                            }
                        ]
                    },
                )
        store.delete(PODS, namespace, name, dry_run=dry_run)
        if not dry_run:
            # Pods go at once offline, so the recount is the decremented budget Kubernetes
            # writes before deleting.
            refresh_budgets(store, namespace)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
