"""EKS add-ons and their version catalogue (moto has neither).

AWS behaviour reproduced: CreateAddon needs an ACTIVE cluster and an add-on version compatible
with the cluster's Kubernetes version (the default one when none is given); the add-on is
CREATING, then ACTIVE after the create delay; a second CreateAddon is a ResourceInUseException;
UpdateAddon answers an AddonUpdate (UPDATING until it succeeds); DeleteAddon answers DELETING
and the add-on, with the Pod Identity associations it made, is gone after the delete delay.
DescribeAddonVersions lists a small catalogue of Amazon EKS add-ons with the fields AWS returns.
"""

from __future__ import annotations

import uuid
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.eks.utils import validate_role_arn

from eksops.local.eks import pod_identity
from eksops.local.eks._state import (
    LOCK,
    SETTINGS,
    UpdateRecord,
    due,
    error,
    extras,
    get_cluster,
    new_update,
    paginate,
    require_active,
)

MINORS = tuple(f"1.{minor}" for minor in range(25, 36))


def _span(first: str, last: str) -> tuple[str, ...]:
    return tuple(v for v in MINORS if int(first[2:]) <= int(v[2:]) <= int(last[2:]))


# name -> (type, [(version, compatible cluster versions, versions it is the default for)])
CATALOGUE: dict[str, tuple[str, list[tuple[str, tuple[str, ...], tuple[str, ...]]]]] = {
    "vpc-cni": (
        "networking",
        [
            ("v1.19.5-eksbuild.1", _span("1.27", "1.35"), _span("1.27", "1.35")),
            ("v1.18.6-eksbuild.1", _span("1.25", "1.31"), _span("1.25", "1.26")),
        ],
    ),
    "coredns": (
        "networking",
        [
            ("v1.12.1-eksbuild.2", _span("1.33", "1.35"), _span("1.33", "1.35")),
            ("v1.11.4-eksbuild.2", _span("1.29", "1.32"), _span("1.29", "1.32")),
            ("v1.11.1-eksbuild.9", _span("1.28", "1.31"), ("1.28",)),
            ("v1.10.1-eksbuild.18", _span("1.25", "1.28"), _span("1.25", "1.27")),
        ],
    ),
    "kube-proxy": (
        "networking",
        [
            (version, (minor,), (minor,))
            for minor, version in (
                ("1.35", "v1.35.0-eksbuild.2"),
                ("1.34", "v1.34.0-eksbuild.2"),
                ("1.33", "v1.33.0-eksbuild.2"),
                ("1.32", "v1.32.3-eksbuild.7"),
                ("1.31", "v1.31.7-eksbuild.7"),
                ("1.30", "v1.30.11-eksbuild.5"),
                ("1.29", "v1.29.15-eksbuild.5"),
                ("1.28", "v1.28.15-eksbuild.20"),
                ("1.27", "v1.27.16-eksbuild.25"),
                ("1.26", "v1.26.15-eksbuild.24"),
                ("1.25", "v1.25.16-eksbuild.25"),
            )
        ],
    ),
    "aws-ebs-csi-driver": (
        "storage",
        [
            ("v1.44.0-eksbuild.1", MINORS, MINORS),
            ("v1.41.0-eksbuild.1", MINORS, ()),
        ],
    ),
    "eks-pod-identity-agent": (
        "security",
        [
            ("v1.3.7-eksbuild.2", MINORS, MINORS),
            ("v1.3.4-eksbuild.1", MINORS, ()),
        ],
    ),
}
NEEDS_IAM = {"aws-ebs-csi-driver", "vpc-cni"}


def addon_info(name: str, kubernetes_version: str | None = None) -> dict[str, Any] | None:
    """DescribeAddonVersions' AddonInfo for one add-on (only versions for that cluster version
    when one is given); None when it has none."""
    addon_type, versions = CATALOGUE[name]
    infos = []
    for version, compatible, defaults in versions:
        wanted = compatible if kubernetes_version is None else (kubernetes_version,)
        if kubernetes_version is not None and kubernetes_version not in compatible:
            continue
        infos.append(
            {
                "addonVersion": version,
                "architecture": ["amd64", "arm64"],
                "computeTypes": ["ec2"],
                "compatibilities": [
                    {
                        "clusterVersion": cluster_version,
                        "platformVersions": ["*"],
                        "defaultVersion": cluster_version in defaults,
                    }
                    for cluster_version in wanted
                ],
                "requiresConfiguration": False,
                "requiresIamPermissions": name in NEEDS_IAM,
            }
        )
    if not infos:
        return None
    return {
        "addonName": name,
        "type": addon_type,
        "addonVersions": infos,
        "publisher": "eks",
        "owner": "aws",
        "defaultNamespace": "kube-system",
    }


def _resolve_version(cluster: Any, name: str, version: str | None) -> str:
    if name not in CATALOGUE:
        raise error(
            "InvalidParameterException",
            f"Addon {name} specified is not supported in {cluster.version} kubernetes version",
            clusterName=cluster.name,
            addonName=name,
        )
    versions = CATALOGUE[name][1]
    if version is None:
        for candidate, _, defaults in versions:
            if cluster.version in defaults:
                return candidate
    for candidate, compatible, _ in versions:
        if cluster.version in compatible and version in (None, candidate):
            return candidate
    raise error(
        "InvalidParameterException",
        f"Addon version specified is not supported for {name} in {cluster.version} "
        "kubernetes version"
        if version
        else f"Addon {name} specified is not supported in {cluster.version} kubernetes version",
        clusterName=cluster.name,
        addonName=name,
    )


def _addon(cluster: Any, name: str) -> dict[str, Any]:
    addon = extras(cluster).addons.get(name)
    if addon is None:
        raise error(
            "ResourceNotFoundException",
            f"No addon: {name} found in cluster: {cluster.name}",
            clusterName=cluster.name,
            addonName=name,
        )
    return addon


def create_addon(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        name = self._get_param("addonName")
        state = extras(cluster)
        if name in state.addons:
            raise error(
                "ResourceInUseException",
                "Addon already exists.",
                clusterName=cluster.name,
                addonName=name,
            )
        require_active(cluster)
        version = _resolve_version(cluster, name, self._get_param("addonVersion"))
        role_arn = self._get_param("serviceAccountRoleArn")
        if role_arn is not None:
            validate_role_arn(role_arn)
        _, partition, _, region, account_id, _ = cluster.arn.split(":", 5)
        now = utcnow()
        addon = {
            "addonName": name,
            "clusterName": cluster.name,
            "status": "CREATING",
            "addonVersion": version,
            "health": {"issues": []},
            "addonArn": (
                f"arn:{partition}:eks:{region}:{account_id}:addon/{cluster.name}/{name}/"
                f"{uuid.uuid4()}"
            ),
            "createdAt": now,
            "modifiedAt": now,
            "tags": dict(self._get_param("tags") or {}),
            "publisher": "eks",
            "owner": "aws",
            "podIdentityAssociations": [],
        }
        if role_arn is not None:
            addon["serviceAccountRoleArn"] = role_arn
        configuration = self._get_param("configurationValues")
        if configuration is not None:
            addon["configurationValues"] = configuration
        for association in self._get_param("podIdentityAssociations") or []:
            made = pod_identity.add(
                cluster,
                "kube-system",
                association["serviceAccount"],
                association["roleArn"],
                owner_arn=addon["addonArn"],
            )
            addon["podIdentityAssociations"].append(made["associationArn"])
        state.addons[name] = addon
        state.addon_deadlines[name] = due(SETTINGS.create_delay)
        return ActionResult({"addon": addon})


def describe_addon(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        return ActionResult({"addon": _addon(cluster, self._get_param("addonName"))})


def list_addons(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        names = sorted(extras(cluster).addons)
        page, token = paginate(names, self._get_param("maxResults"), self._get_param("nextToken"))
        return ActionResult({"addons": page, "nextToken": token})


def update_addon(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        name = self._get_param("addonName")
        addon = _addon(cluster, name)
        if addon["status"] not in ("ACTIVE", "DEGRADED", "UPDATE_FAILED"):
            raise error(
                "ResourceInUseException",
                f"Addon {name} is in {addon['status']} status",
                clusterName=cluster.name,
                addonName=name,
            )
        changes: dict[str, Any] = {}
        params: dict[str, Any] = {}
        version = self._get_param("addonVersion")
        if version is not None:
            changes["addonVersion"] = params["AddonVersion"] = _resolve_version(
                cluster, name, version
            )
        role_arn = self._get_param("serviceAccountRoleArn")
        if role_arn is not None:
            if role_arn:
                validate_role_arn(role_arn)
            changes["serviceAccountRoleArn"] = params["ServiceAccountRoleArn"] = role_arn
        configuration = self._get_param("configurationValues")
        if configuration is not None:
            changes["configurationValues"] = params["ConfigurationValues"] = configuration
        resolve = self._get_param("resolveConflicts")
        if resolve is not None:
            params["ResolveConflicts"] = resolve
        update = new_update("AddonUpdate", params)

        def apply() -> None:
            addon.update(changes)
            if not addon.get("serviceAccountRoleArn"):
                addon.pop("serviceAccountRoleArn", None)
            addon["status"] = "ACTIVE"
            addon["modifiedAt"] = utcnow()

        extras(cluster).updates[update["id"]] = UpdateRecord(
            update, due(SETTINGS.update_delay), addon_name=name, on_success=apply
        )
        addon["status"] = "UPDATING"
        return ActionResult({"update": update})


def delete_addon(self: Any) -> ActionResult:
    with LOCK:
        cluster = get_cluster(self.eks_backend, self._get_param("name"))
        name = self._get_param("addonName")
        addon = _addon(cluster, name)
        if addon["status"] != "DELETING":
            addon["status"] = "DELETING"
            extras(cluster).addon_deadlines[name] = due(SETTINGS.delete_delay)
        return ActionResult({"addon": addon})


def describe_addon_versions(self: Any) -> ActionResult:
    kubernetes_version = self._get_param("kubernetesVersion")
    name = self._get_param("addonName")
    types = self.querystring.get("types")
    publishers = self.querystring.get("publishers")
    owners = self.querystring.get("owners")
    infos = []
    for candidate in CATALOGUE:
        if name not in (None, candidate):
            continue
        info = addon_info(candidate, kubernetes_version)
        if info is None:
            continue
        if types and info["type"] not in types:
            continue
        if (publishers and "eks" not in publishers) or (owners and "aws" not in owners):
            continue
        infos.append(info)
    page, token = paginate(infos, self._get_param("maxResults"), self._get_param("nextToken"))
    return ActionResult({"addons": page, "nextToken": token})


def advance(cluster: Any) -> None:
    state = extras(cluster)
    for name, addon in list(state.addons.items()):
        deadline = state.addon_deadlines.get(name)
        if deadline is None or due(0) < deadline:
            continue
        if addon["status"] == "CREATING":
            addon["status"] = "ACTIVE"
            del state.addon_deadlines[name]
        elif addon["status"] == "DELETING":
            del state.addons[name]
            del state.addon_deadlines[name]
            for association_id, association in list(state.pod_identity.items()):
                if association.get("ownerArn") == addon["addonArn"]:
                    del state.pod_identity[association_id]
            for update_id, record in list(state.updates.items()):
                if record.addon_name == name:
                    del state.updates[update_id]


RESPONSES = {
    "create_addon": create_addon,
    "describe_addon": describe_addon,
    "list_addons": list_addons,
    "update_addon": update_addon,
    "delete_addon": delete_addon,
    "describe_addon_versions": describe_addon_versions,
}

URL_PATHS = {
    "{0}/addons/supported-versions$",
    "{0}/clusters/(?P<name>[^/]+)/addons$",
    "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$",
    "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)/update$",
}
