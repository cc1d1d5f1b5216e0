"""Authentication as EKS does it: an ``k8s-aws-v1.`` bearer token checked the way
aws-iam-authenticator's server checks it, the caller identified by replaying the presigned STS
GetCallerIdentity request, and the identity mapped to a Kubernetes user by EKS's rules (cluster
creator, access entries, the aws-auth ConfigMap).

Sources followed (kubernetes-sigs/aws-iam-authenticator): pkg/token/token.go ``Verify`` (format
checks, parameter whitelist, error reasons), pkg/arn/arn.go ``Canonicalize`` (assumed-role ARN to
role ARN), pkg/server/server.go (``renderTemplate``, the ``extra`` fields, the uid),
pkg/mapper/configmap and pkg/config/mapper.go (aws-auth parsing and matching). EKS's access entry
defaults follow the EKS User Guide ("Create access entries", "Set a custom username").
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from eksops.errors import EksopsError, InvalidInputError
from eksops.local.kube.identity import UserInfo

LOG = logging.getLogger(__name__)

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a format marker, not a secret
MAX_TOKEN_BYTES = 4096
CLUSTER_ID_HEADER = "x-k8s-aws-id"
# Presigned STS URLs are good for 15 minutes after X-Amz-Date, whatever X-Amz-Expires says.
PRESIGNED_URL_LIFETIME = timedelta(minutes=15)
MAX_EXPIRES_SECONDS = 900
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
PARAMETER_WHITELIST = frozenset(
    {
        "action",
        "version",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-security-token",
        "x-amz-signature",
        "x-amz-signedheaders",
    }
)
# AWS's STS endpoints (global and regional, in the partitions with public endpoints); a "*"
# stands for one DNS label. The offline account adds its own endpoint to these.
AWS_STS_ORIGINS = (
    "https://sts.amazonaws.com",
    "https://sts.*.amazonaws.com",
    "https://sts-fips.*.amazonaws.com",
    "https://sts.*.amazonaws.com.cn",
)
PARTITIONS = frozenset(
    {"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}
)
AUTHENTICATION_MODES = frozenset({"CONFIG_MAP", "API", "API_AND_CONFIG_MAP"})
ACCESS_ENTRY_MODES = frozenset({"API", "API_AND_CONFIG_MAP"})
CONFIG_MAP_MODES = frozenset({"CONFIG_MAP", "API_AND_CONFIG_MAP"})
# What `kubectl auth whoami` shows for the creator of a CONFIG_MAP cluster: the bootstrap admin
# no aws-auth entry lists.
CREATOR_USERNAME = "kubernetes-admin"
CREATOR_GROUPS = ("system:masters",)
# Defaults EKS fills in for access entries of node types (DescribeAccessEntry shows them).
NODE_ENTRY_DEFAULTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "EC2_LINUX": ("system:node:{{EC2PrivateDNSName}}", ("system:bootstrappers", "system:nodes")),
    "EC2_WINDOWS": (
        "system:node:{{EC2PrivateDNSName}}",
        ("system:bootstrappers", "system:nodes", "eks:kube-proxy-windows"),
    ),
    "FARGATE_LINUX": (
        "system:node:{{SessionName}}",
        ("system:bootstrappers", "system:nodes", "system:node-proxier"),
    ),
    "HYBRID_LINUX": ("system:node:{{SessionName}}", ("system:bootstrappers", "system:nodes")),
}
_INSTANCE_ID_RE = re.compile(r"^i-(\w{8}|\w{17})$")  # server.go instanceIDPattern
_BASE64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_INTEGER_RE = re.compile(r"^[+-]?[0-9]+$")  # what Go's strconv.Atoi accepts
_DEFAULT_PORTS = {"http": 80, "https": 443}

Fetch = Callable[[str, dict[str, str]], tuple[int, bytes]]
InstancePrivateDns = Callable[[str], str | None]


class TokenRejectedError(EksopsError):
    """The bearer token is not a valid EKS token for this cluster (or STS did not accept it).

    ``reason`` says which check failed, in aws-iam-authenticator's words; it never contains the
    token or its presigned URL.
    """

    error_name = "eksops.TokenRejected"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _FormatError(TokenRejectedError):
    """token.go FormatError: the token itself is malformed."""

    error_name = "eksops.TokenRejected"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.args = (f"input token was not properly formatted: {reason}",)


class _StsError(TokenRejectedError):
    """token.go STSError: STS refused the replay, or its answer made no sense."""

    error_name = "eksops.TokenRejected"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.args = (f"sts getCallerIdentity failed: {reason}",)


class _TemplateError(Exception):
    """A username or group template cannot be rendered for this identity."""


@dataclass(frozen=True)
class PresignedRequest:
    """A token's presigned STS GetCallerIdentity request, checked and ready to replay."""

    url: str = field(repr=False)  # carries the signature and any session token
    cluster_name: str
    access_key_id: str
    signed_at: datetime

    @property
    def headers(self) -> dict[str, str]:
        """What the replay sends besides the URL: the signed cluster header, with *our* name."""
        return {CLUSTER_ID_HEADER: self.cluster_name}


@dataclass(frozen=True)
class CallerIdentity:
    """token.go Identity: who signed the token, as STS says."""

    arn: str
    canonical_arn: str
    account_id: str
    user_id: str  # e.g. AIDA... or AROA... (the part before ":" of STS's UserId)
    session_name: str = ""  # for assumed roles; EC2 nodes' sessions are their instance ids
    access_key_id: str = ""


# --- token checks (token.go Verify) ------------------------------------------------------------


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int | None]:
    return scheme.lower(), host.lower(), port if port is not None else _DEFAULT_PORTS.get(scheme)


def _parse_origin(origin: str) -> tuple[str, str, int | None]:
    parts = urlsplit(origin)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise InvalidInputError(f"STS origin {origin!r} is not an http(s) scheme://host[:port]")
    return _origin(parts.scheme, parts.hostname, parts.port)


def _host_matches(pattern: str, host: str) -> bool:
    if "*" not in pattern:
        return pattern == host
    regex = r"\.".join(
        "[a-z0-9-]+" if label == "*" else re.escape(label) for label in pattern.split(".")
    )
    return re.fullmatch(regex, host) is not None


def _parse_query(raw_query: str) -> dict[str, list[str]]:
    """Go's url.ParseQuery: '&'-separated, '+' is a space, ';' and bad escapes are errors."""
    params: dict[str, list[str]] = {}
    for part in raw_query.split("&"):
        if not part:
            continue
        if ";" in part or _BAD_ESCAPE_RE.search(part):
            raise _FormatError("malformed query parameter")
        key, _, value = part.partition("=")
        params.setdefault(unquote_plus(key), []).append(unquote_plus(value))
    return params


def verify_token(
    token: str, cluster_name: str, sts_endpoints: Sequence[str], now: datetime
) -> PresignedRequest:
    """Check ``token`` as aws-iam-authenticator does before calling STS.

    ``sts_endpoints`` are the acceptable origins (scheme://host[:port], "*" for one DNS label).
    Raises TokenRejectedError naming the first check that fails.
    """
    if now.tzinfo is None:
        raise InvalidInputError("now must be timezone-aware")
    if len(token.encode("utf-8")) > MAX_TOKEN_BYTES:
        raise _FormatError("token is too large")
    if not token.startswith(TOKEN_PREFIX):
        raise _FormatError(f'token is missing expected "{TOKEN_PREFIX}" prefix')
    body = token.removeprefix(TOKEN_PREFIX)
    # base64.RawURLEncoding: URL alphabet, no padding.
    if not _BASE64URL_RE.match(body) or len(body) % 4 == 1:
        raise _FormatError("illegal base64 data in token")
    try:
        url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _FormatError("illegal base64 data in token") from None

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _FormatError("pre-signed URL does not parse") from None
    origins = [_parse_origin(origin) for origin in sts_endpoints]
    if parts.scheme not in {scheme for scheme, _, _ in origins}:
        raise _FormatError(f'unexpected scheme "{parts.scheme}" in pre-signed URL')
    scheme, host, port = _origin(parts.scheme, parts.hostname or "", port)
    if not any(
        scheme == o_scheme and port == o_port and _host_matches(o_host, host)
        for o_scheme, o_host, o_port in origins
    ):
        raise _FormatError(f'unexpected hostname "{parts.netloc}" in pre-signed URL')
    if parts.path != "/":
        raise _FormatError("unexpected path in pre-signed URL")

    params: dict[str, str] = {}
    for key, values in _parse_query(parts.query).items():
        if key.lower() not in PARAMETER_WHITELIST:
            raise _FormatError(f'non-whitelisted query parameter "{key}"')
        if len(values) != 1 or key.lower() in params:
            raise _FormatError("query parameter with multiple values not supported")
        params[key.lower()] = values[0]

    if params.get("action") != "GetCallerIdentity":
        raise _FormatError("unexpected action parameter in pre-signed URL")
    signed_headers = params.get("x-amz-signedheaders", "").split(";")
    if CLUSTER_ID_HEADER not in (header.lower() for header in signed_headers):
        raise _FormatError(
            f"client did not sign the {CLUSTER_ID_HEADER} header in the pre-signed URL"
        )
    expires_text = params.get("x-amz-expires", "")
    expires = int(expires_text) if _INTEGER_RE.match(expires_text) else 0
    if not _INTEGER_RE.match(expires_text) or not 0 <= expires <= MAX_EXPIRES_SECONDS:
        raise _FormatError(f"invalid X-Amz-Expires parameter in pre-signed URL: {expires}")
    date = params.get("x-amz-date", "")
    if not date:
        raise _FormatError("X-Amz-Date parameter must be present in pre-signed URL")
    try:
        signed_at = datetime.strptime(date, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise _FormatError(
            f"error parsing X-Amz-Date parameter {date} into format 20060102T150405Z"
        ) from None
    if now > signed_at + PRESIGNED_URL_LIFETIME:
        raise _FormatError(
            "X-Amz-Date parameter is expired (15 minute expiration) "
            f"{signed_at.strftime('%Y-%m-%d %H:%M:%S +0000 UTC')}"
        )
    access_key_id = params.get("x-amz-credential", "").split("/")[0]
    return PresignedRequest(url, cluster_name, access_key_id, signed_at)


# --- replay and canonical ARNs -------------------------------------------------------------------


def canonicalize_arn(arn: str) -> str:
    """arn.go Canonicalize: IAM users, roles, root and federated users as they are; an STS
    assumed-role ARN becomes its IAM role ARN (STS ARNs carry no role path, so none is kept)."""
    sections = arn.split(":", 5)
    if len(sections) != 6 or sections[0] != "arn":
        raise ValueError(f"arn '{arn}' is invalid")
    _, partition, service, _, account, resource_path = sections
    if partition not in PARTITIONS:
        raise ValueError(f"arn '{arn}' does not have a recognized partition")
    parts = resource_path.split("/")
    resource = parts[0]
    if service == "sts":
        if resource == "federated-user":
            return arn
        if resource == "assumed-role":
            if len(parts) < 3:
                raise ValueError(f"assumed-role arn '{arn}' does not have a role")
            role = "/".join(parts[1:-1])
            return f"arn:{partition}:iam::{account}:role/{role}"
        raise ValueError(f"unrecognized resource {resource_path} for service sts")
    if service == "iam":
        if resource in {"role", "user", "root"}:
            return arn
        raise ValueError(f"unrecognized resource {resource_path} for service iam")
    raise ValueError(f"service {service} in arn {arn} is not a valid service for identities")


def _strip_role_path(arn: str) -> str:
    """An IAM role ARN without its path (access entries may name roles with paths)."""
    head, sep, resource = arn.partition(":role/")
    if not sep:
        return arn
    return f"{head}:role/{resource.rsplit('/', 1)[-1]}"


def _caller_identity_fields(body: bytes) -> dict[str, str]:
    text = body.decode("utf-8", errors="replace").lstrip()
    if text.startswith("{"):
        result = json.loads(text)["GetCallerIdentityResponse"]["GetCallerIdentityResult"]
        return {key: str(result.get(key, "")) for key in ("Arn", "Account", "UserId")}
    root = ET.fromstring(text)  # noqa: S314 - STS's answer, no entities expected
    fields: dict[str, str] = {}
    for element in root.iter():
        name = element.tag.rsplit("}", 1)[-1]
        if name in {"Arn", "Account", "UserId"}:
            fields[name] = (element.text or "").strip()
    if "Arn" not in fields:
        raise ValueError("no GetCallerIdentityResult in the answer")
    return fields


def resolve_identity(request: PresignedRequest, fetch: Fetch) -> CallerIdentity:
    """Replay the presigned GET (with ``x-k8s-aws-id: <our cluster>``) and parse STS's answer.

    A token signed for another cluster fails here: STS recomputes the signature with our name.
    """
    try:
        status, body = fetch(request.url, request.headers)
    except OSError as exc:
        raise _StsError(f"error during GET: {type(exc).__name__}") from None
    if status != 200:
        raise _StsError(f"error from AWS (expected 200, got {status})")
    try:
        fields = _caller_identity_fields(body)
    except (ValueError, KeyError, TypeError, ET.ParseError) as exc:
        raise _StsError(f"unexpected GetCallerIdentity answer: {exc}") from None
    arn = fields.get("Arn", "")
    try:
        canonical = canonicalize_arn(arn)
    except ValueError as exc:
        raise _StsError(str(exc)) from None
    user_id_parts = fields.get("UserId", "").split(":")
    if len(user_id_parts) > 2:
        raise _StsError(f'malformed UserID "{fields.get("UserId")}"')
    return CallerIdentity(
        arn=arn,
        canonical_arn=canonical,
        account_id=fields.get("Account", ""),
        user_id=user_id_parts[0],
        session_name=user_id_parts[1] if len(user_id_parts) == 2 else "",
        access_key_id=request.access_key_id,
    )


# --- mapping (server.go doMapping/renderTemplate, EKS access entries, aws-auth) ------------------


@dataclass(frozen=True)
class AwsAuthMappings:
    """The aws-auth ConfigMap's mappings, as aws-iam-authenticator's ParseMap keeps them."""

    roles: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (rolearn, username, groups)
    users: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (userarn, username, groups)
    accounts: tuple[str, ...] = ()


def _get_ci(item: Mapping[str, Any], key: str) -> Any:
    """Go's encoding/json matches struct fields case-insensitively (rolearn, roleARN, RoleArn)."""
    for name, value in item.items():
        if isinstance(name, str) and name.lower() == key:
            return value
    return None


def _parse_mappings(
    data: Mapping[str, Any], key: str, arn_key: str
) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    import yaml

    text = data.get(key)
    if text is None:
        return ()
    try:
        items = yaml.safe_load(text) if isinstance(text, str) else None
    except yaml.YAMLError as exc:
        LOG.warning("aws-auth %s is not valid YAML, ignoring it: %s", key, exc)
        return ()
    if items is None:
        return ()
    if not isinstance(items, list):
        LOG.warning("aws-auth %s is not a list of mappings, ignoring it", key)
        return ()
    mappings = []
    for index, item in enumerate(items):
        arn = _get_ci(item, arn_key) if isinstance(item, Mapping) else None
        username = _get_ci(item, "username") if isinstance(item, Mapping) else None
        groups = (_get_ci(item, "groups") or []) if isinstance(item, Mapping) else None
        if (
            not isinstance(arn, str)
            or not arn
            or not isinstance(username, str)
            or not username
            or not isinstance(groups, list)
            or not all(isinstance(group, str) for group in groups)
        ):
            LOG.warning("aws-auth %s[%d] is not a valid mapping, ignoring it", key, index)
            continue
        mappings.append((arn, username, tuple(groups)))
    return tuple(mappings)


def parse_aws_auth(data: Mapping[str, Any] | None) -> AwsAuthMappings:
    """mapRoles, mapUsers and mapAccounts of the aws-auth ConfigMap's ``data``; what is malformed
    is logged and left out, the rest kept (as aws-iam-authenticator's ParseMap does)."""
    import yaml

    if not data:
        return AwsAuthMappings()
    accounts: tuple[str, ...] = ()
    if data.get("mapAccounts") is not None:
        try:
            loaded = yaml.safe_load(str(data["mapAccounts"]))
        except yaml.YAMLError as exc:
            LOG.warning("aws-auth mapAccounts is not valid YAML, ignoring it: %s", exc)
            loaded = None
        if isinstance(loaded, list):
            accounts = tuple(str(account) for account in loaded)
        elif loaded is not None:
            LOG.warning("aws-auth mapAccounts is not a list, ignoring it")
    return AwsAuthMappings(
        roles=_parse_mappings(data, "mapRoles", "rolearn"),
        users=_parse_mappings(data, "mapUsers", "userarn"),
        accounts=accounts,
    )


def render_template(
    template: str, identity: CallerIdentity, instance_private_dns: InstancePrivateDns
) -> str:
    """server.go renderTemplate: {{EC2PrivateDNSName}} (from the session name, which must be an
    instance id), {{AccountID}}, {{SessionName}} ('@' made '-'), {{SessionNameRaw}},
    {{AccessKeyID}}."""
    if "{{EC2PrivateDNSName}}" in template:
        if not _INSTANCE_ID_RE.match(identity.session_name):
            raise _TemplateError("SessionName did not contain an instance id")
        private_dns = instance_private_dns(identity.session_name)
        if not private_dns:
            raise _TemplateError(f"no private DNS name for instance {identity.session_name}")
        template = template.replace("{{EC2PrivateDNSName}}", private_dns)
    template = template.replace("{{AccountID}}", identity.account_id)
    template = template.replace("{{SessionName}}", identity.session_name.replace("@", "-"))
    template = template.replace("{{SessionNameRaw}}", identity.session_name)
    return template.replace("{{AccessKeyID}}", identity.access_key_id)


def _default_entry_username(principal_arn: str) -> str:
    """EKS's username for an access entry without one: an IAM user's ARN; for a role, its
    assumed-role ARN (path removed) ending in {{SessionName}}."""
    sections = principal_arn.split(":", 5)
    if len(sections) == 6 and sections[5].startswith("role/"):
        role = sections[5].rsplit("/", 1)[-1]
        return f"arn:{sections[1]}:sts::{sections[4]}:assumed-role/{role}/{{{{SessionName}}}}"
    return principal_arn


def _entry_policies(entry: Mapping[str, Any]) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    policies = []
    for policy in entry.get("associatedAccessPolicies") or ():
        scope = policy.get("accessScope") or {}
        policies.append(
            (
                str(policy["policyArn"]),
                str(scope.get("type", "cluster")),
                tuple(scope.get("namespaces") or ()),
            )
        )
    return tuple(policies)


def _matching_entry(
    identity: CallerIdentity, access_entries: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    wanted = identity.canonical_arn.lower()
    for entry in access_entries:
        principal = str(entry.get("principalArn", ""))
        if _strip_role_path(principal).lower() == wanted:
            return entry
    return None


def _user(
    identity: CallerIdentity,
    username: str,
    groups: Sequence[str],
    access_policies: tuple[tuple[str, str, tuple[str, ...]], ...] = (),
) -> UserInfo:
    return UserInfo(
        username=username,
        groups=tuple(groups),
        uid=f"aws-iam-authenticator:{identity.account_id}:{identity.user_id}",
        extra={
            "arn": (identity.arn,),
            "canonicalArn": (identity.canonical_arn,),
            "sessionName": (identity.session_name,),
            "accessKeyId": (identity.access_key_id,),
            "principalId": (identity.user_id,),
        },
        access_policies=access_policies,
    )


def _rendered(
    identity: CallerIdentity,
    username: str,
    groups: Sequence[str],
    instance_private_dns: InstancePrivateDns,
    source: str,
    access_policies: tuple[tuple[str, str, tuple[str, ...]], ...] = (),
) -> UserInfo | None:
    try:
        name = render_template(username, identity, instance_private_dns)
        rendered_groups = [render_template(g, identity, instance_private_dns) for g in groups]
    except _TemplateError as exc:
        # server.go: a mapping found but not renderable denies access (no fallback).
        LOG.warning("%s for %s cannot be rendered: %s", source, identity.canonical_arn, exc)
        return None
    return _user(identity, name, rendered_groups, access_policies)


def map_identity(
    identity: CallerIdentity,
    *,
    authentication_mode: str,
    creator_arn: str | None,
    access_entries: Sequence[Mapping[str, Any]],
    aws_auth: Mapping[str, Any] | None,
    instance_private_dns: InstancePrivateDns,
) -> UserInfo | None:
    """The Kubernetes user EKS makes of ``identity``, or None (the API server answers 401).

    Precedence: in CONFIG_MAP mode the cluster creator is the bootstrap admin (system:masters,
    in no aws-auth entry); in API modes the creator's admin rights are an access entry EKS made,
    so only ``access_entries`` count. Then the principal's access entry (API,
    API_AND_CONFIG_MAP), then aws-auth mapRoles, mapUsers, mapAccounts (CONFIG_MAP,
    API_AND_CONFIG_MAP).
    """
    mode = authentication_mode.upper()
    if mode not in AUTHENTICATION_MODES:
        raise InvalidInputError(f"unknown authentication mode {authentication_mode!r}")
    canonical = identity.canonical_arn.lower()

    if mode == "CONFIG_MAP" and creator_arn:
        try:
            creator = canonicalize_arn(creator_arn).lower()
        except ValueError:
            LOG.warning("cluster creator ARN %r is not an IAM identity ARN", creator_arn)
            creator = ""
        if canonical == creator:
            return _user(identity, CREATOR_USERNAME, CREATOR_GROUPS)

    if mode in ACCESS_ENTRY_MODES:
        entry = _matching_entry(identity, access_entries)
        if entry is not None:
            kind = str(entry.get("type") or "STANDARD").upper()
            default_username, default_groups = NODE_ENTRY_DEFAULTS.get(
                kind, (_default_entry_username(str(entry["principalArn"])), ())
            )
            return _rendered(
                identity,
                entry.get("username") or default_username,
                entry.get("kubernetesGroups") or default_groups,
                instance_private_dns,
                f"access entry {entry['principalArn']}",
                _entry_policies(entry),
            )

    if mode in CONFIG_MAP_MODES:
        mappings = parse_aws_auth(aws_auth)
        for kind, entries in (("mapRoles", mappings.roles), ("mapUsers", mappings.users)):
            for arn, username, groups in entries:
                if arn.lower() == canonical:
                    return _rendered(
                        identity, username, groups, instance_private_dns, f"aws-auth {kind}"
                    )
        if identity.account_id in mappings.accounts:
            return _user(identity, identity.canonical_arn, ())

    LOG.info("%s is not mapped to a Kubernetes user", identity.canonical_arn)
    return None


# --- the API server's authenticator ----------------------------------------------------------


@dataclass(frozen=True)
class ClusterAccess:
    """What mapping reads from the cluster at the time of a request."""

    authentication_mode: str
    creator_arn: str | None = None
    access_entries: Sequence[Mapping[str, Any]] = ()
    aws_auth: Mapping[str, Any] | None = None  # the aws-auth ConfigMap's data, if it exists


def _utc_now() -> datetime:
    return datetime.now(UTC)


def authenticator(
    *,
    cluster_name: str,
    sts_endpoints: Sequence[str],
    fetch: Fetch,
    cluster_access: Callable[[], ClusterAccess],
    instance_private_dns: InstancePrivateDns,
    clock: Callable[[], datetime] = _utc_now,
) -> Callable[[str | None], UserInfo | None]:
    """verify_token, resolve_identity and map_identity as one: bearer token (or None) in,
    UserInfo out, None for anything not authenticated (the API server's 401)."""
    for origin in sts_endpoints:
        _parse_origin(origin)  # fail at setup, not on the first request

    def authenticate(token: str | None) -> UserInfo | None:
        if token is None:
            return None
        try:
            request = verify_token(token, cluster_name, sts_endpoints, clock())
            identity = resolve_identity(request, fetch)
        except TokenRejectedError as exc:
            LOG.warning("token rejected for cluster %s: %s", cluster_name, exc)
            return None
        access = cluster_access()
        return map_identity(
            identity,
            authentication_mode=access.authentication_mode,
            creator_arn=access.creator_arn,
            access_entries=access.access_entries,
            aws_auth=access.aws_auth,
            instance_private_dns=instance_private_dns,
        )

    return authenticate
