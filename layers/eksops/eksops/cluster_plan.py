"""The plan of a CreateCluster execution: every mutating call it would make, in order, from
what exists now. Made with reads only; it is the dry-run answer, and where an existing resource
differs from the input the ClusterConflict is raised here, before anything changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eksops import admin_access, cluster_role, service_role
from eksops.cluster_addons import describe_addon, version_conflict, version_differs
from eksops.cluster_creation import conflict
from eksops.cluster_spec import differences
from eksops.eks_cluster import describe_cluster, oidc_issuer
from eksops.errors import ClusterConflictError
from eksops.models.create_cluster import CreateClusterInput
from eksops.oidc_provider import STS_AUDIENCE, find_provider

Clients = Callable[[str], Any]


def _call(call: str, target: str, why: str) -> dict[str, str]:
    return {"call": call, "target": target, "why": why}


def _role_calls(
    iam: Any, request: CreateClusterInput, partition: str
) -> tuple[list[dict[str, str]], str | None]:
    """The role's calls and its ARN (None: not made yet)."""
    if request.role_arn:
        return [], request.role_arn
    spec = cluster_role.role_spec(request)
    state = service_role.inspect_role(iam, spec, request.cluster_name, partition)
    if state.problems:
        raise ClusterConflictError(
            f"cannot use the existing role {spec.name} as the cluster role: "
            f"{'; '.join(state.problems)}; fix it, or pass roleArn"
        )
    calls = (
        []
        if state.role
        else [_call("iam:CreateRole", spec.name, "no roleArn given: the cluster role")]
    )
    calls += [
        _call("iam:AttachRolePolicy", f"{spec.name} {arn}", "the cluster role's permissions")
        for arn in state.missing
    ]
    return calls, state.role["Arn"] if state.role else None


def _access_calls(eks: Any, request: CreateClusterInput, exists: bool) -> list[dict[str, str]]:
    cluster = request.cluster_name
    if request.admins and request.authentication_mode == "CONFIG_MAP":
        return [_call("kubernetes:MergeConfigMap", "kube-system/aws-auth", "admins (CONFIG_MAP)")]
    calls = []
    for admin in request.admins:
        entry = exists and admin_access.access_entry(eks, cluster, admin.principal_arn) is not None
        if not entry:
            calls.append(_call("eks:CreateAccessEntry", admin.principal_arn, "an admin"))
        if not entry or not admin_access.policy_associated(eks, cluster, admin):
            calls.append(
                _call(
                    "eks:AssociateAccessPolicy",
                    f"{admin.principal_arn} {admin.policy_arn}",
                    "an admin",
                )
            )
    return calls


def plan(clients: Clients, request: CreateClusterInput, partition: str) -> list[dict[str, str]]:
    eks, iam = clients("eks"), clients("iam")
    name = request.cluster_name
    calls, role_arn = _role_calls(iam, request, partition)
    cluster = describe_cluster(eks, name)
    if cluster is None:
        calls.append(_call("eks:CreateCluster", name, f"Kubernetes {request.kubernetes_version}"))
    else:
        problems = differences(cluster, request, role_arn)
        if cluster["status"] in ("DELETING", "FAILED"):
            problems.insert(0, f"status: the cluster is {cluster['status']}")
        if problems:
            raise conflict(name, problems)
    issuer = oidc_issuer(cluster)
    provider = find_provider(iam, issuer) if issuer else None
    if provider is None:
        calls.append(_call("iam:CreateOpenIDConnectProvider", issuer or f"{name}'s issuer", "IRSA"))
    elif (
        STS_AUDIENCE
        not in iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)["ClientIDList"]
    ):
        calls.append(_call("iam:AddClientIDToOpenIDConnectProvider", provider, STS_AUDIENCE))
    for addon in request.addons:
        found = describe_addon(eks, name, addon.name) if cluster else None
        if found is None:
            calls.append(_call("eks:CreateAddon", addon.name, addon.version or "default version"))
        elif version_differs(addon, found):
            raise version_conflict(name, addon, found)
    calls += _access_calls(eks, request, exists=cluster is not None)
    calls += [
        _call(
            "states:StartExecution",
            f"JoinNodegroupStateMachine {spec.name or spec.node_role_arn}",
            f"{spec.kind} nodes" + (" (a node group per AZ)" if spec.per_az else ""),
        )
        for spec in request.nodegroups
    ]
    calls += [
        _call(
            "states:StartExecution",
            f"SetupIrsaStateMachine {spec.namespace}/{spec.service_account}",
            "pod-identity association" if spec.mode == "pod-identity" else "irsa role",
        )
        for spec in request.irsa
    ]
    calls.append(_call("events:PutEvents", "eksops Cluster Ready", "tell subscribers"))
    return calls
