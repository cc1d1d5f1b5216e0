"""Create the cluster, or adopt an identical one; then follow it to ACTIVE.

A poll never sleeps: the state machine waits between polls (``eksops.polling``). A cluster that
ends FAILED fails the step at once, with EKS's own words for why (its health issues and the
errors of its failed updates) instead of a bare status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eksops.cluster_spec import create_parameters, differences
from eksops.eks_cluster import describe_cluster, health_issues, oidc_issuer
from eksops.errors import ClusterConflictError, ClusterFailedError
from eksops.models.create_cluster import CreateClusterInput
from eksops.ownership import CREATED_BY_TAG
from eksops.polling import Poll, next_poll

CLUSTER_WAIT_LIMIT_SECONDS = 45 * 60  # EKS creates clusters in about 10 minutes


@dataclass(frozen=True)
class ClusterState:
    """What later steps and the output need to know about the cluster."""

    cluster: dict[str, Any]
    created: bool  # by this execution (rollback deletes it)

    def result(self) -> dict[str, Any]:
        cluster = self.cluster
        return {
            "name": cluster["name"],
            "arn": cluster["arn"],
            "status": cluster["status"],
            "endpoint": cluster.get("endpoint"),
            "oidcIssuer": oidc_issuer(cluster),
            "created": self.created,
        }


def conflict(name: str, problems: list[str]) -> ClusterConflictError:
    return ClusterConflictError(
        f"cluster {name} exists and differs from the input ({'; '.join(problems)}); nothing was "
        "changed: change the input to match, or delete the cluster"
    )


def _state(cluster: dict[str, Any], execution_id: str) -> ClusterState:
    return ClusterState(
        cluster, created=(cluster.get("tags") or {}).get(CREATED_BY_TAG) == execution_id
    )


def create_or_adopt(
    eks: Any, request: CreateClusterInput, role_arn: str, execution_id: str
) -> ClusterState:
    """CreateCluster, unless the cluster exists: then it is adopted when nothing differs and a
    ClusterConflict listing the differences otherwise. A DELETING or FAILED cluster is no match."""
    existing = describe_cluster(eks, request.cluster_name)
    if existing is None:
        try:
            existing = eks.create_cluster(**create_parameters(request, role_arn, execution_id))[
                "cluster"
            ]
        except eks.exceptions.ResourceInUseException:  # made meanwhile (a retry or another run)
            return create_or_adopt(eks, request, role_arn, execution_id)
    if existing["status"] in ("DELETING", "FAILED"):
        raise conflict(request.cluster_name, [f"status: the cluster is {existing['status']}"])
    problems = differences(existing, request, role_arn)
    if problems:
        raise conflict(request.cluster_name, problems)
    return _state(existing, execution_id)


def failure_cause(eks: Any, cluster: dict[str, Any]) -> str:
    """EKS's reasons for a FAILED cluster: health issues, then errors of failed updates."""
    reasons = [issues] if (issues := health_issues(cluster)) else []
    update_ids = eks.list_updates(name=cluster["name"]).get("updateIds", [])
    for update_id in update_ids:
        update = eks.describe_update(name=cluster["name"], updateId=update_id)["update"]
        if update["status"] in ("Failed", "Cancelled"):
            reasons += [
                f"update {update['type']} {update['status']}: {error.get('errorCode')}: "
                f"{error.get('errorMessage')}"
                for error in update.get("errors", [])
            ]
    return "; ".join(reasons) or "EKS gave no cause (see the cluster in the EKS console)"


@dataclass(frozen=True)
class ClusterProgress:
    state: ClusterState
    poll: Poll | None  # None: ACTIVE, stop polling

    def result(self) -> dict[str, Any]:
        result = self.state.result()
        result["active"] = self.poll is None
        if self.poll is not None:
            result["poll"] = self.poll.model_dump(by_alias=True)
        return result


def check_active(
    eks: Any, request: CreateClusterInput, execution_id: str, poll: Poll | None
) -> ClusterProgress:
    """One poll: ACTIVE ends the loop, CREATING/UPDATING asks for another, FAILED (or gone) is
    a ClusterFailed with EKS's cause."""
    name = request.cluster_name
    cluster = describe_cluster(eks, name)
    if cluster is None:
        raise ClusterFailedError(f"cluster {name} no longer exists (deleted while being created?)")
    status = cluster["status"]
    if status in ("FAILED", "DELETING"):
        raise ClusterFailedError(f"cluster {name} is {status}: {failure_cause(eks, cluster)}")
    return progress(_state(cluster, execution_id), poll)


def progress(state: ClusterState, poll: Poll | None) -> ClusterProgress:
    """ACTIVE ends the loop; otherwise the next poll (a WaitTimeout past the limit)."""
    status = state.cluster["status"]
    if status == "ACTIVE":
        return ClusterProgress(state, None)
    what = f"cluster {state.cluster['name']} ({status})"
    return ClusterProgress(state, next_poll(poll, what, CLUSTER_WAIT_LIMIT_SECONDS))
