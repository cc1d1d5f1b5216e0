"""The IAM role of a ServiceAccount (IRSA or EKS Pod Identity), ensured without losing anything:
a new role is made under eksops's path; an existing one keeps its other trust statements (ours
is merged in, never duplicated), its other policies and inline policies. Managed policies are
attached, never detached; the input's inline policy is eksops's own named one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eksops.errors import IrsaConflictError, NotYetConsistentError
from eksops.irsa_trust import lint_trust, merged_trust
from eksops.models.setup_irsa import SetupIrsaInput
from eksops.ownership import SERVICE_ACCOUNT_ROLE_PATH, iam_tags
from eksops.service_role import attached_policies, created_by, get_role, policy_document

POLICY_NAME_LIMIT = 128  # IAM's, for inline policy names


@dataclass(frozen=True)
class IrsaRole:
    arn: str
    created: bool  # by this execution (or its parent)
    trust_updated: bool  # our statement was merged into an existing trust
    attached: list[str]  # managed policies this call attached
    inline_policy: str | None  # name of eksops's inline policy on the role, if any
    warnings: list[str]  # common IRSA mistakes in the role's other web-identity statements

    def result(self) -> dict[str, Any]:
        return {
            "roleArn": self.arn,
            "created": self.created,
            "trustUpdated": self.trust_updated,
            "attachedPolicyArns": self.attached,
            "inlinePolicyName": self.inline_policy,
            "warnings": self.warnings,
        }


def inline_policy_name(request: SetupIrsaInput) -> str:
    """One per ServiceAccount, so a role shared by several keeps each one's policy."""
    return f"eksops-{request.namespace}-{request.service_account}"[:POLICY_NAME_LIMIT]


def _create(
    iam: Any, request: SetupIrsaInput, statement: dict[str, Any], tags: dict[str, str]
) -> dict[str, Any] | None:
    """The new role, or None if it exists already (made meanwhile)."""
    assert request.role_name is not None, "ValidateInput fills in roleName"
    trust, _ = merged_trust(None, statement)
    try:
        return iam.create_role(
            RoleName=request.role_name,
            Path=SERVICE_ACCOUNT_ROLE_PATH,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description=(
                f"{request.mode} role of ServiceAccount {request.namespace}/"
                f"{request.service_account} in EKS cluster {request.cluster_name}"
            ),
            Tags=iam_tags(tags),
        )["Role"]
    except iam.exceptions.EntityAlreadyExistsException:
        return None


def _merge_trust(
    iam: Any, role: dict[str, Any], statement: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """The role's trust with ``statement`` merged in, and whether it had to be written."""
    trust, changed = merged_trust(policy_document(role["AssumeRolePolicyDocument"]), statement)
    if not changed:
        return trust, False
    try:
        iam.update_assume_role_policy(RoleName=role["RoleName"], PolicyDocument=json.dumps(trust))
    except (
        iam.exceptions.LimitExceededException,
        iam.exceptions.MalformedPolicyDocumentException,
    ) as exc:
        raise IrsaConflictError(
            f"the trust policy of role {role['Arn']} cannot take the statement for "
            f"{statement['Principal']}: {exc.response['Error']['Message']}; nothing was changed "
            "(give roleName of another role, or trim its trust policy)"
        ) from None
    return trust, True


def _ensure_inline_policy(iam: Any, role_name: str, name: str, document: dict[str, Any]) -> None:
    try:
        current = policy_document(
            iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        )
    except iam.exceptions.NoSuchEntityException:
        current = None
    if current != document:
        iam.put_role_policy(
            RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(document)
        )


def ensure_irsa_role(
    iam: Any,
    request: SetupIrsaInput,
    statement: dict[str, Any],
    tags: dict[str, str],
    creator: str,
    issuer: str | None,
    provider_arn: str | None,
) -> IrsaRole:
    """The role ``request.role_name`` trusting ``statement`` with the input's policies.
    ``issuer``/``provider_arn`` (mode irsa) let the role's web-identity statements be linted."""
    assert request.role_name is not None, "ValidateInput fills in roleName"
    role = get_role(iam, request.role_name) or _create(iam, request, statement, tags)
    if role is None:  # a concurrent execution made it: merge into it as into any existing role
        role = get_role(iam, request.role_name)
    if role is None:
        raise NotYetConsistentError(f"IAM says role {request.role_name} exists, but not GetRole")
    trust, trust_updated = _merge_trust(iam, role, statement)
    present = attached_policies(iam, request.role_name)
    attached = [arn for arn in request.policy_arns if arn not in present]
    for arn in attached:
        iam.attach_role_policy(RoleName=request.role_name, PolicyArn=arn)
    inline = None
    if request.inline_policy is not None:
        inline = inline_policy_name(request)
        _ensure_inline_policy(iam, request.role_name, inline, request.inline_policy)
    # the document just written: GetRole may not show it yet (IAM is eventually consistent)
    warnings = lint_trust(trust, issuer, provider_arn) if issuer and provider_arn else []
    return IrsaRole(
        role["Arn"], created_by(role, creator), trust_updated, attached, inline, warnings
    )
