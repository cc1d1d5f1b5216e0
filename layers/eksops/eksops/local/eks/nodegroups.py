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
- DeleteNodegroup answers DELETING; after the delete delay the instances are terminated, the Auto
  Scaling group and launch template deleted and the node group gone.
- With an authentication mode including the API, the node role gets an EC2_LINUX access entry.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow

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
)

NODE_AMI = "ami-0e5b8f7d1c2a3b4c5"  # stands for the EKS optimized AMI of the release version
_SPREAD = "eksops_spread_over_azs"


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
        group.set_desired_capacity(0)  # terminates the instances
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
    oldest-first; AWS keeps a group balanced over its Availability Zones. Applied to node group
    Auto Scaling groups only."""
    from moto.autoscaling.models import FakeAutoScalingGroup

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
                counts = Counter(_subnet_of(state) for state in self.instance_states)
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
            remaining = list(self.instance_states)
            order = []
            while remaining:
                counts = Counter(_zone_of(state) for state in remaining)
                fullest = max(counts, key=lambda zone: counts[zone])
                pick = next(s for s in reversed(remaining) if _zone_of(s) == fullest)
                order.append(pick)
                remaining.remove(pick)
            self.instance_states = order
        set_desired(self, new_capacity)

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_balanced
    FakeAutoScalingGroup.set_desired_capacity = set_desired_balanced
    FakeAutoScalingGroup._eksops_az_balance = True


def _subnet_of(state: Any) -> str:
    return state.instance.subnet_id


def _zone_of(state: Any) -> str:
    return state.instance.availability_zone


RESPONSES = {
    "create_nodegroup": create_nodegroup,
    "update_nodegroup_config": update_nodegroup_config,
    "delete_nodegroup": delete_nodegroup,
}

URL_PATHS: set[str] = set()
