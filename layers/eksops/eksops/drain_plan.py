"""What a drain does with the pods of a node: pure decisions over Kubernetes objects as plain dicts
(camelCase, as the API serves them in JSON or ``ApiClient.sanitize_for_serialization`` returns
them), no API calls here.

A drain evicts (the Eviction API, so PodDisruptionBudgets are honoured) every pod bound to the
node except those an eviction cannot or need not move:

- DaemonSet pods: their controller puts them straight back on the node (they tolerate
  ``unschedulable``), and they go with it;
- mirror pods of static pods: the kubelet owns them, the API server refuses to evict them;
- pods already finished (``Succeeded``/``Failed``): nothing runs, so nothing to move;
- pods already terminating (``deletionTimestamp`` set): something deletes them already.

Bare pods (no controller) and pods with ``emptyDir`` volumes are evicted as well, with a
warning: ``kubectl drain`` refuses them without ``--force`` / ``--delete-emptydir-data``
because nothing re-creates the first and the second lose their scratch data. We evict them
anyway: the node is going away, and they would be lost with it.

The workflow evicts in passes until every pod is out or the deadline passes; ``outcome`` turns
the passes' results into the execution's report, ``next_wait`` spaces the passes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["evict", "skip"]
SkipReason = Literal["mirror", "daemonset", "terminating", "finished"]
DrainStatus = Literal["drained", "blocked", "in-progress"]

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
# warnings on evicted pods: what kubectl drain would have refused without an override
NO_CONTROLLER = "no-controller"  # kubectl: --force; nothing re-creates the pod
EMPTYDIR_DATA = "emptydir-data"  # kubectl: --delete-emptydir-data; its scratch data is lost

# Eviction passes: the first waits 5 s (a budget often frees up as soon as a replacement pod is
# Ready), each later one twice as long, up to 30 s so a freed budget is noticed within 30 s.
FIRST_WAIT_SECONDS = 5
MAX_WAIT_SECONDS = 30

MAX_MESSAGE = 500  # of a failure message, in the report: an execution's output is capped at 256 KB


def pod_key(pod: Mapping[str, Any]) -> str:
    """``<namespace>/<name>``: how the workflow names a pod between states."""
    metadata = pod.get("metadata") or {}
    return f"{metadata.get('namespace') or 'default'}/{metadata['name']}"


@dataclass(frozen=True)
class PodDecision:
    """What the drain does with one pod. ``uid`` goes into the eviction's preconditions, so that
    a later pass never evicts a new pod of the same name (a StatefulSet's replacement)."""

    namespace: str
    name: str
    uid: str | None
    action: Action
    reason: SkipReason | None = None
    warnings: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def result(self) -> dict[str, Any]:
        found: dict[str, Any] = {"pod": self.key, "action": self.action}
        if self.reason is not None:
            found["reason"] = self.reason
        if self.warnings:
            found["warnings"] = list(self.warnings)
        return found


def _controller(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The owner reference marked ``controller``, as kubectl drain finds it
    (``metav1.GetControllerOf``): other owners do not re-create the pod."""
    for owner in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("controller") is True:
            return owner
    return None


def _skip_reason(pod: Mapping[str, Any]) -> SkipReason | None:
    """Why the drain leaves the pod alone, None to evict it. The order decides which reason a
    pod that has several reports: what the pod is comes before the state it is in."""
    metadata = pod.get("metadata") or {}
    if MIRROR_ANNOTATION in (metadata.get("annotations") or {}):
        return "mirror"
    controller = _controller(pod)
    if controller is not None and controller.get("kind") == "DaemonSet":
        return "daemonset"
    if metadata.get("deletionTimestamp"):
        return "terminating"
    if (pod.get("status") or {}).get("phase") in FINISHED_PHASES:
        return "finished"
    return None


def _warnings(pod: Mapping[str, Any]) -> tuple[str, ...]:
    found = []
    if _controller(pod) is None:
        found.append(NO_CONTROLLER)
    volumes = (pod.get("spec") or {}).get("volumes") or []
    # ``emptyDir: {}`` is how an emptyDir with every default is written: present, even if empty
    if any(volume.get("emptyDir") is not None for volume in volumes):
        found.append(EMPTYDIR_DATA)
    return tuple(found)


def classify(pods: Iterable[Mapping[str, Any]]) -> list[PodDecision]:
    """A decision for each pod bound to the node, sorted by namespace and name (the listing's
    order is the API server's business; the report's should not change with it)."""
    decisions = []
    for pod in pods:
        metadata = pod.get("metadata") or {}
        namespace = metadata.get("namespace") or "default"
        uid = metadata.get("uid")
        reason = _skip_reason(pod)
        if reason is None:
            decisions.append(
                PodDecision(namespace, metadata["name"], uid, "evict", warnings=_warnings(pod))
            )
        else:
            decisions.append(PodDecision(namespace, metadata["name"], uid, "skip", reason))
    return sorted(decisions, key=lambda decision: (decision.namespace, decision.name))


# --- PodDisruptionBudgets ------------------------------------------------------------------------


def _requirement_matches(requirement: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = requirement.get("key"), requirement.get("operator")
    values = requirement.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":  # as in Kubernetes: a pod without the label is "not in"
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise ValueError(f"unknown operator {operator!r}")


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a policy/v1 label selector selects a pod with ``labels``: ``matchLabels`` and every
    ``matchExpressions`` requirement. An empty selector selects every pod (policy/v1; v1beta1
    selected none), a null one none. A selector with an unknown operator selects none: the
    eviction API skips a budget whose selector it cannot parse."""
    if selector is None:
        return False
    match_labels = selector.get("matchLabels") or {}
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    try:
        return all(
            _requirement_matches(requirement, labels)
            for requirement in selector.get("matchExpressions") or []
        )
    except ValueError:
        return False


def blocking_budgets(pod: Mapping[str, Any], pdbs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The names (sorted) of the PodDisruptionBudgets that cover ``pod``: those of its namespace
    whose selector selects its labels. Which of them refused an eviction, the API does not say;
    all of them are what a person looks at. More than one is itself a block: the eviction API
    refuses to evict a pod that several budgets cover."""
    metadata = pod.get("metadata") or {}
    namespace = metadata.get("namespace") or "default"
    labels = metadata.get("labels") or {}
    return sorted(
        pdb["metadata"]["name"]
        for pdb in pdbs
        if (pdb["metadata"].get("namespace") or "default") == namespace
        and selector_matches((pdb.get("spec") or {}).get("selector"), labels)
    )


# --- the report ----------------------------------------------------------------------------------


def _truncated(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def outcome(
    decisions: Sequence[PodDecision],
    evicted: Collection[str],
    blocked: Mapping[str, Sequence[str]],
    failed: Mapping[str, str],
    deadline_passed: bool,
) -> dict[str, Any]:
    """The drain's report after a pass: every pod with its outcome, counts, and a status.

    ``evicted``: keys (``pod_key``) of the pods whose eviction the API accepted (or that were
    gone), in any pass so far; ``blocked``: key -> names of the budgets that refused it (HTTP
    429) in the last pass; ``failed``: key -> the error of any other refusal. A pod's outcome is
    the first that applies of: evicted, blocked, failed, skipped (its decision), pending (to
    evict, not tried yet). Results for pods not among ``decisions`` (listed on the node after
    the decisions were made) are reported too, after the others: nothing the drain did is
    dropped from the report.

    Status: ``drained`` when every pod to evict is evicted; otherwise ``blocked`` once the
    deadline has passed (whatever holds the remaining pods: a budget, an error, or no pass yet;
    their outcomes say which), else ``in-progress``.

    Shape::

        {"status": "in-progress",
         "counts": {"evicted": 1, "skipped": 1, "blocked": 1, "failed": 0, "pending": 0},
         "pods": [{"pod": "shop/web-0", "outcome": "evicted", "warnings": ["emptydir-data"]},
                  {"pod": "kube-system/aws-node-x", "outcome": "skipped:daemonset"},
                  {"pod": "shop/db-0", "outcome": "blocked", "budgets": ["db"]}]}
    """
    known = {decision.key for decision in decisions}
    extra = sorted((set(evicted) | set(blocked) | set(failed)) - known)
    entries = [(decision.key, decision) for decision in decisions]
    entries += [(key, None) for key in extra]
    pods = []
    counts = dict.fromkeys(("evicted", "skipped", "blocked", "failed", "pending"), 0)
    for key, decision in entries:
        entry: dict[str, Any] = {"pod": key}
        if key in evicted:
            entry["outcome"] = kind = "evicted"
        elif key in blocked:
            entry["outcome"] = kind = "blocked"
            entry["budgets"] = sorted(blocked[key])
        elif key in failed:
            entry["outcome"] = kind = "failed"
            entry["message"] = _truncated(failed[key])
        elif decision is not None and decision.action == "skip":
            entry["outcome"] = f"skipped:{decision.reason}"
            kind = "skipped"
        else:
            entry["outcome"] = kind = "pending"
        if decision is not None and decision.warnings:
            entry["warnings"] = list(decision.warnings)
        counts[kind] += 1
        pods.append(entry)
    remaining = counts["blocked"] + counts["failed"] + counts["pending"]
    status: DrainStatus
    if remaining == 0:
        status = "drained"
    elif deadline_passed:
        status = "blocked"
    else:
        status = "in-progress"
    return {"status": status, "counts": counts, "pods": pods}


# --- timing --------------------------------------------------------------------------------------


def next_wait(attempt: int, remaining_seconds: int) -> int:
    """Seconds to wait before the next eviction pass, after pass number ``attempt`` (1 after the
    first): 5, 10, 20, then 30 s; never past the deadline, so that the last pass runs at it;
    and at least 1 s, as a Wait state of 0 s would turn the loop into a busy one."""
    doublings = min(max(attempt, 1) - 1, 8)  # 5 * 2**8 is far past the cap already
    wait = min(FIRST_WAIT_SECONDS * 2**doublings, MAX_WAIT_SECONDS, remaining_seconds)
    return max(1, wait)
