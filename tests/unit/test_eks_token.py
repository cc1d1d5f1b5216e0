"""Tokens are byte-identical to `aws eks get-token` (the AWS CLI's own code, run in-process with
a frozen clock), in every region and endpoint configuration, through both resolvers."""

from __future__ import annotations

import base64
import importlib
import json
from datetime import UTC, datetime, timedelta
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from awscli.clidriver import create_clidriver
from awscli.customizations.eks import get_token as awscli_get_token
from eksops import cli
from eksops.aws_config import StsTarget, _partitions, resolve_from_environment
from eksops.eks_token import (
    CREDENTIAL_EXPIRY_MARGIN,
    TokenRequest,
    get_token,
    mint_token,
    token_expiration,
)
from eksops.errors import CredentialsError, InvalidInputError
from eksops.sigv4 import Credentials
from moto import mock_aws

FROZEN = datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=UTC)


def aws_eks_get_token(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the AWS CLI's `eks get-token` in-process at FROZEN and return its stdout."""
    naive = FROZEN.replace(tzinfo=None)
    # awscli runs on its vendored botocore unless botocore was imported first: freeze whichever
    signer = importlib.import_module(awscli_get_token.botocore.__name__ + ".auth")
    with (
        mock.patch.object(signer, "get_current_datetime", return_value=naive),
        mock.patch.object(awscli_get_token, "get_current_datetime", return_value=naive),
    ):
        capsys.readouterr()
        assert create_clidriver().main(["eks", "get-token", *args]) == 0
        return capsys.readouterr().out


def eksops_token(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with mock.patch("eksops.eks_token.utc_now", return_value=FROZEN):
        capsys.readouterr()
        assert cli.main(["token", "--no-cache", *args]) == 0
        return capsys.readouterr().out


def presigned_url(token: str) -> str:
    assert token.startswith("k8s-aws-v1.")
    assert "=" not in token
    body = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


REGIONS = ["us-west-2", "eu-central-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1"]


@pytest.mark.parametrize("region", REGIONS)
def test_cli_output_byte_identical_to_aws_cli(aws_env, capsys, region: str) -> None:
    args = ("--cluster-name", "prod-eu", "--region", region)
    expected = aws_eks_get_token(capsys, *args)
    assert eksops_token(capsys, *args) == expected
    status = json.loads(expected)["status"]
    assert status["expirationTimestamp"] == "2026-11-22T09:44:15Z"
    assert urlsplit(presigned_url(status["token"])).netloc.startswith(f"sts.{region}.")


def test_session_token_and_env_region(aws_env, capsys, monkeypatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjE/+token==")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_REGION")
    expected = aws_eks_get_token(capsys, "--cluster-name", "c1")
    assert eksops_token(capsys, "--cluster-name", "c1") == expected
    query = parse_qs(urlsplit(presigned_url(json.loads(expected)["status"]["token"])).query)
    assert query["X-Amz-Security-Token"] == ["IQoJb3JpZ2luX2VjE/+token=="]
    assert query["X-Amz-Credential"][0].split("/")[2] == "eu-west-1"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"), ("AWS_ENDPOINT_URL_STS", "https://sts.local")],
)
def test_endpoint_override_honoured(aws_env, capsys, monkeypatch, variable, value) -> None:
    monkeypatch.setenv(variable, value)
    expected = aws_eks_get_token(capsys, "--cluster-name", "c1")
    assert eksops_token(capsys, "--cluster-name", "c1") == expected
    assert presigned_url(json.loads(expected)["status"]["token"]).startswith(value + "/?Action=")


@pytest.mark.parametrize(
    ("variable", "value", "host"),
    [
        ("AWS_USE_FIPS_ENDPOINT", "true", "sts-fips.us-east-2.amazonaws.com"),
        ("AWS_USE_DUALSTACK_ENDPOINT", "true", "sts.us-east-2.api.aws"),
    ],
)
def test_settings_beyond_the_fast_path_go_through_botocore(
    aws_env, capsys, monkeypatch, variable, value, host
) -> None:
    monkeypatch.setenv(variable, value)
    assert resolve_from_environment(__import__("os").environ, "us-east-2") is None
    args = ("--cluster-name", "c1", "--region", "us-east-2")
    expected = aws_eks_get_token(capsys, *args)
    assert eksops_token(capsys, *args) == expected
    assert urlsplit(presigned_url(json.loads(expected)["status"]["token"])).netloc == host


def test_profile_with_static_keys_and_region(aws_env, capsys, monkeypatch) -> None:
    (aws_env / ".aws").mkdir()
    (aws_env / ".aws" / "config").write_text("[profile ops]\nregion = ap-northeast-1\n")
    (aws_env / ".aws" / "credentials").write_text(
        "[ops]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile/secret\n"
    )
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_PROFILE", "ops")
    expected = aws_eks_get_token(capsys, "--cluster-name", "c1")
    assert eksops_token(capsys, "--cluster-name", "c1") == expected
    assert "AKIDPROFILE%2F20261122%2Fap-northeast-1" in presigned_url(
        json.loads(expected)["status"]["token"]
    )


def test_profile_endpoint_setting_defers_to_botocore(aws_env, capsys, monkeypatch) -> None:
    (aws_env / ".aws").mkdir()
    (aws_env / ".aws" / "config").write_text("[default]\nendpoint_url = http://localhost:9999\n")
    assert resolve_from_environment(__import__("os").environ, None) is None
    expected = aws_eks_get_token(capsys, "--cluster-name", "c1")
    assert eksops_token(capsys, "--cluster-name", "c1") == expected
    assert presigned_url(json.loads(expected)["status"]["token"]).startswith(
        "http://localhost:9999/"
    )


def test_every_partition_region_matches_botocore(aws_env, monkeypatch) -> None:
    """The fast path's endpoints agree with botocore's ruleset for every region it knows."""
    from eksops.aws_config import resolve_with_botocore

    environ = __import__("os").environ
    regions = [
        region
        for partition in _partitions()
        for region in partition["regions"]
        if not region.endswith("-global")
    ]
    assert len(regions) > 30
    for region in regions:
        fast = resolve_from_environment(environ, region)
        assert fast is not None
        assert fast == resolve_with_botocore(region, None, environ), region


@pytest.mark.parametrize(
    ("exec_info", "api_version"),
    [
        (None, "client.authentication.k8s.io/v1beta1"),
        (
            '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{}}',
            "client.authentication.k8s.io/v1",
        ),
        (
            '{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"}',
            "client.authentication.k8s.io/v1",
        ),
        (
            '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1"}',
            "client.authentication.k8s.io/v1alpha1",
        ),
        (
            '{"kind":"ExecCredential","apiVersion":"example.com/v9"}',
            "client.authentication.k8s.io/v1beta1",
        ),
        ("not json", "client.authentication.k8s.io/v1beta1"),
    ],
)
def test_kubernetes_exec_info_selects_api_version(
    aws_env, capsys, monkeypatch, exec_info, api_version
) -> None:
    if exec_info is not None:
        monkeypatch.setenv("KUBERNETES_EXEC_INFO", exec_info)
    expected = aws_eks_get_token(capsys, "--cluster-name", "c1")
    assert eksops_token(capsys, "--cluster-name", "c1") == expected
    assert json.loads(expected)["apiVersion"] == api_version


def test_role_assumption_signs_with_the_roles_credentials(aws_env, monkeypatch) -> None:
    with mock_aws():
        import boto3

        role = boto3.client("iam").create_role(
            RoleName="target", AssumeRolePolicyDocument="{}", Path="/eksops/"
        )["Role"]["Arn"]
        request = TokenRequest("c1", role_arn=role, external_id="ext-123")
        token = get_token(request, clock=lambda: FROZEN)
    query = parse_qs(urlsplit(presigned_url(token.token)).query)
    assert query["X-Amz-Credential"][0].startswith("ASIA")
    assert query["X-Amz-Security-Token"]
    # moto's assumed credentials last an hour: the 14-minute rule wins
    assert token.expiration == FROZEN + timedelta(minutes=14)


def test_expiry_capped_by_credentials_and_refused_when_too_close() -> None:
    soon = FROZEN + timedelta(minutes=10)
    assert token_expiration(FROZEN, None) == FROZEN + timedelta(minutes=14)
    assert token_expiration(FROZEN, soon) == soon - CREDENTIAL_EXPIRY_MARGIN
    with pytest.raises(CredentialsError, match="expire at"):
        token_expiration(FROZEN, FROZEN + CREDENTIAL_EXPIRY_MARGIN)


def test_env_credential_expiration_caps_the_token(aws_env, monkeypatch) -> None:
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", "2026-11-22T09:38:00Z")
    token = get_token(TokenRequest("c1"), clock=lambda: FROZEN)
    assert token.expiration_timestamp == "2026-11-22T09:33:00Z"


def test_mint_token_is_deterministic_and_keeps_secrets_out_of_repr() -> None:
    credentials = Credentials("AKID", "s3cr3t", "sessiontoken")
    target = StsTarget("us-west-2", "https://sts.us-west-2.amazonaws.com")
    first = mint_token("c1", credentials, target, FROZEN)
    assert first == mint_token("c1", credentials, target, FROZEN)
    assert first != mint_token("c2", credentials, target, FROZEN)
    for text in (repr(first), repr(credentials)):
        assert "s3cr3t" not in text
        assert "sessiontoken" not in text
        assert "k8s-aws-v1" not in text


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"cluster_name": ""},
        {"cluster_name": "-starts-with-dash"},
        {"cluster_name": "has space"},
        {"cluster_name": "x" * 101},
        {"cluster_name": "ok", "role_arn": "arn:aws:iam::123:role/short-account"},
        {"cluster_name": "ok", "role_arn": "arn:aws:iam::123456789012:user/not-a-role"},
        {"cluster_name": "ok", "role_session_name": "x"},
        {"cluster_name": "ok", "external_id": "x"},
    ],
)
def test_bad_requests_are_named_errors(request_kwargs) -> None:
    with pytest.raises(InvalidInputError) as caught:
        TokenRequest(**request_kwargs)
    assert type(caught.value).__name__ == "eksops.InvalidInput"


@pytest.mark.parametrize("region", ["us west 2", "-bad", "aws-global", "123"])
def test_bad_regions_are_named_errors(aws_env, capsys, region) -> None:
    capsys.readouterr()
    assert cli.main(["token", "--cluster-name", "c1", f"--region={region}", "--no-cache"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("eksops: eksops.InvalidInput: ")
    assert region in err


def test_no_region_anywhere_is_a_named_error(aws_env, capsys, monkeypatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    capsys.readouterr()
    assert cli.main(["token", "--cluster-name", "c1", "--no-cache"]) == 1
    assert "eksops.InvalidInput: no region: pass --region" in capsys.readouterr().err


def test_no_credentials_is_a_named_error(aws_env, capsys, monkeypatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    # no instance metadata here: fail fast instead of waiting for IMDS
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    capsys.readouterr()
    assert cli.main(["token", "--cluster-name", "c1", "--no-cache"]) == 1
    assert "eksops.Credentials: no AWS credentials found" in capsys.readouterr().err
