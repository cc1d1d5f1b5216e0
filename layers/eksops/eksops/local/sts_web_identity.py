"""STS AssumeRoleWithWebIdentity in moto, made to check the token as AWS does (IRSA offline).

moto hands out credentials for any token and any role. AWS, and the engine after ``install()``:

1. the token must be a JWT; its ``iss`` must name an IAM OIDC provider in the role's account,
   else ``InvalidIdentityToken`` "No OpenIDConnect provider found in your account for <iss>";
2. its signature must verify with the issuer's key (offline: the cluster's registered
   ``ServiceAccountIssuer``; an issuer nobody registered is one whose keys cannot be fetched,
   "Couldn't retrieve verification key from your identity provider, ..."), else
   ``InvalidIdentityToken``;
3. an expired token fails with ``ExpiredTokenException`` ("Token expired: current date/time N
   must be before the expiration date/time M");
4. its ``aud`` must be one of the provider's client IDs, else ``InvalidIdentityToken`` "Incorrect
   token audience";
5. the role must exist and its trust policy must allow ``sts:AssumeRoleWithWebIdentity`` for
   ``Principal.Federated`` = the provider's ARN with every ``Condition`` satisfied (keys
   ``<provider>:sub``, ``:aud``, ``:amr``), else ``AccessDenied`` (HTTP 403) "Not authorized to
   perform sts:AssumeRoleWithWebIdentity";
6. ``DurationSeconds`` may not exceed the role's MaxSessionDuration (``ValidationError``).

Then the credentials are moto's assumed-role ones (``arn:aws:sts::<acct>:assumed-role/<role>/
<session>``), and the response carries ``SubjectFromWebIdentityToken``, ``Audience`` and
``Provider`` as AWS's does.

Trust conditions: StringEquals, StringNotEquals, StringEqualsIgnoreCase,
StringNotEqualsIgnoreCase, StringLike, StringNotLike (``*`` and ``?``), Null, each optionally
``...IfExists`` and ``ForAnyValue:``/``ForAllValues:``. Any other operator denies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlparse

from moto.core.exceptions import AccessDeniedError, ServiceException

from eksops.local.kube.service_account_tokens import (
    ExpiredIdentityTokenError,
    InvalidIdentityTokenError,
    audiences_of,
    decode_unverified,
    issuer_for,
)

ACTION = "sts:AssumeRoleWithWebIdentity"
Clock = Callable[[], datetime]


class StsInvalidIdentityTokenError(ServiceException):
    code = "InvalidIdentityToken"


class StsExpiredTokenError(ServiceException):
    code = "ExpiredTokenException"


class StsValidationError(ServiceException):
    code = "ValidationError"


class StsAccessDeniedError(AccessDeniedError):
    def __init__(self) -> None:
        super(AccessDeniedError, self).__init__(
            "AccessDenied", f"Not authorized to perform {ACTION}"
        )


def _now() -> datetime:
    return datetime.now(UTC)


_clock: list[Clock] = [_now]


def provider_url(issuer: str) -> str:
    """An issuer as IAM names its OIDC provider: host and path, no scheme."""
    parsed = urlparse(issuer)
    if parsed.scheme and parsed.netloc:
        return (parsed.netloc + parsed.path).rstrip("/")
    return issuer.rstrip("/")


def _find_provider(iam: Any, url: str) -> Any:
    for provider in iam.open_id_providers.values():
        if provider.url.rstrip("/") == url:
            return provider
    return None


# --- trust policy ---------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _iam_glob(pattern: str, value: str) -> bool:
    """IAM action matching: case-insensitive, ``*`` and ``?`` wildcards."""
    return _like(pattern.lower(), value.lower())


_BASE_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    # operator -> (positive match of one policy value against one request value, negated)
    "StringEquals": (lambda p, v: p == v, False),
    "StringNotEquals": (lambda p, v: p == v, True),
    "StringEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: p.lower() == v.lower(), True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
}


def condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, list[str]]) -> bool:
    """One condition (operator, key, policy values) against the request context."""
    present = key.lower() in context
    values = context.get(key.lower(), [])
    if operator == "Null":
        (flag,) = _as_list(wanted) or [None]
        if str(flag).lower() not in ("true", "false"):
            return False
        return (str(flag).lower() == "true") == (not present)
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    base = name.removesuffix("IfExists")
    if qualifier not in ("", "ForAnyValue", "ForAllValues") or base not in _BASE_OPERATORS:
        return False  # unknown operators deny
    matches, negated = _BASE_OPERATORS[base]
    patterns = [str(p) for p in _as_list(wanted)]

    def one(value: str) -> bool:
        hit = any(matches(p, value) for p in patterns)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)  # true for a missing key, as in IAM
    if qualifier == "ForAnyValue":
        return any(one(v) for v in values)  # false for a missing key
    if not present:
        return if_exists or negated  # negated operators match an absent key
    return any(one(v) for v in values)


def _conditions_hold(conditions: Any, context: Mapping[str, list[str]]) -> bool:
    if conditions is None:
        return True
    if not isinstance(conditions, Mapping):
        return False
    for operator, pairs in conditions.items():
        if not isinstance(pairs, Mapping):
            return False
        for key, wanted in pairs.items():
            if not condition_holds(operator, key, wanted, context):
                return False
    return True


def _principal_matches(principal: Any, provider_arn: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    return provider_arn in _as_list(principal.get("Federated"))


def _statement_applies(
    statement: Mapping[str, Any], provider_arn: str, context: Mapping[str, list[str]]
) -> bool:
    if "NotAction" in statement or "NotPrincipal" in statement:
        return False  # not evaluated offline: such a statement never applies
    if not any(_iam_glob(str(a), ACTION) for a in _as_list(statement.get("Action"))):
        return False
    if not _principal_matches(statement.get("Principal"), provider_arn):
        return False
    return _conditions_hold(statement.get("Condition"), context)


def _policy(document: Any) -> dict[str, Any]:
    if isinstance(document, Mapping):
        return dict(document)
    text = str(document or "")
    for candidate in (text, unquote(text)):
        try:
            parsed = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            return parsed
    return {}


def trust_allows(document: Any, provider_arn: str, context: Mapping[str, list[str]]) -> bool:
    """Whether a role's trust policy lets this web identity assume it (explicit Deny wins)."""
    statements = _as_list(_policy(document).get("Statement"))
    applying = [
        s
        for s in statements
        if isinstance(s, Mapping) and _statement_applies(s, provider_arn, context)
    ]
    if any(s.get("Effect") == "Deny" for s in applying):
        return False
    return any(s.get("Effect") == "Allow" for s in applying)


# --- the check ------------------------------------------------------------------------------


def _context(url: str, claims: Mapping[str, Any], audience: str) -> dict[str, list[str]]:
    context = {f"{url}:aud".lower(): [audience]}
    if isinstance(claims.get("sub"), str):
        context[f"{url}:sub".lower()] = [claims["sub"]]
    amr = [a for a in _as_list(claims.get("amr")) if isinstance(a, str)]
    if amr:
        context[f"{url}:amr".lower()] = amr
    return context


def check_web_identity(
    role_arn: str, token: str, duration: int | None, now: datetime
) -> tuple[Any, dict[str, Any], str]:
    """The role, the token's claims and the matched audience, once AWS's checks pass; raises
    the STS error AWS would otherwise."""
    from moto.iam.models import iam_backends

    try:
        _, claims = decode_unverified(token)
    except InvalidIdentityTokenError as exc:
        raise StsInvalidIdentityTokenError("Couldn't parse the web identity token") from exc
    issuer_url = claims.get("iss")
    if not isinstance(issuer_url, str) or not issuer_url:
        raise StsInvalidIdentityTokenError("The web identity token has no issuer")
    arn_parts = role_arn.split(":")
    if len(arn_parts) < 6 or not arn_parts[4].isdigit():
        raise StsAccessDeniedError()
    partition, account_id = arn_parts[1], arn_parts[4]
    try:
        iam = iam_backends[account_id][partition]
    except KeyError as exc:  # a partition moto does not know
        raise StsAccessDeniedError() from exc
    url = provider_url(issuer_url)
    provider = _find_provider(iam, url)
    if provider is None:
        raise StsInvalidIdentityTokenError(
            f"No OpenIDConnect provider found in your account for {issuer_url}"
        )
    issuer = issuer_for(issuer_url)
    if issuer is None:
        raise StsInvalidIdentityTokenError(
            "Couldn't retrieve verification key from your identity provider,  please reference "
            "AssumeRoleWithWebIdentity documentation for requirements"
        )
    try:
        claims = issuer.verify(token, now)
    except ExpiredIdentityTokenError as exc:
        raise StsExpiredTokenError(
            f"Token expired: current date/time {exc.now} must be before the expiration "
            f"date/time {exc.expires}"
        ) from exc
    except InvalidIdentityTokenError as exc:
        raise StsInvalidIdentityTokenError(f"Invalid web identity token: {exc}") from exc
    client_ids = set(provider.client_id_list)
    audience = next((a for a in audiences_of(claims) if a in client_ids), None)
    if audience is None:
        raise StsInvalidIdentityTokenError("Incorrect token audience")
    try:
        role = iam.get_role_by_arn(role_arn)
    except Exception as exc:  # moto's NotFoundException: AWS says only "not authorized"
        raise StsAccessDeniedError() from exc
    if not trust_allows(
        role.assume_role_policy_document, provider.arn, _context(url, claims, audience)
    ):
        raise StsAccessDeniedError()
    maximum = int(role.max_session_duration or 3600)
    if duration is not None and duration > maximum:
        raise StsValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    return role, claims, audience


def install(clock: Clock | None = None) -> None:
    """Adapt moto's STS (idempotent); ``clock`` is what "now" is for token expiry."""
    from moto.core.responses import ActionResult
    from moto.sts.responses import TokenResponse

    if clock is not None:
        _clock[0] = clock
    if getattr(TokenResponse, "_eksops_web_identity", False):
        return

    def assume_role_with_web_identity(self: Any) -> Any:
        role_arn = self._get_param("RoleArn")
        session_name = self._get_param("RoleSessionName")
        token = self._get_param("WebIdentityToken") or ""
        policy = self._get_param("Policy")
        duration = self._get_int_param("DurationSeconds")
        role, claims, audience = check_web_identity(role_arn, token, duration, _clock[0]())
        assumed = self.backend.assume_role_with_web_identity(
            region_name=self.region,
            role_session_name=session_name,
            role_arn=role_arn,
            policy=policy,
            duration=duration or 3600,
            external_id=None,
        )
        result: dict[str, Any] = {
            "Credentials": assumed,
            "SubjectFromWebIdentityToken": claims.get("sub"),
            "AssumedRoleUser": {"AssumedRoleId": f"{role.id}:{session_name}", "Arn": assumed.arn},
            "Provider": claims.get("iss"),
            "Audience": audience,
        }
        if policy:
            result["PackedPolicySize"] = 6
        return ActionResult(result)

    TokenResponse.assume_role_with_web_identity = assume_role_with_web_identity
    TokenResponse._eksops_web_identity = True
