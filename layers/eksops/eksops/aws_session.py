"""boto3 sessions built from the credentials eksops resolved (after any role assumption).

Every client such a session makes retries throttling, 5xx and connection errors itself
(botocore's "standard" mode: jittered exponential backoff, a retry quota per client; RETRIES);
what still fails reaches the step, and the state machine's Retry or Catch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eksops.sigv4 import Credentials

if TYPE_CHECKING:
    import boto3


# 8 attempts: a call fails only after 8 transient failures in a row (at a 20 % fault rate,
# 2.6e-6 of calls); throttling backs off up to 20 s per attempt, other errors far less.
RETRIES = {"mode": "standard", "max_attempts": 8}


def boto3_session(credentials: Credentials, region: str) -> boto3.session.Session:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.token,
        region_name=region,
    )
    session._session.set_default_client_config(Config(retries=RETRIES))
    return session
