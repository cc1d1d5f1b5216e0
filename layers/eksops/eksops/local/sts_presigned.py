"""STS answering GetCallerIdentity as AWS does, presigned GETs included: how EKS checks a token.

An EKS token is such a URL; the cluster (aws-iam-authenticator) replays it with the header
``x-k8s-aws-id: <its own name>``, and STS's signature check is what refuses a token minted for
another cluster. moto 5.2 routes a query-signed request without an Authorization header to S3,
answers with its default user instead of the signer, and checks no signature. ``install()``
adapts the three, and verifies signatures by signing again with ``eksops.sigv4``.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from eksops.sigv4 import CLUSTER_ID_HEADER, Credentials, presign_get_caller_identity

_MARK = "_eksops_sts_presigned"


def signature_matches(url: str, cluster_id: str, secret_key: str) -> bool:
    """Whether ``url`` is a GetCallerIdentity presigned with ``secret_key`` for ``cluster_id``."""
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items() if len(values) == 1}
    scope = query.get("X-Amz-Credential", "").split("/")
    if len(scope) != 5 or query.get("X-Amz-SignedHeaders") != f"host;{CLUSTER_ID_HEADER}":
        return False
    try:
        signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(query["X-Amz-Expires"])
    except (KeyError, ValueError):
        return False
    credentials = Credentials(scope[0], secret_key, query.get("X-Amz-Security-Token"))
    expected = presign_get_caller_identity(
        endpoint_url=f"{parts.scheme}://{parts.netloc}{parts.path}",
        region=scope[2],
        credentials=credentials,
        cluster_id=cluster_id,
        now=signed_at,
        expires_seconds=expires,
    )
    expected_signature = parse_qs(urlsplit(expected).query)["X-Amz-Signature"][0]
    return hmac.compare_digest(expected_signature, query.get("X-Amz-Signature", ""))


def secret_for(account_id: str, access_key_id: str) -> str | None:
    """The secret of an access key the offline account issued (IAM user or assumed role)."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    role = sts_backends[account_id]["aws"].get_assumed_role_from_access_key(access_key_id)
    if role is not None:
        return role.secret_access_key
    user = iam_backends[account_id]["aws"].get_user_from_access_key_id(access_key_id)
    if user is not None:
        return next(
            key.secret_access_key for key in user.access_keys if key.access_key_id == access_key_id
        )
    return None


def install() -> None:
    from moto.core.exceptions import SignatureDoesNotMatchError
    from moto.core.responses import BaseResponse
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sts.models import STSBackend
    from moto.sts.responses import TokenResponse

    if getattr(TokenResponse, _MARK, False):
        return
    backend_identity = STSBackend.get_caller_identity

    def identity_or_root(self: Any, access_key_id: str, region: str) -> tuple[str, str, str]:
        """A key the account never issued is its root (moto answered `sts::<acct>:user/moto`,
        an ARN AWS never returns and aws-iam-authenticator refuses)."""
        user_id, arn, account_id = backend_identity(self, access_key_id, region)
        if arn.endswith(":user/moto"):
            return account_id, f"arn:{arn.split(':')[1]}:iam::{account_id}:root", account_id
        return user_id, arn, account_id

    infer = DomainDispatcherApplication.infer_service_region_host
    get_access_key = BaseResponse.get_access_key
    get_caller_identity = TokenResponse.get_caller_identity

    def infer_from_credential_scope(self: Any, environ: dict[str, Any], path: str) -> Any:
        """A query-signed request names its service in X-Amz-Credential, as AWS routes it."""
        scope = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential", [""])[0]
        parts = scope.split("/")
        if not environ.get("HTTP_AUTHORIZATION") and len(parts) == 5:
            return f"{parts[3]}.{parts[2]}.amazonaws.com"
        return infer(self, environ, path)

    def access_key_from_query(self: Any) -> str:
        """The signer of a query-signed request is the key in X-Amz-Credential."""
        if "Authorization" not in self.headers and self.querystring.get("X-Amz-Credential"):
            return self.querystring["X-Amz-Credential"][0].split("/")[0]
        return get_access_key(self)

    def checked_caller_identity(self: Any) -> Any:
        """A presigned request whose signature does not match is refused, as STS does. Keys
        the offline account never issued (any key works offline) have no secret to check."""
        if "X-Amz-Signature" in self.querystring:
            secret = secret_for(self.current_account, self.get_access_key())
            url = (
                f"http://{self.headers['Host']}/?{self.normalized_request.environ['QUERY_STRING']}"
            )
            cluster_id = self.headers.get(CLUSTER_ID_HEADER, "")
            if secret is not None and not signature_matches(url, cluster_id, secret):
                raise SignatureDoesNotMatchError()
        return get_caller_identity(self)

    STSBackend.get_caller_identity = identity_or_root
    DomainDispatcherApplication.infer_service_region_host = infer_from_credential_scope
    BaseResponse.get_access_key = access_key_from_query
    TokenResponse.get_caller_identity = checked_caller_identity
    setattr(TokenResponse, _MARK, True)
