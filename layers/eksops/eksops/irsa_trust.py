"""The trust policy of a ServiceAccount's IAM role (IRSA or EKS Pod Identity), as pure decisions:
the statement to trust, whether an existing trust already has it, the common IRSA mistakes in
one, and the role's default name.

IRSA condition keys are the issuer without its scheme (``oidc.eks.<region>.amazonaws.com/id/X``)
followed by ``:sub`` / ``:aud``; the Federated principal is the IAM OIDC provider's ARN.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from eksops.models.fields import NAMESPACE_PATTERN, SERVICE_ACCOUNT_PATTERN
from eksops.oidc_provider import STS_AUDIENCE, provider_path
from eksops.service_role import SERVICE_ACTIONS, bounded_role_name, trust_policy

WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
POD_IDENTITY_ACTIONS = SERVICE_ACTIONS  # sts:AssumeRole and sts:TagSession
POLICY_VERSION = "2012-10-17"
_SUFFIXES = {"irsa": "-irsa", "pod-identity": "-pod-identity"}
# system:serviceaccount:<namespace (DNS-1123 label)>:<name (DNS-1123 subdomain)>
_SUBJECT = re.compile(
    "^system:serviceaccount:"
    + NAMESPACE_PATTERN.strip("^$")
    + ":"
    + SERVICE_ACCOUNT_PATTERN.strip("^$")
    + "$"
)
# the region and "eks" swapped: oidc.<region>.eks.amazonaws.com
_SWAPPED_HOST = re.compile(r"^oidc\.([a-z]{2}(-[a-z]+)+-\d+)\.eks\.amazonaws\.com(/.*)?$")


def issuer_host_path(issuer: str) -> str:
    """What IRSA condition keys and the provider ARN use: the issuer without scheme or trailing
    slash."""
    return provider_path(issuer).rstrip("/")


def provider_arn(partition: str, account_id: str, issuer: str) -> str:
    """The ARN IAM gives the OIDC provider of ``issuer``."""
    return f"arn:{partition}:iam::{account_id}:oidc-provider/{issuer_host_path(issuer)}"


def web_identity_statement(
    provider_arn: str,
    issuer: str,
    namespace: str,
    service_account: str,
    audience: str = STS_AUDIENCE,
) -> dict[str, Any]:
    """IRSA trust scoped to exactly one ServiceAccount and the token audience."""
    host = issuer_host_path(issuer)
    return {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": WEB_IDENTITY_ACTION,
        "Condition": {
            "StringEquals": {
                f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                f"{host}:aud": audience,
            }
        },
    }


def pod_identity_statement() -> dict[str, Any]:
    """EKS Pod Identity trust: the pods.eks service may assume the role and tag the session."""
    return trust_policy(POD_IDENTITY_SERVICE)["Statement"][0]


def _values(value: Any) -> tuple[Any, ...]:
    """A policy element IAM accepts as one value or a list, as a sorted tuple of its values."""
    values = set(value) if isinstance(value, (list, tuple)) else {value}
    return tuple(sorted(values, key=repr))


def _principal(principal: Any) -> Any:
    """``{"Service": "x"}`` and ``{"Service": ["x"]}`` alike; ``"*"`` stays as it is."""
    if isinstance(principal, dict):
        return tuple(sorted((kind, _values(ids)) for kind, ids in principal.items()))
    return principal


def _normal(statement: dict[str, Any]) -> tuple[Any, ...]:
    """A statement's meaning: the shapes IAM accepts (str or list, any key order, any case of
    action and condition key names) made equal; the Sid is a label, not meaning."""
    conditions = tuple(
        sorted(
            (operator, tuple(sorted((key.lower(), _values(v)) for key, v in block.items())))
            for operator, block in (statement.get("Condition") or {}).items()
        )
    )
    return (
        statement.get("Effect"),
        _principal(statement.get("Principal")),
        _principal(statement.get("NotPrincipal")),
        tuple(a.lower() for a in _values(statement.get("Action", ()))),
        tuple(a.lower() for a in _values(statement.get("NotAction", ()))),
        _values(statement.get("Resource", ())),
        conditions,
    )


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def merged_trust(
    document: dict[str, Any] | None, statement: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """``document`` with ``statement`` added unless an equivalent one is there, and whether it
    changed. Other statements are kept as they are; ``document`` itself is not modified."""
    if document is None:
        return {"Version": POLICY_VERSION, "Statement": [statement]}, True
    if any(_normal(s) == _normal(statement) for s in _statements(document)):
        return document, False
    merged = copy.deepcopy(document)
    merged["Statement"] = [*_statements(merged), copy.deepcopy(statement)]
    return merged, True


def _label(statement: dict[str, Any], index: int) -> str:
    sid = statement.get("Sid")
    return f'statement "{sid}"' if sid else f"statement #{index}"


def _is_web_identity(statement: dict[str, Any]) -> bool:
    actions = _values(statement.get("Action", ()))
    return statement.get("Effect") == "Allow" and WEB_IDENTITY_ACTION.lower() in (
        a.lower() for a in actions
    )


def _key_prefix_problem(prefix: str, host: str) -> str | None:
    """Why a condition key prefix is not this cluster's issuer host/path (None if it is)."""
    if prefix.lower() == host.lower():
        return None
    if prefix.startswith("arn:") or "oidc-provider/" in prefix:
        return "use the OIDC provider ARN"
    if "://" in prefix:
        return "include the issuer's https:// scheme"
    if _SWAPPED_HOST.match(prefix):
        return "write the host oidc.<region>.eks.amazonaws.com (it is oidc.eks.<region>...)"
    return "name another issuer than this cluster's"


def _lint_statement(statement: dict[str, Any], label: str, host: str, arn: str) -> list[str]:
    warnings = []
    principal = statement.get("Principal")
    federated = principal.get("Federated", ()) if isinstance(principal, dict) else ()
    for trusted in _values(federated):
        _, marker, path = trusted.partition(":oidc-provider/")
        if marker and path.rstrip("/").lower() != host.lower():
            warnings.append(
                f"{label}: Federated principal {trusted} is another OIDC provider than "
                f"this cluster's; trust {arn}"
            )
    bad_prefixes: dict[str, list[str]] = {}
    subjects: list[tuple[str, str]] = []  # (operator, value) of positive :sub conditions
    has_sub = has_aud = False
    for operator, block in (statement.get("Condition") or {}).items():
        for key, value in block.items():
            prefix, _, name = key.rpartition(":")
            if name.lower() not in ("sub", "aud") or not prefix:
                continue
            if problem := _key_prefix_problem(prefix, host):
                bad_prefixes.setdefault(problem, []).append(key)
            if "Not" in operator:
                continue
            if name.lower() == "sub":
                has_sub = True
                subjects += [(operator, v) for v in _values(value)]
            else:
                has_aud = True
    for problem, keys in bad_prefixes.items():
        listed = ", ".join(sorted(keys))
        warnings.append(
            f"{label}: condition keys {listed} {problem}; write them as {host}:sub and {host}:aud"
        )
    wildcards = sorted({v for op, v in subjects if "Like" in op and ("*" in v or "?" in v)})
    malformed = sorted({v for _, v in subjects if v not in wildcards and not _SUBJECT.match(v)})
    if not has_sub:
        warnings.append(
            f"{label}: no :sub condition, so any service account of the cluster may assume the "
            f"role; add StringEquals {host}:sub = system:serviceaccount:<namespace>:<name>"
        )
    elif wildcards:
        warnings.append(
            f"{label}: wildcard subject {', '.join(wildcards)} lets several service "
            f"accounts assume the role; use StringEquals {host}:sub with "
            "system:serviceaccount:<namespace>:<name>"
        )
    if malformed:
        warnings.append(
            f"{label}: subject {', '.join(malformed)} is not of the form "
            "system:serviceaccount:<namespace>:<name>, so no pod's token matches it; fix the "
            f"{host}:sub value"
        )
    if not has_aud:
        warnings.append(f"{label}: no :aud condition; add StringEquals {host}:aud = {STS_AUDIENCE}")
    return warnings


def lint_trust(document: dict[str, Any], issuer: str, provider_arn: str) -> list[str]:
    """The common IRSA mistakes in the web-identity statements of a trust policy, as warnings that
    name the statement (Sid or index) and the fix; [] when there are none."""
    host = issuer_host_path(issuer)
    return [
        warning
        for index, statement in enumerate(_statements(document))
        if _is_web_identity(statement)
        for warning in _lint_statement(statement, _label(statement, index), host, provider_arn)
    ]


def subjects_allowed(document: dict[str, Any], provider_arn: str) -> set[str]:
    """The ``:sub`` values (exact or patterns) the Allow web-identity statements of a trust admit
    for ``provider_arn``'s tokens."""
    subjects: set[str] = set()
    for statement in _statements(document):
        principal = statement.get("Principal")
        federated = principal.get("Federated", ()) if isinstance(principal, dict) else ()
        if not _is_web_identity(statement) or provider_arn not in _values(federated):
            continue
        for operator, block in (statement.get("Condition") or {}).items():
            if "Not" in operator:
                continue
            for key, value in block.items():
                if key.lower().endswith(":sub"):
                    subjects.update(_values(value))
    return subjects


def role_name(cluster: str, namespace: str, service_account: str, mode: str = "irsa") -> str:
    """``<cluster>-<namespace>-<serviceAccount>-irsa`` (``-pod-identity``), within IAM's 64
    characters and charset; when shortened or cleaned, an 8-hex sha256 of the whole keeps
    distinct inputs distinct."""
    if mode not in _SUFFIXES:
        raise ValueError(f"mode must be one of {', '.join(_SUFFIXES)}, not {mode!r}")
    return bounded_role_name(f"{cluster}-{namespace}-{service_account}", _SUFFIXES[mode])
