"""Managed node groups with the Auto Scaling group and instances EKS makes for them.

AWS behaviour reproduced (moto records a node group ACTIVE with a made-up ASG name and no
instances; its defaults include SSH access and Kubernetes 1.19):
- CreateNodegroup answers CREATING and makes a launch template `eks-<uuid>` and an Auto Scaling
  group `eks-<nodegroup>-<uuid>` over the node group's subnets with desiredSize instances,
  balanced over the subnets' Availability Zones as Auto Scaling balances them. The group and its
  instances carry EKS's tags: `eks:cluster-name`, `eks:nodegroup-name`,
  `kubernetes.io/cluster/<cluster>=owned` and the Cluster Autoscaler auto-discovery tags
  (`k8s.io/cluster-autoscaler/enabled`, `k8s.io/cluster-autoscaler/<cluster>`), plus Auto
  Scaling's `aws:autoscaling:groupName` on instances.
- After the create delay the node group is ACTIVE, or CREATE_FAILED with a NodeCreationFailure
  health issue naming the instances that could not join (the node join check decides); an ACTIVE
  group whose nodes stop joining is DEGRADED until they join again.
- UpdateNodegroupConfig answers a ConfigUpdate; scaling changes the Auto Scaling group at once
  (scale-in takes instances from the fullest Availability Zone), the node group is UPDATING
  until the update succeeds.
- The node group's scalingConfig.desiredSize follows its Auto Scaling group's desired capacity
  (the API reference: the Cluster Autoscaler alters it), whoever changed that capacity.
- The Auto Scaling group has the two lifecycle hooks EKS puts on it: `Launch-LC-Hook`
  (EC2_INSTANCE_LAUNCHING) and `Terminate-LC-Hook` (EC2_INSTANCE_TERMINATING), both with a
  1800-second heartbeat timeout and DefaultResult CONTINUE (their notification target is an SNS
  topic of EKS's own account, left out here). Launch hooks have no effect offline
  (`autoscaling_lifecycle`).
- A managed instance leaving its group (scale-in, TerminateInstanceInAutoScalingGroup) waits in
  `Terminating:Wait`, with Auto Scaling's EventBridge event, until EKS has drained its node: EKS
  cordons the Node and evicts its pods through the Eviction API, PodDisruptionBudgets respected,
  DaemonSet and mirror pods left, then completes the action with CONTINUE. A drain that stays
  blocked ends with the hook's heartbeat timeout (CONTINUE). EKS reacts after the update delay;
  it drains through the cluster's API server that `set_cluster_stores` finds, and without one
  (nothing to drain through) it completes at once.
- DeleteNodegroup answers DELETING; after the delete delay the group is scaled to zero (the
  instances' terminate lifecycle actions start, with their events), EKS drains each node once,
  then the instances are terminated whatever remains (EKS's bounded drain, compressed), the Auto
  Scaling group and launch template deleted and the node group gone.
- With an authentication mode including the API, the node role gets an EC2_LINUX access entry.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow

from eksops.local import autoscaling_lifecycle
from eksops.local.eks import access
from eksops.local.eks._state import (
    LOCK,
    SETTINGS,
    Nodes,
    UpdateRecord,
    due,
    error,
    extras,
    get_cluster,
    new_update,
    nodegroup_extras,
    passed,
)
from eksops.local.kube import eviction
from eksops.local.kube.store import ApiError, ObjectStore

NODE_AMI = "ami-0e5b8f7d1c2a3b4c5"  # stands for the EKS optimized AMI of the release version
_SPREAD = "eksops_spread_over_azs"
LAUNCH_HOOK = "Launch-LC-Hook"
TERMINATE_HOOK = "Terminate-LC-Hook"
HOOK_HEARTBEAT_TIMEOUT = 1800
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
_DRAIN_AFTER = "eks_drain_after"  # in a lifecycle action's notes: when EKS acts on it

# (account ID, region, cluster name) -> the cluster's object store, or None
ClusterStores = Callable[[str, str, str], ObjectStore | None]
_cluster_stores: ClusterStores | None = None


def _ec2(account_id: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def _autoscaling(account_id: str, region: str) -> Any:
    from moto.autoscaling.models import autoscaling_backends

    return autoscaling_backends[account_id][region]


def _where(cluster: Any) -> tuple[str, str]:
    _, _, _, region, account_id, _ = cluster.arn.split(":", 5)
    return account_id, region


def _asg_name(nodegroup: Any) -> str:
    return nodegroup.resources["autoScalingGroups"][0]["name"]


def _group(nodegroup: Any, account_id: str, region: str) -> Any:
    return _autoscaling(account_id, region).autoscaling_groups.get(_asg_name(nodegroup))


def _validate_scaling(cluster: Any, name: str, scaling: dict[str, Any]) -> None:
    low, high = scaling.get("minSize", 0), scaling.get("maxSize", 1)
    desired = scaling.get("desiredSize", low)
    if high < 1 or low < 0 or not low <= desired <= high:
        raise error(
            "InvalidParameterException",
            "Requested scaling configuration is invalid: minSize <= desiredSize <= maxSize "
            "and maxSize >= 1 are required",
            clusterName=cluster.name,
            nodegroupName=name,
        )


def _default_ami_type(version: str) -> str:
    return "AL2023_x86_64_STANDARD" if int(version.split(".")[1]) >= 30 else "AL2_x86_64"


def _launch(cluster: Any, nodegroup: Any) -> None:
    """The launch template and Auto Scaling group EKS makes, with the first instances."""
    account_id, region = _where(cluster)
    ec2 = _ec2(account_id, region)
    tags = {
        "eks:cluster-name": cluster.name,
        "eks:nodegroup-name": nodegroup.nodegroup_name,
        f"kubernetes.io/cluster/{cluster.name}": "owned",
        "k8s.io/cluster-autoscaler/enabled": "true",
        f"k8s.io/cluster-autoscaler/{cluster.name}": "owned",
    }
    template = ec2.create_launch_template(
        f"eks-{nodegroup.uuid}",
        "",
        {"ImageId": NODE_AMI, "InstanceType": nodegroup.instance_types[0]},
        {"launch-template": {key: tags[key] for key in list(tags)[:3]}},
    )
    nodegroup_extras(nodegroup).launch_template_id = template.id
    scaling = nodegroup.scaling_config
    group = _autoscaling(account_id, region).create_auto_scaling_group(
        name=_asg_name(nodegroup),
        availability_zones=[],
        desired_capacity=0,
        max_size=scaling["maxSize"],
        min_size=0,
        launch_config_name="",
        launch_template={"LaunchTemplateId": template.id, "Version": "1"},
        vpc_zone_identifier=",".join(nodegroup.subnets),
        default_cooldown=300,
        health_check_period=15,
        health_check_type="EC2",
        load_balancers=[],
        target_group_arns=[],
        placement_group=None,
        termination_policies=["AllocationStrategy", "OldestLaunchTemplate", "OldestInstance"],
        tags=[
            {"Key": key, "Value": value, "PropagateAtLaunch": True} for key, value in tags.items()
        ],
        capacity_rebalance=nodegroup.capacity_type == "SPOT",
    )
    setattr(group, _SPREAD, True)
    for name, transition in (
        (LAUNCH_HOOK, autoscaling_lifecycle.LAUNCHING),
        (TERMINATE_HOOK, autoscaling_lifecycle.TERMINATING),
    ):
        _autoscaling(account_id, region).create_lifecycle_hook(
            name=name,
            as_name=group.name,
            transition=transition,
            timeout=HOOK_HEARTBEAT_TIMEOUT,
            result="CONTINUE",
        )
    group.min_size = scaling["minSize"]
    group.set_desired_capacity(scaling["desiredSize"])


def create_nodegroup(self: Any) -> ActionResult:
    with LOCK:
        backend = self.eks_backend
        cluster = get_cluster(backend, self._get_param("name"))
        name = self._get_param("nodegroupName")
        scaling = dict(self._get_param("scalingConfig") or {})
        scaling.setdefault("minSize", 1)
        scaling.setdefault("maxSize", 2)
        scaling.setdefault("desiredSize", scaling["minSize"])
        subnets = self._get_param("subnets") or []
        ec2 = _ec2(*_where(cluster))
        for subnet_id in subnets:
            try:
                ec2.get_subnet(subnet_id)
            except Exception as missing:
                raise error(
                    "InvalidParameterException",
                    f"The subnet ID '{subnet_id}' does not exist",
                    clusterName=cluster.name,
                    nodegroupName=name,
                ) from missing
        launch_template = self._get_param("launchTemplate")
        disk_size = self._get_int_param("diskSize")
        remote_access = self._get_param("remoteAccess")
        if name not in cluster.nodegroups:
            _validate_scaling(cluster, name, scaling)
        nodegroup = backend.create_nodegroup(
            cluster_name=cluster.name,
            nodegroup_name=name,
            scaling_config=scaling,
            disk_size=disk_size,
            subnets=subnets,
            instance_types=self._get_param("instanceTypes"),
            ami_type=self._get_param("amiType") or _default_ami_type(cluster.version),
            remote_access=remote_access,
            node_role=self._get_param("nodeRole"),
            labels=self._get_param("labels"),
            taints=self._get_param("taints"),
            tags=self._get_param("tags"),
            client_request_token=self._get_param("clientRequestToken"),
            launch_template=launch_template,
            capacity_type=self._get_param("capacityType"),
            version=self._get_param("version") or cluster.version,
            release_version=self._get_param("releaseVersion"),
        )
        # moto's defaults that AWS does not have (and shared dicts it would mutate)
        nodegroup.health = {"issues": []}
        nodegroup.remote_access = remote_access
        nodegroup.disk_size = None if launch_template else (disk_size or 20)
        if not self._get_param("releaseVersion"):
            nodegroup.release_version = f"{nodegroup.version}.0-20250610"
        nodegroup.update_config = self._get_param("updateConfig") or {"maxUnavailable": 1}
        nodegroup.resources = {
            "autoScalingGroups": [{"name": f"eks-{name}-{nodegroup.uuid}"}],
        }
        if remote_access:
            nodegroup.resources["remoteAccessSecurityGroup"] = (
                f"sg-{nodegroup.uuid.replace('-', '')[:17]}"
            )
        nodegroup.status = "CREATING"
        nodegroup_extras(nodegroup).deadline = due(SETTINGS.create_delay)
        _launch(cluster, nodegroup)
        access.ensure_node_entry(cluster, nodegroup.node_role, nodegroup.ami_type)
        return ActionResult({"nodegroup": nodegroup})


def update_nodegroup_config(self: Any) -> ActionResult:
    with LOCK:
        backend = self.eks_backend
        cluster = get_cluster(backend, self._get_param("name"))
        name = self._get_param("nodegroupName")
        nodegroup = backend.describe_nodegroup(cluster.name, name)
        if nodegroup.status not in ("ACTIVE", "DEGRADED"):
            raise error(
                "ResourceInUseException",
                f"Nodegroup {name} is in {nodegroup.status} status",
                clusterName=cluster.name,
                nodegroupName=name,
            )
        scaling = self._get_param("scalingConfig")
        if scaling:
            _validate_scaling(cluster, name, {**nodegroup.scaling_config, **scaling})
        labels = self._get_param("labels") or {}
        taints = self._get_param("taints") or {}
        backend.update_nodegroup_config(
            cluster_name=cluster.name,
            nodegroup_name=name,
            labels=labels,
            taints=taints,
            scaling_config=scaling,
            update_config=self._get_param("updateConfig"),
            node_repair_config=self._get_param("nodeRepairConfig"),
            client_request_token=self._get_param("clientRequestToken"),
        )
        params: dict[str, Any] = {}
        for key, param in (
            ("desiredSize", "DesiredSize"),
            ("minSize", "MinSize"),
            ("maxSize", "MaxSize"),
        ):
            if scaling and key in scaling:
                params[param] = str(scaling[key])
        for key, param, source in (
            ("addOrUpdateLabels", "LabelsToAdd", labels),
            ("removeLabels", "LabelsToRemove", labels),
            ("addOrUpdateTaints", "TaintsToAdd", taints),
            ("removeTaints", "TaintsToRemove", taints),
        ):
            if source.get(key):
                params[param] = source[key]
        if scaling:
            group = _group(nodegroup, *_where(cluster))
            if group is not None:
                group.min_size = nodegroup.scaling_config["minSize"]
                group.max_size = nodegroup.scaling_config["maxSize"]
                group.set_desired_capacity(nodegroup.scaling_config["desiredSize"])
        update = new_update("ConfigUpdate", params)

        def apply() -> None:
            if nodegroup.status == "UPDATING":
                nodegroup.status = "ACTIVE"
            nodegroup.modified_at = utcnow()

        extras(cluster).updates[update["id"]] = UpdateRecord(
            update, due(SETTINGS.update_delay), nodegroup_name=name, on_success=apply
        )
        nodegroup.status = "UPDATING"
        return ActionResult({"update": update})


def delete_nodegroup(self: Any) -> ActionResult:
    with LOCK:
        backend = self.eks_backend
        cluster = get_cluster(backend, self._get_param("name"))
        nodegroup = backend.describe_nodegroup(cluster.name, self._get_param("nodegroupName"))
        if nodegroup.status != "DELETING":
            nodegroup.status = "DELETING"
            nodegroup_extras(nodegroup).deadline = due(SETTINGS.delete_delay)
        return ActionResult({"nodegroup": nodegroup})


def instance_ids(cluster: Any, nodegroup: Any) -> list[str]:
    group = _group(nodegroup, *_where(cluster))
    if group is None:
        return []
    return [state.instance.id for state in group.instance_states]


def _join_failures(cluster: Any, nodegroup: Any) -> list[str]:
    account_id, region = _where(cluster)
    nodes = Nodes(
        account_id=account_id,
        region=region,
        cluster_name=cluster.name,
        nodegroup_name=nodegroup.nodegroup_name,
        node_role=nodegroup.node_role,
        instance_ids=tuple(instance_ids(cluster, nodegroup)),
    )
    return sorted(SETTINGS.node_join_check(nodes))


def _remove(cluster: Any, nodegroup: Any) -> None:
    account_id, region = _where(cluster)
    group = _group(nodegroup, account_id, region)
    if group is not None:
        group.min_size = 0
        group.set_desired_capacity(0)  # the instances' terminate lifecycle actions start
        for action in autoscaling_lifecycle.actions(account_id, region, group.name):
            if action.hook_name == TERMINATE_HOOK:
                _drain_and_complete(action)
        # terminates what still waits, as EKS lets Auto Scaling do when a drain takes too long
        _autoscaling(account_id, region).delete_auto_scaling_group(group.name)
    template_id = nodegroup_extras(nodegroup).launch_template_id
    if template_id:
        # already deleted by someone else: nothing left to do
        with contextlib.suppress(Exception):
            _ec2(account_id, region).delete_launch_template(None, template_id)
    cluster.nodegroups.pop(nodegroup.nodegroup_name, None)
    cluster.nodegroup_count -= 1
    for update_id, record in list(extras(cluster).updates.items()):
        if record.nodegroup_name == nodegroup.nodegroup_name:
            del extras(cluster).updates[update_id]


def advance(cluster: Any) -> None:
    autoscaling_lifecycle.advance(*_where(cluster))  # hook timeouts, EKS's drains
    for nodegroup in list(cluster.nodegroups.values()):
        state = nodegroup_extras(nodegroup)
        if nodegroup.status == "DELETING":
            if due(0) >= (state.deadline or 0):
                _remove(cluster, nodegroup)
            continue
        if nodegroup.status == "CREATING":
            if state.deadline is not None and due(0) < state.deadline:
                continue
            failed = _join_failures(cluster, nodegroup)
            nodegroup.status = "CREATE_FAILED" if failed else "ACTIVE"
            nodegroup.health = {"issues": _issues(failed)}
            nodegroup.modified_at = utcnow()
        elif nodegroup.status in ("ACTIVE", "DEGRADED"):
            failed = _join_failures(cluster, nodegroup)
            status = "DEGRADED" if failed else "ACTIVE"
            if status != nodegroup.status:
                nodegroup.status = status
                nodegroup.modified_at = utcnow()
            nodegroup.health = {"issues": _issues(failed)}
        if nodegroup.status in ("ACTIVE", "DEGRADED", "UPDATING"):
            _follow_desired_capacity(cluster, nodegroup)


def _follow_desired_capacity(cluster: Any, nodegroup: Any) -> None:
    """EKS reports the Auto Scaling group's desired capacity as the node group's desiredSize:
    what the Cluster Autoscaler, SetDesiredCapacity or TerminateInstanceInAutoScalingGroup with
    a decrement did to the group shows in DescribeNodegroup."""
    group = _group(nodegroup, *_where(cluster))
    desired = getattr(group, "desired_capacity", None)
    if desired is not None and nodegroup.scaling_config.get("desiredSize") != desired:
        nodegroup.scaling_config = {**nodegroup.scaling_config, "desiredSize": desired}


def _issues(failed: list[str]) -> list[dict[str, Any]]:
    if not failed:
        return []
    return [
        {
            "code": "NodeCreationFailure",
            "message": "Instances failed to join the kubernetes cluster",
            "resourceIds": failed,
        }
    ]


# Auto Scaling, for the groups of node groups: balance instances over Availability Zones.


def install_az_balance() -> None:
    """moto's Auto Scaling launches every instance in the group's first subnet and scales in
    oldest-first; AWS keeps a group balanced over its Availability Zones (counting the instances
    in service). Applied to node group Auto Scaling groups only. Also makes EKS drain the nodes
    of instances its Terminate-LC-Hook holds."""
    from moto.autoscaling.models import FakeAutoScalingGroup

    autoscaling_lifecycle.subscribe(drain_on_terminate)
    if getattr(FakeAutoScalingGroup, "_eksops_az_balance", False):
        return
    replace = FakeAutoScalingGroup.replace_autoscaling_group_instances
    set_desired = FakeAutoScalingGroup.set_desired_capacity

    def replace_balanced(self: Any, count_needed: int, propagated_tags: dict[str, str]) -> None:
        if not getattr(self, _SPREAD, False) or not self.vpc_zone_identifier:
            replace(self, count_needed, propagated_tags)
            return
        subnets = self.vpc_zone_identifier.split(",")
        original, zones = self.vpc_zone_identifier, self.availability_zones
        try:
            for _ in range(count_needed):
                counts = Counter(_subnet_of(state) for state in _in_service(self))
                subnet = min(subnets, key=lambda subnet_id: counts[subnet_id])
                self.vpc_zone_identifier = subnet
                zone = self.ec2_backend.get_subnet(subnet).availability_zone
                self.availability_zones = [zone]
                replace(self, 1, dict(propagated_tags))
        finally:
            self.vpc_zone_identifier, self.availability_zones = original, zones

    def set_desired_balanced(self: Any, new_capacity: int | None) -> None:
        if getattr(self, _SPREAD, False) and new_capacity is not None:
            # moto removes the first instances of the list: put the fullest AZ's newest first
            remaining = _in_service(self)
            order = []
            while remaining:
                counts = Counter(_zone_of(state) for state in remaining)
                fullest = max(counts, key=lambda zone: counts[zone])
                pick = next(s for s in reversed(remaining) if _zone_of(s) == fullest)
                order.append(pick)
                remaining.remove(pick)
            self.instance_states = order + [s for s in self.instance_states if s not in order]
        set_desired(self, new_capacity)

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_balanced
    FakeAutoScalingGroup.set_desired_capacity = set_desired_balanced
    FakeAutoScalingGroup._eksops_az_balance = True


def _in_service(group: Any) -> list[Any]:
    return [state for state in group.instance_states if state.lifecycle_state == "InService"]


def _subnet_of(state: Any) -> str:
    return state.instance.subnet_id


def _zone_of(state: Any) -> str:
    return state.instance.availability_zone


# EKS's side of its Terminate-LC-Hook: drain the node, then let the instance go.


def set_cluster_stores(lookup: ClusterStores | None) -> None:
    """How EKS reaches a cluster's Kubernetes API to drain nodes: (account ID, region, cluster
    name) -> its object store, or None. None (the default): no drains, actions complete at
    once."""
    global _cluster_stores
    _cluster_stores = lookup


def drain_on_terminate(action: autoscaling_lifecycle.LifecycleAction) -> None:
    """A lifecycle-action consumer: once the update delay has passed since the action started,
    EKS drains the instance's node and completes the action with CONTINUE when nothing is left
    to evict. Other hooks and groups other than node groups' are not EKS's."""
    if action.hook_name != TERMINATE_HOOK or _nodegroup_group(action) is None:
        return
    if _DRAIN_AFTER not in action.notes:
        action.notes[_DRAIN_AFTER] = due(SETTINGS.update_delay)
    if passed(action.notes[_DRAIN_AFTER]):
        _drain_and_complete(action)


def _nodegroup_group(action: autoscaling_lifecycle.LifecycleAction) -> Any:
    group = _autoscaling(action.account_id, action.region).autoscaling_groups.get(action.group_name)
    return group if group is not None and getattr(group, _SPREAD, False) else None


def _drain_and_complete(action: autoscaling_lifecycle.LifecycleAction) -> None:
    group = _nodegroup_group(action)
    if group is None:
        return
    cluster_name = next(
        (tag["Value"] for tag in group.tags if tag.get("Key") == "eks:cluster-name"), ""
    )
    store = None
    if _cluster_stores is not None:
        store = _cluster_stores(action.account_id, action.region, cluster_name)
    if store is not None and not drain_node(store, action.instance_id):
        return  # evictions refused: tried again at the next check, until the hook times out
    from moto.autoscaling.exceptions import ValidationError

    with contextlib.suppress(ValidationError):  # completed meanwhile (a workflow, a timeout)
        autoscaling_lifecycle.complete(
            action.account_id,
            action.region,
            action.group_name,
            action.hook_name,
            "CONTINUE",
            token=action.token,
        )


def drain_node(store: ObjectStore, instance_id: str) -> bool:
    """Cordon the instance's Node and evict its pods, DaemonSet and mirror pods left where they
    are (as `kubectl drain --ignore-daemonsets` does). True when no pod is left to evict (or
    there is no Node); evictions a PodDisruptionBudget refuses leave it False."""
    node = next(
        (
            n
            for n in store.list("nodes")[0]
            if ((n.get("spec") or {}).get("providerID") or "").rsplit("/", 1)[-1] == instance_id
        ),
        None,
    )
    if node is None:
        return True
    name = node["metadata"]["name"]
    if not (node.get("spec") or {}).get("unschedulable"):

        def cordon(current: dict[str, Any]) -> dict[str, Any]:
            return {**current, "spec": {**(current.get("spec") or {}), "unschedulable": True}}

        with contextlib.suppress(ApiError):  # gone meanwhile
            store.modify("nodes", "", name, cordon)
    pods, _ = store.list("pods", None, field_selector=f"spec.nodeName={name}")
    drained = True
    for pod in pods:
        if _stays(pod):
            continue
        metadata = pod["metadata"]
        try:
            eviction.evict(store, metadata["namespace"], metadata["name"])
        except ApiError as refused:
            if refused.code != 404:
                drained = False
    return drained


def _stays(pod: dict[str, Any]) -> bool:
    metadata = pod["metadata"]
    if MIRROR_ANNOTATION in (metadata.get("annotations") or {}):
        return True
    return any(
        owner.get("kind") == "DaemonSet" and owner.get("controller")
        for owner in metadata.get("ownerReferences") or []
    )


RESPONSES = {
    "create_nodegroup": create_nodegroup,
    "update_nodegroup_config": update_nodegroup_config,
    "delete_nodegroup": delete_nodegroup,
}

URL_PATHS: set[str] = set()
