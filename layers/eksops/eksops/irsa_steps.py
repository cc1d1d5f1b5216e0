"""The Lambda steps of SetupIrsaStateMachine: each opens the target account (assuming
targetRoleArn when given) and calls one library operation."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from eksops import irsa_trust, irsa_validation, irsa_verification, service_account_binding
from eksops.errors import InvalidInputError
from eksops.irsa_role import ensure_irsa_role
from eksops.models.cluster_steps import SetupIrsaStep
from eksops.models.setup_irsa import SetupIrsaInput
from eksops.oidc_provider import ensure_oidc_provider
from eksops.ownership import creation_tags
from eksops.pod_identity_association import ensure_agent, ensure_association
from eksops.target_account import Opener, TargetAccount, open_target

Clock = Callable[[], datetime]
# the stack's ServiceAccountRoleArns parameter (comma-separated ARN patterns)
ALLOWED_ROLES_VARIABLE = "SERVICE_ACCOUNT_ROLE_ARNS"


def _target(step: SetupIrsaStep, opener: Opener) -> TargetAccount:
    return opener(step.request.region, step.request.target_role_arn, step.request.external_id)


def _tags(step: SetupIrsaStep) -> dict[str, str]:
    request = step.request
    return creation_tags(request.cluster_name, request.creator(step.execution_id), {})


def _issuer(step: SetupIrsaStep) -> str:
    if step.issuer is None:
        raise InvalidInputError("this step needs the issuer from ValidateInput (mode irsa)")
    return step.issuer


def _provider_arn(step: SetupIrsaStep) -> str:
    if step.provider is None:
        raise InvalidInputError("this step needs the provider from EnsureOidcProvider")
    return step.provider["oidcProviderArn"]


def _role_arn(step: SetupIrsaStep) -> str:
    if step.role_arn is None:
        raise InvalidInputError("this step needs the roleArn from EnsureRole")
    return step.role_arn


def validate_input(
    request: SetupIrsaInput, opener: Opener = open_target, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """The input, checked against the account (reads only), with region and roleName filled in;
    the later steps' results start out null, so the outputs can name them in either mode."""
    target = opener(request.region, request.target_role_arn, request.external_id)
    allowed = [arn for arn in environ.get(ALLOWED_ROLES_VARIABLE, "").split(",") if arn]
    valid = irsa_validation.validate(target.client, request, allowed)
    normalized = valid.request.model_copy(update={"region": target.region})
    return {
        "request": normalized.model_dump(by_alias=True, exclude_none=False),
        "issuer": valid.issuer,
        "provider": None,
        "agent": None,
        "association": None,
        "restart": None,
    }


def ensure_provider(step: SetupIrsaStep, opener: Opener = open_target) -> dict[str, Any]:
    iam = _target(step, opener).client("iam")
    creator = step.request.creator(step.execution_id)
    provider = ensure_oidc_provider(iam, _issuer(step), _tags(step), creator, step.request.audience)
    return provider.result()


def ensure_pod_identity_agent(step: SetupIrsaStep, opener: Opener = open_target) -> dict[str, Any]:
    eks = _target(step, opener).client("eks")
    request = step.request
    return ensure_agent(
        eks, request.cluster_name, _tags(step), request.creator(step.execution_id), step.poll
    ).result()


def ensure_role(step: SetupIrsaStep, opener: Opener = open_target) -> dict[str, Any]:
    iam = _target(step, opener).client("iam")
    request = step.request
    if request.mode == "irsa":
        issuer, provider_arn = _issuer(step), _provider_arn(step)
        statement = irsa_trust.web_identity_statement(
            provider_arn, issuer, request.namespace, request.service_account, request.audience
        )
    else:
        issuer = provider_arn = None
        statement = irsa_trust.pod_identity_statement()
    role = ensure_irsa_role(
        iam,
        request,
        statement,
        _tags(step),
        request.creator(step.execution_id),
        issuer,
        provider_arn,
    )
    return role.result()


def ensure_pod_identity_association(
    step: SetupIrsaStep, opener: Opener = open_target
) -> dict[str, Any]:
    eks = _target(step, opener).client("eks")
    request = step.request
    return ensure_association(
        eks,
        request.cluster_name,
        request.namespace,
        request.service_account,
        _role_arn(step),
        _tags(step),
    )


def ensure_service_account(
    step: SetupIrsaStep, opener: Opener = open_target, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    target = _target(step, opener)
    request = step.request
    with target.kubernetes_access(request.cluster_name):
        core_v1 = target.core_v1(request.cluster_name, environ)
        return service_account_binding.ensure_service_account(core_v1, request, _role_arn(step))


def restart_workloads(
    step: SetupIrsaStep,
    opener: Opener = open_target,
    environ: Mapping[str, str] = os.environ,
    now: Clock = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    from kubernetes.client import AppsV1Api

    target = _target(step, opener)
    request = step.request
    with target.kubernetes_access(request.cluster_name):
        apps_v1 = AppsV1Api(target.api_client(request.cluster_name, environ))
        return service_account_binding.restart_workloads(apps_v1, request, _role_arn(step), now)


def verify(
    step: SetupIrsaStep, opener: Opener = open_target, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    target = _target(step, opener)
    request = step.request
    with target.kubernetes_access(request.cluster_name):
        core_v1 = target.core_v1(request.cluster_name, environ)
        if request.mode == "pod-identity":
            verification = irsa_verification.verify_pod_identity(
                target.client("eks"), target.client("iam"), core_v1, request, _role_arn(step)
            )
        else:
            verification = irsa_verification.verify_web_identity(
                core_v1,
                target.client("sts"),
                target.client("iam"),
                request,
                _role_arn(step),
                _provider_arn(step),
                step.poll,
            )
    return verification.result()
