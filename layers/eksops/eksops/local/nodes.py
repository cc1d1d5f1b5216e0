"""Nodes of the offline EKS clusters: EC2 instances that register with their cluster's Kubernetes
API as a kubelet and the cloud controller manager would make them.

AWS behaviour reproduced:
- A running instance of a managed node group (tags `eks:cluster-name`, `eks:nodegroup-name`) or
  of a self-managed group (tag `kubernetes.io/cluster/<cluster>` = owned|shared, its role from
  the instance profile of the instance, its launch template or launch configuration) joins when
  its role authenticates as a node: the kubelet's identity is
  `arn:aws:sts::<account>:assumed-role/<role>/<instance-id>`, and EKS must map it (access
  entry of type EC2_LINUX, or aws-auth mapRoles) to `system:node:<private DNS name>` in the
  group `system:nodes`, as the Node authorizer requires. An unmapped role never joins: no Node
  appears (and a managed node group gets NodeCreationFailure, through the node join check).
- The Node is named after the instance's private DNS name, with `spec.providerID`
  `aws:///<az>/<instance-id>`, the labels the kubelet, the cloud provider and EKS set
  (`kubernetes.io/hostname`, `kubernetes.io/os`, `node.kubernetes.io/instance-type`,
  `topology.kubernetes.io/region|zone`, `eks.amazonaws.com/nodegroup`, ...), the node group's
  labels and taints, capacity and allocatable as the EKS AMI computes them (max pods from the
  VPC CNI's ENI limits). It registers NotReady (taint `node.kubernetes.io/not-ready`) and is
  Ready after the delay (the CNI coming up).
- When a managed node group is created in a CONFIG_MAP cluster, EKS adds its node role to the
  aws-auth ConfigMap (creating it if needed); in API modes EKS made an EC2_LINUX access entry
  (`eks.access.ensure_node_entry`). Removing that mapping later makes the node's kubelet fail
  to authenticate: the Node goes Unknown ("Kubelet stopped posting node status.").
- A stopped instance's Node goes Unknown with the cloud provider's shutdown taint; a
  terminated (or vanished) instance's Node is deleted, and the pods bound to it with it (the
  pod garbage collector).
- A cordoned Node (`spec.unschedulable`) gets the `node.kubernetes.io/unschedulable` taint.

`NodeReconciler` runs this in a daemon thread every ``interval`` seconds; `reconcile_once()`
does one pass (tests). Nothing is written when nothing changed: no heartbeats.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

from eksops.local import autoscaling_lifecycle, eks
from eksops.local.kube import authn, eviction
from eksops.local.kube.store import ApiError, Obj, ObjectStore

LOG = logging.getLogger(__name__)

NODES = "nodes"
NODE_GROUP = "system:nodes"
NODE_GROUPS = ("system:bootstrappers", "system:nodes")
NODE_USERNAME = "system:node:{{EC2PrivateDNSName}}"
CLUSTER_TAG = "kubernetes.io/cluster/{}"
CLUSTER_TAG_VALUES = ("owned", "shared")
MANAGED_CLUSTER_TAG = "eks:cluster-name"
MANAGED_NODEGROUP_TAG = "eks:nodegroup-name"
LAUNCH_TEMPLATE_TAG = "aws:ec2launchtemplate:id"
LAUNCH_TEMPLATE_VERSION_TAG = "aws:ec2launchtemplate:version"
LIVE = ("pending", "running")
STOPPED = ("stopping", "stopped")
PROVIDER_PREFIX = "aws:///"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
SHUTDOWN_TAINT = "node.cloudprovider.kubernetes.io/shutdown"
_CONTROLLER_TAINTS = (NOT_READY_TAINT, UNREACHABLE_TAINT, UNSCHEDULABLE_TAINT, SHUTDOWN_TAINT)
_TAINT_EFFECTS = {
    "NO_SCHEDULE": "NoSchedule",
    "NO_EXECUTE": "NoExecute",
    "PREFER_NO_SCHEDULE": "PreferNoSchedule",
}
_AWS_AUTH_WRITTEN = "_eksops_aws_auth_written"  # on moto's Nodegroup: EKS mapped its role
_DECISIONS_KEPT = 4096
DEFAULT_INTERVAL = 0.25


def private_dns_name(private_ip: str, region: str) -> str:
    """EC2's private DNS name (IP-based hostnames): `ip-10-0-1-4.ec2.internal` in us-east-1,
    `ip-10-0-1-4.<region>.compute.internal` elsewhere."""
    host = "ip-" + private_ip.replace(".", "-")
    return f"{host}.ec2.internal" if region == "us-east-1" else f"{host}.{region}.compute.internal"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- what the reconciler reads from moto ---------------------------------------------------


@dataclass(frozen=True)
class Machine:
    """An instance that belongs to a cluster, as its kubelet would present itself."""

    instance_id: str
    state: str
    private_dns: str
    private_ip: str
    public_ip: str | None
    zone: str
    instance_type: str
    architecture: str
    role_arn: str | None  # None: no instance profile (or role), no AWS credentials
    role_id: str
    kubelet_version: str
    nodegroup: str | None = None  # managed node group name
    labels: tuple[tuple[str, str], ...] = ()  # the node group's Kubernetes labels
    taints: tuple[tuple[str, str, str], ...] = ()  # (key, value, effect)
    extra_labels: tuple[tuple[str, str], ...] = ()  # EKS's labels of managed nodes
    disk_gib: int = 20
    os_image: str = "Amazon Linux 2023.7.20250609"
    kernel: str = "6.1.140-154.222.amzn2023.x86_64"


@dataclass(frozen=True)
class ClusterView:
    account_id: str
    region: str
    name: str
    access: authn.ClusterAccess  # without aws_auth: that is read from the store
    machines: tuple[Machine, ...]
    live_ids: frozenset[str]  # instances of the account and region that exist, not terminated
    stopped_ids: frozenset[str]
    managed_roles: tuple[tuple[Any, str], ...] = ()  # (moto Nodegroup, node role) to map


def _ec2(account_id: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def _iam_role(account_id: str, partition: str, arn: str = "", name: str = "") -> Any:
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id][partition]
    try:
        return backend.get_role_by_arn(arn) if arn else backend.get_role(name)
    except Exception:  # moto's not-found types
        return None


def _instance_profile_role(account_id: str, partition: str, profile: Mapping[str, Any]) -> Any:
    """The first role of an instance profile named by Arn or Name (EC2 passes that role's
    credentials to the instance)."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id][partition]
    try:
        if profile.get("Arn"):
            found = backend.get_instance_profile_by_arn(profile["Arn"])
        elif profile.get("Name"):
            found = backend.get_instance_profile(profile["Name"])
        else:
            return None
    except Exception:
        return None
    return found.roles[0] if found.roles else None


def _profile_of(ec2: Any, instance: Any, tags: Mapping[str, str]) -> Mapping[str, Any] | None:
    """The instance profile an instance runs with: its association (RunInstances,
    AssociateIamInstanceProfile), else its launch template's, else its launch configuration's.
    moto launches Auto Scaling instances without applying either; the profile found is then
    associated, so DescribeInstances shows it as EC2 does from launch."""
    association = ec2.iam_instance_profile_associations.get(instance.id)
    if association is not None:
        return {"Arn": association.iam_instance_profile.arn}
    if instance.iam_instance_profile:
        return instance.iam_instance_profile
    profile = _launch_profile(ec2, instance, tags)
    if profile is not None:
        try:
            ec2.associate_iam_instance_profile(
                instance.id,
                iam_instance_profile_name=profile.get("Name"),
                iam_instance_profile_arn=profile.get("Arn"),
            )
        except Exception as exc:  # a profile that does not exist: EC2 would not have launched
            LOG.debug("instance profile %s of %s not associated: %s", profile, instance.id, exc)
    return profile


def _launch_profile(ec2: Any, instance: Any, tags: Mapping[str, str]) -> Mapping[str, Any] | None:
    template_id = tags.get(LAUNCH_TEMPLATE_TAG)
    if template_id:
        try:
            template = ec2.get_launch_template(template_id)
            version = template.get_version(int(tags.get(LAUNCH_TEMPLATE_VERSION_TAG) or 0))
        except Exception:
            version = None
        if version is not None and version.data.get("IamInstanceProfile"):
            return version.data["IamInstanceProfile"]
    group = getattr(instance, "autoscaling_group", None)
    config = getattr(group, "launch_config", None)
    name = getattr(config, "iam_instance_profile", None)
    if name:
        return {"Arn": name} if str(name).startswith("arn:") else {"Name": name}
    return None


def _kubelet_version(release: str) -> str:
    """`v1.31.0-eks-1a2b3c4` for a release `1.31` or `1.31.0-20250610`."""
    numbers = release.split("-")[0].split(".")
    version = ".".join([*numbers, "0"][:3])
    suffix = hashlib.sha1(release.encode(), usedforsecurity=False).hexdigest()[:7]
    return f"v{version}-eks-{suffix}"


def _os_image(ami_type: str) -> tuple[str, str]:
    arch = "aarch64" if "ARM" in ami_type else "x86_64"
    if ami_type.startswith("AL2_"):
        return "Amazon Linux 2", f"5.10.238-231.953.amzn2.{arch}"
    if ami_type.startswith("BOTTLEROCKET"):
        return "Bottlerocket OS 1.39.1 (aws-k8s)", f"6.1.141.{arch}"
    return "Amazon Linux 2023.7.20250609", f"6.1.140-154.222.amzn2023.{arch}"


def _instances(ec2: Any) -> list[Any]:
    for _ in range(5):  # moto's dicts may change under us (requests on other threads)
        try:
            return [i for r in list(ec2.reservations.values()) for i in list(r.instances)]
        except RuntimeError:
            continue
    return []


def _view(account_id: str, region: str, cluster: Any) -> ClusterView:
    """Read what one cluster's nodes depend on. Holds the EKS lock (the join check runs with
    it held already)."""
    from eksops.local.eks._state import LOCK, access_config, extras
    from eksops.local.eks.access import entries_of

    partition = cluster.arn.split(":")[1]
    with LOCK:
        mode = access_config(cluster)["authenticationMode"]
        access = authn.ClusterAccess(
            authentication_mode=mode,
            creator_arn=extras(cluster).creator_arn or None,
            access_entries=entries_of(cluster),
        )
        nodegroups = dict(cluster.nodegroups)
        ec2 = _ec2(account_id, region)
        machines, live, stopped = [], set(), set()
        for instance in _instances(ec2):
            state = instance.state
            if state in LIVE:
                live.add(instance.id)
            elif state in STOPPED:
                stopped.add(instance.id)
            else:
                continue
            tags = dict(ec2.tags.get(instance.id) or {})
            machine = _machine(account_id, region, partition, cluster, nodegroups, instance, tags)
            if machine is not None:
                machines.append(machine)
        managed_roles = tuple(
            (nodegroup, nodegroup.node_role)
            for nodegroup in nodegroups.values()
            if mode == "CONFIG_MAP"
            and nodegroup.node_role
            and not getattr(nodegroup, _AWS_AUTH_WRITTEN, False)
        )
    return ClusterView(
        account_id=account_id,
        region=region,
        name=cluster.name,
        access=access,
        machines=tuple(machines),
        live_ids=frozenset(live),
        stopped_ids=frozenset(stopped),
        managed_roles=managed_roles,
    )


def _machine(
    account_id: str,
    region: str,
    partition: str,
    cluster: Any,
    nodegroups: Mapping[str, Any],
    instance: Any,
    tags: Mapping[str, str],
) -> Machine | None:
    ec2 = instance.ec2_backend
    nodegroup = None
    if tags.get(MANAGED_CLUSTER_TAG) == cluster.name and tags.get(MANAGED_NODEGROUP_TAG):
        nodegroup = nodegroups.get(tags[MANAGED_NODEGROUP_TAG])
        if nodegroup is None:  # being removed
            return None
        role = _iam_role(account_id, partition, arn=nodegroup.node_role or "")
        role_arn = nodegroup.node_role or None
    elif tags.get(CLUSTER_TAG.format(cluster.name)) in CLUSTER_TAG_VALUES:
        profile = _profile_of(ec2, instance, tags)
        role = _instance_profile_role(account_id, partition, profile) if profile else None
        role_arn = role.arn if role is not None else None
    else:
        return None
    private_ip = instance.private_ip or ""
    if not private_ip:
        return None
    if nodegroup is not None:
        ami_type = nodegroup.ami_type or ""
        os_image, kernel = _os_image(ami_type)
        release = nodegroup.release_version or str(nodegroup.version)
        extra = {
            "eks.amazonaws.com/nodegroup": nodegroup.nodegroup_name,
            "eks.amazonaws.com/nodegroup-image": instance.image_id,
            "eks.amazonaws.com/capacityType": nodegroup.capacity_type or "ON_DEMAND",
        }
        if tags.get(LAUNCH_TEMPLATE_TAG):
            extra["eks.amazonaws.com/sourceLaunchTemplateId"] = tags[LAUNCH_TEMPLATE_TAG]
            extra["eks.amazonaws.com/sourceLaunchTemplateVersion"] = tags.get(
                LAUNCH_TEMPLATE_VERSION_TAG, "1"
            )
        taints = tuple(
            (str(t.get("key", "")), str(t.get("value") or ""), _TAINT_EFFECTS.get(t["effect"], ""))
            for t in nodegroup.taints or ()
            if t.get("effect") in _TAINT_EFFECTS
        )
        labels = tuple(sorted((nodegroup.labels or {}).items()))
        disk = int(nodegroup.disk_size or 20)
    else:
        os_image, kernel = _os_image("AL2023")
        release = str(cluster.version)
        extra, taints, labels, disk = {}, (), (), 20
    arch = "arm64" if instance.architecture == "arm64" else "amd64"
    if arch == "arm64":
        kernel = kernel.replace("x86_64", "aarch64")
    return Machine(
        instance_id=instance.id,
        state=instance.state,
        private_dns=private_dns_name(private_ip, region),
        private_ip=private_ip,
        public_ip=instance.public_ip,
        zone=instance.availability_zone or "",
        instance_type=instance.instance_type,
        architecture=arch,
        role_arn=role_arn if role is not None else None,
        role_id=getattr(role, "id", "") or "",
        kubelet_version=_kubelet_version(release),
        nodegroup=nodegroup.nodegroup_name if nodegroup is not None else None,
        labels=labels,
        taints=taints,
        extra_labels=tuple(extra.items()),
        disk_gib=disk,
        os_image=os_image,
        kernel=kernel,
    )


# --- authentication as a node --------------------------------------------------------------


def node_identity(account_id: str, role_arn: str, role_id: str, instance_id: str) -> Any:
    """The STS identity an instance's kubelet presents: the role's session named after the
    instance (what EC2's instance profile credentials are)."""
    partition = role_arn.split(":")[1]
    role_name = role_arn.rsplit("/", 1)[-1]
    arn = f"arn:{partition}:sts::{account_id}:assumed-role/{role_name}/{instance_id}"
    return authn.CallerIdentity(
        arn=arn,
        canonical_arn=authn.canonicalize_arn(arn),
        account_id=account_id,
        user_id=role_id,
        session_name=instance_id,
    )


def may_register(
    access: authn.ClusterAccess, account_id: str, machine: Machine
) -> tuple[bool, str]:
    """Whether the instance's kubelet may register its Node, and why not."""
    if machine.role_arn is None:
        return False, "the instance has no IAM role (instance profile) to authenticate with"
    identity = node_identity(account_id, machine.role_arn, machine.role_id, machine.instance_id)
    user = authn.map_identity(
        identity,
        authentication_mode=access.authentication_mode,
        creator_arn=access.creator_arn,
        access_entries=access.access_entries,
        aws_auth=access.aws_auth,
        instance_private_dns=lambda i: machine.private_dns if i == machine.instance_id else None,
    )
    if user is None:
        return False, f"{identity.canonical_arn} is not mapped to a Kubernetes user (Unauthorized)"
    expected = f"system:node:{machine.private_dns}"
    if NODE_GROUP not in user.groups or user.username != expected:
        return False, (
            f"{identity.canonical_arn} maps to {user.username} {list(user.groups)}, not "
            f"{expected} in {NODE_GROUP} (the Node authorizer refuses the registration)"
        )
    return True, ""


def ensure_node_role_in_aws_auth(store: ObjectStore, role_arn: str) -> bool:
    """What EKS does for a managed node group's role in a CONFIG_MAP cluster: add it to
    aws-auth mapRoles (the ConfigMap is created if missing). The role's path is left out: the
    authenticator matches path-less role ARNs. False when mapRoles cannot be read."""
    import yaml

    head, sep, resource = role_arn.partition(":role/")
    arn = f"{head}:role/{resource.rsplit('/', 1)[-1]}" if sep else role_arn
    entry = {"groups": list(NODE_GROUPS), "rolearn": arn, "username": NODE_USERNAME}
    entry_text = yaml.safe_dump([entry], default_flow_style=False, sort_keys=True)

    def merged(current: Obj) -> Obj | None:
        data = dict(current.get("data") or {})
        text = data.get("mapRoles") or ""
        try:
            roles = yaml.safe_load(text) if text.strip() else []
        except yaml.YAMLError:
            return None
        if roles is None:
            roles = []
        if not isinstance(roles, list):
            return None
        for item in roles:
            if isinstance(item, dict) and str(item.get("rolearn", "")).lower() == arn.lower():
                return current
        if text.strip() and text.lstrip().startswith("-"):
            data["mapRoles"] = text if text.endswith("\n") else text + "\n"
            data["mapRoles"] += entry_text
        else:
            data["mapRoles"] = yaml.safe_dump(
                [*roles, entry], default_flow_style=False, sort_keys=True
            )
        return {**current, "data": data}

    with store.locked():
        current = store.find("configmaps", "kube-system", "aws-auth")
        if current is None:
            store.create(
                "configmaps",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "aws-auth", "namespace": "kube-system"},
                    "data": {"mapRoles": entry_text},
                },
            )
            return True
        changed = merged(current)
        if changed is None:
            LOG.warning("aws-auth mapRoles is not a YAML list: node role %s not added", arn)
            return False
        if changed is not current:
            store.update("configmaps", changed)
        return True


# --- Node objects ----------------------------------------------------------------------------


def _max_pods(info: Mapping[str, Any]) -> int:
    """The EKS AMI's max pods for the VPC CNI: ENIs * (IPv4 addresses per ENI - 1) + 2."""
    network = info.get("NetworkInfo") or {}
    enis = int(network.get("MaximumNetworkInterfaces") or 3)
    addresses = int(network.get("Ipv4AddressesPerInterface") or 10)
    return enis * (addresses - 1) + 2


def _reserved_cpu_millis(cores: int) -> int:
    """kube-reserved CPU of the EKS AMI: 6% of the first core, 1% of the second, 0.5% of the
    next two, 0.25% of the rest."""
    reserved = 0.0
    for core in range(cores):
        reserved += 60 if core == 0 else 10 if core == 1 else 5 if core < 4 else 2.5
    return math.ceil(reserved)


def capacity(instance_type: str, disk_gib: int) -> tuple[dict[str, str], dict[str, str]]:
    """(capacity, allocatable) of a node of ``instance_type``, as the EKS AMI's kubelet
    reports them."""
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    info = INSTANCE_TYPES.get(instance_type) or {}
    cores = int((info.get("VCpuInfo") or {}).get("DefaultVCpus") or 2)
    memory_mib = int((info.get("MemoryInfo") or {}).get("SizeInMiB") or 4096)
    pods = _max_pods(info)
    disk_kib = disk_gib * 1024 * 1024 - 12 * 1024 * 1024 // 10  # the filesystem's overhead
    total = {
        "cpu": str(cores),
        "ephemeral-storage": f"{disk_kib}Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{memory_mib * 1024 - 256 * 1024}Ki",  # what the kernel reports
        "pods": str(pods),
    }
    reserved_mib = 11 * pods + 255 + 100  # kube-reserved, and the 100Mi eviction threshold
    allocatable = {
        **total,
        "cpu": f"{cores * 1000 - _reserved_cpu_millis(cores)}m",
        "ephemeral-storage": str(int(disk_kib * 1024 * 0.9)),
        "memory": f"{(memory_mib - 256 - reserved_mib) * 1024}Ki",
    }
    return total, allocatable


def _conditions(ready: str, now: str, previous: list[Obj] | None = None) -> list[Obj]:
    """The kubelet's conditions; Ready is "False" (registered, CNI not up), "True" or
    "Unknown" (the kubelet stopped posting)."""
    before = {c.get("type"): c for c in previous or ()}
    if ready == "Unknown":
        specs = [
            (kind, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
            for kind in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")
        ]
    else:
        specs = [
            (
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            (
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            (
                "Ready",
                ready,
                "KubeletReady" if ready == "True" else "KubeletNotReady",
                "kubelet is posting ready status"
                if ready == "True"
                else "container runtime network not ready: NetworkReady=false "
                "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin "
                "not initialized",
            ),
        ]
    conditions = []
    for kind, status, reason, message in specs:
        old = before.get(kind) or {}
        same = old.get("status") == status
        conditions.append(
            {
                "type": kind,
                "status": status,
                "lastHeartbeatTime": old.get("lastHeartbeatTime", now) if same else now,
                "lastTransitionTime": old.get("lastTransitionTime", now) if same else now,
                "reason": reason,
                "message": message,
            }
        )
    return conditions


def node_object(view: ClusterView, machine: Machine) -> Obj:
    """The Node a kubelet registers (NotReady), as the cloud provider initializes it."""
    total, allocatable = capacity(machine.instance_type, machine.disk_gib)
    now = _now()
    labels = {
        "beta.kubernetes.io/arch": machine.architecture,
        "beta.kubernetes.io/instance-type": machine.instance_type,
        "beta.kubernetes.io/os": "linux",
        "failure-domain.beta.kubernetes.io/region": view.region,
        "failure-domain.beta.kubernetes.io/zone": machine.zone,
        "kubernetes.io/arch": machine.architecture,
        "kubernetes.io/hostname": machine.private_dns,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": machine.instance_type,
        "topology.kubernetes.io/region": view.region,
        "topology.kubernetes.io/zone": machine.zone,
        **dict(machine.extra_labels),
        **dict(machine.labels),
    }
    taints = [
        {"key": key, **({"value": value} if value else {}), "effect": effect}
        for key, value, effect in machine.taints
    ]
    taints.append({"key": NOT_READY_TAINT, "effect": "NoSchedule", "timeAdded": now})
    addresses = [{"type": "InternalIP", "address": machine.private_ip}]
    if machine.public_ip:
        addresses.append({"type": "ExternalIP", "address": machine.public_ip})
    addresses += [
        {"type": "InternalDNS", "address": machine.private_dns},
        {"type": "Hostname", "address": machine.private_dns},
    ]
    ids = uuid.uuid5(uuid.NAMESPACE_URL, f"ec2:{machine.instance_id}")
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": machine.private_dns,
            "labels": labels,
            "annotations": {
                "alpha.kubernetes.io/provided-node-ip": machine.private_ip,
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {
            "providerID": f"{PROVIDER_PREFIX}{machine.zone}/{machine.instance_id}",
            "taints": taints,
        },
        "status": {
            "addresses": addresses,
            "allocatable": allocatable,
            "capacity": total,
            "conditions": _conditions("False", now),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "images": [],
            "nodeInfo": {
                "architecture": machine.architecture,
                "bootID": str(uuid.uuid5(ids, "boot")),
                "containerRuntimeVersion": "containerd://1.7.27",
                "kernelVersion": machine.kernel,
                "kubeProxyVersion": machine.kubelet_version,
                "kubeletVersion": machine.kubelet_version,
                "machineID": ids.hex,
                "operatingSystem": "linux",
                "osImage": machine.os_image,
                "systemUUID": str(ids),
            },
        },
    }


def _instance_id(node: Obj) -> str | None:
    provider = str((node.get("spec") or {}).get("providerID") or "")
    if not provider.startswith(PROVIDER_PREFIX):
        return None
    instance_id = provider.rsplit("/", 1)[-1]
    return instance_id if instance_id.startswith("i-") else None


def _ready(node: Obj) -> str:
    for condition in (node.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return str(condition.get("status"))
    return "Unknown"


def _with_state(node: Obj, ready: str, shutdown: bool) -> Obj:
    """``node`` with Ready as given and the node lifecycle controller's taints to match."""
    now = _now()
    status = dict(node.get("status") or {})
    previous = status.get("conditions") or []
    if _ready(node) != ready:
        status["conditions"] = _conditions(ready, now, previous)
    spec = dict(node.get("spec") or {})
    taints = [t for t in spec.get("taints") or () if t.get("key") not in _CONTROLLER_TAINTS]
    kept = {t.get("key"): t for t in spec.get("taints") or ()}

    def taint(key: str, effect: str) -> None:
        old = kept.get(key)
        taints.append(
            old
            if old and old.get("effect") == effect
            else {"key": key, "effect": effect, "timeAdded": now}
        )

    if ready == "False":
        taint(NOT_READY_TAINT, "NoSchedule")
    elif ready == "Unknown":
        taint(UNREACHABLE_TAINT, "NoSchedule")
    if shutdown:
        taint(SHUTDOWN_TAINT, "NoSchedule")
    if spec.get("unschedulable"):
        taint(UNSCHEDULABLE_TAINT, "NoSchedule")
    if taints:
        spec["taints"] = taints
    else:
        spec.pop("taints", None)
    return {**node, "spec": spec, "status": status}


def _delete_node(store: ObjectStore, name: str) -> None:
    """The cloud node lifecycle controller deletes the Node of a terminated instance; the pod
    garbage collector then deletes the pods bound to it."""
    try:
        store.delete(NODES, "", name)
    except ApiError:
        return
    pods, _ = store.list("pods", None, field_selector=f"spec.nodeName={name}")
    namespaces = set()
    for pod in pods:
        metadata = pod["metadata"]
        try:
            store.delete("pods", metadata["namespace"], metadata["name"])
            namespaces.add(metadata["namespace"])
        except ApiError:
            continue
    for namespace in namespaces:
        eviction.refresh_budgets(store, namespace)


# --- the reconciler --------------------------------------------------------------------------


class NodeReconciler:
    """Keeps every cluster's Nodes in line with its EC2 instances (see the module doc)."""

    def __init__(
        self,
        apis: Any,
        ready_delay: float = 3.0,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.apis = apis  # cluster_apis.ClusterApis: server(account_id, region, name)
        self.ready_delay = ready_delay
        self.interval = interval
        self._clock = clock
        self._registered: dict[str, float] = {}  # Node uid -> when it registered
        self._decisions: dict[str, tuple[bool, str]] = {}
        self._pass = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        eks.set_node_join_check(self.join_check)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="eksops-nodes", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, 4 * self.interval))
            self._thread = None
        eks.set_node_join_check(None)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.reconcile_once()
            except Exception:  # keep reconciling; a broken pass is retried next interval
                LOG.exception("node reconciliation failed")

    # one pass

    def _clusters(self) -> list[tuple[str, str, Any, ObjectStore]]:
        from moto.eks.models import eks_backends

        found = []
        for account_id, regions in list(eks_backends.items()):
            for region, backend in list(regions.items()):
                for cluster in list(backend.clusters.values()):
                    if cluster.status in ("DELETING", "FAILED"):
                        continue
                    store = self._store(account_id, region, cluster.name)
                    if store is not None:
                        found.append((account_id, region, cluster, store))
        return found

    def _store(self, account_id: str, region: str, name: str) -> ObjectStore | None:
        try:
            return self.apis.server(account_id, region, name).store
        except KeyError:
            return None

    def reconcile_once(self) -> None:
        """Bring every cluster's Nodes up to date with its instances, once."""
        # Auto Scaling's lifecycle timeouts and EKS's completion of its own hooks happen as
        # time passes in AWS, request or not: this pass is the engine's passing time
        autoscaling_lifecycle.advance()
        with self._pass:
            for account_id, region, cluster, store in self._clusters():
                view = _view(account_id, region, cluster)
                self._reconcile(view, store)

    def _may_register(
        self, view: ClusterView, aws_auth: Mapping[str, Any] | None, machine: Machine
    ) -> tuple[bool, str]:
        access = authn.ClusterAccess(
            authentication_mode=view.access.authentication_mode,
            creator_arn=view.access.creator_arn,
            access_entries=view.access.access_entries,
            aws_auth=aws_auth,
        )
        key = json.dumps(
            [
                view.account_id,
                access.authentication_mode,
                access.creator_arn,
                list(access.access_entries),
                aws_auth,
                machine.instance_id,
                machine.role_arn,
                machine.private_dns,
            ],
            sort_keys=True,
            default=str,
        )
        decision = self._decisions.get(key)
        if decision is None:  # map_identity logs each miss: once per situation is enough
            decision = may_register(access, view.account_id, machine)
            if len(self._decisions) >= _DECISIONS_KEPT:
                self._decisions.clear()
            self._decisions[key] = decision
            if not decision[0]:
                LOG.info(
                    "instance %s cannot join cluster %s: %s",
                    machine.instance_id,
                    view.name,
                    decision[1],
                )
        return decision

    def _map_managed_roles(self, view: ClusterView, store: ObjectStore) -> None:
        for nodegroup, role in view.managed_roles:
            if getattr(nodegroup, _AWS_AUTH_WRITTEN, False):
                continue
            ensure_node_role_in_aws_auth(store, role)
            setattr(nodegroup, _AWS_AUTH_WRITTEN, True)

    def _reconcile(self, view: ClusterView, store: ObjectStore) -> None:
        self._map_managed_roles(view, store)
        aws_auth = (store.find("configmaps", "kube-system", "aws-auth") or {}).get("data")
        nodes = {node["metadata"]["name"]: node for node in store.list(NODES)[0]}
        by_instance = {_instance_id(node): node for node in nodes.values() if _instance_id(node)}
        now = self._clock()
        for machine in view.machines:
            node = by_instance.get(machine.instance_id)
            allowed, _ = self._may_register(view, aws_auth, machine)
            if node is None:
                if machine.state != "running" or not allowed:
                    continue
                clash = nodes.get(machine.private_dns)
                if clash is not None:
                    LOG.warning(
                        "node %s already exists for %s: instance %s not registered",
                        machine.private_dns,
                        (clash.get("spec") or {}).get("providerID"),
                        machine.instance_id,
                    )
                    continue
                try:
                    node = store.create(NODES, node_object(view, machine))
                except ApiError:
                    continue
                self._registered[node["metadata"]["uid"]] = now
                LOG.info("node %s (%s) registered", machine.private_dns, machine.instance_id)
            self._update(store, node, self._wanted(node, machine, allowed, now))
        for node in by_instance.values():
            instance_id = _instance_id(node)
            if instance_id in view.live_ids or instance_id in view.stopped_ids:
                continue
            # terminated or gone: is it an instance of this account and region at all? Nodes
            # are named after instances of the cluster's VPC, so yes.
            _delete_node(store, node["metadata"]["name"])
            self._registered.pop(node["metadata"]["uid"], None)
            LOG.info(
                "node %s deleted: instance %s terminated", node["metadata"]["name"], instance_id
            )

    def _wanted(self, node: Obj, machine: Machine, allowed: bool, now: float) -> tuple[str, bool]:
        if machine.state != "running":
            return "Unknown", machine.state in STOPPED
        if not allowed:
            return "Unknown", False  # the kubelet's requests are refused from now on
        uid = node["metadata"]["uid"]
        registered = self._registered.setdefault(uid, now)
        if _ready(node) == "True" or now - registered >= self.ready_delay:
            return "True", False
        return "False", False

    @staticmethod
    def _update(store: ObjectStore, node: Obj, wanted: tuple[str, bool]) -> None:
        ready, shutdown = wanted
        name = node["metadata"]["name"]

        def change(current: Obj) -> Obj:
            return _with_state(current, ready, shutdown)

        current = store.find(NODES, "", name)
        if current is None or change(current) == current:
            return
        try:
            store.modify(NODES, "", name, change)
        except ApiError as exc:  # deleted or changed meanwhile: the next pass sees it
            LOG.debug("node %s not updated: %s", name, exc)

    # the node join check of managed node groups

    def join_check(self, nodes: eks.Nodes) -> list[str]:
        """The instances of a managed node group that cannot join (EKS's NodeCreationFailure).
        Runs under the EKS state lock: reads moto's records, never the EKS API."""
        store = self._store(nodes.account_id, nodes.region, nodes.cluster_name)
        if store is None:  # no API server: nothing to join, nothing to refuse
            return []
        from moto.eks.models import eks_backends

        cluster = eks_backends[nodes.account_id][nodes.region].clusters.get(nodes.cluster_name)
        if cluster is None:
            return []
        view = _view(nodes.account_id, nodes.region, cluster)
        self._map_managed_roles(view, store)
        aws_auth = (store.find("configmaps", "kube-system", "aws-auth") or {}).get("data")
        machines = {machine.instance_id: machine for machine in view.machines}
        failed = []
        for instance_id in nodes.instance_ids:
            machine = machines.get(instance_id)
            if machine is None:  # terminated meanwhile: Auto Scaling replaces it
                continue
            if not self._may_register(view, aws_auth, machine)[0]:
                failed.append(instance_id)
        return failed
