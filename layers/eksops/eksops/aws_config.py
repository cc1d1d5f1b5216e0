"""Where to sign an STS request and with which credentials.

Two resolvers give the same answer: ``resolve_from_environment`` handles the common case
(credentials in environment variables, as in Lambda and CI, with plain profile settings) using
the standard library and botocore's own partition data, without importing botocore; anything it
does not fully understand returns None and ``resolve_with_botocore`` runs the SDK's full chain
(profiles, SSO, assume-role, process, container and instance credentials, FIPS, dual-stack,
legacy global endpoints). The contract tests check that both agree with botocore.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from eksops.aws_env import config_files, profile_name
from eksops.errors import CredentialsError, InvalidInputError
from eksops.sigv4 import Credentials

# botocore's host-label rule for region names (botocore.utils.validate_region_name).
_REGION_RE = re.compile(r"^(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)$")
# Settings that change the STS endpoint: when present the SDK resolves it.
_ENDPOINT_ENV = (
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)
_ENDPOINT_PROFILE_KEYS = (
    "endpoint_url",
    "services",
    "use_fips_endpoint",
    "use_dualstack_endpoint",
    "sts_regional_endpoints",
    "ignore_configured_endpoint_urls",
)


@dataclass(frozen=True)
class StsTarget:
    """The signing region and STS endpoint a token is presigned for."""

    region: str
    endpoint_url: str


def check_region(region: str) -> str:
    if not _REGION_RE.match(region):
        raise InvalidInputError(f"region {region!r} is not a valid AWS region name")
    if region.endswith("-global"):
        raise InvalidInputError(
            f"{region!r} is a pseudo-region; EKS clusters are regional: pass the cluster's region"
        )
    return region


def _profile_settings(environ: Mapping[str, str]) -> dict[str, str] | None:
    """Settings of the active profile, {} without a config file, None if the SDK must decide."""
    path = Path(config_files(environ)[0])
    profile = profile_name(environ)
    if not path.is_file():
        return None if profile else {}
    import configparser

    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None
    name = profile or "default"
    section = "default" if name == "default" else f"profile {name}"
    if parser.has_section(section):
        return dict(parser.items(section))
    if name == "default" and parser.has_section("profile default"):
        return None  # ambiguous spellings: let the SDK apply its rules
    return None if profile else {}


@cache
def _partitions() -> list[dict[str, Any]]:
    spec = find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        raise CredentialsError("botocore is not installed; install eksops with its dependencies")
    data = Path(next(iter(spec.submodule_search_locations))) / "data" / "partitions.json"
    return json.loads(data.read_text(encoding="utf-8"))["partitions"]


def sts_endpoint(region: str) -> str:
    """The regional STS endpoint, from botocore's partition data (its ruleset's default)."""
    partitions = _partitions()
    chosen = next((p for p in partitions if region in p["regions"]), None)
    if chosen is None:
        chosen = next((p for p in partitions if re.match(p["regionRegex"], region)), None)
    if chosen is None:
        chosen = next(p for p in partitions if p["id"] == "aws")
    return f"https://sts.{region}.{chosen['outputs']['dnsSuffix']}"


def _credentials_from_environment(environ: Mapping[str, str]) -> Credentials | None:
    access_key = environ.get("AWS_ACCESS_KEY_ID", "")
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY", "")
    if not access_key or not secret_key:
        return None
    token = environ.get("AWS_SECURITY_TOKEN") or environ.get("AWS_SESSION_TOKEN") or None
    expiry = None
    if raw_expiry := environ.get("AWS_CREDENTIAL_EXPIRATION"):
        try:
            expiry = datetime.fromisoformat(raw_expiry)
        except ValueError:
            return None
        if expiry.tzinfo is None:
            return None
    return Credentials(access_key, secret_key, token, expiry)


def resolve_from_environment(
    environ: Mapping[str, str], region: str | None
) -> tuple[Credentials, StsTarget] | None:
    """Credentials and STS target from environment variables, or None to defer to the SDK."""
    credentials = _credentials_from_environment(environ)
    if credentials is None or any(name in environ for name in _ENDPOINT_ENV):
        return None
    settings = _profile_settings(environ)
    if settings is None or any(key in settings for key in _ENDPOINT_PROFILE_KEYS):
        return None
    region = (
        region
        or environ.get("AWS_REGION")
        or environ.get("AWS_DEFAULT_REGION")
        or settings.get("region")
    )
    if not region:
        return None
    check_region(region)
    endpoint = environ.get("AWS_ENDPOINT_URL_STS") or environ.get("AWS_ENDPOINT_URL")
    return credentials, StsTarget(region, endpoint or sts_endpoint(region))


def resolve_with_botocore(
    region: str | None, profile: str | None, environ: Mapping[str, str] = os.environ
) -> tuple[Credentials, StsTarget]:
    """The SDK's full credential chain and endpoint resolution."""
    import botocore.exceptions
    import botocore.session

    try:
        session = botocore.session.Session(profile=profile)
        # Checked here: without a region botocore quietly signs for the global STS endpoint.
        region = region or environ.get("AWS_REGION") or session.get_config_variable("region")
        if not region:
            raise InvalidInputError(
                "no region: pass --region or set AWS_REGION (or a region in your profile)"
            )
        client = session.create_client("sts", region_name=region)
        resolved = session.get_credentials()
        if resolved is None:
            raise CredentialsError(
                "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, or run `aws sso login`"
            )
        frozen = resolved.get_frozen_credentials()
    except botocore.exceptions.ProfileNotFound as exc:
        raise InvalidInputError(str(exc)) from exc
    except (
        botocore.exceptions.NoCredentialsError,
        botocore.exceptions.PartialCredentialsError,
        botocore.exceptions.CredentialRetrievalError,
        botocore.exceptions.TokenRetrievalError,
        botocore.exceptions.SSOError,
    ) as exc:
        raise CredentialsError(str(exc)) from exc
    # RefreshableCredentials only expose their expiry privately; static keys have none.
    expiry = getattr(resolved, "_expiry_time", None)
    credentials = Credentials(frozen.access_key, frozen.secret_key, frozen.token, expiry)
    return credentials, StsTarget(check_region(client.meta.region_name), client.meta.endpoint_url)


def assume_role(
    credentials: Credentials,
    target: StsTarget,
    role_arn: str,
    session_name: str,
    external_id: str | None = None,
) -> Credentials:
    """Credentials of ``role_arn``, assumed with ``credentials`` through the same STS endpoint."""
    import botocore.exceptions
    import botocore.session

    client = botocore.session.Session().create_client(
        "sts",
        region_name=target.region,
        endpoint_url=target.endpoint_url,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
    )
    params = {"RoleArn": role_arn, "RoleSessionName": session_name}
    if external_id:
        params["ExternalId"] = external_id
    try:
        assumed = client.assume_role(**params)["Credentials"]
    except botocore.exceptions.ClientError as exc:
        raise CredentialsError(f"cannot assume {role_arn}: {exc}") from exc
    return Credentials(
        assumed["AccessKeyId"],
        assumed["SecretAccessKey"],
        assumed["SessionToken"],
        assumed["Expiration"],
    )


def resolve_credentials(
    region: str | None,
    role_arn: str | None,
    environ: Mapping[str, str] = os.environ,
    *,
    profile: str | None = None,
    session_name: str,
    external_id: str | None = None,
) -> tuple[Credentials, StsTarget]:
    """The caller's credentials, or ``role_arn``'s when given, and the STS target they sign for."""
    resolved = None if profile else resolve_from_environment(environ, region)
    credentials, target = resolved or resolve_with_botocore(region, profile, environ)
    if role_arn:
        credentials = assume_role(credentials, target, role_arn, session_name, external_id)
    return credentials, target
