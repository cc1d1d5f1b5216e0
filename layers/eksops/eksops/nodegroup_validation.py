"""The checks of a JoinNodegroup input that need AWS, made with reads only, before any change:
bad input fails the first state with eksops.InvalidInput naming the field, an existing node
group that differs with eksops.NodegroupConflict. CreateCluster runs
the part that needs no cluster (``check_spec``) on its nodegroups before it creates anything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eksops.eks_cluster import active_cluster
from eksops.errors import InvalidInputError
from eksops.models.join_nodegroup import JoinNodegroupInput, NodegroupSpec
from eksops.node_role import check_given_node_role, node_role_arn
from eksops.nodegroup_creation import check_existing
from eksops.nodegroup_spec import PlannedNodegroup, plan_nodegroups

Clients = Callable[[str], Any]


def _subnets(ec2: Any, spec: NodegroupSpec, vpc_id: str) -> list[dict[str, Any]]:
    assert spec.subnet_ids is not None
    try:
        subnets = ec2.describe_subnets(SubnetIds=list(spec.subnet_ids))["Subnets"]
    except ec2.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"].startswith("InvalidSubnetID"):
            raise InvalidInputError(f"subnetIds: {exc.response['Error']['Message']}") from None
        raise
    elsewhere = [f"{s['SubnetId']} ({s['VpcId']})" for s in subnets if s["VpcId"] != vpc_id]
    if elsewhere:
        raise InvalidInputError(
            f"subnetIds: {', '.join(elsewhere)} not in the cluster's VPC {vpc_id}; nodes there "
            "cannot reach the cluster"
        )
    return subnets


def _check_launch_template(ec2: Any, spec: NodegroupSpec) -> None:
    template = spec.launch_template
    if template is None:
        return
    query = (
        {"LaunchTemplateIds": [template.id]}
        if template.id
        else {"LaunchTemplateNames": [template.name]}
    )
    try:
        ec2.describe_launch_templates(**query)
    except ec2.exceptions.ClientError as exc:
        code = exc.response["Error"]["Code"]
        if "NotFound" in code or "Malformed" in code:
            raise InvalidInputError(
                f"launchTemplate: no launch template {template.id or template.name}"
            ) from None
        raise


def _check_auto_scaling_group(autoscaling: Any, name: str) -> None:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    if not groups["AutoScalingGroups"]:
        raise InvalidInputError(f"autoScalingGroupName: no Auto Scaling group {name}")


def check_spec(
    clients: Clients, spec: NodegroupSpec, vpc_id: str, account_id: str
) -> list[dict[str, Any]]:
    """What can be checked without the cluster; the subnets (managed) as DescribeSubnets gave
    them."""
    if spec.node_role_arn:
        check_given_node_role(clients("iam"), spec.node_role_arn, account_id)
    if spec.kind == "self-managed":
        if spec.auto_scaling_group_name:
            _check_auto_scaling_group(clients("autoscaling"), spec.auto_scaling_group_name)
        return []
    _check_launch_template(clients("ec2"), spec)
    return _subnets(clients("ec2"), spec, vpc_id)


@dataclass(frozen=True)
class ValidJoin:
    cluster: dict[str, Any]
    nodegroups: list[PlannedNodegroup]


def validate(clients: Clients, request: JoinNodegroupInput) -> ValidJoin:
    """Every check; the cluster and the node groups to create or adopt."""
    cluster = active_cluster(clients("eks"), request.cluster_name, "nodes can join")
    vpc_id = cluster["resourcesVpcConfig"]["vpcId"]
    partition, account_id = cluster["arn"].split(":")[1], cluster["arn"].split(":")[4]
    subnets = check_spec(clients, request, vpc_id, account_id)
    planned = plan_nodegroups(request, subnets) if request.kind == "managed" else []
    # an existing node group that differs fails here, before the node role or its
    # authorization is touched
    check_existing(clients("eks"), request, planned, node_role_arn(request, partition, account_id))
    return ValidJoin(cluster, planned)
