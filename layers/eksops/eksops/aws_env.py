"""The AWS SDKs' environment conventions that eksops reads without importing an SDK."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds here
if TYPE_CHECKING:
    from collections.abc import Mapping


def profile_name(environ: Mapping[str, str]) -> str | None:
    """The profile the SDK would use from the environment (botocore's precedence)."""
    return environ.get("AWS_DEFAULT_PROFILE") or environ.get("AWS_PROFILE") or None


def config_files(environ: Mapping[str, str]) -> tuple[str, str]:
    """The shared config and credentials files, honouring AWS_CONFIG_FILE and friends."""
    config = environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    credentials = environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    return os.path.expanduser(config), os.path.expanduser(credentials)
