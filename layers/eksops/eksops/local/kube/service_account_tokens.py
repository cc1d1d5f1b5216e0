"""Service-account tokens as an EKS cluster issues them: RS256 JWTs shaped like Kubernetes' bound
service account tokens, signed by a per-cluster key, with the cluster's OIDC discovery document
and JWKS, so that IRSA can be verified offline (see ``eksops.local.sts_web_identity``).

- ``ServiceAccountIssuer(issuer_url)``: the key, ``issue``, ``verify``, ``openid_configuration``
  and ``jwks`` (what EKS serves at ``<issuer>/.well-known/openid-configuration`` and
  ``<issuer>/keys``).
- ``token_request_handler(issuer)``: ``POST .../serviceaccounts/<name>/token`` (TokenRequest,
  authentication.k8s.io/v1) with the API server's defaults and limits.
- ``register_issuer`` / ``issuer_for``: the process-wide registry the offline STS looks issuers
  up in, by their URL (the token's ``iss``).

Signing and verification use ``cryptography`` directly: RS256 is RSASSA-PKCS1-v1_5 with SHA-256
over ``base64url(header) "." base64url(payload)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from eksops.errors import EksopsError

# What EKS's API servers put in `aud` when a TokenRequest names no audience (their
# --api-audiences): tokens EKS issues by default carry ["https://kubernetes.default.svc"], not the
# issuer URL that upstream Kubernetes falls back to when --api-audiences is unset.
EKS_API_AUDIENCES = ("https://kubernetes.default.svc",)
DEFAULT_EXPIRATION_SECONDS = 3600  # TokenRequestSpec's default
MIN_EXPIRATION_SECONDS = 600  # "may not specify a duration less than 10 minutes"
MAX_VALID_EXPIRATION_SECONDS = 1 << 32  # "may not specify a duration larger than 2^32 seconds"
# --service-account-max-token-expiration: requests above it are shortened, not refused.
DEFAULT_MAX_EXPIRATION_SECONDS = 48 * 3600
KEY_SIZE = 2048
_PADDING = padding.PKCS1v15()


class InvalidIdentityTokenError(EksopsError):
    """A service-account token is malformed, not signed by the issuer, or not valid now."""

    error_name = "eksops.InvalidIdentityToken"


class ExpiredIdentityTokenError(InvalidIdentityTokenError):
    """A service-account token whose signature is good but whose `exp` has passed."""

    error_name = "eksops.ExpiredIdentityToken"

    def __init__(self, message: str, expires: int, now: int) -> None:
        super().__init__(message)
        self.expires = expires
        self.now = now


class TokenRequestError(EksopsError):
    """A TokenRequest the API server refuses; ``status`` is the Kubernetes Status to return."""

    error_name = "eksops.TokenRequestRefused"

    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(status["message"])
        self.status = status
        self.code: int = status["code"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not text or any(c not in _B64URL_ALPHABET for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _uint(number: int) -> str:
    return _b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


def _seconds(now: datetime) -> int:
    return int(now.timestamp())


def rfc3339(moment: datetime) -> str:
    """Kubernetes' metav1.Time in JSON: UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A compact JWS's header and claims, signature not checked (to find out who issued it)."""
    try:
        header_part, payload_part, signature_part = token.split(".")
        header = json.loads(_b64url_decode(header_part))
        claims = json.loads(_b64url_decode(payload_part))
        _b64url_decode(signature_part)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidIdentityTokenError("the token is not a well-formed JWT") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidIdentityTokenError("the token is not a well-formed JWT")
    return header, claims


def audiences_of(claims: Mapping[str, Any]) -> list[str]:
    """`aud` as a list (a JWT may carry a single string)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return list(aud)
    return []


class ServiceAccountIssuer:
    """One cluster's service-account token issuer: its OIDC issuer URL and RSA signing key."""

    def __init__(
        self,
        issuer_url: str,
        api_audiences: Iterable[str] = EKS_API_AUDIENCES,
        private_key: rsa.RSAPrivateKey | None = None,
    ) -> None:
        self.issuer_url = issuer_url.rstrip("/")
        self.api_audiences = list(api_audiences) or [self.issuer_url]
        self._key = private_key or rsa.generate_private_key(
            public_exponent=65537, key_size=KEY_SIZE
        )
        self._public = self._key.public_key()
        der = self._public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # As the API server derives it: base64url(SHA-256(PKIX DER of the public key)).
        self.kid = _b64url(hashlib.sha256(der).digest())

    def issue(
        self,
        namespace: str,
        name: str,
        uid: str,
        audiences: list[str] | None,
        expiration_seconds: int,
        now: datetime,
        bound_object: Mapping[str, Any] | None = None,
    ) -> tuple[str, datetime]:
        """A signed token for ServiceAccount ``namespace/name`` and when it expires.

        No audiences means the API server's own (``api_audiences``). ``bound_object`` is an
        optional ``{"kind": "Pod"|"Secret", "name", "uid"}`` the token is bound to."""
        issued = _seconds(now)
        expires = issued + expiration_seconds
        private: dict[str, Any] = {"namespace": namespace}
        if bound_object:
            kind = str(bound_object.get("kind", "")).lower()
            private[kind] = {
                "name": bound_object.get("name", ""),
                "uid": bound_object.get("uid", ""),
            }
        private["serviceaccount"] = {"name": name, "uid": uid}
        claims = {
            "aud": list(audiences or self.api_audiences),
            "exp": expires,
            "iat": issued,
            "iss": self.issuer_url,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": issued,
            "sub": f"system:serviceaccount:{namespace}:{name}",
        }
        return self.sign(claims), datetime.fromtimestamp(expires, UTC)

    def sign(self, claims: Mapping[str, Any]) -> str:
        """Any claims as an RS256 compact JWS under this issuer's key."""
        signing_input = (
            f"{_b64url(_json({'alg': 'RS256', 'kid': self.kid}))}.{_b64url(_json(claims))}"
        )
        signature = self._key.sign(signing_input.encode("ascii"), _PADDING, hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def verify(
        self, token: str, now: datetime, audiences: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """The claims of a token this issuer signed, valid at ``now`` (and, when ``audiences``
        is given, meant for one of them). Raises ``InvalidIdentityTokenError`` otherwise, or
        ``ExpiredIdentityTokenError`` when only its time has passed."""
        header, claims = decode_unverified(token)
        if header.get("alg") != "RS256":
            raise InvalidIdentityTokenError("the token is not signed with RS256")
        if header.get("kid") != self.kid:
            raise InvalidIdentityTokenError("the token was signed by a key this issuer lacks")
        signing_input, _, signature = token.rpartition(".")
        try:
            self._public.verify(
                _b64url_decode(signature), signing_input.encode("ascii"), _PADDING, hashes.SHA256()
            )
        except InvalidSignature as exc:
            raise InvalidIdentityTokenError("the token's signature does not verify") from exc
        if claims.get("iss") != self.issuer_url:
            raise InvalidIdentityTokenError("the token was issued by another issuer")
        current = _seconds(now)
        expires, not_before = claims.get("exp"), claims.get("nbf", claims.get("iat"))
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise InvalidIdentityTokenError("the token has no expiry")
        if isinstance(not_before, int | float) and current < not_before:
            raise InvalidIdentityTokenError("the token is not valid yet")
        if current >= expires:
            raise ExpiredIdentityTokenError("the token has expired", int(expires), current)
        if audiences is not None and not set(audiences_of(claims)) & set(audiences):
            raise InvalidIdentityTokenError("the token is not meant for this audience")
        return claims

    def openid_configuration(self) -> dict[str, Any]:
        """``<issuer>/.well-known/openid-configuration`` as EKS serves it."""
        return {
            "issuer": self.issuer_url,
            "jwks_uri": f"{self.issuer_url}/keys",
            "authorization_endpoint": "urn:kubernetes:programmatic_authorization",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "claims_supported": ["sub", "iss"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, Any]:
        """``<issuer>/keys``: the public signing key as a JSON Web Key Set."""
        numbers = self._public.public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "kid": self.kid,
                    "use": "sig",
                    "alg": "RS256",
                    "n": _uint(numbers.n),
                    "e": _uint(numbers.e),
                }
            ]
        }


# --- TokenRequest (POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token) ---------------


def _invalid(name: str, field: str, value: Any, detail: str) -> TokenRequestError:
    cause = f"Invalid value: {json.dumps(value)}: {detail}"
    return TokenRequestError(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f'TokenRequest.authentication.k8s.io "{name}" is invalid: {field}: {cause}',
            "reason": "Invalid",
            "details": {
                "name": name,
                "group": "authentication.k8s.io",
                "kind": "TokenRequest",
                "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": field}],
            },
            "code": 422,
        }
    )


def _bad_request(message: str) -> TokenRequestError:
    return TokenRequestError(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "BadRequest",
            "code": 400,
        }
    )


TokenRequestHandler = Callable[[str, str, Mapping[str, Any], Mapping[str, Any], datetime], dict]


def token_request_handler(
    issuer: ServiceAccountIssuer, max_expiration_seconds: int = DEFAULT_MAX_EXPIRATION_SECONDS
) -> TokenRequestHandler:
    """What the API server does for ``POST .../serviceaccounts/<name>/token``.

    The returned ``handle(namespace, name, service_account, body, now)`` gives the TokenRequest
    response object, or raises ``TokenRequestError`` carrying the Status to return (422 Invalid
    for a lifetime under 10 minutes or over 2^32 s, 400 for a body that is not a TokenRequest).
    Unset audiences become the API server's; unset ``expirationSeconds`` becomes 3600; longer
    than ``max_expiration_seconds`` is shortened to it, as ``--service-account-max-token-
    expiration`` does."""

    def handle(
        namespace: str,
        name: str,
        service_account: Mapping[str, Any],
        body: Mapping[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise _bad_request("the request body is not a TokenRequest object")
        metadata = {} if body.get("metadata") is None else body["metadata"]
        spec = {} if body.get("spec") is None else body["spec"]
        if not isinstance(metadata, Mapping) or not isinstance(spec, Mapping):
            raise _bad_request("the request body is not a TokenRequest object")
        if metadata.get("name") and metadata["name"] != name:
            raise _invalid(
                name,
                "metadata.name",
                metadata["name"],
                "must match the service account name if specified",
            )
        if metadata.get("namespace") and metadata["namespace"] != namespace:
            raise _invalid(
                name,
                "metadata.namespace",
                metadata["namespace"],
                "must match the service account namespace if specified",
            )
        audiences = spec.get("audiences") or list(issuer.api_audiences)
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise _bad_request("spec.audiences must be a list of strings")
        seconds = spec.get("expirationSeconds")
        if seconds is None:
            seconds = DEFAULT_EXPIRATION_SECONDS
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise _bad_request("spec.expirationSeconds must be an integer")
        if seconds < MIN_EXPIRATION_SECONDS:
            raise _invalid(
                "",
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration less than 10 minutes",
            )
        if seconds > MAX_VALID_EXPIRATION_SECONDS:
            raise _invalid(
                "",
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration larger than 2^32 seconds",
            )
        if max_expiration_seconds > 0 and seconds > max_expiration_seconds:
            seconds = max_expiration_seconds
        bound = spec.get("boundObjectRef") or None
        bound_object = None
        if bound is not None:
            if not isinstance(bound, Mapping) or bound.get("kind") not in ("Pod", "Secret"):
                kind = bound.get("kind") if isinstance(bound, Mapping) else bound
                raise _bad_request(f"cannot bind token to object of type {kind}")
            bound_object = bound
        sa_metadata = service_account.get("metadata") or {}
        token, expires = issuer.issue(
            namespace,
            name,
            str(sa_metadata.get("uid", "")),
            audiences,
            seconds,
            now,
            bound_object,
        )
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": rfc3339(now)},
            "spec": {
                "audiences": audiences,
                "expirationSeconds": seconds,
                "boundObjectRef": dict(bound) if bound else None,
            },
            "status": {"token": token, "expirationTimestamp": rfc3339(expires)},
        }

    return handle


# --- the registry the offline STS reads ------------------------------------------------------

_issuers: dict[str, ServiceAccountIssuer] = {}
_issuers_lock = threading.Lock()


def register_issuer(issuer: ServiceAccountIssuer) -> None:
    """Make ``issuer`` the one for its URL (a cluster created again gets a new key)."""
    with _issuers_lock:
        _issuers[issuer.issuer_url] = issuer


def unregister_issuer(issuer_url: str) -> None:
    """Forget the issuer of a deleted cluster; its tokens stop verifying."""
    with _issuers_lock:
        _issuers.pop(issuer_url.rstrip("/"), None)


def issuer_for(url: str) -> ServiceAccountIssuer | None:
    """The registered issuer whose URL is ``url`` (a token's ``iss``), if any."""
    with _issuers_lock:
        return _issuers.get(url.rstrip("/"))
