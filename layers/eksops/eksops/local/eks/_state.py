"""What the EKS adaptations keep beside moto's models, and the settings they share.

moto's `Cluster` and `Nodegroup` objects stay the records (moto's reset clears them with
everything else); the state moto has no place for hangs off them as `eksops`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from moto.core.utils import utcnow


@dataclass(frozen=True)
class Nodes:
    """The instances of a managed node group, as the node join check sees them."""

    account_id: str
    region: str
    cluster_name: str
    nodegroup_name: str
    node_role: str
    instance_ids: tuple[str, ...]


# Answers which of a node group's instances could NOT join the cluster (empty: all joined).
# It runs while the EKS state lock is held: it must not call the EKS API.
NodeJoinCheck = Callable[[Nodes], Iterable[str]]


def all_nodes_join(nodes: Nodes) -> Iterable[str]:
    return ()


# Answers why a cluster's creation failed, as EKS health issues ({code, message, resourceIds},
# codes from the API's ClusterIssueCode); None or empty: nothing failed. It is asked once, when
# the create delay has passed, with moto's Cluster, while the EKS state lock is held: it must not
# call the EKS API.
ClusterFailureCheck = Callable[[Any], list[dict[str, Any]] | None]


def no_cluster_failure(cluster: Any) -> list[dict[str, Any]] | None:
    return None


@dataclass
class Settings:
    create_delay: float = 3.0
    delete_delay: float = 3.0
    update_delay: float = 3.0
    node_join_check: NodeJoinCheck = all_nodes_join
    cluster_failure_check: ClusterFailureCheck = no_cluster_failure
    clock: Callable[[], float] = time.monotonic


SETTINGS = Settings()
# One lock for every EKS state change: moto's server answers requests on many threads.
LOCK = threading.RLock()


def due(delay: float) -> float:
    return SETTINGS.clock() + delay


def passed(deadline: float | None) -> bool:
    return deadline is not None and SETTINGS.clock() >= deadline


@dataclass
class UpdateRecord:
    """An EKS Update (DescribeUpdate's shape) and what finishing it does."""

    update: dict[str, Any]
    deadline: float
    nodegroup_name: str | None = None
    addon_name: str | None = None
    on_success: Callable[[], None] | None = None

    @property
    def in_progress(self) -> bool:
        return self.update["status"] == "InProgress"


def new_update(update_type: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "status": "InProgress",
        "type": update_type,
        "params": [
            {"type": key, "value": value if isinstance(value, str) else json.dumps(value)}
            for key, value in params.items()
        ],
        "createdAt": utcnow(),
        "errors": [],
    }


@dataclass
class ClusterExtras:
    deadline: float | None = None  # when the current CREATING or DELETING ends
    creator_arn: str = ""
    access_entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    # principal ARN -> policy ARN -> AssociatedAccessPolicy
    access_policies: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    addons: dict[str, dict[str, Any]] = field(default_factory=dict)
    addon_deadlines: dict[str, float] = field(default_factory=dict)
    pod_identity: dict[str, dict[str, Any]] = field(default_factory=dict)
    updates: dict[str, UpdateRecord] = field(default_factory=dict)


@dataclass
class NodegroupExtras:
    deadline: float | None = None
    launch_template_id: str = ""
    launched: datetime = field(default_factory=utcnow)


def extras(cluster: Any) -> ClusterExtras:
    state = getattr(cluster, "eksops", None)
    if state is None:  # a cluster made before install(), or by moto directly
        state = cluster.eksops = ClusterExtras()
    return state


def access_config(cluster: Any) -> dict[str, Any]:
    """The cluster's accessConfig (CreateCluster's defaults for clusters made before install)."""
    config = getattr(cluster, "access_config", None)
    if config is None:
        config = cluster.access_config = {
            "authenticationMode": "CONFIG_MAP",
            "bootstrapClusterCreatorAdminPermissions": True,
        }
    return config


def nodegroup_extras(nodegroup: Any) -> NodegroupExtras:
    state = getattr(nodegroup, "eksops", None)
    if state is None:
        state = nodegroup.eksops = NodegroupExtras()
    return state


def error(kind: str, message: str, **fields: Any) -> Exception:
    """One of moto's EKS errors, with the members of botocore's error shape."""
    from moto.eks import exceptions

    members = {
        "ResourceNotFoundException": (
            "clusterName",
            "nodegroupName",
            "fargateProfileName",
            "addonName",
        ),
        "ResourceInUseException": ("clusterName", "nodegroupName", "addonName"),
        "InvalidParameterException": (
            "clusterName",
            "nodegroupName",
            "fargateProfileName",
            "addonName",
        ),
        "InvalidRequestException": ("clusterName", "nodegroupName", "addonName"),
    }[kind]
    body = {name: fields.get(name) for name in members}
    return getattr(exceptions, kind)(message=message, **body)


def cluster_not_found(name: str) -> Exception:
    return error("ResourceNotFoundException", f"No cluster found for name: {name}.")


def get_cluster(backend: Any, name: str) -> Any:
    cluster = backend.clusters.get(name)
    if cluster is None:
        raise cluster_not_found(name)
    return cluster


def require_active(cluster: Any) -> None:
    if cluster.status != "ACTIVE":
        raise error(
            "InvalidRequestException",
            f"Cluster '{cluster.name}' is not in ACTIVE status",
            clusterName=cluster.name,
        )


def paginate(items: list[Any], max_results: Any, next_token: Any) -> tuple[list[Any], Any]:
    """EKS list pagination: an opaque token (here the index of the next item)."""
    start = int(next_token) if next_token else 0
    size = int(max_results) if max_results else 100
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)
