"""EKS Pod Identity associations (moto has none).

AWS behaviour reproduced: one association per (namespace, service account) in a cluster
(ResourceInUseException otherwise); IDs like `a-0123456789abcdefg`; an association an add-on made
(`ownerArn`) is removed with the add-on, not through DeletePodIdentityAssociation.
"""

from __future__ import annotations

import random
import string
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.eks.utils import validate_role_arn

from eksops.local.eks._state import LOCK, error, extras, get_cluster, paginate

SUMMARY = ("clusterName", "namespace", "serviceAccount", "associationArn", "associationId")


def _new_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "a-" + "".join(random.choices(alphabet, k=17))  # noqa: S311 - an ID, not a secret


def add(
    cluster: Any,
    namespace: str,
    service_account: str,
    role_arn: str,
    owner_arn: str | None = None,
    tags: dict[str, str] | None = None,
    disable_session_tags: bool | None = None,
    target_role_arn: str | None = None,
) -> dict[str, Any]:
    validate_role_arn(role_arn or "")
    state = extras(cluster)
    for existing in state.pod_identity.values():
        if (existing["namespace"], existing["serviceAccount"]) == (namespace, service_account):
            raise error(
                "ResourceInUseException",
                f"Association already exists: {existing['associationId']}",
                clusterName=cluster.name,
            )
    association_id = _new_id()
    _, partition, _, region, account_id, _ = cluster.arn.split(":", 5)
    now = utcnow()
    association = {
        "clusterName": cluster.name,
        "namespace": namespace,
        "serviceAccount": service_account,
        "roleArn": role_arn,
        "associationArn": (
            f"arn:{partition}:eks:{region}:{account_id}:podidentityassociation/"
            f"{cluster.name}/{association_id}"
        ),
        "associationId": association_id,
        "tags": dict(tags or {}),
        "createdAt": now,
        "modifiedAt": now,
        "disableSessionTags": bool(disable_session_tags),
    }
    if owner_arn:
        association["ownerArn"] = owner_arn
    if target_role_arn:
        validate_role_arn(target_role_arn)
        association["targetRoleArn"] = target_role_arn
    state.pod_identity[association_id] = association
    return association


def _association(cluster: Any, association_id: str) -> dict[str, Any]:
    association = extras(cluster).pod_identity.get(association_id)
    if association is None:
        raise error(
            "ResourceNotFoundException",
            f"Association not found: {association_id}",
            clusterName=cluster.name,
        )
    return association


def create_pod_identity_association(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        association = add(
            cluster,
            self._get_param("namespace"),
            self._get_param("serviceAccount"),
            self._get_param("roleArn"),
            tags=self._get_param("tags"),
            disable_session_tags=self._get_param("disableSessionTags"),
            target_role_arn=self._get_param("targetRoleArn"),
        )
        return ActionResult({"association": association})


def describe_pod_identity_association(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        return ActionResult(
            {"association": _association(cluster, self._get_param("associationId"))}
        )


def update_pod_identity_association(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        association = _association(cluster, self._get_param("associationId"))
        role_arn = self._get_param("roleArn")
        if role_arn is not None:
            validate_role_arn(role_arn)
            association["roleArn"] = role_arn
        disable = self._get_param("disableSessionTags")
        if disable is not None:
            association["disableSessionTags"] = bool(disable)
        target = self._get_param("targetRoleArn")
        if target is not None:
            association["targetRoleArn"] = target
        association["modifiedAt"] = utcnow()
        return ActionResult({"association": association})


def delete_pod_identity_association(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        association = _association(cluster, self._get_param("associationId"))
        if association.get("ownerArn"):
            raise error(
                "InvalidRequestException",
                f"Association {association['associationId']} is owned by "
                f"{association['ownerArn']}; update or delete its owner instead",
                clusterName=cluster.name,
            )
        del extras(cluster).pod_identity[association["associationId"]]
        return ActionResult({"association": association})


def list_pod_identity_associations(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        namespace = self._get_param("namespace")
        service_account = self._get_param("serviceAccount")
        summaries = [
            {key: association[key] for key in (*SUMMARY, "ownerArn") if key in association}
            for association in extras(cluster).pod_identity.values()
            if namespace in (None, association["namespace"])
            and service_account in (None, association["serviceAccount"])
        ]
        page, token = paginate(
            summaries, self._get_param("maxResults"), self._get_param("nextToken")
        )
        return ActionResult({"associations": page, "nextToken": token})


RESPONSES = {
    "create_pod_identity_association": create_pod_identity_association,
    "describe_pod_identity_association": describe_pod_identity_association,
    "update_pod_identity_association": update_pod_identity_association,
    "delete_pod_identity_association": delete_pod_identity_association,
    "list_pod_identity_associations": list_pod_identity_associations,
}

URL_PATHS = {
    "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations$",
    "{0}/clusters/(?P<name>[^/]+)/pod-identity-associations/(?P<associationId>[^/]+)$",
}
