"""EKS bearer tokens: what `aws eks get-token` mints, minted the same way, byte for byte.

A token is ``k8s-aws-v1.`` + unpadded base64url of a presigned STS GetCallerIdentity URL that
signs the header ``x-k8s-aws-id: <cluster>``. EKS accepts it for 15 minutes from its signing
time; clients are told it expires after 14 (as the AWS CLI does), and never later than the
signing credentials themselves (minus a margin), since STS rejects the URL once they expire.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from eksops.aws_config import StsTarget, resolve_credentials
from eksops.errors import CredentialsError, InvalidInputError
from eksops.models.fields import EXTERNAL_ID_PATTERN
from eksops.sigv4 import Credentials, presign_get_caller_identity

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a format marker, not a secret
TOKEN_LIFETIME = timedelta(minutes=14)
PRESIGN_EXPIRES_SECONDS = 60
CREDENTIAL_EXPIRY_MARGIN = timedelta(minutes=5)
DEFAULT_SESSION_NAME = "EKSGetTokenAuth"  # what `aws eks get-token --role-arn` uses

# EKS cluster names (CreateCluster's pattern); also Outposts cluster ids, which are UUIDs.
_CLUSTER_NAME_RE = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$")
_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]{2,64}$")
_EXTERNAL_ID_RE = re.compile(EXTERNAL_ID_PATTERN)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TokenRequest:
    """What to mint a token for, and as whom. Validated on construction."""

    cluster_name: str
    region: str | None = None
    role_arn: str | None = None
    role_session_name: str = DEFAULT_SESSION_NAME
    external_id: str | None = None
    profile: str | None = None

    def __post_init__(self) -> None:
        if not _CLUSTER_NAME_RE.match(self.cluster_name):
            raise InvalidInputError(
                f"cluster name {self.cluster_name!r} is not an EKS cluster name "
                "(1-100 letters, digits, '-' or '_', starting with a letter or digit)"
            )
        if self.role_arn is not None and not _ROLE_ARN_RE.match(self.role_arn):
            raise InvalidInputError(
                f"role ARN {self.role_arn!r} is not an IAM role ARN "
                "(arn:aws:iam::123456789012:role/NAME)"
            )
        if not _SESSION_NAME_RE.match(self.role_session_name):
            raise InvalidInputError(
                f"role session name {self.role_session_name!r} must be 2-64 characters "
                "of letters, digits and +=,.@_-"
            )
        if self.external_id is not None and not _EXTERNAL_ID_RE.match(self.external_id):
            raise InvalidInputError("external id must be 2-1224 characters of [\\w+=,.@:/-]")


@dataclass(frozen=True)
class EksToken:
    token: str = field(repr=False)
    expiration: datetime

    @property
    def expiration_timestamp(self) -> str:
        """RFC 3339 to the second, as `aws eks get-token` writes it."""
        return self.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")


def token_expiration(now: datetime, credentials_expiry: datetime | None) -> datetime:
    """14 minutes from now, capped by the credentials' own expiry minus a margin."""
    expiration = now + TOKEN_LIFETIME
    if credentials_expiry is None:
        return expiration
    usable_until = credentials_expiry - CREDENTIAL_EXPIRY_MARGIN
    if usable_until <= now:
        raise CredentialsError(
            f"the AWS credentials expire at {credentials_expiry.isoformat()}, too soon to sign "
            "a token; refresh them (for example `aws sso login`) and try again"
        )
    return min(expiration, usable_until)


def mint_token(
    cluster_name: str, credentials: Credentials, target: StsTarget, now: datetime
) -> EksToken:
    """Sign a token for ``cluster_name``; no network call."""
    url = presign_get_caller_identity(
        endpoint_url=target.endpoint_url,
        region=target.region,
        credentials=credentials,
        cluster_id=cluster_name,
        now=now,
        expires_seconds=PRESIGN_EXPIRES_SECONDS,
    )
    encoded = base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    return EksToken(TOKEN_PREFIX + encoded, token_expiration(now, credentials.expiry))


def resolve_signer(
    request: TokenRequest, environ: Mapping[str, str] = os.environ
) -> tuple[Credentials, StsTarget]:
    """The credentials (after any role assumption) and STS target for ``request``."""
    return resolve_credentials(
        request.region,
        request.role_arn,
        environ,
        profile=request.profile,
        session_name=request.role_session_name,
        external_id=request.external_id,
    )


def get_token(
    request: TokenRequest, environ: Mapping[str, str] = os.environ, clock: Clock = utc_now
) -> EksToken:
    credentials, target = resolve_signer(request, environ)
    return mint_token(request.cluster_name, credentials, target, clock())
