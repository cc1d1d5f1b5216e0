"""boto3 sessions built from the credentials eksops resolved (after any role assumption)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eksops.sigv4 import Credentials

if TYPE_CHECKING:
    import boto3


def boto3_session(credentials: Credentials, region: str) -> boto3.session.Session:
    import boto3

    return boto3.session.Session(
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
        region_name=region,
    )
