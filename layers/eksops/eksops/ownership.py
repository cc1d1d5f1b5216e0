"""How eksops recognises what it created: tags on every resource it makes.

``eksops:cluster`` names the cluster a resource belongs to (DeleteCluster removes the IAM roles
and OIDC provider so tagged, and nothing else in IAM); ``eksops:created-by`` is the execution
that created it (a rollback removes exactly those, never adopted resources).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

CLUSTER_TAG = "eksops:cluster"
CREATED_BY_TAG = "eksops:created-by"
# IAM roles eksops creates live under this path, so its IAM permissions can be scoped to it.
IAM_PATH = "/eksops/"
# ServiceAccount roles (SetupIrsa) apart from the cluster and node roles, so the permission to
# attach any policy to them cannot reach a node role (whose policies every pod gets via IMDS)
SERVICE_ACCOUNT_ROLE_PATH = f"{IAM_PATH}irsa/"


def creation_tags(cluster_name: str, execution_id: str, tags: Mapping[str, str]) -> dict[str, str]:
    return {**tags, CLUSTER_TAG: cluster_name, CREATED_BY_TAG: execution_id}


def iam_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """IAM's tag list shape."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def tag_map(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """IAM's tag list as a mapping."""
    return {tag["Key"]: tag["Value"] for tag in tags}


def owned(tags: Mapping[str, str], cluster_name: str, created_by: str | None) -> bool:
    """Whether a resource with ``tags`` is eksops's for this cluster (and, for a rollback, made
    by the execution ``created_by``)."""
    if tags.get(CLUSTER_TAG) != cluster_name:
        return False
    return created_by is None or tags.get(CREATED_BY_TAG) == created_by
