"""Cordoning with a recorded reason: a node eksops marks unschedulable carries, in annotations,
why, since when and by which execution, so that no node stays cordoned without anyone knowing
why (aws-node-termination-handler leaves them bare). Uncordoning removes only eksops's own."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

REASON = "eksops.io/cordon-reason"
CORDONED_BY = "eksops.io/cordoned-by"
CORDONED_AT = "eksops.io/cordoned-at"
Clock = Callable[[], datetime]


def read_node(core_v1: Any, name: str) -> dict[str, Any] | None:
    """The Node as JSON, or None when it is gone."""
    from kubernetes.client.exceptions import ApiException

    try:
        response = core_v1.read_node(name, _preload_content=False)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return json.loads(response.data)


def cordoned_by_eksops(node: dict[str, Any]) -> bool:
    return REASON in ((node.get("metadata") or {}).get("annotations") or {})


def cordon(
    core_v1: Any, name: str, reason: str, execution_id: str, now: Clock
) -> dict[str, Any] | None:
    """Mark the node unschedulable with the reason recorded (a node someone else cordoned keeps
    its own reason and gets none of ours); the Node as it is now, or None when it is gone."""
    from kubernetes.client.exceptions import ApiException

    node = read_node(core_v1, name)
    if node is None:
        return None
    if (node.get("spec") or {}).get("unschedulable") and not cordoned_by_eksops(node):
        return node
    body = {
        "metadata": {
            "annotations": {
                REASON: reason,
                CORDONED_BY: execution_id,
                CORDONED_AT: now().isoformat(timespec="seconds"),
            }
        },
        "spec": {"unschedulable": True},
    }
    if cordoned_by_eksops(node):  # a re-run: keep the first reason and time
        return node if node["spec"].get("unschedulable") else _patch(core_v1, name, body)
    try:
        return _patch(core_v1, name, body)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def record_reason(core_v1: Any, name: str, reason: str) -> None:
    """Replace the recorded reason of a node that stays cordoned (say, a drain that ran out of
    time)."""
    _patch(core_v1, name, {"metadata": {"annotations": {REASON: reason}}})


def uncordon(core_v1: Any, name: str) -> bool:
    """Make a node eksops cordoned schedulable again, its annotations removed; whether it did."""
    node = read_node(core_v1, name)
    if node is None or not cordoned_by_eksops(node):
        return False
    body = {
        "metadata": {"annotations": {REASON: None, CORDONED_BY: None, CORDONED_AT: None}},
        "spec": {"unschedulable": None},
    }
    _patch(core_v1, name, body)
    return True


def _patch(core_v1: Any, name: str, body: dict[str, Any]) -> dict[str, Any]:
    response = core_v1.patch_node(name, body, _preload_content=False)
    return json.loads(response.data)
