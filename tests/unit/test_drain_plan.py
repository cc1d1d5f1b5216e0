"""The drain decisions, without a cluster: which pods of a node are evicted and which are left
(DaemonSet, mirror, finished, terminating), the warnings kubectl would have stopped at, which
PodDisruptionBudgets cover a pod, the report of a drain, the waits between eviction passes, and
the deadline each signal leaves."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from eksops.drain_plan import (
    EMPTYDIR_DATA,
    MAX_MESSAGE,
    NO_CONTROLLER,
    PodDecision,
    blocking_budgets,
    classify,
    next_wait,
    outcome,
    pod_key,
    selector_matches,
)
from kubernetes.client import (
    ApiClient,
    V1Container,
    V1EmptyDirVolumeSource,
    V1ObjectMeta,
    V1OwnerReference,
    V1Pod,
    V1PodSpec,
    V1PodStatus,
    V1Volume,
)

NODE = "ip-10-0-1-23.eu-west-1.compute.internal"


def owner(kind: str, name: str = "owner", *, controller: bool | None = True) -> dict[str, Any]:
    found: dict[str, Any] = {"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u-1"}
    if controller is not None:
        found["controller"] = controller
    return found


def pod(
    name: str,
    namespace: str = "shop",
    *,
    owners: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    phase: str = "Running",
    deleting: bool = False,
    volumes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A pod bound to NODE as the API serves it in JSON; owned by a ReplicaSet unless told."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{namespace}-{name}",
        "ownerReferences": [owner("ReplicaSet", f"{name}-rs")] if owners is None else owners,
    }
    if labels is not None:
        metadata["labels"] = labels
    if annotations is not None:
        metadata["annotations"] = annotations
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-23T10:00:00Z"
    spec: dict[str, Any] = {"nodeName": NODE, "containers": [{"name": "main", "image": "x"}]}
    if volumes is not None:
        spec["volumes"] = volumes
    return {"metadata": metadata, "spec": spec, "status": {"phase": phase}}


def decision_of(found: list[PodDecision], name: str) -> PodDecision:
    [match] = [d for d in found if d.name == name]
    return match


# --- classify ------------------------------------------------------------------------------------


def test_pods_of_controllers_are_evicted_without_warnings() -> None:
    pods = [
        pod("web-7d9c"),
        pod("db-0", owners=[owner("StatefulSet", "db")]),
        pod("job-x", owners=[owner("Job", "nightly", controller=True)]),
    ]
    found = classify(pods)
    assert [(d.name, d.action, d.reason, d.warnings) for d in found] == [
        ("db-0", "evict", None, ()),
        ("job-x", "evict", None, ()),
        ("web-7d9c", "evict", None, ()),
    ]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"owners": [owner("DaemonSet", "aws-node")]}, "daemonset"),
        ({"owners": [], "annotations": {"kubernetes.io/config.mirror": "abc123"}}, "mirror"),
        ({"phase": "Succeeded"}, "finished"),
        ({"phase": "Failed"}, "finished"),
        ({"deleting": True}, "terminating"),
    ],
    ids=["daemonset", "mirror", "succeeded", "failed", "terminating"],
)
def test_pods_a_drain_leaves_alone_are_skipped_with_the_reason(
    changes: dict[str, Any], reason: str
) -> None:
    [found] = classify([pod("p", **changes)])
    assert (found.action, found.reason, found.warnings) == ("skip", reason, ())


def test_a_mirror_pod_is_skipped_whatever_its_owner() -> None:
    """Mirror pods of recent kubelets have their Node as controller owner."""
    mirror = pod(
        "kube-proxy-node",
        "kube-system",
        owners=[{"apiVersion": "v1", "kind": "Node", "name": NODE, "controller": True}],
        annotations={"kubernetes.io/config.mirror": "abc", "other": "x"},
    )
    [found] = classify([mirror])
    assert (found.action, found.reason) == ("skip", "mirror")


def test_daemonset_means_the_controller_owner_as_kubectl_reads_it() -> None:
    """kubectl drain asks GetControllerOf: a DaemonSet that owns without controlling does not
    re-create the pod, so it is evicted (and, with no controller at all, flagged)."""
    controlled = pod(
        "fluent-bit-x", owners=[owner("ConfigMap", controller=False), owner("DaemonSet", "fb")]
    )
    not_controller = pod("orphan", owners=[owner("DaemonSet", "fb", controller=False)])
    no_flag = pod("legacy", owners=[owner("DaemonSet", "fb", controller=None)])
    found = classify([controlled, not_controller, no_flag])
    assert decision_of(found, "fluent-bit-x").reason == "daemonset"
    for name in ("orphan", "legacy"):
        assert decision_of(found, name).action == "evict"
        assert decision_of(found, name).warnings == (NO_CONTROLLER,)


def test_the_first_reason_that_applies_is_reported() -> None:
    every = pod(
        "all",
        owners=[owner("DaemonSet")],
        annotations={"kubernetes.io/config.mirror": "x"},
        phase="Failed",
        deleting=True,
    )
    ds_finishing = pod("ds", owners=[owner("DaemonSet")], phase="Succeeded", deleting=True)
    deleting_finished = pod("done", phase="Succeeded", deleting=True)
    found = classify([every, ds_finishing, deleting_finished])
    assert [(d.name, d.reason) for d in found] == [
        ("all", "mirror"),
        ("done", "terminating"),
        ("ds", "daemonset"),
    ]


def test_bare_pods_and_emptydir_pods_are_evicted_with_warnings() -> None:
    scratch = [{"name": "tmp", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}]
    pods = [
        pod("bare", owners=[]),
        pod("bare-no-key", owners=[]),
        pod("cache", volumes=scratch),
        pod("bare-cache", owners=[], volumes=[{"name": "m", "emptyDir": {"medium": "Memory"}}]),
        pod("config-only", volumes=[{"name": "cfg", "configMap": {"name": "c"}}]),
        pod("host", volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}}]),
    ]
    del pods[1]["metadata"]["ownerReferences"]
    found = classify(pods)
    assert all(d.action == "evict" for d in found)
    assert {d.name: d.warnings for d in found} == {
        "bare": (NO_CONTROLLER,),
        "bare-no-key": (NO_CONTROLLER,),
        "cache": (EMPTYDIR_DATA,),
        "bare-cache": (NO_CONTROLLER, EMPTYDIR_DATA),
        "config-only": (),
        "host": (),
    }


def test_skipped_pods_carry_no_warnings() -> None:
    [found] = classify([pod("done", owners=[], phase="Succeeded", volumes=[{"emptyDir": {}}])])
    assert (found.reason, found.warnings) == ("finished", ())


def test_decisions_are_sorted_by_namespace_and_name_and_keep_the_uid() -> None:
    pods = [pod("b", "shop"), pod("a", "shop"), pod("z", "billing"), pod("c", "kube-system")]
    no_namespace = pod("d")
    del no_namespace["metadata"]["namespace"]
    del no_namespace["metadata"]["uid"]
    found = classify([*pods, no_namespace])
    assert [d.key for d in found] == [
        "billing/z",
        "default/d",
        "kube-system/c",
        "shop/a",
        "shop/b",
    ]
    assert found[0].uid == "uid-billing-z"
    assert found[1].uid is None
    assert classify([]) == []


def test_classify_reads_pods_as_the_kubernetes_client_serialises_them() -> None:
    """ApiClient.sanitize_for_serialization drops None fields and writes `emptyDir: {}` and
    datetimes as strings: the shapes the workflow gets from the client."""
    api = ApiClient()
    when = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=datetime.UTC)

    def serialised(name: str, **metadata: Any) -> dict[str, Any]:
        volumes = metadata.pop("volumes", None)
        phase = metadata.pop("phase", "Running")
        return api.sanitize_for_serialization(
            V1Pod(
                metadata=V1ObjectMeta(name=name, namespace="shop", uid=f"u-{name}", **metadata),
                spec=V1PodSpec(containers=[V1Container(name="c")], volumes=volumes),
                status=V1PodStatus(phase=phase),
            )
        )

    daemon = V1OwnerReference(
        api_version="apps/v1", kind="DaemonSet", name="ds", uid="1", controller=True
    )
    pods = [
        serialised("ds", owner_references=[daemon]),
        serialised("gone", deletion_timestamp=when),
        serialised("scratch", volumes=[V1Volume(name="t", empty_dir=V1EmptyDirVolumeSource())]),
        serialised("done", phase="Succeeded"),
    ]
    assert [d.result() for d in classify(pods)] == [
        {"pod": "shop/done", "action": "skip", "reason": "finished"},
        {"pod": "shop/ds", "action": "skip", "reason": "daemonset"},
        {"pod": "shop/gone", "action": "skip", "reason": "terminating"},
        {"pod": "shop/scratch", "action": "evict", "warnings": [NO_CONTROLLER, EMPTYDIR_DATA]},
    ]


def test_pod_key() -> None:
    assert pod_key(pod("web", "shop")) == "shop/web"
    assert pod_key({"metadata": {"name": "x"}}) == "default/x"


# --- budgets -------------------------------------------------------------------------------------


def pdb(name: str, selector: dict[str, Any] | None, namespace: str = "shop") -> dict[str, Any]:
    spec: dict[str, Any] = {"minAvailable": 1}
    if selector is not None:
        spec["selector"] = selector
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


LABELS = {"app": "web", "tier": "front", "track": "stable"}


def expression(key: str, operator: str, *values: str) -> dict[str, Any]:
    found: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        found["values"] = list(values)
    return found


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ({}, True),
        (None, False),
        ({"matchLabels": {"app": "web"}}, True),
        ({"matchLabels": {"app": "web", "tier": "front"}}, True),
        ({"matchLabels": {"app": "web", "tier": "back"}}, False),
        ({"matchLabels": {"missing": "web"}}, False),
        ({"matchExpressions": [expression("app", "In", "web", "api")]}, True),
        ({"matchExpressions": [expression("app", "In", "api")]}, False),
        ({"matchExpressions": [expression("missing", "In", "web")]}, False),
        ({"matchExpressions": [expression("app", "NotIn", "api")]}, True),
        ({"matchExpressions": [expression("app", "NotIn", "web")]}, False),
        ({"matchExpressions": [expression("missing", "NotIn", "web")]}, True),
        ({"matchExpressions": [expression("track", "Exists")]}, True),
        ({"matchExpressions": [expression("missing", "Exists")]}, False),
        ({"matchExpressions": [expression("missing", "DoesNotExist")]}, True),
        ({"matchExpressions": [expression("track", "DoesNotExist")]}, False),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    expression("tier", "In", "front"),
                    expression("track", "NotIn", "canary"),
                ],
            },
            True,
        ),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    expression("tier", "In", "front"),
                    expression("track", "In", "canary"),
                ],
            },
            False,
        ),
        ({"matchLabels": {}, "matchExpressions": []}, True),
        ({"matchExpressions": [expression("app", "Gt", "1")]}, False),
    ],
)
def test_selector_matches_as_kubernetes_label_selectors_do(
    selector: dict[str, Any] | None, matches: bool
) -> None:
    assert selector_matches(selector, LABELS) is matches


def test_selector_matches_a_pod_without_labels() -> None:
    assert selector_matches({}, {})
    assert selector_matches({"matchExpressions": [expression("app", "DoesNotExist")]}, {})
    assert not selector_matches({"matchLabels": {"app": "web"}}, {})


def test_blocking_budgets_are_those_of_the_pods_namespace_that_select_it() -> None:
    budgets = [
        pdb("web", {"matchLabels": {"app": "web"}}),
        pdb("everything", {}),
        pdb("nothing", None),
        pdb("api", {"matchLabels": {"app": "api"}}),
        pdb("web-elsewhere", {"matchLabels": {"app": "web"}}, namespace="billing"),
        pdb("all-elsewhere", {}, namespace="billing"),
        pdb("a-stable", {"matchExpressions": [expression("track", "In", "stable")]}),
    ]
    web = pod("web-1", "shop", labels=LABELS)
    assert blocking_budgets(web, budgets) == ["a-stable", "everything", "web"]
    unlabelled = pod("bare", "shop", owners=[])
    assert blocking_budgets(unlabelled, budgets) == ["everything"]
    assert blocking_budgets(pod("x", "billing", labels={"app": "web"}), budgets) == [
        "all-elsewhere",
        "web-elsewhere",
    ]
    assert blocking_budgets(pod("x", "other", labels=LABELS), budgets) == []


def test_blocking_budgets_default_namespace() -> None:
    budget = pdb("d", {})
    del budget["metadata"]["namespace"]
    loose = {"metadata": {"name": "p", "labels": {}}}
    assert blocking_budgets(loose, [budget]) == ["d"]
    assert blocking_budgets(pod("p", "shop"), [budget]) == []


# --- the report ----------------------------------------------------------------------------------

PODS = [
    pod("web-1", labels=LABELS),
    pod("web-2", labels=LABELS),
    pod("db-0", owners=[owner("StatefulSet", "db")]),
    pod("scratch", owners=[], volumes=[{"name": "t", "emptyDir": {}}]),
    pod("aws-node-abc", "kube-system", owners=[owner("DaemonSet", "aws-node")]),
    pod("migrate", phase="Succeeded", owners=[owner("Job", "migrate")]),
]


def test_outcome_lists_every_pod_with_its_outcome() -> None:
    decisions = classify(PODS)
    report = outcome(
        decisions,
        evicted={"shop/web-1", "shop/scratch"},
        blocked={"shop/web-2": ["web", "everything"]},
        failed={"shop/db-0": "the server could not find the requested resource"},
        deadline_passed=False,
    )
    assert report == {
        "status": "in-progress",
        "counts": {"evicted": 2, "skipped": 2, "blocked": 1, "failed": 1, "pending": 0},
        "pods": [
            {"pod": "kube-system/aws-node-abc", "outcome": "skipped:daemonset"},
            {
                "pod": "shop/db-0",
                "outcome": "failed",
                "message": "the server could not find the requested resource",
            },
            {"pod": "shop/migrate", "outcome": "skipped:finished"},
            {
                "pod": "shop/scratch",
                "outcome": "evicted",
                "warnings": [NO_CONTROLLER, EMPTYDIR_DATA],
            },
            {"pod": "shop/web-1", "outcome": "evicted"},
            {"pod": "shop/web-2", "outcome": "blocked", "budgets": ["everything", "web"]},
        ],
    }
    assert json.loads(json.dumps(report)) == report


def test_outcome_status_drained_when_every_pod_to_evict_is_evicted() -> None:
    decisions = classify(PODS)
    to_evict = {d.key for d in decisions if d.action == "evict"}
    for deadline_passed in (False, True):
        report = outcome(decisions, to_evict, {}, {}, deadline_passed)
        assert report["status"] == "drained"
        assert report["counts"] == {
            "evicted": 4,
            "skipped": 2,
            "blocked": 0,
            "failed": 0,
            "pending": 0,
        }
    assert outcome([], set(), {}, {}, False)["status"] == "drained"
    only_skipped = classify([p for p in PODS if p["metadata"]["name"] in ("aws-node-abc",)])
    assert outcome(only_skipped, set(), {}, {}, False)["status"] == "drained"


def test_outcome_pods_not_tried_yet_are_pending() -> None:
    decisions = classify(PODS)
    report = outcome(decisions, {"shop/web-1"}, {}, {}, False)
    pending = [p["pod"] for p in report["pods"] if p["outcome"] == "pending"]
    assert pending == ["shop/db-0", "shop/scratch", "shop/web-2"]
    assert report["status"] == "in-progress"
    assert report["counts"]["pending"] == 3


@pytest.mark.parametrize(
    ("blocked", "failed", "evicted_all_but"),
    [
        ({"shop/web-2": ["web"]}, {}, "shop/web-2"),
        ({}, {"shop/web-2": "500: more than one PodDisruptionBudget"}, "shop/web-2"),
        ({}, {}, "shop/web-2"),  # never tried: the deadline passed first
    ],
    ids=["budget", "error", "pending"],
)
def test_outcome_blocked_once_the_deadline_passed_with_pods_left(
    blocked: dict[str, list[str]], failed: dict[str, str], evicted_all_but: str
) -> None:
    decisions = classify(PODS)
    evicted = {d.key for d in decisions if d.action == "evict"} - {evicted_all_but}
    assert outcome(decisions, evicted, blocked, failed, False)["status"] == "in-progress"
    assert outcome(decisions, evicted, blocked, failed, True)["status"] == "blocked"


def test_outcome_evicted_wins_over_an_earlier_refusal() -> None:
    decisions = classify(PODS[:1])
    report = outcome(decisions, {"shop/web-1"}, {"shop/web-1": ["web"]}, {"shop/web-1": "x"}, True)
    assert report["pods"] == [{"pod": "shop/web-1", "outcome": "evicted"}]
    report = outcome(decisions, set(), {"shop/web-1": ["web"]}, {"shop/web-1": "x"}, True)
    assert report["pods"] == [{"pod": "shop/web-1", "outcome": "blocked", "budgets": ["web"]}]


def test_outcome_keeps_pods_that_appeared_after_the_decisions() -> None:
    decisions = classify(PODS[:1])
    report = outcome(
        decisions,
        {"shop/web-1", "shop/late-b"},
        {"shop/late-a": []},
        {},
        False,
    )
    assert report["pods"] == [
        {"pod": "shop/web-1", "outcome": "evicted"},
        {"pod": "shop/late-a", "outcome": "blocked", "budgets": []},
        {"pod": "shop/late-b", "outcome": "evicted"},
    ]
    assert report["status"] == "in-progress"


def test_outcome_cuts_long_failure_messages() -> None:
    decisions = classify(PODS[:1])
    long = "x" * (MAX_MESSAGE * 3)
    report = outcome(decisions, set(), {}, {"shop/web-1": long}, False)
    message = report["pods"][0]["message"]
    assert len(message) == MAX_MESSAGE
    assert message.endswith("…")
    exact = "y" * MAX_MESSAGE
    report = outcome(decisions, set(), {}, {"shop/web-1": exact}, False)
    assert report["pods"][0]["message"] == exact


# --- waits and deadlines -------------------------------------------------------------------------


def test_next_wait_grows_from_5_seconds_to_30() -> None:
    assert [next_wait(attempt, 600) for attempt in range(1, 8)] == [5, 10, 20, 30, 30, 30, 30]
    assert next_wait(0, 600) == 5
    assert next_wait(10_000, 600) == 30


@pytest.mark.parametrize(
    ("attempt", "remaining", "wait"),
    [(1, 3, 3), (4, 12, 12), (3, 20, 20), (3, 21, 20), (1, 1, 1), (1, 0, 1), (5, -7, 1)],
)
def test_next_wait_never_passes_the_deadline_and_is_at_least_a_second(
    attempt: int, remaining: int, wait: int
) -> None:
    assert next_wait(attempt, remaining) == wait
