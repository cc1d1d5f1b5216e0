"""EKS authentication offline: token checks as aws-iam-authenticator's server makes them, identity
by replaying the presigned STS request against a real in-process offline account, and EKS's
mapping of identities to Kubernetes users."""

from __future__ import annotations

import base64
import logging
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from eksops.aws_config import StsTarget
from eksops.eks_token import mint_token
from eksops.errors import EksopsError, InvalidInputError
from eksops.local.account import CREDENTIALS, OfflineAccount
from eksops.local.kube.authn import (
    AWS_STS_ORIGINS,
    CallerIdentity,
    ClusterAccess,
    PresignedRequest,
    TokenRejectedError,
    authenticator,
    canonicalize_arn,
    map_identity,
    parse_aws_auth,
    resolve_identity,
    verify_token,
)
from eksops.local.sts_presigned import signature_matches
from eksops.sigv4 import Credentials

NOW = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)
ENDPOINT = "http://127.0.0.1:4566"
ORIGINS = (ENDPOINT, *AWS_STS_ORIGINS)
KEYS = Credentials("AKIAEXAMPLEEXAMPLE00", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
PREFIX = "k8s-aws-v1."
ACCOUNT = "123456789012"
HTTP_TIMEOUT = 10


def mint(cluster: str = "demo", endpoint: str = ENDPOINT, region: str = "us-east-1") -> str:
    return mint_token(cluster, KEYS, StsTarget(region, endpoint), NOW).token


def url_of(token: str) -> str:
    body = token.removeprefix(PREFIX)
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def token_of(url: str) -> str:
    return PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def rejected(token: str, now: datetime = NOW, cluster: str = "demo") -> str:
    with pytest.raises(TokenRejectedError) as caught:
        verify_token(token, cluster, ORIGINS, now)
    assert caught.value.error_name == "eksops.TokenRejected"
    assert isinstance(caught.value, EksopsError)
    assert url_of(mint()) not in str(caught.value)  # the presigned URL never leaks
    return caught.value.reason


# --- verify_token ---------------------------------------------------------------------------------


def test_tokens_minted_by_eksops_are_accepted() -> None:
    request = verify_token(mint(), "demo", ORIGINS, NOW + timedelta(minutes=15))
    assert request.cluster_name == "demo"
    assert request.headers == {"x-k8s-aws-id": "demo"}
    assert request.access_key_id == KEYS.access_key
    assert request.signed_at == NOW
    assert request.url == url_of(mint())
    assert "X-Amz-Signature" not in repr(request)


def test_tokens_for_aws_sts_hosts_are_accepted() -> None:
    for region, endpoint in [
        ("us-east-1", "https://sts.amazonaws.com"),
        ("eu-west-1", "https://sts.eu-west-1.amazonaws.com"),
        ("cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn"),
    ]:
        assert verify_token(mint(endpoint=endpoint, region=region), "demo", ORIGINS, NOW)


REPLACE = [
    ("scheme", "http://127.0.0.1:4566/", "ftp://127.0.0.1:4566/", 'unexpected scheme "ftp"'),
    ("host", "127.0.0.1:4566", "sts.evil.example.com", "unexpected hostname"),
    ("port", "127.0.0.1:4566", "127.0.0.1:4567", "unexpected hostname"),
    ("https", "http://127.0.0.1:4566", "https://127.0.0.1:4566", "unexpected hostname"),
    ("path", "4566/?", "4566/sts/?", "unexpected path in pre-signed URL"),
    (
        "action",
        "Action=GetCallerIdentity",
        "Action=GetSessionToken",
        "unexpected action parameter in pre-signed URL",
    ),
    (
        "unsigned",
        "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
        "X-Amz-SignedHeaders=host",
        "client did not sign the x-k8s-aws-id header in the pre-signed URL",
    ),
    (
        "expires",
        "X-Amz-Expires=60",
        "X-Amz-Expires=901",
        "invalid X-Amz-Expires parameter in pre-signed URL: 901",
    ),
    (
        "negative",
        "X-Amz-Expires=60",
        "X-Amz-Expires=-1",
        "invalid X-Amz-Expires parameter in pre-signed URL: -1",
    ),
    (
        "not a number",
        "X-Amz-Expires=60",
        "X-Amz-Expires=6o",
        "invalid X-Amz-Expires parameter in pre-signed URL: 0",
    ),
    (
        "no date",
        "X-Amz-Date=20250304T120000Z&",
        "",
        "X-Amz-Date parameter must be present in pre-signed URL",
    ),
    (
        "bad date",
        "X-Amz-Date=20250304T120000Z",
        "X-Amz-Date=2025-03-04",
        "error parsing X-Amz-Date parameter 2025-03-04",
    ),
    ("bad escape", "Action=", "Act%zzion=", "malformed query parameter"),
]


@pytest.mark.parametrize(
    ("old", "new", "reason"), [case[1:] for case in REPLACE], ids=[c[0] for c in REPLACE]
)
def test_tampered_tokens_are_rejected(old: str, new: str, reason: str) -> None:
    url = url_of(mint())
    assert old in url
    assert rejected(token_of(url.replace(old, new, 1))).startswith(reason)


def test_extra_or_repeated_query_parameters_are_rejected() -> None:
    url = url_of(mint())
    assert rejected(token_of(url + "&X-Amz-User-Agent=x")) == (
        'non-whitelisted query parameter "X-Amz-User-Agent"'
    )
    assert rejected(token_of(url + "&Action=GetCallerIdentity")) == (
        "query parameter with multiple values not supported"
    )
    assert rejected(token_of(url + "&action=GetCallerIdentity")) == (
        "query parameter with multiple values not supported"
    )


def test_malformed_tokens_are_rejected() -> None:
    token = mint()
    assert rejected(token + "A" * (4097 - len(token))) == "token is too large"
    assert rejected("k8s-aws-v2." + token.removeprefix(PREFIX)).startswith(
        'token is missing expected "k8s-aws-v1." prefix'
    )
    assert rejected("Bearer " + token).startswith("token is missing expected")
    assert rejected(PREFIX + "not*base64").startswith("illegal base64 data")
    assert rejected(PREFIX + "aGVsbG8=").startswith("illegal base64 data")  # padded
    assert rejected(PREFIX + "A").startswith("illegal base64 data")
    assert rejected(PREFIX + base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="))


def test_tokens_expire_fifteen_minutes_after_signing() -> None:
    assert verify_token(mint(), "demo", ORIGINS, NOW + timedelta(minutes=15))
    reason = rejected(mint(), now=NOW + timedelta(minutes=15, seconds=1))
    assert reason == (
        "X-Amz-Date parameter is expired (15 minute expiration) 2025-03-04 12:00:00 +0000 UTC"
    )


def test_hosts_only_look_like_sts_are_rejected() -> None:
    for endpoint in [
        "https://sts.eu-west-1.amazonaws.com.evil.io",
        "https://sts.a.b.amazonaws.com",
    ]:
        assert rejected(mint(endpoint=endpoint)).startswith("unexpected hostname")


def test_bad_origins_and_naive_clocks_are_input_errors() -> None:
    with pytest.raises(InvalidInputError):
        verify_token(mint(), "demo", ["127.0.0.1:4566"], NOW)
    with pytest.raises(InvalidInputError):
        verify_token(mint(), "demo", ORIGINS, NOW.replace(tzinfo=None))


def test_signatures_are_checked_with_the_cluster_header() -> None:
    url = url_of(mint())
    secret = KEYS.secret_key
    assert signature_matches(url, "demo", secret)
    assert not signature_matches(url, "other", secret)
    assert not signature_matches(url, "demo", secret + "x")


# --- canonical ARNs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "canonical"),
    [
        ("arn:aws:iam::123456789012:user/Bob", "arn:aws:iam::123456789012:user/Bob"),
        ("arn:aws:iam::123456789012:user/team/Bob", "arn:aws:iam::123456789012:user/team/Bob"),
        ("arn:aws:iam::123456789012:role/S3Access", "arn:aws:iam::123456789012:role/S3Access"),
        ("arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:root"),
        (
            "arn:aws:sts::123456789012:assumed-role/Accounting-Role/Mary",
            "arn:aws:iam::123456789012:role/Accounting-Role",
        ),
        (
            "arn:aws-cn:sts::123456789012:assumed-role/Admin/i-0123456789abcdef0",
            "arn:aws-cn:iam::123456789012:role/Admin",
        ),
        (
            "arn:aws:sts::123456789012:federated-user/Bob",
            "arn:aws:sts::123456789012:federated-user/Bob",
        ),
    ],
)
def test_canonical_arns(arn: str, canonical: str) -> None:
    assert canonicalize_arn(arn) == canonical


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:sts::123456789012:assumed-role/NoSession",
        "arn:aws:iam::123456789012:group/Admins",
        "arn:aws:s3:::bucket",
        "arn:nope:iam::123456789012:user/Bob",
        "not-an-arn",
    ],
)
def test_non_identity_arns_are_refused(arn: str) -> None:
    with pytest.raises(ValueError, match=r"arn|service|resource"):
        canonicalize_arn(arn)


# --- replay against the offline account -----------------------------------------------------------


@pytest.fixture(scope="module")
def account():
    with OfflineAccount(template=None) as offline:
        yield offline


def http_get(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def alice(account: OfflineAccount) -> Credentials:
    iam = account.client("iam")
    iam.create_user(UserName="alice", Path="/team/")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture(scope="module")
def deployer(account: OfflineAccount) -> tuple[Credentials, str]:
    iam = account.client("iam")
    role = iam.create_role(
        RoleName="deployer",
        Path="/ci/",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}',
    )["Role"]
    assumed = account.client("sts").assume_role(
        RoleArn=role["Arn"], RoleSessionName="alice@example.com"
    )["Credentials"]
    credentials = Credentials(
        assumed["AccessKeyId"], assumed["SecretAccessKey"], assumed["SessionToken"]
    )
    return credentials, role["RoleId"]


def offline_token(account: OfflineAccount, credentials: Credentials, cluster: str = "demo") -> str:
    target = StsTarget(account.region, account.endpoint_url)
    return mint_token(cluster, credentials, target, datetime.now(UTC)).token


def replay(account: OfflineAccount, token: str, cluster: str = "demo") -> CallerIdentity:
    request = verify_token(token, cluster, [account.endpoint_url], datetime.now(UTC))
    return resolve_identity(request, http_get)


def test_replay_identifies_an_iam_user(account: OfflineAccount, alice: Credentials) -> None:
    identity = replay(account, offline_token(account, alice))
    assert identity.arn == f"arn:aws:iam::{ACCOUNT}:user/team/alice"
    assert identity.canonical_arn == identity.arn
    assert identity.account_id == ACCOUNT
    assert identity.user_id == account.client("iam").get_user(UserName="alice")["User"]["UserId"]
    assert identity.session_name == ""
    assert identity.access_key_id == alice.access_key


def test_replay_identifies_an_assumed_role_by_its_role(account, deployer) -> None:
    credentials, role_id = deployer
    identity = replay(account, offline_token(account, credentials))
    assert identity.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/alice@example.com"
    assert identity.canonical_arn == f"arn:aws:iam::{ACCOUNT}:role/deployer"  # path dropped
    assert identity.user_id == role_id
    assert identity.session_name == "alice@example.com"
    assert identity.access_key_id == credentials.access_key


def test_a_token_for_another_cluster_fails_at_sts(account, alice) -> None:
    with pytest.raises(TokenRejectedError) as caught:
        replay(account, offline_token(account, alice, cluster="other"), cluster="demo")
    assert caught.value.reason == "error from AWS (expected 200, got 403)"


def test_keys_the_account_never_issued_act_as_its_default_principal(account) -> None:
    """Offline, any key works (moto's rule): one the account never issued is its root, and
    having no secret for it, STS cannot check its signature."""
    stranger = Credentials("AKIAUNKNOWNUNKNOWN00", "nope")
    identity = replay(account, offline_token(account, stranger))
    assert identity.arn == f"arn:aws:iam::{ACCOUNT}:root"


def test_a_wrong_signature_of_an_issued_key_is_rejected(account, alice) -> None:
    forged = Credentials(alice.access_key, "not-the-secret")
    with pytest.raises(TokenRejectedError, match="expected 200, got 403"):
        replay(account, offline_token(account, forged))


def test_bad_answers_are_rejected() -> None:
    request = PresignedRequest("http://127.0.0.1:1/", "demo", "AKIA", NOW)

    def answer(body: bytes):
        return lambda url, headers: (200, body)

    for body, reason in [
        (b"<html/>", "unexpected GetCallerIdentity answer"),
        (b"not xml", "unexpected GetCallerIdentity answer"),
        (
            b'{"GetCallerIdentityResponse":{"GetCallerIdentityResult":'
            b'{"Arn":"arn:aws:s3:::b","Account":"1","UserId":"A"}}}',
            "service s3",
        ),
        (
            b'{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Arn":'
            b'"arn:aws:iam::123456789012:user/x","Account":"1","UserId":"A:b:c"}}}',
            "malformed UserID",
        ),
    ]:
        with pytest.raises(TokenRejectedError) as caught:
            resolve_identity(request, answer(body))
        assert reason in caught.value.reason

    def unreachable(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        raise ConnectionRefusedError(url)

    with pytest.raises(TokenRejectedError, match="error during GET: ConnectionRefusedError"):
        resolve_identity(request, unreachable)


def test_json_answers_are_understood() -> None:
    body = (
        b'{"GetCallerIdentityResponse":{"GetCallerIdentityResult":{"Arn":'
        b'"arn:aws:sts::123456789012:assumed-role/r/s","Account":"123456789012",'
        b'"UserId":"AROAXXXX:s"},"ResponseMetadata":{"RequestId":"x"}}}'
    )
    request = PresignedRequest("https://sts.amazonaws.com/", "demo", "ASIAX", NOW)
    identity = resolve_identity(request, lambda url, headers: (200, body))
    assert identity == CallerIdentity(
        arn="arn:aws:sts::123456789012:assumed-role/r/s",
        canonical_arn="arn:aws:iam::123456789012:role/r",
        account_id="123456789012",
        user_id="AROAXXXX",
        session_name="s",
        access_key_id="ASIAX",
    )


# --- mapping --------------------------------------------------------------------------------------

ROLE = f"arn:aws:iam::{ACCOUNT}:role/deployer"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/nodes"
USER = f"arn:aws:iam::{ACCOUNT}:user/team/alice"
ROLE_IDENTITY = CallerIdentity(
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/alice@example.com",
    canonical_arn=ROLE,
    account_id=ACCOUNT,
    user_id="AROADEPLOYER",
    session_name="alice@example.com",
    access_key_id="ASIADEPLOYER",
)
NODE_IDENTITY = CallerIdentity(
    arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/nodes/i-0123456789abcdef0",
    canonical_arn=NODE_ROLE,
    account_id=ACCOUNT,
    user_id="AROANODES",
    session_name="i-0123456789abcdef0",
    access_key_id="ASIANODE",
)
USER_IDENTITY = CallerIdentity(
    arn=USER, canonical_arn=USER, account_id=ACCOUNT, user_id="AIDAALICE", access_key_id="AKIAA"
)
AWS_AUTH = {
    "mapRoles": f"""
- rolearn: {NODE_ROLE}
  username: system:node:{{{{EC2PrivateDNSName}}}}
  groups: [system:bootstrappers, system:nodes]
- rolearn: {ROLE.upper().replace("ARN:AWS:IAM", "arn:aws:iam")}
  username: "ci:{{{{SessionName}}}}"
  groups:
    - "ci-{{{{AccountID}}}}"
    - "raw-{{{{SessionNameRaw}}}}"
    - "key-{{{{AccessKeyID}}}}"
""",
    "mapUsers": f"""
- userArn: {USER}
  username: alice
  groups: [viewers]
""",
}


def dns(instance_id: str) -> str | None:
    return {"i-0123456789abcdef0": "ip-10-0-1-23.ec2.internal"}.get(instance_id)


def mapped(identity: CallerIdentity, mode: str = "API_AND_CONFIG_MAP", **kw):
    options = {"creator_arn": None, "access_entries": (), "aws_auth": AWS_AUTH}
    options.update(kw)
    return map_identity(identity, authentication_mode=mode, instance_private_dns=dns, **options)


def test_aws_auth_roles_render_templates_and_users_match_case_insensitively() -> None:
    user = mapped(ROLE_IDENTITY, "CONFIG_MAP")
    assert user.username == "ci:alice-example.com"
    assert user.groups == (
        f"ci-{ACCOUNT}",
        "raw-alice@example.com",
        "key-ASIADEPLOYER",
    )
    assert user.uid == f"aws-iam-authenticator:{ACCOUNT}:AROADEPLOYER"
    assert user.extra == {
        "arn": (ROLE_IDENTITY.arn,),
        "canonicalArn": (ROLE,),
        "sessionName": ("alice@example.com",),
        "accessKeyId": ("ASIADEPLOYER",),
        "principalId": ("AROADEPLOYER",),
    }
    assert user.access_policies == ()
    assert mapped(USER_IDENTITY, "CONFIG_MAP").username == "alice"
    assert mapped(USER_IDENTITY, "CONFIG_MAP").groups == ("viewers",)


def test_ec2_private_dns_name_comes_from_the_instance_in_the_session_name() -> None:
    node = mapped(NODE_IDENTITY, "CONFIG_MAP")
    assert node.username == "system:node:ip-10-0-1-23.ec2.internal"
    assert node.groups == ("system:bootstrappers", "system:nodes")
    # not an instance id, or an instance without a name: denied, no fallback
    assert mapped(replace(NODE_IDENTITY, session_name="me"), "CONFIG_MAP") is None
    assert mapped(replace(NODE_IDENTITY, session_name="i-0fffffffffffffff0"), "CONFIG_MAP") is None


def test_aws_auth_role_arns_with_paths_do_not_match() -> None:
    aws_auth = {"mapRoles": f"- rolearn: arn:aws:iam::{ACCOUNT}:role/ci/deployer\n  username: x\n"}
    assert mapped(ROLE_IDENTITY, "CONFIG_MAP", aws_auth=aws_auth) is None


def test_malformed_aws_auth_is_logged_and_the_rest_kept(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="eksops.local.kube.authn"):
        broken = {**AWS_AUTH, "mapRoles": "- rolearn: [unclosed\n  username: x"}
        assert mapped(ROLE_IDENTITY, "CONFIG_MAP", aws_auth=broken) is None
        assert mapped(USER_IDENTITY, "CONFIG_MAP", aws_auth=broken).username == "alice"
        odd = {
            "mapRoles": "just a string",
            "mapUsers": "- {userarn: 3}\n- nope",
            "mapAccounts": "{",
        }
        assert parse_aws_auth(odd).roles == parse_aws_auth(odd).users == ()
    assert "mapRoles is not valid YAML" in caplog.text
    assert "mapRoles is not a list" in caplog.text
    assert "mapUsers[1] is not a valid mapping" in caplog.text


def test_map_accounts_map_every_identity_of_the_account_to_its_arn() -> None:
    user = mapped(ROLE_IDENTITY, "CONFIG_MAP", aws_auth={"mapAccounts": f"- '{ACCOUNT}'\n"})
    assert user.username == ROLE
    assert user.groups == ()


def test_the_creator_is_bootstrap_admin_in_config_map_mode_only() -> None:
    creator = f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/somebody-else"
    admin = mapped(ROLE_IDENTITY, "CONFIG_MAP", creator_arn=creator, aws_auth=None)
    assert admin.username == "kubernetes-admin"
    assert admin.groups == ("system:masters",)
    # with access entries, the creator's rights are the access entry EKS made for it
    assert mapped(ROLE_IDENTITY, "API", creator_arn=creator) is None
    assert mapped(ROLE_IDENTITY, "API_AND_CONFIG_MAP", creator_arn=creator).username == (
        "ci:alice-example.com"
    )


ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


def entry(principal: str, **kw) -> dict:
    return {
        "clusterName": "demo",
        "principalArn": principal,
        "kubernetesGroups": [],
        "accessEntryArn": f"arn:aws:eks:us-east-1:{ACCOUNT}:access-entry/demo/x",
        "type": "STANDARD",
        **kw,
    }


def test_access_entries_come_before_aws_auth_and_carry_their_policies() -> None:
    entries = [
        entry(
            f"arn:aws:iam::{ACCOUNT}:role/ci/deployer",  # paths are fine in access entries
            associatedAccessPolicies=[
                {"policyArn": ADMIN_POLICY, "accessScope": {"type": "cluster"}},
                {
                    "policyArn": VIEW_POLICY,
                    "accessScope": {"type": "namespace", "namespaces": ["a", "b"]},
                },
            ],
        )
    ]
    user = mapped(ROLE_IDENTITY, access_entries=entries)
    # EKS's default username for a role: its assumed-role ARN (no path) with the session name
    assert user.username == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/alice-example.com"
    assert user.groups == ()
    assert user.access_policies == (
        (ADMIN_POLICY, "cluster", ()),
        (VIEW_POLICY, "namespace", ("a", "b")),
    )
    # CONFIG_MAP mode ignores access entries; API mode ignores aws-auth
    assert mapped(ROLE_IDENTITY, "CONFIG_MAP", access_entries=entries).username.startswith("ci:")
    assert mapped(USER_IDENTITY, "API", access_entries=entries) is None


def test_access_entry_usernames_and_groups() -> None:
    custom = entry(ROLE, username="dev:{{SessionNameRaw}}", kubernetesGroups=["devs"])
    user = mapped(ROLE_IDENTITY, "API", access_entries=[custom])
    assert (user.username, user.groups) == ("dev:alice@example.com", ("devs",))
    iam_user = mapped(USER_IDENTITY, "API", access_entries=[entry(USER)])
    assert iam_user.username == USER
    node = mapped(NODE_IDENTITY, "API", access_entries=[entry(NODE_ROLE, type="EC2_LINUX")])
    assert node.username == "system:node:ip-10-0-1-23.ec2.internal"
    assert node.groups == ("system:bootstrappers", "system:nodes")


def test_unmapped_identities_get_nothing() -> None:
    stranger = CallerIdentity(
        arn=f"arn:aws:iam::{ACCOUNT}:user/mallory",
        canonical_arn=f"arn:aws:iam::{ACCOUNT}:user/mallory",
        account_id=ACCOUNT,
        user_id="AIDAMALLORY",
    )
    for mode in ("CONFIG_MAP", "API", "API_AND_CONFIG_MAP"):
        assert mapped(stranger, mode, access_entries=[entry(ROLE)]) is None
    assert mapped(ROLE_IDENTITY, "CONFIG_MAP", aws_auth=None) is None
    with pytest.raises(InvalidInputError):
        mapped(ROLE_IDENTITY, "SOMETHING")


# --- the composed authenticator, end to end -------------------------------------------------------


def test_authenticator_from_bearer_token_to_user(account, alice, deployer) -> None:
    access = ClusterAccess(
        authentication_mode="API_AND_CONFIG_MAP",
        access_entries=[
            entry(
                f"arn:aws:iam::{ACCOUNT}:role/ci/deployer",
                associatedAccessPolicies=[
                    {"policyArn": ADMIN_POLICY, "accessScope": {"type": "cluster"}}
                ],
            )
        ],
        aws_auth={"mapUsers": f"- userarn: {USER}\n  username: alice\n  groups: [viewers]\n"},
    )
    authenticate = authenticator(
        cluster_name="demo",
        sts_endpoints=[account.endpoint_url, *AWS_STS_ORIGINS],
        fetch=http_get,
        cluster_access=lambda: access,
        instance_private_dns=dns,
    )
    assert authenticate(None) is None
    assert authenticate("k8s-aws-v1.garbage") is None
    alice_user = authenticate(offline_token(account, alice))
    assert (alice_user.username, alice_user.groups) == ("alice", ("viewers",))
    deployer_user = authenticate(offline_token(account, deployer[0]))
    assert deployer_user.username.endswith(":assumed-role/deployer/alice-example.com")
    assert deployer_user.access_policies == ((ADMIN_POLICY, "cluster", ()),)
    assert authenticate(offline_token(account, alice, cluster="other")) is None
    stranger = Credentials(CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    assert (
        authenticate(offline_token(account, stranger)) is None
    )  # keys unknown to IAM: moto's default user/moto, no IAM identity
