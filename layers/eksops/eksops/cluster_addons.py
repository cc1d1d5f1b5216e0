"""EKS add-ons of the input, ensured and followed until they are installed.

One call both ensures (creates what is missing) and reports, so the state machine's poll loop
calls it again until nothing is pending. DEGRADED counts as installed: on a cluster without
nodes yet, coredns cannot schedule its pods and stays DEGRADED until node groups join.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eksops.eks_cluster import health_issues
from eksops.errors import AddonFailedError, ClusterConflictError
from eksops.models.create_cluster import Addon, CreateClusterInput
from eksops.ownership import CREATED_BY_TAG, creation_tags
from eksops.polling import Poll, next_poll

INSTALLED = ("ACTIVE", "DEGRADED")
FAILED = ("CREATE_FAILED", "DELETE_FAILED", "DELETING", "UPDATE_FAILED")
ADDON_WAIT_LIMIT_SECONDS = 20 * 60


def describe_addon(eks: Any, cluster: str, name: str) -> dict[str, Any] | None:
    try:
        return eks.describe_addon(clusterName=cluster, addonName=name)["addon"]
    except eks.exceptions.ResourceNotFoundException:
        return None


def _create(
    eks: Any, request: CreateClusterInput, addon: Addon, execution_id: str, overwrite: bool
) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "clusterName": request.cluster_name,
        "addonName": addon.name,
        "tags": creation_tags(request.cluster_name, execution_id, request.tags),
        # a new cluster runs self-managed copies of vpc-cni, kube-proxy and coredns: the add-on
        # takes them over; on an adopted cluster someone's changes must not be overwritten
        "resolveConflicts": "OVERWRITE" if overwrite else "NONE",
    }
    if addon.version:
        parameters["addonVersion"] = addon.version
    try:
        return eks.create_addon(**parameters)["addon"]
    except eks.exceptions.ResourceInUseException:  # made meanwhile
        found = describe_addon(eks, request.cluster_name, addon.name)
        assert found is not None, "CreateAddon said in use, DescribeAddon says missing"
        return found


def version_differs(addon: Addon, found: dict[str, Any]) -> bool:
    return addon.version is not None and found.get("addonVersion") != addon.version


def version_conflict(cluster: str, addon: Addon, found: dict[str, Any]) -> ClusterConflictError:
    return ClusterConflictError(
        f"add-on {addon.name} of cluster {cluster} is {found.get('addonVersion')}, the input asks "
        f"for {addon.version}; nothing was changed"
    )


@dataclass(frozen=True)
class AddonsProgress:
    addons: list[dict[str, Any]]
    poll: Poll | None  # None: all installed

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {"addons": self.addons, "installed": self.poll is None}
        if self.poll is not None:
            result["poll"] = self.poll.model_dump(by_alias=True)
        return result


def ensure_addons(
    eks: Any,
    request: CreateClusterInput,
    execution_id: str,
    poll: Poll | None,
    *,
    cluster_created: bool,
) -> AddonsProgress:
    cluster = request.cluster_name
    states = []
    for addon in request.addons:
        found = describe_addon(eks, cluster, addon.name)
        if found is None:
            found = _create(eks, request, addon, execution_id, overwrite=cluster_created)
        elif version_differs(addon, found):
            raise version_conflict(cluster, addon, found)
        if found["status"] in FAILED:
            raise AddonFailedError(
                f"add-on {addon.name} of cluster {cluster} is {found['status']}: "
                f"{health_issues(found) or 'EKS gave no cause'}"
            )
        states.append(
            {
                "name": addon.name,
                "version": found.get("addonVersion"),
                "status": found["status"],
                "created": (found.get("tags") or {}).get(CREATED_BY_TAG) == execution_id,
            }
        )
    pending = [state["name"] for state in states if state["status"] not in INSTALLED]
    if not pending:
        return AddonsProgress(states, None)
    what = f"add-ons {', '.join(pending)} of cluster {cluster}"
    return AddonsProgress(states, next_poll(poll, what, ADDON_WAIT_LIMIT_SECONDS))
