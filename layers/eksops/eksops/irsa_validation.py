"""The checks of a SetupIrsa input that need AWS, made with reads only, before any change: bad
input fails the first state with eksops.InvalidInput naming the field."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from eksops import irsa_trust
from eksops.eks_cluster import active_cluster, oidc_issuer
from eksops.errors import ClusterNotReadyError, InvalidInputError
from eksops.models.setup_irsa import SetupIrsaInput
from eksops.ownership import SERVICE_ACCOUNT_ROLE_PATH
from eksops.pod_identity_association import check_association_owner, find_association
from eksops.service_role import get_role

Clients = Callable[[str], Any]
SERVICE_LINKED_PREFIX = "AWSServiceRoleFor"


@dataclass(frozen=True)
class ValidIrsa:
    request: SetupIrsaInput  # roleName filled in
    issuer: str | None  # mode irsa
    provider_arn: str | None  # mode irsa: the ARN the cluster's OIDC provider has (or will have)


def check_policies(iam: Any, policy_arns: list[str], field: str) -> None:
    """Each managed policy exists (IAM would refuse to attach it half-way through)."""
    for arn in policy_arns:
        try:
            iam.get_policy(PolicyArn=arn)
        except iam.exceptions.NoSuchEntityException:
            raise InvalidInputError(f"{field}: no IAM policy {arn}") from None


def check_role_in_scope(role: dict[str, Any], allowed: Sequence[str]) -> None:
    """An existing role outside eksops's ServiceAccount path must be one the stack may manage
    (its ServiceAccountRoleArns parameter), or IAM would refuse EnsureRole half-way through; and
    never a cluster or node role eksops made."""
    if role["Path"] == SERVICE_ACCOUNT_ROLE_PATH:
        return
    if any(fnmatchcase(role["Arn"], arn) for arn in allowed):
        return
    listed = ", ".join(allowed) or "none"
    raise InvalidInputError(
        f"roleName: {role['Arn']} is outside {SERVICE_ACCOUNT_ROLE_PATH} and not among the roles "
        f"this eksops stack may manage (its ServiceAccountRoleArns parameter: {listed}); add it "
        "there, or leave roleName out for a role eksops makes"
    )


def validate(
    clients: Clients, request: SetupIrsaInput, allowed_roles: Sequence[str] = ()
) -> ValidIrsa:
    """Every check; ``allowed_roles`` are the role ARN patterns outside /eksops/ the stack may
    manage."""
    iam = clients("iam")
    cluster = active_cluster(clients("eks"), request.cluster_name, "ServiceAccounts can be bound")
    _, partition, _, _, account_id, _ = cluster["arn"].split(":", 5)
    issuer = oidc_issuer(cluster) if request.mode == "irsa" else None
    if request.mode == "irsa" and not issuer:
        raise ClusterNotReadyError(f"cluster {request.cluster_name} has no OIDC issuer yet")
    check_policies(iam, request.policy_arns, "policyArns")
    role_name = request.role_name or irsa_trust.role_name(
        request.cluster_name, request.namespace, request.service_account, request.mode
    )
    if role_name.startswith(SERVICE_LINKED_PREFIX):
        raise InvalidInputError(f"roleName: {role_name} names a service-linked role, AWS's own")
    role = get_role(iam, role_name)
    if role is not None:
        check_role_in_scope(role, allowed_roles)
    if request.mode == "pod-identity":
        role_arn = (
            role["Arn"]
            if role
            else f"arn:{partition}:iam::{account_id}:role{SERVICE_ACCOUNT_ROLE_PATH}{role_name}"
        )
        association = find_association(
            clients("eks"), request.cluster_name, request.namespace, request.service_account
        )
        check_association_owner(association, role_arn)
    provider_arn = irsa_trust.provider_arn(partition, account_id, issuer) if issuer else None
    normalized = request.model_copy(update={"role_name": role_name})
    return ValidIrsa(normalized, issuer, provider_arn)
