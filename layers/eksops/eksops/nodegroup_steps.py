"""The Lambda steps of JoinNodegroupStateMachine: each opens the target account (assuming
targetRoleArn when given) and calls one library operation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from eksops import node_readiness, nodegroup_creation, nodegroup_validation
from eksops.eks_cluster import describe_cluster
from eksops.errors import ClusterNotFoundError, InvalidInputError
from eksops.models.cluster_steps import JoinNodegroupStep
from eksops.models.join_nodegroup import JoinNodegroupInput
from eksops.node_authorization import authorize_nodes as authorize
from eksops.node_authorization import caller_principal, ensure_node_reader
from eksops.node_role import ensure_node_role as ensure_role
from eksops.ownership import creation_tags
from eksops.target_account import Opener, TargetAccount, open_target


def _target(step: JoinNodegroupStep, opener: Opener) -> TargetAccount:
    return opener(step.request.region, step.request.target_role_arn, step.request.external_id)


def _cluster(target: TargetAccount, name: str) -> dict[str, Any]:
    cluster = describe_cluster(target.client("eks"), name)
    if cluster is None:
        raise ClusterNotFoundError(f"no EKS cluster named {name!r} in {target.region}")
    return cluster


def _role_arn(step: JoinNodegroupStep) -> str:
    if step.role_arn is None:
        raise InvalidInputError("this step needs the roleArn from EnsureNodeRole")
    return step.role_arn


def validate_input(request: JoinNodegroupInput, opener: Opener = open_target) -> dict[str, Any]:
    """The input, checked against the account (reads only), with its region filled in, and the
    node groups it makes."""
    target = opener(request.region, request.target_role_arn, request.external_id)
    valid = nodegroup_validation.validate(target.client, request)
    normalized = request.model_copy(update={"region": target.region})
    return {
        "request": normalized.model_dump(by_alias=True, exclude_none=False),
        "nodegroups": [plan.model_dump(by_alias=True) for plan in valid.nodegroups],
    }


def ensure_node_role(step: JoinNodegroupStep, opener: Opener = open_target) -> dict[str, Any]:
    target = _target(step, opener)
    role = ensure_role(target.client("iam"), step.request, step.execution_id, target.partition)
    return role.result()


def authorize_nodes(
    step: JoinNodegroupStep, opener: Opener = open_target, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    target = _target(step, opener)
    request = step.request
    tags = creation_tags(request.cluster_name, request.creator(step.execution_id), request.tags)
    cluster = _cluster(target, request.cluster_name)
    eks = target.client("eks")
    with target.kubernetes_access(request.cluster_name):
        result = authorize(
            eks,
            lambda: target.core_v1(request.cluster_name, environ),
            cluster,
            _role_arn(step),
            request.windows,
            tags,
        )
    if request.wait_for_nodes:
        principal = caller_principal(target.client("sts"), target.client("iam"))
        result["nodeReader"] = ensure_node_reader(eks, cluster, principal, tags)
    return result


def create_nodegroups(step: JoinNodegroupStep, opener: Opener = open_target) -> dict[str, Any]:
    eks = _target(step, opener).client("eks")
    nodegroup_creation.create_or_adopt(
        eks, step.request, step.nodegroups, _role_arn(step), step.execution_id
    )
    return _nodegroup_progress(eks, step)


def check_nodegroups(step: JoinNodegroupStep, opener: Opener = open_target) -> dict[str, Any]:
    return _nodegroup_progress(_target(step, opener).client("eks"), step)


def _nodegroup_progress(eks: Any, step: JoinNodegroupStep) -> dict[str, Any]:
    return nodegroup_creation.check_active(
        eks, step.request, step.nodegroups, step.execution_id, step.poll
    ).result()


def check_nodes(
    step: JoinNodegroupStep, opener: Opener = open_target, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    target = _target(step, opener)
    request = step.request
    core_v1 = target.core_v1(request.cluster_name, environ)
    expected = node_readiness.expected_instances(
        target.client("eks"), target.client("autoscaling"), request, step.nodegroups
    )
    diagnosis = node_readiness.Diagnosis(
        ec2=target.client("ec2"),
        iam=target.client("iam"),
        eks=target.client("eks"),
        core_v1=core_v1,
        cluster=_cluster(target, request.cluster_name),
        node_role_arn=_role_arn(step),
    )
    with target.kubernetes_access(request.cluster_name):
        nodes = node_readiness.node_states(core_v1)
        progress = node_readiness.check_nodes(expected, nodes, request, step.poll, diagnosis)
    return progress.result()
