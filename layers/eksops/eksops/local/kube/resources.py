"""What the offline API server serves: its resource types, their discovery documents, the
validation and defaulting Kubernetes applies to them, and the Table form ``kubectl get`` prints.

No controllers or kubelets run offline, so workloads are done as soon as they are written, as
pods already are (created Running and Ready): a Deployment's status says it is rolled out
(every replica updated, ready and available, conditions Available and Progressing true,
observedGeneration its metadata.generation) with every write. No ReplicaSets or pods are made
for it. Volumes are bound as soon as written, as the PersistentVolume controller would bind
them once both exist: a PersistentVolume is Available, or Bound when it names its claim
(``spec.claimRef``); a PersistentVolumeClaim naming its volume (``spec.volumeName``) is Bound
with the access modes and capacity it asks for, any other stays Pending (no provisioner runs
offline). A DaemonSet keeps the status the API server gives a new one (no nodes scheduled, ready
or available) until its status subresource is written: the DaemonSet controller does not run
and makes no pods; pods that name a DaemonSet as their controller are written by whoever needs
them.

Discovery is the legacy (unaggregated) form: /api, /api/v1, /apis, /apis/<group>/<version>.
kubectl 1.32 first asks for the aggregated form (``as=APIGroupDiscoveryList``) but lists plain
``application/json`` as a fallback, and client-go decides by the response's Content-Type, so the
legacy documents satisfy it and every other client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eksops.local.kube.store import (
    ApiError,
    Obj,
    bad_request,
    invalid,
    selector_object_matches,
)

# Every stored kind supports these; "watch" is absent because the server does not stream.
STORED_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    name: str  # "status", "eviction", "token"
    kind: str
    verbs: tuple[str, ...]
    group: str = ""  # set when the subresource's kind lives in another group (Eviction)
    version: str = ""


STATUS = Subresource("status", "", ("get", "patch", "update"))


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...] = STORED_VERBS
    short_names: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    categories: tuple[str, ...] = ()
    stored: bool = True  # False for review kinds that are computed per request

    @property
    def key(self) -> str:
        """The store's key: the group-qualified plural (``roles.rbac.authorization.k8s.io``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def has_status(self) -> bool:
        return any(sub.name == "status" for sub in self.subresources)


RBAC = "rbac.authorization.k8s.io"
DEPLOYMENTS = "deployments.apps"
DAEMONSETS = "daemonsets.apps"
PERSISTENT_VOLUMES = "persistentvolumes"
PERSISTENT_VOLUME_CLAIMS = "persistentvolumeclaims"
RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "Namespace",
        "namespaces",
        False,
        verbs=("create", "delete", "get", "list", "patch", "update"),
        short_names=("ns",),
        subresources=(STATUS, Subresource("finalize", "Namespace", ("update",))),
    ),
    ResourceType("", "v1", "ConfigMap", "configmaps", True, short_names=("cm",)),
    ResourceType("", "v1", "Secret", "secrets", True),
    ResourceType(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        True,
        short_names=("sa",),
        subresources=(
            Subresource("token", "TokenRequest", ("create",), "authentication.k8s.io", "v1"),
        ),
    ),
    ResourceType("", "v1", "Node", "nodes", False, short_names=("no",), subresources=(STATUS,)),
    ResourceType(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        False,
        short_names=("pv",),
        subresources=(STATUS,),
    ),
    ResourceType(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        True,
        short_names=("pvc",),
        subresources=(STATUS,),
    ),
    ResourceType(
        "",
        "v1",
        "Pod",
        "pods",
        True,
        short_names=("po",),
        categories=("all",),
        subresources=(STATUS, Subresource("eviction", "Eviction", ("create",), "policy", "v1")),
    ),
    ResourceType(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        True,
        short_names=("deploy",),
        categories=("all",),
        subresources=(STATUS,),
    ),
    ResourceType(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        True,
        short_names=("ds",),
        categories=("all",),
        subresources=(STATUS,),
    ),
    ResourceType(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        True,
        short_names=("pdb",),
        subresources=(STATUS,),
    ),
    ResourceType(RBAC, "v1", "Role", "roles", True),
    ResourceType(RBAC, "v1", "RoleBinding", "rolebindings", True),
    ResourceType(RBAC, "v1", "ClusterRole", "clusterroles", False),
    ResourceType(RBAC, "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    ResourceType(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        False,
        verbs=("create",),
        stored=False,
    ),
    ResourceType(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        False,
        verbs=("create",),
        stored=False,
    ),
)


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    for resource in RESOURCES:
        if (resource.group, resource.version, resource.plural) == (group, version, plural):
            return resource
    return None


def by_key(key: str) -> ResourceType:
    """The served type stored under ``key`` (``pods``, ``roles.rbac.authorization.k8s.io``)."""
    for resource in RESOURCES:
        if resource.key == key:
            return resource
    raise KeyError(key)


# --- discovery ---------------------------------------------------------------------------


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for resource in RESOURCES:
        if resource.group:
            versions = groups.setdefault(resource.group, [])
            if resource.version not in versions:
                versions.append(resource.version)
    return groups


def api_versions(server_address: str) -> Obj:
    """GET /api."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _api_group(name: str, versions: list[str]) -> Obj:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def api_group_list() -> Obj:
    """GET /apis."""
    groups = [_api_group(name, versions) for name, versions in _groups().items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> Obj | None:
    """GET /apis/<group>."""
    versions = _groups().get(group)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(group, versions)}


def api_resource_list(group: str, version: str) -> Obj | None:
    """GET /api/v1 or /apis/<group>/<version>."""
    served = [r for r in RESOURCES if (r.group, r.version) == (group, version)]
    if not served:
        return None
    entries: list[Obj] = []
    for resource in served:
        entry: Obj = {
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(resource.verbs),
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        if resource.categories:
            entry["categories"] = list(resource.categories)
        entries.append(entry)
        for sub in resource.subresources:
            sub_entry: Obj = {
                "name": f"{resource.plural}/{sub.name}",
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": sub.kind or resource.kind,
                "verbs": list(sub.verbs),
            }
            if sub.group:
                sub_entry |= {"group": sub.group, "version": sub.version}
            entries.append(sub_entry)
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }


def _group_version_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_root() -> Obj:
    """GET /openapi/v3: where each group-version's document is."""
    paths = {}
    for group, version in dict.fromkeys((r.group, r.version) for r in RESOURCES):
        path = _group_version_path(group, version)
        digest = hashlib.sha256(
            json.dumps(openapi_v3_document(group, version), sort_keys=True).encode()
        )
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest.hexdigest().upper()}"}
    return {"paths": paths}


def openapi_v2_document() -> Obj:
    """GET /openapi/v2 as JSON: a valid Swagger document without paths or definitions."""
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": {},
    }


def openapi_v3_document(group: str, version: str) -> Obj | None:
    """GET /openapi/v3/api/v1 and /openapi/v3/apis/<group>/<version>, cut down to what kubectl
    reads: each kind's PATCH operation, which tells kubectl apply and create that the server
    takes ``fieldValidation`` (so kubectl skips its client-side schema check, which would need
    the whole OpenAPI v2 document). The operations have no request body schema, so kubectl
    apply computes strategic merge patches from its built-in types."""
    served = [r for r in RESOURCES if (r.group, r.version) == (group, version) and r.stored]
    if not served:
        return None
    parameters = [
        {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for name in ("dryRun", "fieldManager", "fieldValidation", "force")
    ]
    paths: Obj = {}
    for resource in served:
        scope = "namespaces/{namespace}/" if resource.namespaced else ""
        path = f"/{_group_version_path(group, version)}/{scope}{resource.plural}/{{name}}"
        paths[path] = {
            "patch": {
                "operationId": f"patch{resource.kind}",
                "parameters": parameters,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {
                    "group": group,
                    "version": version,
                    "kind": resource.kind,
                },
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": paths,
        "components": {},
    }


# --- validation and defaulting -----------------------------------------------------------

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"


def check_kind(resource: ResourceType, obj: Mapping[str, Any]) -> None:
    """The body's apiVersion/kind, when given, must be the endpoint's (Kubernetes answers 400)."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind and kind != resource.kind:
        raise bad_request(f"the kind in the data ({kind}) does not match the expected kind")
    if api_version and api_version != resource.api_version:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected "
            f"API version ({resource.api_version})"
        )


def _go_string_map(values: Mapping[str, str] | None) -> str:
    """A map[string]string as Go's %#v prints it in Kubernetes' "Invalid value" messages."""
    if values is None:
        return "map[string]string(nil)"
    entries = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(values.items()))
    return f"map[string]string{{{entries}}}"


def _go_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector as Go's %#v prints it in "Invalid value" messages."""
    requirements = "(nil)" if selector.get("matchExpressions") is None else "{}"
    return (
        f"v1.LabelSelector{{MatchLabels:{_go_string_map(selector.get('matchLabels'))}, "
        f"MatchExpressions:[]v1.LabelSelectorRequirement{requirements}}}"
    )


def _empty_selector(selector: Mapping[str, Any] | None) -> bool:
    return selector is not None and not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    )


def _labels_problem(selector: Mapping[str, Any] | None, spec: Mapping[str, Any]) -> list[str]:
    # A missing selector selects nothing, an empty one everything (then labels are not checked).
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if selector_object_matches(selector, labels or {}):
        return []
    return [
        f"spec.template.metadata.labels: Invalid value: {_go_string_map(labels)}: "
        "`selector` does not match template `labels`"
    ]


def _not_negative(path: str, value: Any) -> list[str]:
    if isinstance(value, int) and value < 0:
        return [f"{path}: Invalid value: {value}: must be greater than or equal to 0"]
    return []


def _not_supported(path: str, value: Any, supported: tuple[str, ...]) -> str:
    listed = ", ".join(json.dumps(option) for option in sorted(supported))
    return f"{path}: Unsupported value: {json.dumps(value)}: supported values: {listed}"


def _deployment_problems(deployment: Mapping[str, Any]) -> list[str]:
    """apps/v1 ValidateDeploymentSpec, the part clients meet: replicas not negative, a selector
    that selects something and the template's labels."""
    spec = deployment.get("spec") or {}
    problems = _not_negative("spec.replicas", spec.get("replicas"))
    selector = spec.get("selector")
    if selector is None:
        problems.append("spec.selector: Required value")
    elif _empty_selector(selector):
        problems.append(
            f"spec.selector: Invalid value: {_go_selector(selector)}: "
            "empty selector is invalid for deployment"
        )
    return problems + _labels_problem(selector, spec)


def _daemonset_problems(daemonset: Mapping[str, Any]) -> list[str]:
    """apps/v1 ValidateDaemonSetSpec, the part clients meet, in its order: the template's labels
    (a missing selector selects nothing), a selector that selects something, pods that restart
    Always, minReadySeconds and revisionHistoryLimit not negative."""
    spec = daemonset.get("spec") or {}
    selector = spec.get("selector")
    problems = _labels_problem(selector, spec)
    if _empty_selector(selector):
        problems.append(
            f"spec.selector: Invalid value: {_go_selector(selector)}: "
            "empty selector is invalid for daemonset"
        )
    restart = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    if restart is not None and restart != "Always":  # unset defaults to Always
        problems.append(_not_supported("spec.template.spec.restartPolicy", restart, ("Always",)))
    problems += _not_negative("spec.minReadySeconds", spec.get("minReadySeconds"))
    problems += _not_negative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    return problems


ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
VOLUME_MODES = ("Block", "Filesystem")
RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
# PersistentVolume sources in the order ValidatePersistentVolumeSpec counts them
VOLUME_SOURCES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "glusterfs",
    "flocker",
    "nfs",
    "rbd",
    "quobyte",
    "cephfs",
    "iscsi",
    "cinder",
    "fc",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "scaleIO",
    "local",
    "storageos",
    "csi",
)


def _access_mode_problems(modes: list[Any], *, required: str) -> list[str]:
    if not modes:
        return [f"spec.accessModes: Required value{required}"]
    problems = [
        _not_supported("spec.accessModes", mode, ACCESS_MODES)
        for mode in modes
        if mode not in ACCESS_MODES
    ]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        problems.append(
            "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes"
        )
    return problems


def _volume_mode_problems(spec: Mapping[str, Any]) -> list[str]:
    mode = spec.get("volumeMode")
    if mode is None or mode in VOLUME_MODES:
        return []
    return [_not_supported("spec.volumeMode", mode, VOLUME_MODES)]


def _persistent_volume_problems(volume: Mapping[str, Any]) -> list[str]:
    """core/v1 ValidatePersistentVolumeSpec, the part clients meet: access modes, a capacity
    (the other resources a capacity may wrongly name are not checked), a known reclaim policy
    and volume mode, exactly one volume source, node affinity for local volumes."""
    spec = volume.get("spec") or {}
    problems = _access_mode_problems(spec.get("accessModes") or [], required="")
    if not spec.get("capacity"):
        shown = "core.ResourceList(nil)" if spec.get("capacity") is None else "core.ResourceList{}"
        problems += [
            "spec.capacity: Required value",
            f'spec.capacity: Unsupported value: {shown}: supported values: "storage"',
        ]
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy is not None and policy not in RECLAIM_POLICIES:
        problems.append(
            _not_supported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES)
        )
    sources = [source for source in VOLUME_SOURCES if spec.get(source) is not None]
    if not sources:
        problems.append("spec: Required value: must specify a volume type")
    problems += [
        f"spec.{source}: Forbidden: may not specify more than 1 volume type"
        for source in sources[1:]
    ]
    if "local" in sources and not spec.get("nodeAffinity"):
        problems.append("spec.nodeAffinity: Required value: Local volume requires node affinity")
    return problems + _volume_mode_problems(spec)


def _persistent_volume_claim_problems(claim: Mapping[str, Any]) -> list[str]:
    """core/v1 ValidatePersistentVolumeClaimSpec, the part clients meet: access modes, a
    storage request and a known volume mode."""
    spec = claim.get("spec") or {}
    problems = _access_mode_problems(
        spec.get("accessModes") or [], required=": at least 1 access mode is required"
    )
    requests = (spec.get("resources") or {}).get("requests") or {}
    if "storage" not in requests:
        problems.append("spec.resources[storage]: Required value")
    return problems + _volume_mode_problems(spec)


_CONTENT_PROBLEMS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    DEPLOYMENTS: _deployment_problems,
    DAEMONSETS: _daemonset_problems,
    PERSISTENT_VOLUMES: _persistent_volume_problems,
    PERSISTENT_VOLUME_CLAIMS: _persistent_volume_claim_problems,
}


def validate_content(resource: ResourceType, obj: Mapping[str, Any]) -> None:
    """What Kubernetes checks of an object's content on every write (422 Invalid): for now the
    specs of Deployments, DaemonSets, PersistentVolumes and PersistentVolumeClaims; other kinds
    are taken as sent."""
    check = _CONTENT_PROBLEMS.get(resource.key)
    problems = check(obj) if check is not None else []
    if problems:
        name = (obj.get("metadata") or {}).get("name") or ""
        raise invalid(resource.key, resource.kind, name, problems)


def validate(resource: ResourceType, obj: Mapping[str, Any]) -> None:
    """The checks of a new object: a name, DNS-label namespace names, then
    ``validate_content``."""
    name = (obj.get("metadata") or {}).get("name") or ""
    if not name:
        raise invalid(
            resource.key,
            resource.kind,
            "",
            ["metadata.name: Required value: name or generateName is required"],
        )
    if resource.plural == "namespaces" and not re.fullmatch(_DNS_LABEL, name):
        raise invalid(
            resource.key,
            resource.kind,
            name,
            [
                f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 label must consist '
                "of lower case alphanumeric characters or '-', and must start and end with an "
                "alphanumeric character"
            ],
        )
    validate_content(resource, obj)


def _image_pull_policy(image: str) -> str:
    # Kubernetes' rule: untagged or :latest images are always pulled.
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    return "Always" if ":" not in last or last.endswith(":latest") else "IfNotPresent"


def _default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and SetDefaults_Container: pods' and pod templates' defaults."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    # v1's deprecated serviceAccount mirrors serviceAccountName, whichever was sent.
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if account:
        spec["serviceAccountName"] = spec["serviceAccount"] = account
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        container.setdefault("imagePullPolicy", _image_pull_policy(container.get("image", "")))
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _default_pod(pod: Obj, *, creating: bool) -> None:
    spec = pod.setdefault("spec", {})
    _default_pod_spec(spec)
    if not spec.get("serviceAccountName"):
        # The ServiceAccount admission plugin's, for pods only (templates keep what they say).
        spec["serviceAccountName"] = spec["serviceAccount"] = "default"
    containers = spec.get("containers") or []
    if creating:
        # Kubernetes discards a new pod's status; with no scheduler or kubelet offline, a pod
        # runs, ready, as soon as it exists.
        pod["status"] = {
            "phase": "Running",
            "conditions": [
                {"type": kind, "status": "True"}
                for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
            "containerStatuses": [
                {
                    "name": c.get("name", ""),
                    "image": c.get("image", ""),
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {}},
                }
                for c in containers
            ],
        }


def _default_deployment(deployment: Obj) -> None:
    """apps/v1 SetDefaults_Deployment, and the template's pod defaults."""
    spec = deployment.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    template = spec.setdefault("template", {})
    _default_pod_spec(template.setdefault("spec", {}))


def deployment_status(deployment: Obj, generation: int | None) -> Obj:
    """The status of a Deployment rolled out at once (see the module's docstring), for the
    object the store will hold at ``generation``."""
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    name = deployment["metadata"].get("name", "")
    status: Obj = {"observedGeneration": generation}
    if replicas:  # Kubernetes leaves zero counts out
        for counted in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
            status[counted] = replicas
    status["conditions"] = [
        {
            "type": "Available",
            "status": "True",
            "reason": "MinimumReplicasAvailable",
            "message": "Deployment has minimum availability.",
        },
        {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable",
            "message": f'Deployment "{name}" has successfully progressed.',
        },
    ]
    return status


def _default_daemonset(daemonset: Obj, *, creating: bool) -> None:
    """apps/v1 SetDefaults_DaemonSet and the template's pod defaults; a new DaemonSet's status
    is the API server's (PrepareForCreate), which no controller changes offline."""
    spec = daemonset.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    template = spec.setdefault("template", {})
    _default_pod_spec(template.setdefault("spec", {}))
    if creating:
        daemonset["status"] = {
            "currentNumberScheduled": 0,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 0,
            "numberReady": 0,
        }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _default_persistent_volume(volume: Obj, *, creating: bool) -> None:
    """core/v1 SetDefaults_PersistentVolume (Retain, Filesystem); a new one is bound at once
    (see the module's docstring)."""
    spec = volume.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    if creating:
        phase = "Bound" if spec.get("claimRef") else "Available"
        volume["status"] = {"phase": phase, "lastPhaseTransitionTime": _now()}


def _default_persistent_volume_claim(claim: Obj, *, creating: bool) -> None:
    """core/v1 SetDefaults_PersistentVolumeClaim (Filesystem); a new one naming its volume is
    bound at once (see the module's docstring)."""
    spec = claim.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    if creating:
        claim["status"] = {"phase": "Pending"}
        if spec.get("volumeName"):
            requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
            claim["status"] = {
                "phase": "Bound",
                "accessModes": list(spec.get("accessModes") or []),
                "capacity": {"storage": requested},
            }


def _default_secret(secret: Obj) -> None:
    secret.setdefault("type", "Opaque")
    # stringData is write-only: the API server folds it into data.
    string_data = secret.pop("stringData", None) or {}
    if string_data:
        data = secret.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode("ascii")


def apply_defaults(resource: ResourceType, obj: Obj, *, creating: bool) -> None:
    """What Kubernetes' defaulting and admission add on writes, for the served kinds."""
    obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
    metadata = obj.setdefault("metadata", {})
    if resource.plural == "namespaces":
        metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif resource.plural == "pods":
        _default_pod(obj, creating=creating)
    elif resource.plural == "secrets":
        _default_secret(obj)
    elif resource.key == DEPLOYMENTS:
        _default_deployment(obj)
    elif resource.key == DAEMONSETS:
        _default_daemonset(obj, creating=creating)
    elif resource.key == PERSISTENT_VOLUMES:
        _default_persistent_volume(obj, creating=creating)
    elif resource.key == PERSISTENT_VOLUME_CLAIMS:
        _default_persistent_volume_claim(obj, creating=creating)


# --- the Table form kubectl get prints ---------------------------------------------------


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration, the AGE column's format."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes, hours = s // 60, s // 3600
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def _age(obj: Obj, now: datetime) -> str:
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return human_duration((now - moment).total_seconds())


def _column(name: str, kind: str = "string", *, priority: int = 0, fmt: str = "") -> Obj:
    return {"name": name, "type": kind, "format": fmt, "description": name, "priority": priority}


AGE = _column("Age")


def _pod_cells(pod: Obj, age: str) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    reason = status.get("reason") or status.get("phase") or "Unknown"
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    return [
        f"{ready}/{len(spec.get('containers') or [])}",
        reason,
        restarts,
        age,
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
    ]


def _node_cells(node: Obj, age: str) -> list[Any]:
    conditions = {
        c.get("type"): c.get("status") for c in (node.get("status") or {}).get("conditions") or []
    }
    state = {"True": "Ready", "False": "NotReady"}.get(conditions.get("Ready") or "", "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    prefix = "node-role.kubernetes.io/"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(k[len(prefix) :] for k in labels if k.startswith(prefix))
    version = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
    return [state, ",".join(roles) or "<none>", age, version]


def _pdb_cells(pdb: Obj, age: str) -> list[Any]:
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    return [
        str(spec["minAvailable"]) if "minAvailable" in spec else "N/A",
        str(spec["maxUnavailable"]) if "maxUnavailable" in spec else "N/A",
        status.get("disruptionsAllowed", 0),
        age,
    ]


def _selector_string(selector: Mapping[str, Any] | None) -> str:
    """metav1.LabelSelectorAsSelector(selector).String(): requirements sorted by key."""
    if selector is None:
        return ""
    requirements = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = ",".join(sorted(expression.get("values") or []))
        shown = {
            "In": f"{key} in ({values})",
            "NotIn": f"{key} notin ({values})",
            "Exists": key,
            "DoesNotExist": f"!{key}",
        }.get(operator, "<invalid>")
        requirements.append((key, shown))
    return ",".join(shown for _, shown in sorted(requirements, key=lambda r: r[0]))


def _deployment_cells(deployment: Obj, age: str) -> list[Any]:
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age,
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        _selector_string(spec.get("selector")),
    ]


def _daemonset_cells(daemonset: Obj, age: str) -> list[Any]:
    spec, status = daemonset.get("spec") or {}, daemonset.get("status") or {}
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    containers = pod_spec.get("containers") or []
    node_selector = pod_spec.get("nodeSelector") or {}
    return [
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in sorted(node_selector.items())) or "<none>",
        age,
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        _selector_string(spec.get("selector")),
    ]


_ACCESS_MODE_SHORT = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def _access_modes(modes: list[str] | None) -> str:
    """helper.GetAccessModesAsString: each mode once, in Kubernetes' order."""
    given = set(modes or [])
    return ",".join(short for mode, short in _ACCESS_MODE_SHORT.items() if mode in given)


def _storage_class(obj: Obj) -> str:
    beta = (obj["metadata"].get("annotations") or {}).get("volume.beta.kubernetes.io/storage-class")
    return beta if beta is not None else (obj.get("spec") or {}).get("storageClassName") or ""


def _volume_phase(obj: Obj) -> str:
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    return (obj.get("status") or {}).get("phase", "")


def _persistent_volume_cells(volume: Obj, age: str) -> list[Any]:
    spec, status = volume.get("spec") or {}, volume.get("status") or {}
    claim = spec.get("claimRef")
    return [
        str((spec.get("capacity") or {}).get("storage", "")),
        _access_modes(spec.get("accessModes")),
        spec.get("persistentVolumeReclaimPolicy", ""),
        _volume_phase(volume),
        f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else "",
        _storage_class(volume),
        spec.get("volumeAttributesClassName") or "<unset>",
        status.get("reason", ""),
        age,
        spec.get("volumeMode") or "<unset>",
    ]


def _persistent_volume_claim_cells(claim: Obj, age: str) -> list[Any]:
    spec, status = claim.get("spec") or {}, claim.get("status") or {}
    modes = capacity = ""
    if spec.get("volumeName"):
        modes = _access_modes(status.get("accessModes"))
        capacity = str((status.get("capacity") or {}).get("storage", ""))
    return [
        _volume_phase(claim),
        spec.get("volumeName", ""),
        capacity,
        modes,
        _storage_class(claim),
        spec.get("volumeAttributesClassName") or "<unset>",
        age,
        spec.get("volumeMode") or "<unset>",
    ]


def _role_ref(binding: Obj, age: str) -> list[Any]:
    ref = binding.get("roleRef") or {}
    return [f"{ref.get('kind', '')}/{ref.get('name', '')}", age]


_Cells = Callable[[Obj, str], list[Any]]
# Per kind, as Kubernetes' printers lay them out: the columns after NAME and their cells.
# Columns with priority 1 show with -o wide only.
_COLUMNS: dict[str, tuple[list[Obj], _Cells]] = {
    "namespaces": (
        [_column("Status"), AGE],
        lambda o, age: [(o.get("status") or {}).get("phase", ""), age],
    ),
    "configmaps": (
        [_column("Data", "integer"), AGE],
        lambda o, age: [len(o.get("data") or {}) + len(o.get("binaryData") or {}), age],
    ),
    "secrets": (
        [_column("Type"), _column("Data", "integer"), AGE],
        lambda o, age: [o.get("type", ""), len(o.get("data") or {}), age],
    ),
    "serviceaccounts": (
        [_column("Secrets", "integer"), AGE],
        lambda o, age: [len(o.get("secrets") or []), age],
    ),
    "pods": (
        [
            _column("Ready"),
            _column("Status"),
            _column("Restarts", "integer"),
            AGE,
            _column("IP", priority=1),
            _column("Node", priority=1),
        ],
        _pod_cells,
    ),
    "nodes": ([_column("Status"), _column("Roles"), AGE, _column("Version")], _node_cells),
    DEPLOYMENTS: (
        [
            _column("Ready"),
            _column("Up-to-date"),
            _column("Available"),
            AGE,
            _column("Containers", priority=1),
            _column("Images", priority=1),
            _column("Selector", priority=1),
        ],
        _deployment_cells,
    ),
    DAEMONSETS: (
        [
            _column("Desired", "integer"),
            _column("Current", "integer"),
            _column("Ready", "integer"),
            _column("Up-to-date", "integer"),
            _column("Available", "integer"),
            _column("Node Selector"),
            AGE,
            _column("Containers", priority=1),
            _column("Images", priority=1),
            _column("Selector", priority=1),
        ],
        _daemonset_cells,
    ),
    PERSISTENT_VOLUMES: (
        [
            _column("Capacity"),
            _column("Access Modes"),
            _column("Reclaim Policy"),
            _column("Status"),
            _column("Claim"),
            _column("StorageClass"),
            _column("VolumeAttributesClass"),
            _column("Reason"),
            AGE,
            _column("VolumeMode", priority=1),
        ],
        _persistent_volume_cells,
    ),
    PERSISTENT_VOLUME_CLAIMS: (
        [
            _column("Status"),
            _column("Volume"),
            _column("Capacity"),
            _column("Access Modes"),
            _column("StorageClass"),
            _column("VolumeAttributesClass"),
            AGE,
            _column("VolumeMode", priority=1),
        ],
        _persistent_volume_claim_cells,
    ),
    "poddisruptionbudgets.policy": (
        [
            _column("Min Available"),
            _column("Max Unavailable"),
            _column("Allowed Disruptions", "integer"),
            AGE,
        ],
        _pdb_cells,
    ),
    f"roles.{RBAC}": (
        [_column("Created At", "date")],
        lambda o, _age: [o["metadata"].get("creationTimestamp", "")],
    ),
    f"clusterroles.{RBAC}": (
        [_column("Created At", "date")],
        lambda o, _age: [o["metadata"].get("creationTimestamp", "")],
    ),
    f"rolebindings.{RBAC}": ([_column("Role"), AGE], _role_ref),
    f"clusterrolebindings.{RBAC}": ([_column("Role"), AGE], _role_ref),
}


def _partial_metadata(obj: Obj) -> Obj:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def table(
    resource: ResourceType, items: list[Obj], resource_version: str, now: datetime, include: str
) -> Obj:
    """A meta.k8s.io/v1 Table of ``items``, the form ``kubectl get`` prints. ``include`` is
    the includeObject parameter: None, Metadata (the default) or Object."""
    columns, cells = _COLUMNS.get(resource.key, ([AGE], lambda _o, age: [age]))
    rows = []
    for obj in items:
        row: Obj = {"cells": [obj["metadata"]["name"], *cells(obj, _age(obj, now))]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = _partial_metadata(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [_column("Name", fmt="name"), *columns],
        "rows": rows,
    }


# --- protobuf request bodies -------------------------------------------------------------
#
# kubectl 1.32's typed clients (create namespace/serviceaccount/configmap/secret/role/
# deployment..., drain's evictions, auth can-i) send protobuf and do not fall back to JSON on
# 415, so the server decodes the kinds they send. Field numbers are those of Kubernetes'
# generated.proto files. Responses stay JSON: every client accepts it.

PROTOBUF_MAGIC = b"k8s\x00"

# message -> field number -> (JSON name, type, repeated). Types: "string", "bytes", "int",
# "bool", "time", "intstr", "map" (string -> string), "bytemap" (string -> base64), or a message.
# A type ending in "?" is a Go pointer: a zero value was set on purpose (replicas: 0) and is kept,
# as JSON keeps it.
_Field = tuple[str, str, bool]
_SCHEMAS: dict[str, dict[int, _Field]] = {
    "TypeMeta": {1: ("apiVersion", "string", False), 2: ("kind", "string", False)},
    "Unknown": {1: ("typeMeta", "TypeMeta", False), 2: ("raw", "raw", False)},
    "ObjectMeta": {
        1: ("name", "string", False),
        2: ("generateName", "string", False),
        3: ("namespace", "string", False),
        5: ("uid", "string", False),
        6: ("resourceVersion", "string", False),
        7: ("generation", "int", False),
        8: ("creationTimestamp", "time", False),
        9: ("deletionTimestamp", "time", False),
        10: ("deletionGracePeriodSeconds", "int", False),
        11: ("labels", "map", False),
        12: ("annotations", "map", False),
        13: ("ownerReferences", "OwnerReference", True),
        14: ("finalizers", "string", True),
    },
    "OwnerReference": {
        1: ("kind", "string", False),
        3: ("name", "string", False),
        4: ("uid", "string", False),
        5: ("apiVersion", "string", False),
        6: ("controller", "bool", False),
        7: ("blockOwnerDeletion", "bool", False),
    },
    "ObjectReference": {
        1: ("kind", "string", False),
        2: ("namespace", "string", False),
        3: ("name", "string", False),
        4: ("uid", "string", False),
        5: ("apiVersion", "string", False),
        6: ("resourceVersion", "string", False),
        7: ("fieldPath", "string", False),
    },
    "LocalObjectReference": {1: ("name", "string", False)},
    "LabelSelector": {
        1: ("matchLabels", "map", False),
        2: ("matchExpressions", "LabelSelectorRequirement", True),
    },
    "LabelSelectorRequirement": {
        1: ("key", "string", False),
        2: ("operator", "string", False),
        3: ("values", "string", True),
    },
    "Namespace": {
        1: ("metadata", "ObjectMeta", False),
        2: ("spec", "NamespaceSpec", False),
    },
    "NamespaceSpec": {1: ("finalizers", "string", True)},
    "ServiceAccount": {
        1: ("metadata", "ObjectMeta", False),
        2: ("secrets", "ObjectReference", True),
        3: ("imagePullSecrets", "LocalObjectReference", True),
        4: ("automountServiceAccountToken", "bool", False),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta", False),
        2: ("data", "map", False),
        3: ("binaryData", "bytemap", False),
        4: ("immutable", "bool", False),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta", False),
        2: ("data", "bytemap", False),
        3: ("type", "string", False),
        4: ("stringData", "map", False),
        5: ("immutable", "bool", False),
    },
    "PolicyRule": {
        1: ("verbs", "string", True),
        2: ("apiGroups", "string", True),
        3: ("resources", "string", True),
        4: ("resourceNames", "string", True),
        5: ("nonResourceURLs", "string", True),
    },
    "Role": {1: ("metadata", "ObjectMeta", False), 2: ("rules", "PolicyRule", True)},
    "ClusterRole": {
        1: ("metadata", "ObjectMeta", False),
        2: ("rules", "PolicyRule", True),
        3: ("aggregationRule", "AggregationRule", False),
    },
    "AggregationRule": {1: ("clusterRoleSelectors", "LabelSelector", True)},
    "Subject": {
        1: ("kind", "string", False),
        2: ("apiGroup", "string", False),
        3: ("name", "string", False),
        4: ("namespace", "string", False),
    },
    "RoleRef": {
        1: ("apiGroup", "string", False),
        2: ("kind", "string", False),
        3: ("name", "string", False),
    },
    "RoleBinding": {
        1: ("metadata", "ObjectMeta", False),
        2: ("subjects", "Subject", True),
        3: ("roleRef", "RoleRef", False),
    },
    "Deployment": {
        1: ("metadata", "ObjectMeta", False),
        2: ("spec", "DeploymentSpec", False),
    },
    "DeploymentSpec": {
        1: ("replicas", "int?", False),
        2: ("selector", "LabelSelector", False),
        3: ("template", "PodTemplateSpec", False),
        4: ("strategy", "DeploymentStrategy", False),
        5: ("minReadySeconds", "int", False),
        6: ("revisionHistoryLimit", "int?", False),
        7: ("paused", "bool", False),
        9: ("progressDeadlineSeconds", "int?", False),
    },
    "DeploymentStrategy": {
        1: ("type", "string", False),
        2: ("rollingUpdate", "RollingUpdateDeployment", False),
    },
    "RollingUpdateDeployment": {
        1: ("maxUnavailable", "intstr", False),
        2: ("maxSurge", "intstr", False),
    },
    "PodTemplateSpec": {
        1: ("metadata", "ObjectMeta", False),
        2: ("spec", "PodSpec", False),
    },
    # what kubectl create deployment sets (--image, --port, -- command)
    "PodSpec": {2: ("containers", "Container", True)},
    "Container": {
        1: ("name", "string", False),
        2: ("image", "string", False),
        3: ("command", "string", True),
        4: ("args", "string", True),
        5: ("workingDir", "string", False),
        6: ("ports", "ContainerPort", True),
        14: ("imagePullPolicy", "string", False),
    },
    "ContainerPort": {
        1: ("name", "string", False),
        2: ("hostPort", "int", False),
        3: ("containerPort", "int", False),
        4: ("protocol", "string", False),
        5: ("hostIP", "string", False),
    },
    "PodDisruptionBudget": {
        1: ("metadata", "ObjectMeta", False),
        2: ("spec", "PodDisruptionBudgetSpec", False),
    },
    "PodDisruptionBudgetSpec": {
        1: ("minAvailable", "intstr", False),
        2: ("selector", "LabelSelector", False),
        3: ("maxUnavailable", "intstr", False),
        4: ("unhealthyPodEvictionPolicy", "string", False),
    },
    "Preconditions": {1: ("uid", "string", False), 2: ("resourceVersion", "string", False)},
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int", False),
        2: ("preconditions", "Preconditions", False),
        3: ("orphanDependents", "bool", False),
        4: ("propagationPolicy", "string", False),
        5: ("dryRun", "string", True),
    },
    "Eviction": {
        1: ("metadata", "ObjectMeta", False),
        2: ("deleteOptions", "DeleteOptions", False),
    },
    "ResourceAttributes": {
        1: ("namespace", "string", False),
        2: ("verb", "string", False),
        3: ("group", "string", False),
        4: ("version", "string", False),
        5: ("resource", "string", False),
        6: ("subresource", "string", False),
        7: ("name", "string", False),
    },
    "NonResourceAttributes": {1: ("path", "string", False), 2: ("verb", "string", False)},
    "SelfSubjectAccessReviewSpec": {
        1: ("resourceAttributes", "ResourceAttributes", False),
        2: ("nonResourceAttributes", "NonResourceAttributes", False),
    },
    "SelfSubjectAccessReview": {
        1: ("metadata", "ObjectMeta", False),
        2: ("spec", "SelfSubjectAccessReviewSpec", False),
    },
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta", False)},
    "BoundObjectReference": {
        1: ("kind", "string", False),
        2: ("apiVersion", "string", False),
        3: ("name", "string", False),
        4: ("uid", "string", False),
    },
    "TokenRequestSpec": {
        1: ("audiences", "string", True),
        3: ("boundObjectRef", "BoundObjectReference", False),
        4: ("expirationSeconds", "int", False),
    },
    "TokenRequest": {
        1: ("metadata", "ObjectMeta", False),
        2: ("spec", "TokenRequestSpec", False),
    },
}
_SCHEMAS["ClusterRoleBinding"] = _SCHEMAS["RoleBinding"]
_SCHEMAS["IntOrString"] = {
    1: ("type", "int", False),
    2: ("intVal", "int", False),
    3: ("strVal", "string", False),
}
_SCHEMAS["MapEntry"] = {1: ("key", "string", False), 2: ("value", "string", False)}
_SCHEMAS["ByteMapEntry"] = {1: ("key", "string", False), 2: ("value", "bytes", False)}
_SCHEMAS["Timestamp"] = {1: ("seconds", "int", False), 2: ("nanos", "int", False)}


def _varint(data: bytes, i: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if i >= len(data):
            raise bad_request("truncated protobuf body")
        byte = data[i]
        result |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not byte & 0x80:
            return result, i


def _wire_fields(data: bytes) -> list[tuple[int, int | bytes]]:
    fields: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        wire = key & 7
        value: int | bytes
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            length, i = _varint(data, i)
            value, i = data[i : i + length], i + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = data[i : i + size], i + size
        else:
            raise bad_request(f"unsupported protobuf wire type {wire}")
        fields.append((key >> 3, value))
    return fields


def _scalar(kind: str, value: int | bytes) -> Any:
    if kind == "int":
        number = int(value) if isinstance(value, int) else 0
        return number - (1 << 64) if number >= 1 << 63 else number  # int64 two's complement
    if kind == "bool":
        return bool(value)
    if isinstance(value, int):
        raise bad_request(f"protobuf field of type {kind} is not length-delimited")
    if kind == "string":
        return value.decode("utf-8")
    if kind in ("bytes", "raw"):
        return value if kind == "raw" else base64.b64encode(value).decode("ascii")
    if kind == "time":
        stamp = _message(value, "Timestamp")
        seconds = stamp.get("seconds")
        if seconds is None:
            return None
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "intstr":
        parts = _message(value, "IntOrString", keep_defaults=True)
        return parts.get("strVal", "") if parts.get("type") == 1 else parts.get("intVal", 0)
    if kind in ("map", "bytemap"):
        entry = _message(value, "MapEntry" if kind == "map" else "ByteMapEntry", keep_defaults=True)
        return {entry.get("key", ""): entry.get("value", "")}
    return _message(value, kind)


def _message(data: bytes, schema: str, *, keep_defaults: bool = False) -> Obj:
    fields = _SCHEMAS[schema]
    out: Obj = {}
    for number, value in _wire_fields(data):
        if number not in fields:
            continue  # a field this server does not use
        name, kind, repeated = fields[number]
        pointer = kind.endswith("?")
        decoded = _scalar(kind.removesuffix("?"), value)
        if kind in ("map", "bytemap"):
            out.setdefault(name, {}).update(decoded)
        elif repeated:
            out.setdefault(name, []).append(decoded)
        elif decoded is not None and (keep_defaults or pointer or decoded not in ("", 0, False)):
            # Proto writes empty singular fields that JSON omits: drop them alike.
            out[name] = decoded
    return out


def decode_protobuf(body: bytes) -> Obj:
    """A Kubernetes protobuf body (``k8s\\0`` + runtime.Unknown) as the JSON object it stands
    for. 415 for kinds the server cannot read."""
    if not body.startswith(PROTOBUF_MAGIC):
        raise bad_request("protobuf body without the k8s envelope")
    envelope = _message(body[len(PROTOBUF_MAGIC) :], "Unknown")
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in _SCHEMAS or kind in ("Unknown", "TypeMeta"):
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the server cannot read {kind or 'this kind'} as protobuf; send application/json",
        )
    obj = _message(envelope.get("raw") or b"", kind)
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}
