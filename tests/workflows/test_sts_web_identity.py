"""IRSA offline: the offline STS's AssumeRoleWithWebIdentity checks service-account tokens as
AWS does (OIDC provider in the account, signature, expiry, audience, the role's trust policy)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from eksops.local import sts_web_identity
from eksops.local.account import ACCOUNT_ID, OfflineAccount
from eksops.local.kube.service_account_tokens import (
    ServiceAccountIssuer,
    register_issuer,
    unregister_issuer,
)
from eksops.local.sts_web_identity import condition_holds, provider_url, trust_allows

ISSUER = "https://oidc.eks.us-west-2.amazonaws.com/id/5E7C0FFEE0123456789ABCDEF0123456"
UNREGISTERED = "https://oidc.eks.us-west-2.amazonaws.com/id/0000000000000000000000000000DEAD"
NO_PROVIDER = "https://oidc.eks.us-west-2.amazonaws.com/id/FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
THUMBPRINT = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
SUBJECT = "system:serviceaccount:team:app"


def irsa_trust(provider_arn: str, host: str, sub: str = SUBJECT, operator: str = "StringEquals"):
    """The trust policy SetupIrsa writes: exactly one service account, aud sts.amazonaws.com."""
    condition = {"StringEquals": {f"{host}:aud": "sts.amazonaws.com"}}
    condition.setdefault(operator, {})[f"{host}:sub"] = sub
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        ],
    }


@pytest.fixture(scope="module")
def issuer() -> Iterator[ServiceAccountIssuer]:
    cluster = ServiceAccountIssuer(ISSUER)
    register_issuer(cluster)
    yield cluster
    unregister_issuer(ISSUER)


@pytest.fixture(scope="module")
def account(issuer: ServiceAccountIssuer) -> Iterator[OfflineAccount]:
    sts_web_identity.install()
    with OfflineAccount(template=None, region="us-west-2") as offline:
        iam = offline.client("iam")
        for url, client_ids in (
            (ISSUER, ["sts.amazonaws.com", "other.example"]),
            (UNREGISTERED, ["sts.amazonaws.com"]),
        ):
            provider_arn = iam.create_open_id_connect_provider(
                Url=url, ClientIDList=client_ids, ThumbprintList=[THUMBPRINT]
            )["OpenIDConnectProviderArn"]
            host = provider_url(url)
            name = "app" if url == ISSUER else "unregistered"
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(irsa_trust(provider_arn, host)),
            )
        host = provider_url(ISSUER)
        iam.create_role(
            RoleName="team-wide",
            AssumeRolePolicyDocument=json.dumps(
                irsa_trust(
                    f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}",
                    host,
                    "system:serviceaccount:team:*",
                    "StringLike",
                )
            ),
            MaxSessionDuration=7200,
        )
        yield offline


@pytest.fixture(scope="module")
def sts(account: OfflineAccount):
    # one client for the module: botocore's modelled exception classes belong to their client
    return account.client("sts")


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"


def now() -> datetime:
    return datetime.now(UTC)


def token(
    issuer: ServiceAccountIssuer,
    name: str = "app",
    audiences: list[str] | None = None,
    issued: datetime | None = None,
    seconds: int = 3600,
) -> str:
    audiences = ["sts.amazonaws.com"] if audiences is None else audiences
    return issuer.issue("team", name, "uid-1", audiences, seconds, issued or now())[0]


def assume(sts, web_token: str, role: str = "app", **kwargs) -> dict:
    return sts.assume_role_with_web_identity(
        RoleArn=role_arn(role), RoleSessionName="irsa-test", WebIdentityToken=web_token, **kwargs
    )


def refused(sts, web_token: str, role: str = "app") -> dict:
    with pytest.raises(ClientError) as caught:
        assume(sts, web_token, role)
    return caught.value.response


def test_good_token_assumes_the_role(
    account: OfflineAccount, sts, issuer: ServiceAccountIssuer
) -> None:
    response = assume(sts, token(issuer))

    assert response["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/app/irsa-test"
    )
    assert response["AssumedRoleUser"]["AssumedRoleId"].endswith(":irsa-test")
    assert response["SubjectFromWebIdentityToken"] == SUBJECT
    assert response["Audience"] == "sts.amazonaws.com"
    assert response["Provider"] == ISSUER
    credentials = response["Credentials"]
    caller = (
        account.session()
        .client(
            "sts",
            endpoint_url=account.endpoint_url,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        .get_caller_identity()
    )
    assert caller["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/app/irsa-test"


def test_wrong_subject_is_access_denied(sts, issuer: ServiceAccountIssuer) -> None:
    response = refused(sts, token(issuer, name="intruder"))

    assert response["Error"]["Code"] == "AccessDenied"
    assert response["Error"]["Message"] == "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_audience_not_a_client_id_is_an_invalid_token(sts, issuer: ServiceAccountIssuer) -> None:
    with pytest.raises(sts.exceptions.InvalidIdentityTokenException) as caught:
        assume(sts, token(issuer, audiences=["https://kubernetes.default.svc"]))

    assert caught.value.response["Error"]["Message"] == "Incorrect token audience"


def test_audience_the_trust_policy_does_not_allow_is_access_denied(
    sts, issuer: ServiceAccountIssuer
) -> None:
    # a client ID of the provider, but the role's condition wants sts.amazonaws.com
    response = refused(sts, token(issuer, audiences=["other.example"]))

    assert response["Error"]["Code"] == "AccessDenied"


def test_expired_token(sts, issuer: ServiceAccountIssuer) -> None:
    stale = token(issuer, issued=now() - timedelta(hours=2), seconds=3600)

    with pytest.raises(sts.exceptions.ExpiredTokenException) as caught:
        assume(sts, stale)

    assert caught.value.response["Error"]["Message"].startswith("Token expired: current date/time")


def test_tampered_signature_is_an_invalid_token(sts, issuer: ServiceAccountIssuer) -> None:
    header, payload, signature = token(issuer).split(".")
    flipped = ("A" if signature[10] != "A" else "B").join((signature[:10], signature[11:]))

    with pytest.raises(sts.exceptions.InvalidIdentityTokenException):
        assume(sts, f"{header}.{payload}.{flipped}")


def test_token_of_another_cluster_key_is_an_invalid_token(sts) -> None:
    impostor = ServiceAccountIssuer(ISSUER)  # right URL, key the cluster never had

    with pytest.raises(sts.exceptions.InvalidIdentityTokenException):
        assume(sts, token(impostor))


def test_issuer_without_keys_is_an_invalid_token(sts) -> None:
    # An OIDC provider exists for it, but no cluster serves its keys.
    with pytest.raises(sts.exceptions.InvalidIdentityTokenException) as caught:
        assume(sts, token(ServiceAccountIssuer(UNREGISTERED)), role="unregistered")

    assert "Couldn't retrieve verification key" in caught.value.response["Error"]["Message"]


def test_no_oidc_provider_in_the_account_is_an_invalid_token(sts) -> None:
    cluster = ServiceAccountIssuer(NO_PROVIDER)
    register_issuer(cluster)
    try:
        with pytest.raises(sts.exceptions.InvalidIdentityTokenException) as caught:
            assume(sts, token(cluster))
    finally:
        unregister_issuer(NO_PROVIDER)

    assert caught.value.response["Error"]["Message"] == (
        f"No OpenIDConnect provider found in your account for {NO_PROVIDER}"
    )


def test_garbage_token_is_an_invalid_token(sts) -> None:
    with pytest.raises(sts.exceptions.InvalidIdentityTokenException):
        assume(sts, "not-a-jwt")


def test_missing_role_is_access_denied(sts, issuer: ServiceAccountIssuer) -> None:
    response = refused(sts, token(issuer), role="no-such-role")

    assert response["Error"]["Code"] == "AccessDenied"


def test_string_like_trust_and_session_duration(sts, issuer: ServiceAccountIssuer) -> None:
    response = assume(sts, token(issuer, name="worker"), role="team-wide", DurationSeconds=7200)

    assert response["AssumedRoleUser"]["Arn"].endswith(":assumed-role/team-wide/irsa-test")
    with pytest.raises(ClientError) as caught:
        assume(sts, token(issuer, name="worker"), role="team-wide", DurationSeconds=7201)
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    # another namespace does not match system:serviceaccount:team:*
    other = issuer.issue("prod", "worker", "u", ["sts.amazonaws.com"], 3600, now())[0]
    assert refused(sts, other, role="team-wide")["Error"]["Code"] == "AccessDenied"


# --- trust policy conditions -----------------------------------------------------------------

HOST = provider_url(ISSUER)
PROVIDER = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{HOST}"
CONTEXT = {f"{HOST}:sub".lower(): [SUBJECT], f"{HOST}:aud".lower(): ["sts.amazonaws.com"]}


@pytest.mark.parametrize(
    ("operator", "wanted", "holds"),
    [
        ("StringEquals", SUBJECT, True),
        ("StringEquals", [SUBJECT, "other"], True),
        ("StringEquals", "system:serviceaccount:team:APP", False),
        ("StringEqualsIgnoreCase", "SYSTEM:serviceaccount:team:APP", True),
        ("StringNotEquals", "system:serviceaccount:team:other", True),
        ("StringNotEquals", SUBJECT, False),
        ("StringLike", "system:serviceaccount:team:*", True),
        ("StringLike", "system:serviceaccount:team:a?p", True),
        ("StringLike", "system:serviceaccount:team:a?", False),
        ("StringLike", "system:serviceaccount:*:other", False),
        ("StringNotLike", "system:serviceaccount:kube-system:*", True),
        ("ForAnyValue:StringLike", "*:team:*", True),
        ("ForAllValues:StringEquals", ["x", SUBJECT], True),
        ("StringEqualsIfExists", SUBJECT, True),
        ("NumericLessThan", "5", False),  # unknown to the offline engine: deny
        ("ArnLike", "*", False),
    ],
)
def test_conditions_on_sub(operator: str, wanted, holds: bool) -> None:
    assert condition_holds(operator, f"{HOST}:sub", wanted, CONTEXT) is holds


@pytest.mark.parametrize(
    ("operator", "wanted", "holds"),
    [
        ("StringEquals", "pwd", False),
        ("StringNotEquals", "pwd", True),
        ("StringEqualsIfExists", "pwd", True),
        ("ForAnyValue:StringEquals", "pwd", False),
        ("ForAllValues:StringEquals", "pwd", True),
        ("Null", "true", True),
        ("Null", "false", False),
    ],
)
def test_conditions_on_a_missing_key(operator: str, wanted, holds: bool) -> None:
    assert condition_holds(operator, f"{HOST}:amr", wanted, CONTEXT) is holds


def test_condition_keys_are_case_insensitive() -> None:
    assert condition_holds("StringEquals", f"{HOST.upper()}:SUB", SUBJECT, CONTEXT)


def test_trust_policy_shapes() -> None:
    allow = irsa_trust(PROVIDER, HOST)
    assert trust_allows(json.dumps(allow), PROVIDER, CONTEXT)
    assert trust_allows(allow, PROVIDER, CONTEXT)
    # another provider's ARN, another action, an explicit Deny
    assert not trust_allows(allow, PROVIDER.replace("5E7C", "AAAA"), CONTEXT)
    other_action = json.loads(json.dumps(allow))
    other_action["Statement"][0]["Action"] = "sts:AssumeRole"
    assert not trust_allows(other_action, PROVIDER, CONTEXT)
    wildcard = json.loads(json.dumps(allow))
    wildcard["Statement"][0]["Action"] = ["sts:AssumeRoleWith*"]
    assert trust_allows(wildcard, PROVIDER, CONTEXT)
    denied = json.loads(json.dumps(allow))
    denied["Statement"].append(
        {"Effect": "Deny", "Principal": "*", "Action": "sts:*", "Condition": {}}
    )
    assert not trust_allows(denied, PROVIDER, CONTEXT)
    assert not trust_allows("not json", PROVIDER, CONTEXT)
