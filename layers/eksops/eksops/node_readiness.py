"""Whether the expected nodes joined: the instances of the node groups' (or the given) Auto
Scaling groups, each matched to its Node by ``spec.providerID`` (``aws:///<az>/<instance-id>``),
and Ready. When time runs out, each instance that did not join gets its likely cause."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from eksops import aws_auth
from eksops.errors import NodesNotJoinedError
from eksops.models.join_nodegroup import JoinNodegroupInput
from eksops.node_authorization import authentication_mode, is_authorized
from eksops.nodegroup_creation import describe_nodegroup
from eksops.nodegroup_spec import PlannedNodegroup
from eksops.polling import Poll, next_poll

# Instances that are, or are about to be, in service (Auto Scaling lifecycle states)
LIVE_STATES = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")


@dataclass(frozen=True)
class Expected:
    """The instances that should become nodes, and the groups still short of instances."""

    instances: dict[str, str]  # instance ID -> its node group (or Auto Scaling group)
    short: list[str]  # "<group>: 1 of 2 instances launched"


@dataclass(frozen=True)
class NodeState:
    name: str
    zone: str | None
    ready: bool
    why_not: str  # the Ready condition's reason and message when not Ready


def _groups(
    eks: Any, request: JoinNodegroupInput, planned: list[PlannedNodegroup]
) -> list[tuple[str, str, int | None]]:
    """(label, Auto Scaling group name, desired instances or None to take the group's)."""
    if request.kind == "self-managed":
        name = request.auto_scaling_group_name
        return [(name, name, None)] if name else []
    groups = []
    for plan in planned:
        nodegroup = describe_nodegroup(eks, request.cluster_name, plan.name) or {}
        desired = (nodegroup.get("scalingConfig") or {}).get("desiredSize", 0)
        for group in (nodegroup.get("resources") or {}).get("autoScalingGroups", []):
            groups.append((plan.name, group["name"], desired))
        if not (nodegroup.get("resources") or {}).get("autoScalingGroups") and desired:
            groups.append((plan.name, "", desired))  # EKS has not made its group yet
    return groups


def expected_instances(
    eks: Any, autoscaling: Any, request: JoinNodegroupInput, planned: list[PlannedNodegroup]
) -> Expected:
    instances: dict[str, str] = {}
    short = []
    for label, group_name, desired in _groups(eks, request, planned):
        found = []
        if group_name:
            groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])
            for group in groups["AutoScalingGroups"]:
                desired = group["DesiredCapacity"] if desired is None else desired
                found += [
                    i["InstanceId"]
                    for i in group["Instances"]
                    if i["LifecycleState"] in LIVE_STATES
                ]
        instances.update(dict.fromkeys(found, label))
        if len(found) < (desired or 0):
            short.append(f"{label}: {len(found)} of {desired} instances launched")
    return Expected(instances, short)


def instance_id_of(provider_id: str | None) -> str | None:
    if not provider_id or not provider_id.startswith("aws:///"):
        return None
    return provider_id.rsplit("/", 1)[-1] or None


def node_states(core_v1: Any) -> dict[str, NodeState]:
    """Nodes by the instance ID in their providerID."""
    states = {}
    for node in core_v1.list_node().items:
        instance_id = instance_id_of(node.spec.provider_id if node.spec else None)
        if instance_id is None:
            continue
        ready = (
            next((c for c in (node.status.conditions or []) if c.type == "Ready"), None)
            if node.status
            else None
        )
        labels = node.metadata.labels or {}
        states[instance_id] = NodeState(
            name=node.metadata.name,
            zone=labels.get("topology.kubernetes.io/zone"),
            ready=ready is not None and ready.status == "True",
            why_not="" if ready is None else f"{ready.reason}: {ready.message}",
        )
    return states


@dataclass(frozen=True)
class NodesProgress:
    nodes: list[dict[str, Any]]  # the Ready ones
    waiting: list[str]
    poll: Poll

    @property
    def ready(self) -> bool:
        return not self.waiting

    def result(self) -> dict[str, Any]:
        zones = Counter(node["availabilityZone"] for node in self.nodes)
        return {
            "ready": self.ready,
            "nodes": self.nodes,
            "nodesPerAvailabilityZone": dict(sorted(zones.items(), key=lambda z: str(z[0]))),
            "waitingFor": self.waiting,
            "poll": self.poll.model_dump(by_alias=True),
        }


@dataclass(frozen=True)
class Diagnosis:
    """What is needed to say why an instance did not join."""

    ec2: Any
    iam: Any
    eks: Any
    core_v1: Any
    cluster: dict[str, Any]
    node_role_arn: str


def check_nodes(
    expected: Expected,
    nodes: dict[str, NodeState],
    request: JoinNodegroupInput,
    poll: Poll | None,
    diagnosis: Diagnosis,
) -> NodesProgress:
    """One poll: every expected instance has a Ready Node ends the loop; otherwise the next
    poll, or, with the time up, NodesNotJoined with each instance's likely cause."""
    ready, waiting = [], []
    for instance_id, group in sorted(expected.instances.items()):
        node = nodes.get(instance_id)
        if node is not None and node.ready:
            ready.append(
                {
                    "name": node.name,
                    "instanceId": instance_id,
                    "availabilityZone": node.zone,
                    "nodegroup": group,
                }
            )
        else:
            waiting.append(f"{group}: {instance_id}")
    poll = poll or Poll()
    if not waiting and not expected.short:
        return NodesProgress(ready, [], poll)
    if poll.waited >= request.timeout_seconds:
        causes = diagnose(diagnosis, expected, nodes)
        raise NodesNotJoinedError(
            f"after {poll.waited} s, {len(waiting)} of {len(expected.instances)} nodes of "
            f"{request.cluster_name} are not Ready: {'; '.join(causes)}"
        )
    waiting = expected.short + waiting
    what = f"nodes of {request.cluster_name}"
    return NodesProgress(ready, waiting, next_poll(poll, what, request.timeout_seconds))


def _instance_role(iam: Any, instance: dict[str, Any]) -> str | None:
    profile_arn = (instance.get("IamInstanceProfile") or {}).get("Arn")
    if not profile_arn:
        return None
    try:
        profile = iam.get_instance_profile(InstanceProfileName=profile_arn.rsplit("/", 1)[1])
    except iam.exceptions.NoSuchEntityException:
        return None
    roles = profile["InstanceProfile"]["Roles"]
    return roles[0]["Arn"] if roles else None


def _role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def diagnose(diagnosis: Diagnosis, expected: Expected, nodes: dict[str, NodeState]) -> list[str]:
    """The likely cause for each expected instance without a Ready Node."""
    d = diagnosis
    causes = list(expected.short)
    if expected.short:
        causes.append("see the Auto Scaling groups' activity history for failed launches")
    missing = [i for i in expected.instances if not (i in nodes and nodes[i].ready)]
    if not missing:
        return causes
    aws_auth_data = None
    if authentication_mode(d.cluster) != "API":
        from kubernetes.client.exceptions import ApiException

        try:
            aws_auth_data = d.core_v1.read_namespaced_config_map(
                aws_auth.NAME, aws_auth.NAMESPACE
            ).data
        except ApiException:
            aws_auth_data = None
    cluster_vpc = (d.cluster.get("resourcesVpcConfig") or {}).get("vpcId")
    # a filter, not InstanceIds: EC2 fails the whole call when one ID no longer exists
    reservations = d.ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": missing}])[
        "Reservations"
    ]
    instances = {i["InstanceId"]: i for r in reservations for i in r["Instances"]}
    for instance_id in missing:
        causes.append(
            f"{instance_id}: {_cause(d, instance_id, instances, nodes, aws_auth_data, cluster_vpc)}"
        )
    return causes


def _cause(
    d: Diagnosis,
    instance_id: str,
    instances: dict[str, dict[str, Any]],
    nodes: dict[str, NodeState],
    aws_auth_data: dict[str, str] | None,
    cluster_vpc: str | None,
) -> str:
    node = nodes.get(instance_id)
    if node is not None:
        return (
            f"Node {node.name} registered but is not Ready ({node.why_not}); usually the VPC "
            "CNI: is the vpc-cni add-on running, and may the node role (or its IRSA role) use "
            "AmazonEKS_CNI_Policy?"
        )
    instance = instances.get(instance_id)
    if instance is None:
        return "the instance no longer exists"
    state = instance["State"]["Name"]
    if state != "running":
        return f"the instance is {state}"
    if cluster_vpc and instance.get("VpcId") != cluster_vpc:
        return (
            f"wrong subnets: the instance is in {instance.get('SubnetId')} of "
            f"{instance.get('VpcId')}, not in the cluster's VPC {cluster_vpc}"
        )
    role = _instance_role(d.iam, instance)
    if role is None:
        return "the instance has no IAM instance profile with a role, so it cannot authenticate"
    if _role_name(role) != _role_name(d.node_role_arn):
        return (
            f"the instance runs as {role}, but the role authorized for nodes is "
            f"{d.node_role_arn}: fix the launch template's instance profile or nodeRoleArn"
        )
    if not is_authorized(d.eks, aws_auth_data, d.cluster, role):
        mode = authentication_mode(d.cluster)
        where = "aws-auth mapRoles entry" if mode == "CONFIG_MAP" else "EC2 access entry"
        return f"role not mapped: {role} has no {where} (removed after this workflow added it?)"
    return (
        "no Node registered although the role is mapped: check the user data bootstraps this "
        "cluster (name, endpoint, CA), the security groups allow the API on 443, and the "
        "subnets route to the endpoint"
    )
