"""Service-account tokens: RS256 JWTs as an EKS cluster issues them, their JWKS and discovery
document, and the TokenRequest API's defaults and limits."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from eksops.errors import EksopsError
from eksops.local.kube.service_account_tokens import (
    EKS_API_AUDIENCES,
    ExpiredIdentityTokenError,
    InvalidIdentityTokenError,
    ServiceAccountIssuer,
    TokenRequestError,
    issuer_for,
    register_issuer,
    token_request_handler,
    unregister_issuer,
)

ISSUER = "https://oidc.eks.us-west-2.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
SA = {"metadata": {"name": "app", "namespace": "team", "uid": "5f0c-uid"}}


@pytest.fixture(scope="module")
def issuer() -> ServiceAccountIssuer:
    return ServiceAccountIssuer(ISSUER)


def b64url_json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def b64url_int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def test_token_is_a_kubernetes_bound_service_account_token(issuer: ServiceAccountIssuer) -> None:
    token, expires = issuer.issue("team", "app", "5f0c-uid", ["sts.amazonaws.com"], 3600, NOW)

    header_part, payload_part, _ = token.split(".")
    assert b64url_json(header_part) == {"alg": "RS256", "kid": issuer.kid}
    claims = b64url_json(payload_part)
    issued = int(NOW.timestamp())
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "system:serviceaccount:team:app"
    assert claims["aud"] == ["sts.amazonaws.com"]
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (issued, issued, issued + 3600)
    assert claims["kubernetes.io"] == {
        "namespace": "team",
        "serviceaccount": {"name": "app", "uid": "5f0c-uid"},
    }
    assert claims["jti"]
    assert expires == NOW + timedelta(hours=1)


def test_round_trip_verifies(issuer: ServiceAccountIssuer) -> None:
    token, _ = issuer.issue("team", "app", "u", ["sts.amazonaws.com"], 3600, NOW)

    claims = issuer.verify(token, NOW + timedelta(minutes=59))

    assert claims["sub"] == "system:serviceaccount:team:app"
    assert issuer.verify(token, NOW, audiences=["sts.amazonaws.com"])["aud"] == [
        "sts.amazonaws.com"
    ]


def test_signature_is_rs256_over_the_signing_input_with_the_published_key(
    issuer: ServiceAccountIssuer,
) -> None:
    # Checked with the JWKS alone, as STS or any OIDC relying party would.
    token, _ = issuer.issue("team", "app", "u", None, 3600, NOW)
    (key,) = issuer.jwks()["keys"]
    public = rsa.RSAPublicNumbers(b64url_int(key["e"]), b64url_int(key["n"])).public_key()
    signing_input, _, signature = token.rpartition(".")

    public.verify(
        base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
        signing_input.encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_default_audience_is_the_eks_api_servers(issuer: ServiceAccountIssuer) -> None:
    token, _ = issuer.issue("team", "app", "u", [], 3600, NOW)

    assert issuer.verify(token, NOW)["aud"] == list(EKS_API_AUDIENCES)
    assert EKS_API_AUDIENCES == ("https://kubernetes.default.svc",)


def test_upstream_default_audience_is_the_issuer_when_no_api_audiences() -> None:
    upstream = ServiceAccountIssuer(ISSUER, api_audiences=[])

    token, _ = upstream.issue("team", "app", "u", None, 3600, NOW)

    assert upstream.verify(token, NOW)["aud"] == [ISSUER]


def tamper(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    claims = b64url_json(payload)
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_tampered_payload_is_rejected(issuer: ServiceAccountIssuer) -> None:
    token, _ = issuer.issue("team", "app", "u", ["sts.amazonaws.com"], 3600, NOW)
    forged = tamper(token, sub="system:serviceaccount:kube-system:admin")

    with pytest.raises(InvalidIdentityTokenError, match="signature"):
        issuer.verify(forged, NOW)


def test_token_of_another_key_is_rejected(issuer: ServiceAccountIssuer) -> None:
    other = ServiceAccountIssuer(ISSUER)  # same URL, new key: a re-created cluster
    token, _ = other.issue("team", "app", "u", ["sts.amazonaws.com"], 3600, NOW)
    assert other.kid != issuer.kid

    with pytest.raises(InvalidIdentityTokenError):
        issuer.verify(token, NOW)
    # the same key id with another key's signature still fails on the signature
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "RS256", "kid": issuer.kid}).encode()
    ).rstrip(b"=")
    _, payload, signature = token.split(".")
    with pytest.raises(InvalidIdentityTokenError, match="signature"):
        issuer.verify(f"{header.decode()}.{payload}.{signature}", NOW)


def test_expired_token_is_rejected_as_expired(issuer: ServiceAccountIssuer) -> None:
    token, expires = issuer.issue("team", "app", "u", ["sts.amazonaws.com"], 600, NOW)

    issuer.verify(token, expires - timedelta(seconds=1))
    with pytest.raises(ExpiredIdentityTokenError) as caught:
        issuer.verify(token, expires)

    assert caught.value.expires == int(expires.timestamp())
    assert isinstance(caught.value, InvalidIdentityTokenError)
    assert isinstance(caught.value, EksopsError)


def test_token_not_yet_valid_is_rejected(issuer: ServiceAccountIssuer) -> None:
    token, _ = issuer.issue("team", "app", "u", ["sts.amazonaws.com"], 3600, NOW)

    with pytest.raises(InvalidIdentityTokenError, match="not valid yet"):
        issuer.verify(token, NOW - timedelta(minutes=5))


def test_audience_mismatch_is_rejected_when_asked(issuer: ServiceAccountIssuer) -> None:
    token, _ = issuer.issue("team", "app", "u", ["sts.amazonaws.com"], 3600, NOW)

    with pytest.raises(InvalidIdentityTokenError, match="audience"):
        issuer.verify(token, NOW, audiences=list(EKS_API_AUDIENCES))


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "e30.e30.!!!", "bm90IGpzb24.e30.c2ln", "W10.e30.c2ln"],
)
def test_malformed_tokens_are_rejected(issuer: ServiceAccountIssuer, token: str) -> None:
    with pytest.raises(InvalidIdentityTokenError) as caught:
        issuer.verify(token, NOW)

    assert type(caught.value).__name__ == "eksops.InvalidIdentityToken"


def test_unsigned_alg_none_is_rejected(issuer: ServiceAccountIssuer) -> None:
    token, _ = issuer.issue("team", "app", "u", ["sts.amazonaws.com"], 3600, NOW)
    _, payload, _ = token.split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()

    with pytest.raises(InvalidIdentityTokenError):
        issuer.verify(f"{header}.{payload}.", NOW)


def test_kid_is_stable_and_derived_from_the_key(issuer: ServiceAccountIssuer) -> None:
    assert issuer.jwks()["keys"][0]["kid"] == issuer.kid
    assert issuer.jwks() == issuer.jwks()
    assert len(base64.urlsafe_b64decode(issuer.kid + "=")) == 32  # SHA-256 of the public key


def test_jwks_shape(issuer: ServiceAccountIssuer) -> None:
    (key,) = issuer.jwks()["keys"]

    assert set(key) == {"kty", "kid", "use", "alg", "n", "e"}
    assert (key["kty"], key["use"], key["alg"], key["e"]) == ("RSA", "sig", "RS256", "AQAB")
    assert b64url_int(key["n"]).bit_length() == 2048
    assert "=" not in key["n"]


def test_openid_configuration_shape(issuer: ServiceAccountIssuer) -> None:
    configuration = issuer.openid_configuration()

    assert configuration["issuer"] == ISSUER
    assert configuration["jwks_uri"] == f"{ISSUER}/keys"
    assert configuration["response_types_supported"] == ["id_token"]
    assert configuration["subject_types_supported"] == ["public"]
    assert configuration["id_token_signing_alg_values_supported"] == ["RS256"]


# --- TokenRequest ----------------------------------------------------------------------------


def test_token_request_defaults(issuer: ServiceAccountIssuer) -> None:
    handle = token_request_handler(issuer)

    response = handle("team", "app", SA, {"apiVersion": "authentication.k8s.io/v1"}, NOW)

    assert response["kind"] == "TokenRequest"
    assert response["apiVersion"] == "authentication.k8s.io/v1"
    assert response["metadata"] == {
        "name": "app",
        "namespace": "team",
        "creationTimestamp": "2025-03-01T12:00:00Z",
    }
    assert response["spec"]["expirationSeconds"] == 3600
    assert response["spec"]["audiences"] == list(EKS_API_AUDIENCES)
    assert response["status"]["expirationTimestamp"] == "2025-03-01T13:00:00Z"
    claims = issuer.verify(response["status"]["token"], NOW)
    assert claims["sub"] == "system:serviceaccount:team:app"
    assert claims["kubernetes.io"]["serviceaccount"] == {"name": "app", "uid": "5f0c-uid"}
    assert claims["exp"] - claims["iat"] == 3600


def test_token_request_with_audiences_and_lifetime(issuer: ServiceAccountIssuer) -> None:
    body = {"spec": {"audiences": ["sts.amazonaws.com"], "expirationSeconds": 86400}}

    response = token_request_handler(issuer)("team", "app", SA, body, NOW)

    assert response["spec"]["audiences"] == ["sts.amazonaws.com"]
    assert response["status"]["expirationTimestamp"] == "2025-03-02T12:00:00Z"
    claims = issuer.verify(response["status"]["token"], NOW, audiences=["sts.amazonaws.com"])
    assert claims["aud"] == ["sts.amazonaws.com"]


@pytest.mark.parametrize("seconds", [0, 1, 599, -3600])
def test_token_request_under_ten_minutes_is_invalid(
    issuer: ServiceAccountIssuer, seconds: int
) -> None:
    body = {"spec": {"expirationSeconds": seconds}}

    with pytest.raises(TokenRequestError) as caught:
        token_request_handler(issuer)("team", "app", SA, body, NOW)

    status = caught.value.status
    assert (status["code"], status["reason"], status["kind"]) == (422, "Invalid", "Status")
    assert status["message"] == (
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: '
        f"Invalid value: {seconds}: may not specify a duration less than 10 minutes"
    )
    assert status["details"]["causes"][0]["field"] == "spec.expirationSeconds"


def test_token_request_at_ten_minutes_is_accepted(issuer: ServiceAccountIssuer) -> None:
    body = {"spec": {"expirationSeconds": 600}}

    response = token_request_handler(issuer)("team", "app", SA, body, NOW)

    assert response["status"]["expirationTimestamp"] == "2025-03-01T12:10:00Z"


def test_token_request_over_the_maximum_is_shortened(issuer: ServiceAccountIssuer) -> None:
    body = {"spec": {"expirationSeconds": 30 * 86400}}

    response = token_request_handler(issuer)("team", "app", SA, body, NOW)
    short = token_request_handler(issuer, max_expiration_seconds=7200)("team", "app", SA, body, NOW)

    assert response["spec"]["expirationSeconds"] == 48 * 3600
    assert response["status"]["expirationTimestamp"] == "2025-03-03T12:00:00Z"
    assert short["spec"]["expirationSeconds"] == 7200
    claims = issuer.verify(short["status"]["token"], NOW)
    assert claims["exp"] - claims["iat"] == 7200


def test_token_request_beyond_two_to_the_32_seconds_is_invalid(
    issuer: ServiceAccountIssuer,
) -> None:
    with pytest.raises(TokenRequestError, match="larger than 2\\^32 seconds") as caught:
        token_request_handler(issuer)(
            "team", "app", SA, {"spec": {"expirationSeconds": (1 << 32) + 1}}, NOW
        )

    assert caught.value.code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"spec": {"expirationSeconds": "3600"}},
        {"spec": {"audiences": "sts.amazonaws.com"}},
        {"spec": []},
        {"spec": {"boundObjectRef": {"kind": "Deployment", "name": "x"}}},
    ],
)
def test_token_request_malformed_is_a_bad_request(issuer: ServiceAccountIssuer, body: dict) -> None:
    with pytest.raises(TokenRequestError) as caught:
        token_request_handler(issuer)("team", "app", SA, body, NOW)

    assert (caught.value.code, caught.value.status["reason"]) == (400, "BadRequest")


def test_token_request_name_must_match_the_service_account(
    issuer: ServiceAccountIssuer,
) -> None:
    with pytest.raises(TokenRequestError, match="must match the service account name") as caught:
        token_request_handler(issuer)("team", "app", SA, {"metadata": {"name": "other"}}, NOW)

    assert caught.value.code == 422


def test_token_request_bound_to_a_pod(issuer: ServiceAccountIssuer) -> None:
    pod = {"kind": "Pod", "apiVersion": "v1", "name": "app-0", "uid": "pod-uid"}

    response = token_request_handler(issuer)(
        "team", "app", SA, {"spec": {"boundObjectRef": pod}}, NOW
    )

    claims = issuer.verify(response["status"]["token"], NOW)
    assert claims["kubernetes.io"]["pod"] == {"name": "app-0", "uid": "pod-uid"}
    assert response["spec"]["boundObjectRef"] == pod


# --- registry --------------------------------------------------------------------------------


def test_registry_finds_issuers_by_url() -> None:
    url = "https://oidc.eks.eu-west-1.amazonaws.com/id/REGISTRY"
    first, second = ServiceAccountIssuer(url), ServiceAccountIssuer(url)
    try:
        assert issuer_for(url) is None
        register_issuer(first)
        assert issuer_for(url) is first
        assert issuer_for(url + "/") is first
        register_issuer(second)  # the cluster re-created: its new key replaces the old
        assert issuer_for(url) is second
    finally:
        unregister_issuer(url)
    assert issuer_for(url) is None


def test_registry_is_thread_safe() -> None:
    issuers = [ServiceAccountIssuer(f"https://oidc.example/id/T{i}") for i in range(4)]
    errors: list[BaseException] = []

    def churn(issuer: ServiceAccountIssuer) -> None:
        try:
            for _ in range(500):
                register_issuer(issuer)
                assert issuer_for(issuer.issuer_url) is issuer
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(i,)) for i in issuers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for issuer in issuers:
        unregister_issuer(issuer.issuer_url)

    assert errors == []
