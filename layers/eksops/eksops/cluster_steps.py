"""The Lambda steps of CreateClusterStateMachine and DeleteClusterStateMachine: each opens the
target account (assuming targetRoleArn when given) and calls one library operation. Handlers
parse the event and call one of these; tests call them with a fake ``open_target``."""

from __future__ import annotations

import os
import shlex
from typing import Any

from eksops import (
    admin_access,
    cluster_addons,
    cluster_creation,
    cluster_plan,
    cluster_role,
    cluster_teardown,
    cluster_validation,
    oidc_provider,
)
from eksops.eks_cluster import describe_cluster, oidc_issuer
from eksops.errors import ClusterFailedError, InvalidInputError
from eksops.models.cluster_steps import CreateClusterStep, DeleteClusterStep
from eksops.models.create_cluster import CreateClusterInput
from eksops.ownership import creation_tags
from eksops.target_account import Opener, TargetAccount, open_target


def _target(step: CreateClusterStep | DeleteClusterStep, opener: Opener) -> TargetAccount:
    return opener(step.request.region, step.request.target_role_arn, step.request.external_id)


def kubeconfig_command(request: CreateClusterInput, region: str) -> str:
    words = ["eksops", "kubeconfig", "--cluster-name", request.cluster_name, "--region", region]
    if request.target_role_arn:
        words += ["--role-arn", request.target_role_arn]
    if request.external_id:
        words += ["--external-id", request.external_id]
    return shlex.join(words)


def validate_input(request: CreateClusterInput, opener: Opener = open_target) -> dict[str, Any]:
    """The input, checked against the account (reads only), with its region filled in."""
    target = opener(request.region, request.target_role_arn, request.external_id)
    # the region first: node groups and IRSA bindings that name it are checked against it
    normalized = request.model_copy(update={"region": target.region})
    cluster_validation.validate(target.client, normalized)
    return {
        "request": normalized.model_dump(by_alias=True, exclude_none=False),
        "kubeconfigCommand": kubeconfig_command(request, target.region),
        # each a JoinNodegroupStateMachine input, for the JoinNodegroups Map
        "nodegroupJoins": [
            join.model_dump(by_alias=True, exclude_none=True)
            for join in cluster_validation.nodegroup_joins(normalized)
        ],
        # each a SetupIrsaStateMachine input, for the SetUpIrsa Map
        "irsaBindings": [
            binding.model_dump(by_alias=True, exclude_none=True)
            for binding in cluster_validation.irsa_bindings(normalized)
        ],
    }


def plan_changes(step: CreateClusterStep, opener: Opener = open_target) -> dict[str, Any]:
    target = _target(step, opener)
    return {"calls": cluster_plan.plan(target.client, step.request, target.partition)}


def ensure_cluster_role(step: CreateClusterStep, opener: Opener = open_target) -> dict[str, Any]:
    target = _target(step, opener)
    role = cluster_role.ensure_cluster_role(
        target.client("iam"), step.request, step.execution_id, target.partition
    )
    return role.result()


def create_cluster(step: CreateClusterStep, opener: Opener = open_target) -> dict[str, Any]:
    if step.role_arn is None:
        raise InvalidInputError("CreateCluster needs the roleArn from EnsureClusterRole")
    eks = _target(step, opener).client("eks")
    state = cluster_creation.create_or_adopt(eks, step.request, step.role_arn, step.execution_id)
    return cluster_creation.progress(state, None).result()


def check_cluster_status(step: CreateClusterStep, opener: Opener = open_target) -> dict[str, Any]:
    eks = _target(step, opener).client("eks")
    return cluster_creation.check_active(eks, step.request, step.execution_id, step.poll).result()


def ensure_oidc_provider(step: CreateClusterStep, opener: Opener = open_target) -> dict[str, Any]:
    target = _target(step, opener)
    issuer = oidc_issuer(describe_cluster(target.client("eks"), step.request.cluster_name))
    if not issuer:
        raise ClusterFailedError(f"cluster {step.request.cluster_name} has no OIDC issuer")
    request = step.request
    tags = creation_tags(request.cluster_name, step.execution_id, request.tags)
    provider = oidc_provider.ensure_oidc_provider(
        target.client("iam"), issuer, tags, step.execution_id
    )
    return provider.result()


def ensure_addons(step: CreateClusterStep, opener: Opener = open_target) -> dict[str, Any]:
    eks = _target(step, opener).client("eks")
    return cluster_addons.ensure_addons(
        eks, step.request, step.execution_id, step.poll, cluster_created=step.cluster_created
    ).result()


def grant_admin_access(
    step: CreateClusterStep, opener: Opener = open_target, environ: Any = os.environ
) -> dict[str, Any]:
    target = _target(step, opener)
    request = step.request
    with target.kubernetes_access(request.cluster_name):
        admins = admin_access.grant_admins(
            target.client("eks"),
            lambda: target.core_v1(request.cluster_name, environ),
            request,
            step.execution_id,
        )
    return {"admins": admins}


def delete_nodegroups(step: DeleteClusterStep, opener: Opener = open_target) -> dict[str, Any]:
    eks = _target(step, opener).client("eks")
    return cluster_teardown.delete_nodegroups(eks, step.request, step.poll).result()


def delete_attachments(step: DeleteClusterStep, opener: Opener = open_target) -> dict[str, Any]:
    eks = _target(step, opener).client("eks")
    return {"deleted": cluster_teardown.delete_attachments(eks, step.request)}


def delete_cluster(step: DeleteClusterStep, opener: Opener = open_target) -> dict[str, Any]:
    eks = _target(step, opener).client("eks")
    return cluster_teardown.delete_cluster(eks, step.request, step.poll).result()


def delete_iam(step: DeleteClusterStep, opener: Opener = open_target) -> dict[str, Any]:
    iam = _target(step, opener).client("iam")
    return {"deleted": cluster_teardown.delete_iam(iam, step.request)}
