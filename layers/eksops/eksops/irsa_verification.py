"""Proof that the binding works, as a pod would use it.

IRSA: a token for the ServiceAccount (TokenRequest, the configured audience) exchanged with STS
AssumeRoleWithWebIdentity for the role. STS checks what IAM will check for the pod: the token's
issuer has an OIDC provider, its signature, audience and expiry, and the trust's conditions.
Pod Identity: the association binds the ServiceAccount to the role, the role trusts
pods.eks.amazonaws.com (sts:AssumeRole and sts:TagSession) and the agent add-on is installed.

IAM changes take seconds to reach STS, so a refusal is polled again for a while before it is
reported. The token and the credentials never leave this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eksops.cluster_addons import INSTALLED, describe_addon
from eksops.irsa_trust import (
    POD_IDENTITY_ACTIONS,
    POD_IDENTITY_SERVICE,
    WEB_IDENTITY_ACTION,
    subjects_allowed,
)
from eksops.models.setup_irsa import SetupIrsaInput
from eksops.pod_identity_association import AGENT_ADDON, find_association
from eksops.polling import Poll
from eksops.service_account_binding import (
    ROLE_ARN_ANNOTATION,
    read_service_account,
    wanted_annotations,
)
from eksops.service_role import get_role, policy_document, trusts_service

PROPAGATION_WAIT_SECONDS = 60  # IAM's changes usually reach STS within seconds
TOKEN_SECONDS = 600  # the shortest lifetime Kubernetes grants
SESSION_SECONDS = 900  # the shortest STS allows
SESSION_NAME = "eksops-verify"
# what STS answers while a new provider or trust is still propagating (and for a wrong trust)
_PROPAGATING = ("AccessDenied", "InvalidIdentityToken", "IDPCommunicationError")


@dataclass(frozen=True)
class Verification:
    verified: bool
    reason: str
    poll: Poll | None = None  # set: not verified yet, look again after poll.seconds

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {"verified": self.verified, "reason": self.reason}
        if self.poll is not None:
            result["poll"] = self.poll.model_dump(by_alias=True)
        return result


def _again(poll: Poll | None, reason: str) -> Verification:
    """Not verified: poll again while IAM may still be propagating, then report ``reason``."""
    poll = poll or Poll()
    waited = poll.waited + poll.seconds  # the wait before this attempt included
    if waited >= PROPAGATION_WAIT_SECONDS:
        return Verification(False, reason)
    return Verification(False, reason, Poll(attempt=poll.attempt + 1, waited=waited, seconds=10))


def _subject(request: SetupIrsaInput) -> str:
    return f"system:serviceaccount:{request.namespace}:{request.service_account}"


def _token(core_v1: Any, request: SetupIrsaInput) -> str | None:
    """A short-lived token of the ServiceAccount, or None when it does not exist."""
    from kubernetes.client.exceptions import ApiException

    body = {"spec": {"audiences": [request.audience], "expirationSeconds": TOKEN_SECONDS}}
    try:
        answer = core_v1.create_namespaced_service_account_token(
            request.service_account, request.namespace, body
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return answer.status.token


def _denial_hint(iam: Any, request: SetupIrsaInput, role_arn: str, provider_arn: str) -> str:
    """What in the role's trust does not admit the token (best effort)."""
    role = get_role(iam, role_arn.rsplit("/", 1)[1])
    if role is None:
        return f"role {role_arn} does not exist"
    allowed = subjects_allowed(policy_document(role["AssumeRolePolicyDocument"]), provider_arn)
    if _subject(request) in allowed:
        return "the trust names the ServiceAccount; IAM may still be propagating"
    if not allowed:
        return f"the trust has no {WEB_IDENTITY_ACTION} statement for {provider_arn}"
    return f"the trust admits {', '.join(sorted(allowed))}, not {_subject(request)}"


def _missing(request: SetupIrsaInput) -> Verification:
    return Verification(
        False,
        f"no ServiceAccount {request.namespace}/{request.service_account} (check the namespace "
        "and name; createServiceAccount: true creates it)",
    )


def verify_web_identity(
    core_v1: Any,
    sts: Any,
    iam: Any,
    request: SetupIrsaInput,
    role_arn: str,
    provider_arn: str,
    poll: Poll | None,
) -> Verification:
    account = read_service_account(core_v1, request.namespace, request.service_account)
    if account is None:
        return _missing(request)
    annotations = account["metadata"].get("annotations") or {}
    wrong = {
        key: annotations.get(key)
        for key, value in wanted_annotations(request, role_arn).items()
        if annotations.get(key) != value
    }
    if wrong:  # e.g. a concurrent binding of the same ServiceAccount to another role won
        return Verification(
            False, f"the ServiceAccount's annotations are {wrong}, not this binding's"
        )
    token = _token(core_v1, request)
    if token is None:
        return _missing(request)
    try:
        answer = sts.assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName=SESSION_NAME,
            WebIdentityToken=token,
            DurationSeconds=SESSION_SECONDS,
        )
    except sts.exceptions.ClientError as exc:
        error = exc.response["Error"]
        reason = (
            f"STS refused the token of {_subject(request)} (audience {request.audience}) for "
            f"{role_arn}: {error['Code']}: {error.get('Message', '')}"
        )
        if error["Code"] not in _PROPAGATING:
            return Verification(False, reason)
        return _again(poll, f"{reason} ({_denial_hint(iam, request, role_arn, provider_arn)})")
    assumed = answer["AssumedRoleUser"]["Arn"]
    return Verification(
        True,
        f"a token of {_subject(request)} (audience {request.audience}) was exchanged with "
        f"AssumeRoleWithWebIdentity for {assumed}",
    )


def verify_pod_identity(
    eks: Any, iam: Any, core_v1: Any, request: SetupIrsaInput, role_arn: str
) -> Verification:
    cluster, namespace, name = request.cluster_name, request.namespace, request.service_account
    association = find_association(eks, cluster, namespace, name)
    if association is None or association["roleArn"] != role_arn:
        bound = association["roleArn"] if association else "no role"
        return Verification(False, f"ServiceAccount {namespace}/{name} is bound to {bound}")
    role = get_role(iam, role_arn.rsplit("/", 1)[1])
    if role is None or not trusts_service(role, POD_IDENTITY_SERVICE, POD_IDENTITY_ACTIONS):
        return Verification(
            False,
            f"role {role_arn} does not let {POD_IDENTITY_SERVICE} sts:AssumeRole and "
            "sts:TagSession",
        )
    agent = describe_addon(eks, cluster, AGENT_ADDON)
    if agent is None or agent["status"] not in INSTALLED:
        status = agent["status"] if agent else "missing"
        return Verification(False, f"add-on {AGENT_ADDON} is {status}")
    account = read_service_account(core_v1, namespace, name)
    if account is None:
        return _missing(request)
    irsa_role = (account["metadata"].get("annotations") or {}).get(ROLE_ARN_ANNOTATION)
    if irsa_role:
        return Verification(
            False,
            f"the ServiceAccount is also annotated {ROLE_ARN_ANNOTATION}={irsa_role}, and AWS SDKs "
            "prefer those IRSA credentials: remove the annotation",
        )
    return Verification(
        True,
        f"association {association['associationId']} binds {namespace}/{name} to {role_arn}, "
        f"which trusts {POD_IDENTITY_SERVICE}; {AGENT_ADDON} is {agent['status']}",
    )
