"""DeleteCluster's steps, in reverse order of creation; each is idempotent and tolerant of
parts already gone. ``created_by`` (a rollback) narrows every step to what that execution
created, recognised by the ``eksops:created-by`` tag; IAM resources are only ever deleted when
tagged as eksops's for this cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eksops.eks_cluster import describe_cluster, health_issues
from eksops.errors import ClusterFailedError
from eksops.models.delete_cluster import DeleteClusterInput
from eksops.ownership import CREATED_BY_TAG, IAM_PATH, owned, tag_map
from eksops.polling import Poll, next_poll

NODEGROUP_WAIT_LIMIT_SECONDS = 40 * 60
CLUSTER_WAIT_LIMIT_SECONDS = 30 * 60
# EKS refuses to delete what is still being created or updated: wait for it to settle first
BUSY = ("CREATING", "UPDATING", "DELETING")


def _in_scope(tags: dict[str, str] | None, created_by: str | None) -> bool:
    return created_by is None or (tags or {}).get(CREATED_BY_TAG) == created_by


def _gone(eks: Any) -> tuple[type[Exception], ...]:
    return (eks.exceptions.ResourceNotFoundException,)


@dataclass(frozen=True)
class Progress:
    """Where a deletion stands: what was deleted this call, what is still going."""

    deleted: list[str]
    remaining: list[str]
    poll: Poll | None  # None: done

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "deleted": self.deleted,
            "remaining": self.remaining,
            "done": self.poll is None,
        }
        if self.poll is not None:
            result["poll"] = self.poll.model_dump(by_alias=True)
        return result


def delete_nodegroups(eks: Any, request: DeleteClusterInput, poll: Poll | None) -> Progress:
    """Start deleting every node group (in parallel, as EKS runs them), then report those left."""
    name = request.cluster_name
    if describe_cluster(eks, name) is None:
        return Progress([], [], None)
    deleted, remaining = [], []
    pages = eks.get_paginator("list_nodegroups").paginate(clusterName=name)
    for nodegroup_name in [n for page in pages for n in page["nodegroups"]]:
        try:
            nodegroup = eks.describe_nodegroup(clusterName=name, nodegroupName=nodegroup_name)[
                "nodegroup"
            ]
            if not _in_scope(nodegroup.get("tags"), request.created_by):
                continue
            if nodegroup["status"] == "DELETE_FAILED":
                raise ClusterFailedError(
                    f"node group {nodegroup_name} of {name} failed to delete: "
                    f"{health_issues(nodegroup) or 'no cause given'}"
                )
            if nodegroup["status"] not in BUSY:
                eks.delete_nodegroup(clusterName=name, nodegroupName=nodegroup_name)
                deleted.append(nodegroup_name)
            remaining.append(nodegroup_name)
        except _gone(eks):
            continue
    if not remaining:
        return Progress(deleted, [], None)
    what = f"deletion of node groups {', '.join(remaining)} of {name}"
    return Progress(deleted, remaining, next_poll(poll, what, NODEGROUP_WAIT_LIMIT_SECONDS))


def _delete_each(
    kind: str, keys: list[str], describe: Any, delete: Any, created_by: str | None
) -> list[str]:
    deleted = []
    for key in keys:
        try:
            if _in_scope(describe(key).get("tags"), created_by):
                delete(key)
                deleted.append(f"{kind} {key}")
        except LookupError:
            continue
    return deleted


def delete_attachments(eks: Any, request: DeleteClusterInput) -> list[str]:
    """Add-ons, Pod Identity associations and access entries (in that order)."""
    name = request.cluster_name
    if describe_cluster(eks, name) is None:
        return []
    created_by = request.created_by
    gone = _gone(eks)

    def listed(operation: str, key: str, **kwargs: Any) -> list[Any]:
        pages = eks.get_paginator(operation).paginate(clusterName=name, **kwargs)
        return [item for page in pages for item in page[key]]

    def tolerant(call: Any) -> Any:
        def run(key: str) -> Any:
            try:
                return call(key)
            except gone:
                raise LookupError(key) from None

        return run

    deleted = _delete_each(
        "add-on",
        listed("list_addons", "addons"),
        tolerant(lambda a: eks.describe_addon(clusterName=name, addonName=a)["addon"]),
        tolerant(lambda a: eks.delete_addon(clusterName=name, addonName=a)),
        created_by,
    )
    deleted += _delete_each(
        "pod identity association",
        [a["associationId"] for a in listed("list_pod_identity_associations", "associations")],
        tolerant(
            lambda i: eks.describe_pod_identity_association(clusterName=name, associationId=i)[
                "association"
            ]
        ),
        tolerant(lambda i: eks.delete_pod_identity_association(clusterName=name, associationId=i)),
        created_by,
    )
    deleted += _delete_each(
        "access entry",
        listed("list_access_entries", "accessEntries"),
        tolerant(
            lambda p: eks.describe_access_entry(clusterName=name, principalArn=p)["accessEntry"]
        ),
        tolerant(lambda p: eks.delete_access_entry(clusterName=name, principalArn=p)),
        created_by,
    )
    return deleted


def delete_cluster(eks: Any, request: DeleteClusterInput, poll: Poll | None) -> Progress:
    name = request.cluster_name
    cluster = describe_cluster(eks, name)
    if cluster is None or not _in_scope(cluster.get("tags"), request.created_by):
        return Progress([], [], None)
    deleted = []
    if cluster["status"] not in BUSY:
        try:
            eks.delete_cluster(name=name)
            deleted.append(f"cluster {name}")
        except _gone(eks):
            return Progress([], [], None)
    what = f"deletion of cluster {name}"
    return Progress(deleted, [name], next_poll(poll, what, CLUSTER_WAIT_LIMIT_SECONDS))


def _delete_role(iam: Any, name: str) -> None:
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        for policy in page["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
        for policy_name in page["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
    for page in iam.get_paginator("list_instance_profiles_for_role").paginate(RoleName=name):
        for profile in page["InstanceProfiles"]:
            iam.remove_role_from_instance_profile(
                InstanceProfileName=profile["InstanceProfileName"], RoleName=name
            )
    iam.delete_role(RoleName=name)


def delete_iam(iam: Any, request: DeleteClusterInput) -> list[str]:
    """The OIDC provider and the IAM roles eksops created for the cluster (by their tags)."""
    name, created_by = request.cluster_name, request.created_by
    deleted = []
    for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        arn = provider["Arn"]
        try:
            tags = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"]
            if owned(tag_map(tags), name, created_by):
                iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
                deleted.append(f"OIDC provider {arn}")
        except iam.exceptions.NoSuchEntityException:
            continue
    for page in iam.get_paginator("list_roles").paginate(PathPrefix=IAM_PATH):
        for role in page["Roles"]:
            try:
                tags = iam.list_role_tags(RoleName=role["RoleName"])["Tags"]
                if owned(tag_map(tags), name, created_by):
                    _delete_role(iam, role["RoleName"])
                    deleted.append(f"IAM role {role['Arn']}")
            except iam.exceptions.NoSuchEntityException:
                continue
    return deleted
