"""Create the managed node groups, or adopt identical ones; then follow them to ACTIVE.

Every existing node group is checked before anything is created, so a conflict changes
nothing. CREATE_FAILED and DEGRADED fail at once with EKS's health issue codes and a hint per
code, instead of waiting out a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eksops.errors import NodegroupConflictError, NodegroupFailedError
from eksops.models.join_nodegroup import JoinNodegroupInput
from eksops.nodegroup_hints import described_issues
from eksops.nodegroup_spec import PlannedNodegroup, create_parameters, differences
from eksops.ownership import CREATED_BY_TAG
from eksops.polling import Poll, next_poll

FAILED = ("CREATE_FAILED", "DEGRADED")
GONE = ("DELETING", "DELETE_FAILED")


def describe_nodegroup(eks: Any, cluster_name: str, name: str) -> dict[str, Any] | None:
    try:
        return eks.describe_nodegroup(clusterName=cluster_name, nodegroupName=name)["nodegroup"]
    except eks.exceptions.ResourceNotFoundException:
        return None


def _summary(nodegroup: dict[str, Any], plan: PlannedNodegroup, creator: str) -> dict[str, Any]:
    return {
        "name": nodegroup["nodegroupName"],
        "arn": nodegroup["nodegroupArn"],
        "status": nodegroup["status"],
        "availabilityZone": plan.availability_zone,
        "created": (nodegroup.get("tags") or {}).get(CREATED_BY_TAG) == creator,
    }


def check_existing(
    eks: Any, request: JoinNodegroupInput, planned: list[PlannedNodegroup], node_role_arn: str
) -> dict[str, dict[str, Any] | None]:
    """Each planned node group as it exists (None: not yet); any that differs from the request
    (or is being deleted) is a NodegroupConflict listing every difference."""
    cluster = request.cluster_name
    existing = {plan.name: describe_nodegroup(eks, cluster, plan.name) for plan in planned}
    problems = []
    for plan in planned:
        nodegroup = existing[plan.name]
        if nodegroup is None:
            continue
        if nodegroup["status"] in GONE:
            problems.append(f"{plan.name} status: the node group is {nodegroup['status']}")
        else:
            problems += differences(nodegroup, request, plan, node_role_arn)
    if problems:
        raise NodegroupConflictError(
            f"node groups of {cluster} exist and differ from the input ({'; '.join(problems)}); "
            "nothing was changed: change the input to match, or delete them"
        )
    return existing


def create_or_adopt(
    eks: Any,
    request: JoinNodegroupInput,
    planned: list[PlannedNodegroup],
    node_role_arn: str,
    execution_id: str,
) -> list[dict[str, Any]]:
    """Each planned node group, created unless it exists and matches (checked again here: one
    may have been made since ValidateInput)."""
    existing = check_existing(eks, request, planned, node_role_arn)
    creator = request.creator(execution_id)
    results = []
    for plan in planned:
        nodegroup = existing[plan.name]
        if nodegroup is None:
            try:
                nodegroup = eks.create_nodegroup(
                    **create_parameters(request, plan, node_role_arn, creator)
                )["nodegroup"]
            except eks.exceptions.ResourceInUseException:  # made meanwhile (another run)
                return create_or_adopt(eks, request, planned, node_role_arn, execution_id)
        results.append(_summary(nodegroup, plan, creator))
    return results


@dataclass(frozen=True)
class NodegroupProgress:
    nodegroups: list[dict[str, Any]]
    poll: Poll  # where the shared wait budget stands
    active: bool

    def result(self) -> dict[str, Any]:
        return {
            "nodegroups": self.nodegroups,
            "active": self.active,
            "poll": self.poll.model_dump(by_alias=True),
        }


def check_active(
    eks: Any,
    request: JoinNodegroupInput,
    planned: list[PlannedNodegroup],
    execution_id: str,
    poll: Poll | None,
) -> NodegroupProgress:
    """One poll of every node group: all ACTIVE ends the loop; CREATE_FAILED or DEGRADED (or one
    gone) is a NodegroupFailed with the health issues and what to do about them."""
    cluster, creator = request.cluster_name, request.creator(execution_id)
    summaries, waiting, failures = [], [], []
    for plan in planned:
        nodegroup = describe_nodegroup(eks, cluster, plan.name)
        if nodegroup is None or nodegroup["status"] in GONE:
            failures.append(f"{plan.name} was deleted while being created")
            continue
        status = nodegroup["status"]
        if status in FAILED:
            issues = described_issues(nodegroup) or ["EKS gave no health issue"]
            failures.append(f"{plan.name} is {status}: {' | '.join(issues)}")
        elif status != "ACTIVE":
            waiting.append(f"{plan.name} ({status})")
        summaries.append(_summary(nodegroup, plan, creator))
    if failures:
        raise NodegroupFailedError(f"node groups of {cluster}: {'; '.join(failures)}")
    poll = poll or Poll()
    if not waiting:
        return NodegroupProgress(summaries, poll, active=True)
    what = f"node groups {', '.join(waiting)} of {cluster}"
    return NodegroupProgress(summaries, next_poll(poll, what, request.timeout_seconds), False)
